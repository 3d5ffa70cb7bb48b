//! Error-bounded linear-scale quantization (the pre-quantization of dual quantization).

use crate::data::DType;
use crate::format::metadata::Quantizer;

/// |q| above this is not exactly representable as f64 arithmetic needs; such values are stored raw.
pub(crate) const MAX_Q: f64 = (1u64 << 52) as f64;

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
        Some((step, offset)) => round_to_i64((v - offset) / step),
        None => round_to_i64(v),
    }
}

/// `x.round() as i64` (half away from zero; saturating; NaN → 0), without the libm call that
/// `f64::round` is on baseline x86-64 (no SSE4.1): below 2^52 in magnitude the truncation and the
/// fraction `x − trunc(x)` are exact, and from 2^52 on every f64 is an integer already.
#[inline]
pub fn round_to_i64(x: f64) -> i64 {
    if x.abs() < MAX_Q {
        let t = x as i64;
        let frac = x - t as f64;
        t + (frac >= 0.5) as i64 - (frac <= -0.5) as i64
    } else {
        x as i64
    }
}

/// The value as written in the output dtype (f32 outputs are rounded once more).
#[inline]
pub fn to_dtype(x: f64, dtype: DType) -> f64 {
    if dtype == DType::F32 { x as f32 as f64 } else { x }
}

/// Grid point for x, or None when x must be stored exactly (non-finite, out of the grid's range, or
/// its reconstruction — as the decoder will compute it, in the output dtype — misses the bound).
#[inline]
pub fn prequantize(x: f64, bound: f64, step: f64, offset: f64, dtype: DType) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    // Times the inverse (hoisted out of callers' loops; a division per value costs more): the
    // grid point is checked against the bound below either way.
    let y = (x - offset) * (1.0 / step);
    // (x − offset) / step may overflow to ±inf: that is caught here too. (|round(y)| > MAX_Q
    // exactly when |y| > MAX_Q: from 2^52 on every f64 is an integer.)
    if y.abs() > MAX_Q {
        return None;
    }
    let q = round_to_i64(y);
    let back = to_dtype(dequantize(q, step, offset), dtype);
    if (x - back).abs() <= bound { Some(q) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_to_i64_is_std_round_everywhere() {
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            9.2e18,
            -9.3e18,
        ];
        for e in [51, 52, 53, 62, 63] {
            let p = (1u64 << e) as f64;
            xs.extend([p, p - 0.5, p + 0.5, p - 1.0, p + 1.0, p - 1.5].iter().flat_map(|&v| [v, -v]));
        }
        let mut state = 7u64;
        for _ in 0..200_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let scale = [1.0, 1e3, 1e9, 4.5e15, 1e17][(state >> 61) as usize % 5];
            let u = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            xs.push(u * scale);
            xs.push((u * 16.0).round() / 2.0 + if state & 1 == 0 { 0.0 } else { f64::EPSILON });
        }
        for x in xs {
            assert_eq!(round_to_i64(x), x.round() as i64, "{x:e}");
        }
    }

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
