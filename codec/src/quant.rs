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

/// 2^e, exactly, for the normal exponents −1022 ≤ e ≤ 1023 (None for any other e): the steps of
/// lattices and the scales of short floats.
pub fn power_of_two(e: i64) -> Option<f64> {
    (-1022..=1023).contains(&e).then(|| f64::from_bits(((e + 1023) as u64) << 52))
}

/// e where x is 2^e·1.f, a normal number (None for 0, subnormals, infinities and NaN).
pub fn normal_exponent(x: f64) -> Option<i32> {
    x.is_normal().then(|| ((x.to_bits() >> 52) & 0x7ff) as i32 - 1023)
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

/// 1.5·2^52. For |y| < 2^51, y + ROUNDER is y rounded to an integer (to nearest, ties to even: IEEE
/// arithmetic), taking ROUNDER off again is exact, and the sum's bits less ROUNDER's are that
/// integer: [`nearest_integer`].
#[cfg(feature = "encode")]
const ROUNDER: f64 = (3u64 << 51) as f64;

/// The integer nearest y (ties to even) for |y| < 2^51, as an f64 (+0 for a zero, as `f64(code)`
/// makes it) and as an i64: three additions and no conversion, so that loops of it vectorize
/// (`round_to_i64` takes two conversions and a branch; `y.round()` is a libm call on baseline
/// x86-64). Meaningless outside that range, which callers check.
#[cfg(feature = "encode")]
#[inline(always)]
pub(crate) fn nearest_integer(y: f64) -> (f64, i64) {
    let sum = y + ROUNDER;
    (sum - ROUNDER, (sum.to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64))
}

/// [`prequantize`] of each of `values` into `q` (0 where None) and `stored` (where None), for a
/// float stream of `dtype` whose fill value (in that dtype; NaN for none) is stored exactly.
///
/// In blocks without a branch that vectorize, compiled for AVX2 where the CPU has it: rounding
/// half away from zero is [`nearest_integer`] moved away from zero on ties. That holds for
/// |y| < 2^51: a block with a finite value farther from the offset goes through [`prequantize`]
/// value by value. The same grid points (tested); CFD's grid took 3.4 ns a value one by one, 2.4
/// in blocks, 1.7 with AVX2.
#[cfg(feature = "encode")]
pub fn prequantize_values(
    values: &[f64],
    (q, stored): (&mut [i64], &mut [bool]),
    (bound, step, offset): (f64, f64, f64),
    (fill, dtype): (f64, DType),
) {
    const BLOCK: usize = 256;
    let quantizer = (bound, step, offset);
    crate::simd::fastest(
        #[inline(always)]
        || {
            let blocks = values.chunks(BLOCK).zip(q.chunks_mut(BLOCK)).zip(stored.chunks_mut(BLOCK));
            for ((values, q), stored) in blocks {
                let exact = match dtype {
                    DType::F32 => prequantize_block::<true>(values, (q, stored), quantizer, fill),
                    _ => prequantize_block::<false>(values, (q, stored), quantizer, fill),
                };
                if !exact {
                    for ((q, stored), &x) in q.iter_mut().zip(stored.iter_mut()).zip(values) {
                        let g = if x == fill { None } else { prequantize(x, bound, step, offset, dtype) };
                        (*q, *stored) = (g.unwrap_or(0), g.is_none());
                    }
                }
            }
        },
    )
}

/// [`prequantize_values`] of one block (`F32`: float32 output): false where a finite value lies
/// 2^51 steps or more from the offset, whose grid point this does not find.
#[cfg(feature = "encode")]
#[inline(always)]
fn prequantize_block<const F32: bool>(
    values: &[f64],
    (q, stored): (&mut [i64], &mut [bool]),
    (bound, step, offset): (f64, f64, f64),
    fill: f64,
) -> bool {
    const FAST: f64 = (1u64 << 51) as f64;
    let inverse = 1.0 / step;
    let mut exact = true;
    for ((q, stored), &x) in q.iter_mut().zip(stored.iter_mut()).zip(values) {
        let y = (x - offset) * inverse;
        let (nearest, integer) = nearest_integer(y);
        let tie = y - nearest;
        let away = ((tie == 0.5) & (y > 0.0)) as i64 - ((tie == -0.5) & (y < 0.0)) as i64;
        let back =
            to_dtype(offset + (nearest + away as f64) * step, if F32 { DType::F32 } else { DType::F64 });
        let fast = y.abs() < FAST;
        let good = fast & ((x - back).abs() <= bound) & (x != fill);
        *q = if good { integer + away } else { 0 };
        *stored = !good;
        exact &= fast | !x.is_finite();
    }
    exact
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

    /// Ties to even, −0 to +0, and the f64 and i64 agree, for random values up to 2^50.
    #[cfg(feature = "encode")]
    #[test]
    fn nearest_is_the_nearest_integer_ties_to_even() {
        let nearest = |y: f64| nearest_integer(y).0;
        for (y, c) in
            [(0.0, 0.0f64), (-0.0, 0.0), (0.49, 0.0), (-0.3, 0.0), (0.5, 0.0), (1.5, 2.0), (2.5, 2.0)]
        {
            assert_eq!(nearest(y).to_bits(), c.to_bits(), "{y}");
            assert_eq!(nearest(-y), if c == 0.0 { 0.0 } else { -c }, "{y}");
            assert_eq!(nearest_integer(y).1, c as i64, "{y}");
        }
        let mut state = 11u64;
        for _ in 0..100_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let y = (state >> 11) as f64 / (1u64 << 53) as f64 * ((1u64 << 50) as f64) * 2.0
                - ((1u64 << 50) as f64);
            let y = y / 2f64.powi((state % 50) as i32);
            let c = nearest(y);
            assert!((y - c).abs() <= 0.5 && c.fract() == 0.0, "{y} {c}");
            assert_eq!(nearest_integer(y).1, c as i64, "{y}");
            assert!((y - c).abs() < 0.5 || (c / 2.0).fract() == 0.0, "a tie goes to the even: {y} {c}");
        }
    }

    /// Blocks give [`prequantize`]'s grid points and marks, and so does the whole pass: values on
    /// ties (half steps from the offset) of either sign, at the edge of the fast range and past
    /// it, non-finite, the fill value, bounds down to 0, float32 and float64.
    #[cfg(feature = "encode")]
    #[test]
    fn blocks_are_prequantized_as_one_by_one() {
        let mut state = 3u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 11
        };
        let fast = (1u64 << 51) as f64;
        let mut far_blocks = 0;
        for case in 0..400 {
            let f32 = case % 2 == 0;
            let dtype = if f32 { DType::F32 } else { DType::F64 };
            let bound = [0.0, 1e-12, 1e-3, 0.25, 0.5, 3.0][case % 6];
            let step = if bound > 0.0 { 2.0 * bound } else { 1.0 };
            let offset = [0.0, -2.5, 0.75, 1e6][case / 6 % 4];
            let fill = if case % 5 == 0 { -999.0 } else { f64::NAN };
            let values: Vec<f64> = (0..300)
                .map(|_| {
                    let u = (next() % 1_000_000) as f64 / 1e6 - 0.5;
                    let x = match next() % 12 {
                        0 => offset + (next() % 41) as f64 * step / 2.0 - 10.0 * step,
                        // Values past the fast range in a third of the blocks (and, at the
                        // finest bounds, any value far from the offset).
                        1 if case % 3 == 0 && u > 0.4 => 1e300,
                        1 if case % 3 == 0 => offset + (fast - 1.0 + (next() % 3) as f64) * step * u.signum(),
                        2 => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -999.0, -0.0][next() as usize % 5],
                        3 => offset + u * 1e4 * step,
                        _ => offset + u * 100.0,
                    };
                    to_dtype(x, dtype)
                })
                .collect();
            let (mut q, mut stored) = (vec![7i64; values.len()], vec![false; values.len()]);
            let exact = match f32 {
                true => {
                    prequantize_block::<true>(&values, (&mut q, &mut stored), (bound, step, offset), fill)
                }
                false => {
                    prequantize_block::<false>(&values, (&mut q, &mut stored), (bound, step, offset), fill)
                }
            };
            // The whole pass (AVX2's loop where the CPU has it, each block that reaches past the
            // fast range one by one) gives the baseline block's points, and `prequantize`'s for all.
            let (mut q_all, mut stored_all) = (vec![7i64; values.len()], vec![false; values.len()]);
            prequantize_values(&values, (&mut q_all, &mut stored_all), (bound, step, offset), (fill, dtype));
            let one_by_one =
                |x: f64| if x == fill { None } else { prequantize(x, bound, step, offset, dtype) };
            let far = values.iter().any(|&x| x.is_finite() && ((x - offset) * (1.0 / step)).abs() >= fast);
            assert_eq!(exact, !far, "case {case}");
            far_blocks += far as usize;
            for (i, &x) in values.iter().enumerate() {
                let y = (x - offset) * (1.0 / step);
                let expected = (one_by_one(x).unwrap_or(0), one_by_one(x).is_none());
                if y.abs() < fast || !x.is_finite() {
                    assert_eq!((q[i], stored[i]), expected, "{x} case {case}");
                }
                assert_eq!((q_all[i], stored_all[i]), expected, "{x} case {case}");
            }
        }
        assert!(far_blocks > 50 && far_blocks < 300, "{far_blocks} blocks reach past the fast range");
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
