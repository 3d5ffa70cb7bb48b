//! The compressor's last check: every decoded value against the bound, independently of how it
//! was encoded.

use crate::data::{DType, Dataset, Values};
use crate::error::{CodecError, Result};
use crate::format::metadata::Quantizer;
use crate::preprocess::is_fill;

use super::StreamPlan;

/// Independent check, in f64, of |x − x′| ≤ bound for every value of `part` — the decoded values
/// of the input's streams from value `at` of each on (a chunk's rows) — against the input `orig`;
/// NaN, ±Inf and fill values must come back bit for bit. Returns the values per stream it held.
pub(super) fn verify_part(
    orig: &Dataset,
    part: &Dataset,
    at: usize,
    streams: &[StreamPlan],
    fill: Option<f64>,
) -> Result<usize> {
    let pairs: Vec<(&Values, &Values)> = match (orig, part) {
        (Dataset::Field(a), Dataset::Field(b)) => vec![(&a.values, &b.values)],
        (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) if a.len() == b.len() => {
            a.iter().zip(b).map(|(x, y)| (&x.values, &y.values)).collect()
        }
        _ => {
            return Err(CodecError::Verification("decoded dataset has another kind".into()));
        }
    };
    let mut len = 0;
    for (s, (a, b)) in streams.iter().zip(pairs) {
        let bound = bound_of(s);
        len = b.len();
        let wrong = || CodecError::Verification("decoded stream has another type or length".into());
        match (a, b) {
            (Values::Int(a), Values::Int(b)) => {
                if a.get(at..at + b.len()).ok_or_else(wrong)? != b.as_slice() {
                    return Err(CodecError::Verification(format!(
                        "integer stream '{}' changed",
                        s.meta.name
                    )));
                }
            }
            (Values::Float(a), Values::Float(b)) => {
                let a = a.get(at..at + b.len()).ok_or_else(wrong)?;
                for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
                    if !held(x, y, bound, fill, s.meta.dtype) {
                        return Err(CodecError::Verification(format!(
                            "value {} of stream '{}': {x} came back as {y} (bound {bound})",
                            at + i,
                            s.meta.name
                        )));
                    }
                }
            }
            _ => return Err(wrong()),
        }
    }
    Ok(len)
}

/// A stream's bound (0 for integers, which must come back exactly).
fn bound_of(stream: &StreamPlan) -> f64 {
    match stream.meta.quantizer {
        Quantizer::Float { bound, .. } => bound,
        Quantizer::Int => 0.0,
    }
}

/// Whether `y` is an acceptable decoding of `x`: within the bound for a finite, non-fill value,
/// bit for bit otherwise (in float32 any NaN stands for a NaN).
#[inline(always)]
fn held(x: f64, y: f64, bound: f64, fill: Option<f64>, dtype: DType) -> bool {
    if x.is_finite() && !is_fill(x, fill, dtype) {
        (x - y).abs() <= bound
    } else {
        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan() && dtype == DType::F32)
    }
}

/// [`verify_part`] for a field of floats decoded straight to its value bytes
/// ([`crate::archive::Archive::chunk_field_bytes`]: what the content hash takes): each decoded
/// value read back from its bytes and checked against `orig` from value `at` on.
pub(super) fn verify_field_bytes(
    orig: &[f64],
    bytes: &[u8],
    at: usize,
    stream: &StreamPlan,
    fill: Option<f64>,
) -> Result<()> {
    let dtype = stream.meta.dtype;
    let bound = bound_of(stream);
    let n = bytes.len() / dtype.size_bytes().max(1);
    let orig = orig
        .get(at..at + n)
        .ok_or_else(|| CodecError::Verification("decoded chunk has another length".into()))?;
    let held = |x: f64, y: f64| held(x, y, bound, fill, dtype);
    // The common case without a branch: finite values that are not the fill value, within the
    // bound (NaN and ±Inf fail `≤`; NaN equals no value, so no fill leaves every value in).
    let fill_value = fill.map_or(f64::NAN, |f| crate::quant::to_dtype(f, dtype));
    let plainly_held = |x: f64, y: f64| (x - y).abs() <= bound && x != fill_value;
    let first_wrong = match dtype {
        DType::F32 => first_failing::<4>(orig, bytes, |b| f32::from_le_bytes(b) as f64, (plainly_held, held)),
        DType::F64 => first_failing::<8>(orig, bytes, f64::from_le_bytes, (plainly_held, held)),
        _ => return Err(CodecError::Verification("an integer field checked as floats".into())),
    };
    match first_wrong {
        None => Ok(()),
        Some((i, x, y)) => Err(CodecError::Verification(format!(
            "value {} of stream '{}': {x} came back as {y} (bound {bound})",
            at + i,
            stream.meta.name
        ))),
    }
}

