//! Error-bounded linear-scale quantization (the pre-quantization of dual quantization).

use crate::data::DType;
use crate::meta::Quantizer;

/// |q| above this is not exactly representable as f64 arithmetic needs; such values are stored raw.
const MAX_Q: f64 = (1u64 << 52) as f64;

/// The quantizer for a float stream with absolute bound `bound` over values starting near `offset`.
/// A bound of 0 (a constant stream, or a lossless request) keeps values equal to `offset` exact and
/// stores the rest raw.
pub fn float_quantizer(bound: f64, offset: f64) -> Quantizer {
    let step = if bound > 0.0 { 2.0 * bound } else { 1.0 };
    Quantizer::Float { bound, step, offset }
}

/// What the decoder computes for grid point q. Must stay bit-identical on every platform: one
/// multiplication and one addition, both IEEE-754 correctly rounded (Rust never contracts to FMA).
#[inline]
pub fn dequantize(q: i64, step: f64, offset: f64) -> f64 {
    offset + (q as f64) * step
}

/// Grid point nearest to a prediction v: `(step, offset)` for float streams, None for integer
/// streams (step 1). Encoder and decoders must agree on it bit for bit, so both call this one
/// function; the `as` conversion saturates, the same on every platform.
#[inline]
pub fn grid_point(v: f64, float: Option<(f64, f64)>) -> i64 {
    match float {
        Some((step, offset)) => ((v - offset) / step).round() as i64,
        None => v.round() as i64,
    }
}

/// The value as written in the output dtype (f32 outputs are rounded once more).
#[inline]
pub fn to_dtype(x: f64, dtype: DType) -> f64 {
    if dtype == DType::F32 { x as f32 as f64 } else { x }
}

/// Grid point for x, or None when x must be stored exactly (non-finite, out of the grid's range, or
/// its reconstruction — as the decoder will compute it, in the output dtype — misses the bound).
pub fn prequantize(x: f64, bound: f64, step: f64, offset: f64, dtype: DType) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let r = ((x - offset) / step).round();
    // (x − offset) / step may overflow to ±inf: that is caught here too.
    if r.abs() > MAX_Q {
        return None;
    }
    let q = r as i64;
    let back = to_dtype(dequantize(q, step, offset), dtype);
    if (x - back).abs() <= bound { Some(q) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_holds_or_value_is_flagged() {
        let (bound, offset) = (1e-3, -2.0);
        let Quantizer::Float { step, .. } = float_quantizer(bound, offset) else { unreachable!() };
        let mut raw = 0;
        for i in 0..10_000 {
            let x = offset + i as f64 * 0.000_731;
            match prequantize(x, bound, step, offset, DType::F64) {
                Some(q) => assert!((dequantize(q, step, offset) - x).abs() <= bound),
                None => raw += 1,
            }
        }
        // Only values on a cell edge, missed by a rounding error, may need storing exactly.
        assert!(raw < 20, "{raw} values stored raw");
        assert_eq!(prequantize(f64::NAN, bound, step, offset, DType::F64), None);
        assert_eq!(prequantize(f64::INFINITY, bound, step, offset, DType::F64), None);
        assert_eq!(prequantize(1e300, bound, step, offset, DType::F64), None);
    }

    #[test]
    fn zero_bound_is_exact_or_raw() {
        let Quantizer::Float { step, .. } = float_quantizer(0.0, 5.0) else { unreachable!() };
        assert_eq!(prequantize(5.0, 0.0, step, 5.0, DType::F64), Some(0));
        assert_eq!(prequantize(6.0, 0.0, step, 5.0, DType::F64), Some(1));
        assert_eq!(prequantize(5.5, 0.0, step, 5.0, DType::F64), None);
    }

    #[test]
    fn f32_rounding_is_accounted_for() {
        // A bound far below f32 precision at 1e6: the f32 reconstruction cannot meet it.
        let x = 1_000_000.1f32 as f64;
        let bound = 1e-9;
        let q = prequantize(x, bound, 2.0 * bound, 0.0, DType::F32);
        if let Some(q) = q {
            let back = to_dtype(dequantize(q, 2.0 * bound, 0.0), DType::F32);
            assert!((back - x).abs() <= bound);
        }
    }
}
