//! What the codec's examples share.

use baler_codec::{Array, DType, Values};

/// The field in the `.npy` file at `path` (C-order, little-endian float32 or float64), as f64
/// values. An example's reader: it panics on anything else.
pub fn read_field(path: &str) -> Array {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8_lossy(&bytes[10..10 + hlen]).to_string();
    let f32 = header.contains("<f4");
    assert!(f32 || header.contains("<f8"), "{path}: not a little-endian float32/float64 .npy");
    let shape: Vec<usize> = header
        .split('(')
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("{path}: no shape in the header"))
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("a dimension"))
        .collect();
    let data = &bytes[10 + hlen..];
    let values: Vec<f64> = if f32 {
        data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64).collect()
    } else {
        data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
    };
    Array { dtype: if f32 { DType::F32 } else { DType::F64 }, shape, values: Values::Float(values) }
}
