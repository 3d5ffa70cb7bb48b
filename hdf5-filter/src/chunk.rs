//! One HDF5 chunk ⇄ one Baler archive: the chunk's raw element bytes (in the dataset's byte
//! order) become a field of the chunk's shape, compressed with classic predictors under the bound
//! and verified value by value before it is returned (as every Baler archive is).

use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{Array, BoundSpec, DType, Dataset, Values};

use crate::options::{Bound, ChunkOptions};

/// The absolute bound is what a rel/PSNR bound means for this chunk; PSNR uses the bound that
/// guarantees it (max error ≤ range·10^(−dB/20) ⇒ RMSE below it too).
fn bound_spec(b: Bound) -> BoundSpec {
    match b {
        Bound::Abs(v) => BoundSpec::Abs(v),
        Bound::Rel(v) => BoundSpec::Rel(v),
        Bound::Psnr(db) => BoundSpec::Rel(10f64.powf(-db / 20.0)),
    }
}

/// Compresses one chunk's bytes.
pub fn encode(raw: &[u8], opts: &ChunkOptions) -> Result<Vec<u8>, String> {
    if raw.len() != opts.chunk_bytes() {
        return Err(format!(
            "Baler filter: a chunk of {} bytes, but shape {:?} of {} takes {}",
            raw.len(),
            opts.shape,
            opts.dtype.name(),
            opts.chunk_bytes()
        ));
    }
    let field = Array { dtype: opts.dtype, shape: opts.shape.clone(), values: read_values(raw, opts) };
    let options = CompressOptions {
        bound: bound_spec(opts.user.bound),
        fill_value: opts.fill_value,
        // No notes: each chunk is its own archive, and every byte of it counts.
        ..CompressOptions::default()
    };
    compress(&Dataset::Field(field), &options, None)
        .map(|c| c.bytes)
        .map_err(|e| format!("Baler filter: compressing a chunk of shape {:?} failed: {e}", opts.shape))
}

/// Decodes one chunk's archive into the raw bytes HDF5 expects.
pub fn decode(archive: &[u8], opts: &ChunkOptions) -> Result<Vec<u8>, String> {
    let values = decode_values(archive, opts)?;
    let mut out = vec![0u8; opts.chunk_bytes()];
    write_values(&values, opts, &mut out);
    Ok(out)
}

/// Decodes one chunk's archive and checks that it holds one chunk of the dataset's dtype. The
/// output buffer is allocated only after this: its size comes from the dataset's parameters,
/// which a crafted file could inflate, and the archive's decoder bounds what it allocates.
pub fn decode_values(archive: &[u8], opts: &ChunkOptions) -> Result<Values, String> {
    let ds = baler_codec::decode(archive, None)
        .map_err(|e| format!("Baler filter: a stored chunk is unreadable: {e}"))?;
    let Dataset::Field(a) = ds else {
        return Err("Baler filter: a stored chunk holds a table, not an array".into());
    };
    if a.dtype != opts.dtype || a.values.len() != opts.elements() {
        return Err(format!(
            "Baler filter: a stored chunk holds {} values of {}, the dataset's chunks {} of {}",
            a.values.len(),
            a.dtype.name(),
            opts.elements(),
            opts.dtype.name()
        ));
    }
    Ok(a.values)
}

macro_rules! from_bytes {
    ($raw:expr, $big:expr, $t:ty, $conv:expr) => {{
        let conv = $conv;
        $raw.chunks_exact(size_of::<$t>())
            .map(|b| {
                let b = b.try_into().expect("chunks_exact");
                conv(if $big { <$t>::from_be_bytes(b) } else { <$t>::from_le_bytes(b) })
            })
            .collect()
    }};
}

fn read_values(raw: &[u8], o: &ChunkOptions) -> Values {
    let big = o.big_endian;
    match o.dtype {
        DType::F32 => Values::Float(from_bytes!(raw, big, f32, f64::from)),
        DType::F64 => Values::Float(from_bytes!(raw, big, f64, |v| v)),
        DType::I8 => Values::Int(from_bytes!(raw, big, i8, i64::from)),
        DType::I16 => Values::Int(from_bytes!(raw, big, i16, i64::from)),
        DType::I32 => Values::Int(from_bytes!(raw, big, i32, i64::from)),
        DType::I64 => Values::Int(from_bytes!(raw, big, i64, |v| v)),
        DType::U8 => Values::Int(from_bytes!(raw, big, u8, i64::from)),
        DType::U16 => Values::Int(from_bytes!(raw, big, u16, i64::from)),
        DType::U32 => Values::Int(from_bytes!(raw, big, u32, i64::from)),
        // The codec keeps u64 as its i64 bit pattern (see baler_codec::data).
        DType::U64 => Values::Int(from_bytes!(raw, big, u64, |v: u64| v as i64)),
    }
}

/// Writes `$vals` as `$t` into `$out` (one element per `size_of::<$t>()` bytes).
macro_rules! put {
    ($vals:expr, $out:expr, $big:expr, $t:ty) => {{
        for (slot, &v) in $out.chunks_exact_mut(size_of::<$t>()).zip($vals) {
            let v = v as $t;
            slot.copy_from_slice(&if $big { v.to_be_bytes() } else { v.to_le_bytes() });
        }
    }};
}