/// The first (index, original, decoded) where `held` fails, of `orig` against the values of `W`
/// bytes each in `bytes`: a block at a time, each first through `plainly` (a stricter test
/// without branches, so the loop over a block has no early exit and vectorizes), and through
/// `held` value by value only where that fails (a value stored exactly, or a wrong one).
fn first_failing<const W: usize>(
    orig: &[f64],
    bytes: &[u8],
    value: impl Fn([u8; W]) -> f64,
    (plainly, held): (impl Fn(f64, f64) -> bool, impl Fn(f64, f64) -> bool),
) -> Option<(usize, f64, f64)> {
    const BLOCK: usize = 4096;
    let y = |b: &[u8]| value(b.try_into().expect("W bytes"));
    for (b, (xs, ys)) in orig.chunks(BLOCK).zip(bytes.chunks(BLOCK * W)).enumerate() {
        let ys = ys.chunks_exact(W);
        if xs.iter().zip(ys.clone()).fold(true, |ok, (&x, v)| ok & plainly(x, y(v))) {
            continue;
        }
        if let Some((i, (&x, v))) = xs.iter().zip(ys).enumerate().find(|&(_, (&x, v))| !held(x, y(v))) {
            return Some((b * BLOCK + i, x, y(v)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::metadata::StreamMeta;

    fn stream(dtype: DType, bound: f64) -> StreamPlan {
        let meta = StreamMeta {
            name: "v".into(),
            dtype,
            quantizer: Quantizer::Float { bound, step: 2.0 * bound, offset: 0.0 },
            min: 0.0,
            max: 1.0,
        };
        StreamPlan { meta, center: 0 }
    }

    fn f32_bytes(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect()
    }

    #[test]
    fn field_bytes_are_checked_value_by_value_from_their_offset() {
        // 10 000 values (blocks of 4096 and a remainder), checked from value 3 of the input on.
        let orig: Vec<f64> = (0..10_003).map(|i| (i as f64 * 0.001).sin()).collect();
        let s = stream(DType::F32, 1e-3);
        let mut decoded: Vec<f64> = orig[3..].iter().map(|x| x + 0.9e-3).collect();
        verify_field_bytes(&orig, &f32_bytes(&decoded), 3, &s, None).expect("within the bound");
        for wrong in [0, 4095, 4096, 9999] {
            let mut d = decoded.clone();
            d[wrong] += 0.2e-3;
            let e = verify_field_bytes(&orig, &f32_bytes(&d), 3, &s, None).unwrap_err().to_string();
            assert!(e.contains(&format!("value {} of stream 'v'", wrong + 3)), "{e}");
        }
        // NaN, infinities and the fill value come back bit for bit or fail.
        let mut orig = orig;
        for (i, special) in [(10, f64::NAN), (11, f64::INFINITY), (12, -9999.0)] {
            orig[i + 3] = special;
            decoded[i] = special;
        }
        verify_field_bytes(&orig, &f32_bytes(&decoded), 3, &s, Some(-9999.0)).expect("kept exactly");
        // A block holding values stored exactly is checked value by value, and the check goes on
        // to the blocks after it.
        let mut d = decoded.clone();
        d[9000] += 0.2e-3;
        let e = verify_field_bytes(&orig, &f32_bytes(&d), 3, &s, Some(-9999.0)).unwrap_err().to_string();
        assert!(e.contains("value 9003 of"), "{e}");
        for (i, other) in [(10, 0.5), (11, f64::NEG_INFINITY), (12, -9999.0 + 0.01)] {
            let mut d = decoded.clone();
            d[i] = other;
            let e = verify_field_bytes(&orig, &f32_bytes(&d), 3, &s, Some(-9999.0)).unwrap_err().to_string();
            assert!(e.contains(&format!("value {} of", i + 3)), "{e}");
        }
        // f64: the same, from 8-byte values; too few input values is an error, not a panic.
        let s = stream(DType::F64, 1e-9);
        let exact: Vec<u8> = orig[3..].iter().flat_map(|x| x.to_le_bytes()).collect();
        verify_field_bytes(&orig, &exact, 3, &s, Some(-9999.0)).expect("the same values");
        assert!(verify_field_bytes(&orig, &exact, 4, &s, Some(-9999.0)).is_err());
    }
}
