//! What the codec's examples share.

use baler_codec::{Array, Column, DType, Dataset, Values};

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

/// A 2-d array as a table of its columns (`col0`, `col1`, …), rows along axis 0.
#[allow(dead_code)] // Not every example uses every helper.
pub fn as_table(a: Array) -> Dataset {
    let [rows, cols] = a.shape[..] else { panic!("a table needs a 2-d array, not {:?}", a.shape) };
    let Values::Float(v) = &a.values else { panic!("float columns only") };
    let columns = (0..cols)
        .map(|c| Column {
            name: format!("col{c}"),
            dtype: a.dtype,
            values: Values::Float((0..rows).map(|r| v[r * cols + c]).collect()),
        })
        .collect();
    Dataset::Table { rows, columns }
}

/// The first chunk of a field as the examples time it: whole planes along axis 0, about `CHUNK`
/// (environment, 2^21 by default) values, and the grid of a bound of `rel` × its range.
#[allow(dead_code)] // Not every example uses every helper.
pub struct FirstChunk {
    pub dims: [usize; 3],
    pub values: Vec<f64>,
    pub dtype: DType,
    pub lo: f64,
    pub hi: f64,
    pub bound: f64,
    /// The grid's step (2 × bound) and offset (the minimum).
    pub step: f64,
    pub offset: f64,
}

#[allow(dead_code)]
pub fn first_chunk(field: &Array, rel: f64) -> FirstChunk {
    let shape = &field.shape;
    let plane = shape[1..].iter().product::<usize>();
    let chunk: usize = std::env::var("CHUNK").ok().and_then(|c| c.parse().ok()).unwrap_or(1 << 21);
    let rows = (chunk / plane).clamp(1, shape[0]);
    let Values::Float(all) = &field.values else { unreachable!("read_field gives floats") };
    let values = all[..rows * plane].to_vec();
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let bound = rel * (hi - lo);
    FirstChunk {
        dims: [rows, shape[1], shape[2..].iter().product()],
        values,
        dtype: field.dtype,
        lo,
        hi,
        bound,
        step: 2.0 * bound,
        offset: lo,
    }
}

/// A field's one stream as predictors see it: centre `center`, grid of `step` from `offset`.
#[allow(dead_code)]
pub fn field_info(center: f64, step: f64, offset: f64) -> baler_codec::predictor::StreamInfo {
    use baler_codec::predictor::{FloatField, StreamInfo};
    StreamInfo {
        table: false,
        centers: vec![((center - offset) / step).round() as i64],
        float_field: Some(FloatField { center, step }),
        grids: vec![Some((step, offset))],
        names: vec!["x".into()],
        version: baler_codec::format::container::FORMAT_VERSION,
    }
}

#[allow(dead_code)]
impl FirstChunk {
    /// From the command line: `F.npy [REL]` (1e-3 by default); the path and the bound too.
    pub fn from_args() -> (String, f64, Self) {
        let mut args = std::env::args().skip(1);
        let path = args.next().expect("an .npy path");
        let rel: f64 = args.next().map_or(1e-3, |r| r.parse().expect("REL"));
        let chunk = first_chunk(&read_field(&path), rel);
        (path, rel, chunk)
    }

    /// Each value's grid point, and which the grid cannot hold within the bound.
    pub fn prequantized(&self) -> (Vec<i64>, Vec<bool>) {
        let n = self.values.len();
        let (mut q, mut exc) = (vec![0i64; n], vec![false; n]);
        for (e, &x) in self.values.iter().enumerate() {
            match baler_codec::quant::prequantize(x, self.bound, self.step, self.offset, self.dtype) {
                Some(g) => q[e] = g,
                None => exc[e] = true,
            }
        }
        (q, exc)
    }
}