/// Writes decoded values as the dataset's element bytes into `out` ([`ChunkOptions::chunk_bytes`]
/// long: the buffer HDF5 gets back, written once, no copy in between).
pub fn write_values(values: &Values, o: &ChunkOptions, out: &mut [u8]) {
    let big = o.big_endian;
    match (values, o.dtype) {
        (Values::Float(v), DType::F32) => put!(v, out, big, f32),
        (Values::Float(v), _) => put!(v, out, big, f64),
        (Values::Int(v), DType::I8) => put!(v, out, big, i8),
        (Values::Int(v), DType::I16) => put!(v, out, big, i16),
        (Values::Int(v), DType::I32) => put!(v, out, big, i32),
        (Values::Int(v), DType::U8) => put!(v, out, big, u8),
        (Values::Int(v), DType::U16) => put!(v, out, big, u16),
        (Values::Int(v), DType::U32) => put!(v, out, big, u32),
        (Values::Int(v), DType::U64) => put!(v, out, big, u64),
        (Values::Int(v), _) => put!(v, out, big, i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::UserOptions;

    macro_rules! to_bytes {
        ($vals:expr, $big:expr, $t:ty, $n:expr) => {{
            let mut out = vec![0u8; $vals.len() * $n];
            put!($vals, &mut out, $big, $t);
            out
        }};
    }

    fn opts(dtype: DType, big_endian: bool, bound: Bound, shape: &[usize]) -> ChunkOptions {
        ChunkOptions {
            user: UserOptions { bound, effort: 0 },
            dtype,
            big_endian,
            fill_value: None,
            shape: shape.to_vec(),
        }
    }

    fn wave(n: usize) -> Vec<f64> {
        (0..n).map(|i| (i as f64 * 0.05).sin() * 10.0 + (i % 7) as f64 * 0.01).collect()
    }

    #[test]
    fn float_chunks_keep_the_bound_in_both_byte_orders() {
        let vals = wave(24 * 30);
        for big in [false, true] {
            let o = opts(DType::F32, big, Bound::Abs(1e-3), &[24, 30]);
            let raw = to_bytes!(&vals, big, f32, 4);
            let back = decode(&encode(&raw, &o).unwrap(), &o).unwrap();
            assert_eq!(back.len(), raw.len());
            let Values::Float(dec) = read_values(&back, &o) else { panic!() };
            let Values::Float(orig) = read_values(&raw, &o) else { panic!() };
            let worst = orig.iter().zip(&dec).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst <= 1e-3, "big-endian {big}: max error {worst}");
        }
    }

    #[test]
    fn integers_nan_and_fill_come_back_exactly() {
        let ints: Vec<i64> = (0..500).map(|i| (i * 7919) % 1000 - 500).collect();
        let o = opts(DType::I16, true, Bound::Abs(10.0), &[500]);
        let raw = to_bytes!(&ints, true, i16, 2);
        assert_eq!(decode(&encode(&raw, &o).unwrap(), &o).unwrap(), raw);

        let mut vals = wave(400);
        vals[3] = f64::NAN;
        vals[10] = f64::INFINITY;
        vals[20] = -9.96921e36;
        let o = ChunkOptions {
            fill_value: Some(-9.96921e36),
            ..opts(DType::F64, false, Bound::Rel(1e-4), &[20, 20])
        };
        let raw = to_bytes!(&vals, false, f64, 8);
        let back = decode(&encode(&raw, &o).unwrap(), &o).unwrap();
        let Values::Float(dec) = read_values(&back, &o) else { panic!() };
        assert!(dec[3].is_nan());
        assert_eq!(dec[10], f64::INFINITY);
        assert_eq!(dec[20], -9.96921e36);
        let range = 20.0; // the finite, non-fill values span about [-10, 10]
        for (a, b) in vals.iter().zip(&dec).filter(|(a, _)| a.is_finite() && **a != -9.96921e36) {
            assert!((a - b).abs() <= 1e-4 * range, "{a} vs {b}");
        }
    }

    #[test]
    fn psnr_is_guaranteed() {
        let vals = wave(2000);
        let o = opts(DType::F64, false, Bound::Psnr(50.0), &[2000]);
        let raw = to_bytes!(&vals, false, f64, 8);
        let Values::Float(dec) = read_values(&decode(&encode(&raw, &o).unwrap(), &o).unwrap(), &o) else {
            panic!()
        };
        let (lo, hi) = vals.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let mse = vals.iter().zip(&dec).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / vals.len() as f64;
        let psnr = 20.0 * ((hi - lo) / mse.sqrt()).log10();
        assert!(psnr >= 50.0, "PSNR {psnr}");
    }

    #[test]
    fn wrong_sizes_and_foreign_bytes_are_errors() {
        let o = opts(DType::F32, false, Bound::Abs(1e-3), &[10, 10]);
        assert!(encode(&[0u8; 12], &o).unwrap_err().contains("a chunk of 12 bytes"));
        assert!(decode(b"not an archive", &o).unwrap_err().contains("unreadable"));
        let other = opts(DType::F64, false, Bound::Abs(1e-3), &[10, 10]);
        let archive = encode(&to_bytes!(&wave(100), false, f64, 8), &other).unwrap();
        assert!(decode(&archive, &o).unwrap_err().contains("100 values of float64"));
        let mut corrupt = encode(&to_bytes!(&wave(100), false, f32, 4), &o).unwrap();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x55;
        assert!(decode(&corrupt, &o).is_err());
    }
}
