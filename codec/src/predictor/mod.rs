//! Classic predictors on the integer quantization grid, and the raster sweep every chunk is coded in.
//!
//! Values are first pre-quantized to integers q (cuSZ's "dual quantization"), so prediction is exact
//! integer arithmetic (wrapping, hence lossless for any i64): the encoder and every decoder compute the
//! same predictions, and the per-value reconstruction never depends on which predictor was chosen.

use crate::error::{Result, corrupt};
pub(crate) mod feedback;
pub(crate) mod interp_order;

/// A chunk's classic predictor (the autoencoder overrides it tile by tile).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classic {
    /// The stream's centre: best for uncorrelated samples (rows of an event table).
    Constant,
    /// Lorenzo over the lattice axes in the bit mask (bit a = axis a): 1-d, 2-d or 3-d differences.
    Lorenzo(u8),
    /// SZ3-style multilevel interpolation (linear, or cubic where four neighbours exist): coarse
    /// points first, each finer level predicted from the level above. Averaging neighbours cancels
    /// part of their quantization noise, which wins at loose bounds on smooth or noisy fields.
    Interp { cubic: bool },
    /// The same order and stencils on reconstructed f64 values, coded relative to the prediction
    /// (SZ's error feedback; see `feedback.rs`). Fields of floats only; not a grid predictor.
    InterpFeedback { cubic: bool, reversed: bool, levelwise: bool },
}

impl Classic {
    pub fn to_byte(self) -> u8 {
        match self {
            Classic::Constant => 0,
            Classic::Lorenzo(m) => m,
            Classic::Interp { cubic } => 8 + cubic as u8,
            Classic::InterpFeedback { cubic, reversed, levelwise } => {
                10 + cubic as u8 + 2 * reversed as u8 + 4 * levelwise as u8
            }
        }
    }

    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            0 => Ok(Classic::Constant),
            1..=7 => Ok(Classic::Lorenzo(b)),
            8 | 9 => Ok(Classic::Interp { cubic: b == 9 }),
            10..=17 => {
                let f = b - 10;
                Ok(Classic::InterpFeedback { cubic: f & 1 != 0, reversed: f & 2 != 0, levelwise: f & 4 != 0 })
            }
            _ => corrupt(format!("unknown predictor {b}")),
        }
    }

    pub fn name(self) -> String {
        match self {
            Classic::Constant => "constant".into(),
            Classic::Lorenzo(m) => {
                let axes: Vec<String> = (0..3).filter(|a| m & (1 << a) != 0).map(|a| a.to_string()).collect();
                format!("lorenzo{}d(axes {})", m.count_ones(), axes.join(","))
            }
            Classic::Interp { cubic } => format!("{} interpolation", if cubic { "cubic" } else { "linear" }),
            Classic::InterpFeedback { cubic, reversed, levelwise } => format!(
                "{} interpolation on reconstructed values{}{}",
                if cubic { "cubic" } else { "linear" },
                if reversed { ", axes 2-1-0" } else { "" },
                if levelwise { ", level-wise steps" } else { "" }
            ),
        }
    }

    /// Predictors worth trying on a lattice: Lorenzo over every non-empty set of axes longer than 1
    /// (for tables only along the rows: columns have different units) and the constant.
    pub fn candidates(dims: [usize; 3], table: bool) -> Vec<Classic> {
        let mut live = 0u8;
        for (a, &d) in dims.iter().enumerate() {
            if d > 1 && (!table || a == 0) {
                live |= 1 << a;
            }
        }
        let mut out = vec![Classic::Constant];
        out.extend((1..=7u8).filter(|m| m & !live == 0).map(Classic::Lorenzo));
        if !table && dims.iter().any(|&d| d > 2) {
            out.extend([Classic::Interp { cubic: false }, Classic::Interp { cubic: true }]);
        }
        out
    }
}

/// Offsets and signs of the Lorenzo stencil for a mask: Σ over non-empty subsets S of the axes,
/// (−1)^(|S|+1) q[x − e_S].
fn stencil(mask: u8) -> Vec<([usize; 3], i64)> {
    (1..=7u8)
        .filter(|s| s & !mask == 0)
        .map(|s| {
            let d = [0, 1, 2].map(|a| ((s >> a) & 1) as usize);
            let sign = if s.count_ones() % 2 == 1 { 1 } else { -1 };
            (d, sign)
        })
        .collect()
}

/// Visits every element of the chunk once: `visit(index, classic_prediction, q_before)` returns
/// the element's final q (`q_before` is what `q` held there, so a decoder can pass its codes in
/// as `q` and have them replaced in place). Lorenzo and the constant go in raster order; interpolation in its passes
/// (`interp_order.rs`), where the order within a pass is free — `visit` must not depend on it.
pub fn sweep(
    dims: [usize; 3],
    classic: Classic,
    centers: &[i64],
    table: bool,
    q: &mut [i64],
    mut visit: impl FnMut(usize, i64, i64) -> i64,
) {
    let [n0, n1, n2] = dims;
    debug_assert_eq!(q.len(), n0 * n1 * n2);
    match classic {
        Classic::Constant => {
            let mut idx = 0;
            for _ in 0..n0 {
                for j in 0..n1 {
                    let c = centers[if table { j } else { 0 }];
                    for _ in 0..n2 {
                        q[idx] = visit(idx, c, q[idx]);
                        idx += 1;
                    }
                }
            }
        }
        // The feedback predictor's values come from `feedback::decode`; on the grid it sweeps in
        // its order with the integer stencils (callers branch before this).
        Classic::Interp { cubic } | Classic::InterpFeedback { cubic, .. } => {
            let mut prev = centers[0];
            interp_order::anchors(dims, |e| {
                prev = visit(e, prev, q[e]);
                q[e] = prev;
            });
            interp_order::runs(dims, false, cubic, |run| interp_order::refine_i64(q, run, &mut visit));
        }
        Classic::Lorenzo(mask) => lorenzo_sweep(dims, mask, q, visit),
    }
}

/// (offset back, sign) of each tap present.
type Taps = Vec<(usize, i64)>;

/// Lorenzo in raster order. Which taps exist depends on the row (i, j) and on whether k = 0:
/// that is resolved once per row, and rows with the stencil's full set of taps run a loop with
/// the taps fixed at compile time (the 1-, 2- and 3-axis stencils have 1, 3 and 7 taps).
fn lorenzo_sweep(dims: [usize; 3], mask: u8, q: &mut [i64], mut visit: impl FnMut(usize, i64, i64) -> i64) {
    let [n0, n1, n2] = dims;
    let strides = [n1 * n2, n2, 1];
    let taps: Vec<([usize; 3], usize, i64)> = stencil(mask)
        .into_iter()
        .map(|(d, s)| (d, d[0] * strides[0] + d[1] * strides[1] + d[2], s))
        .collect();
    // Sorted, so the previous element's tap (offset 1), when there is one, comes first.
    let mut plus: Vec<usize> = taps.iter().filter(|t| t.2 > 0).map(|t| t.1).collect();
    let minus: Vec<usize> = taps.iter().filter(|t| t.2 < 0).map(|t| t.1).collect();
    plus.sort_unstable();
    // The taps present depend only on whether i ≥ 1 and j ≥ 1 (stencil offsets are 0 or 1), and
    // for the first element of a row on k = 0: four (row, first-element) pairs, built once.
    let variants: Vec<(Taps, Taps)> = (0..4)
        .map(|v| {
            let (i_ok, j_ok) = (v & 1 != 0, v & 2 != 0);
            let present = |d: &[usize; 3]| (d[0] == 0 || i_ok) && (d[1] == 0 || j_ok);
            let row: Vec<(usize, i64)> = taps.iter().filter(|t| present(&t.0)).map(|t| (t.1, t.2)).collect();
            let first = taps.iter().filter(|t| present(&t.0) && t.0[2] == 0).map(|t| (t.1, t.2)).collect();
            (row, first)
        })
        .collect();
    // Along axis 0 only (a table's columns): after the first plane every element has the one tap,
    // so the rest is one run — tables have rows of a single element, too short to pay per row.
    if mask == 1 && n0 > 1 {
        let plane = n1 * n2;
        for (e, v) in q[..plane].iter_mut().enumerate() {
            *v = visit(e, 0, *v);
        }
        fixed_taps(q, plane..n0 * plane, [plane], [], &mut visit);
        return;
    }
    let mut idx = 0;
    for i in 0..n0 {
        for j in 0..n1 {
            let (row_taps, first_taps) = &variants[(i >= 1) as usize | ((j >= 1) as usize) << 1];
            let generic = |idx: usize, t: &[(usize, i64)], q: &[i64]| {
                t.iter().fold(0i64, |p, &(off, sign)| {
                    let v = q[idx - off];
                    if sign > 0 { p.wrapping_add(v) } else { p.wrapping_sub(v) }
                })
            };
            let row_end = idx + n2;
            if n2 > 0 {
                q[idx] = visit(idx, generic(idx, first_taps, q), q[idx]);
                idx += 1;
            }
            if row_taps.len() == taps.len() {
                let rest = idx..row_end;
                match (plus.as_slice(), minus.as_slice()) {
                    (&[1], &[]) => carried_taps(q, rest, [], [], &mut visit),
                    (&[a], &[]) => fixed_taps(q, rest, [a], [], &mut visit),
                    (&[1, b], &[c]) => carried_taps(q, rest, [b], [c], &mut visit),
                    (&[a, b], &[c]) => fixed_taps(q, rest, [a, b], [c], &mut visit),
                    (&[1, b, c, d], &[e, f, g]) => carried_taps(q, rest, [b, c, d], [e, f, g], &mut visit),
                    (&[a, b, c, d], &[e, f, g]) => fixed_taps(q, rest, [a, b, c, d], [e, f, g], &mut visit),
                    _ => unreachable!("Lorenzo stencils have 1, 3 or 7 taps"),
                }
            } else {
                for e in idx..row_end {
                    q[e] = visit(e, generic(e, row_taps, q), q[e]);
                }
            }
            idx = row_end;
        }
    }
}

/// [`fixed_taps`] for stencils along the last axis: the previous element's tap is the value just
/// computed, carried in a register — the loop's only dependency chain is then one add long
/// instead of a store and a reload. `plus` holds the other positive taps; they and `minus` reach
/// rows before this one (offset ≥ the run's length), read as slices of the finished part.
#[inline]
fn carried_taps<const P: usize, const M: usize>(
    q: &mut [i64],
    range: std::ops::Range<usize>,
    plus: [usize; P],
    minus: [usize; M],
    visit: &mut impl FnMut(usize, i64, i64) -> i64,
) {
    let (start, len) = (range.start, range.len());
    let reach_back = plus.iter().chain(&minus).all(|&off| off >= len && off <= start);
    if start == 0 || !reach_back {
        let all_plus: Vec<usize> = std::iter::once(1).chain(plus).collect();
        return generic_taps(q, range, &all_plus, &minus, visit);
    }
    let (done, row) = q.split_at_mut(start);
    let row = &mut row[..len];
    let plus = plus.map(|off| &done[start - off..start - off + len]);
    let minus = minus.map(|off| &done[start - off..start - off + len]);
    let mut prev = done[start - 1];
    for (m, out) in row.iter_mut().enumerate() {
        let mut p = prev;
        for s in &plus {
            p = p.wrapping_add(s[m]);
        }
        for s in &minus {
            p = p.wrapping_sub(s[m]);
        }
        prev = visit(start + m, p, *out);
        *out = prev;
    }
}

/// Lorenzo over `range` with every tap present: Σ q[e − plus] − Σ q[e − minus], wrapping.
#[inline]
fn fixed_taps<const P: usize, const M: usize>(
    q: &mut [i64],
    range: std::ops::Range<usize>,
    plus: [usize; P],
    minus: [usize; M],
    visit: &mut impl FnMut(usize, i64, i64) -> i64,
) {
    // The tap arrays' sizes are constants here, so these loops unroll.
    for e in range {
        let mut p = 0i64;
        for off in plus {
            p = p.wrapping_add(q[e - off]);
        }
        for off in minus {
            p = p.wrapping_sub(q[e - off]);
        }
        q[e] = visit(e, p, q[e]);
    }
}

#[inline]
fn generic_taps(
    q: &mut [i64],
    range: std::ops::Range<usize>,
    plus: &[usize],
    minus: &[usize],
    visit: &mut impl FnMut(usize, i64, i64) -> i64,
) {
    for e in range {
        let mut p = 0i64;
        for &off in plus {
            p = p.wrapping_add(q[e - off]);
        }
        for &off in minus {
            p = p.wrapping_sub(q[e - off]);
        }
        q[e] = visit(e, p, q[e]);
    }
}

/// Bytes a code stream would take, estimated by its order-0 entropy over the escape-coded symbols.
pub fn estimated_bytes(codes: impl Iterator<Item = i64>) -> f64 {
    let mut hist = [0u64; 256];
    let mut n = 0u64;
    let mut escape_bytes = 0u64;
    for c in codes {
        let z = crate::bytes::zigzag(c);
        if z < 255 {
            hist[z as usize] += 1;
        } else {
            hist[255] += 1;
            escape_bytes += (64 - (z - 255).leading_zeros() as u64).div_ceil(7).max(1);
        }
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let bits: f64 =
        hist.iter().filter(|&&h| h > 0).map(|&h| -(h as f64) * (h as f64 / n as f64).log2()).sum();
    bits / 8.0 + escape_bytes as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes_of(dims: [usize; 3], classic: Classic, values: &[i64]) -> Vec<i64> {
        let mut q = values.to_vec();
        let mut codes = vec![0; q.len()];
        sweep(dims, classic, &[0], false, &mut q, |i, p, _| {
            codes[i] = values[i].wrapping_sub(p);
            values[i]
        });
        codes
    }

    fn decode(dims: [usize; 3], classic: Classic, codes: &[i64]) -> Vec<i64> {
        let mut q = vec![0; codes.len()];
        sweep(dims, classic, &[0], false, &mut q, |i, p, _| p.wrapping_add(codes[i]));
        q
    }

    #[test]
    fn lorenzo_is_exact_on_planes_and_lossless_on_anything() {
        let dims = [3, 4, 5];
        let plane: Vec<i64> = (0..60).map(|i| (i / 20) * 7 + ((i / 5) % 4) * 3 - (i % 5) * 2).collect();
        let c3 = codes_of(dims, Classic::Lorenzo(7), &plane);
        // A linear function is predicted exactly away from the borders.
        for i in 1..3 {
            for j in 1..4 {
                for k in 1..5 {
                    assert_eq!(c3[(i * 4 + j) * 5 + k], 0);
                }
            }
        }
        let wild: Vec<i64> =
            (0..60).map(|i| if i % 3 == 0 { i64::MAX - i } else { i64::MIN + i * 17 }).collect();
        for c in Classic::candidates(dims, false) {
            assert_eq!(decode(dims, c, &codes_of(dims, c, &wild)), wild, "{c:?}");
        }
    }

    #[test]
    fn interpolation_visits_every_element_once_and_is_lossless() {
        for dims in [[60, 50, 50], [1, 1, 7], [3, 1, 1], [5, 9, 2], [1, 33, 17], [2, 2, 2]] {
            let n = dims.iter().product::<usize>();
            let values: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 1000 - 500 + i / 3).collect();
            for cubic in [false, true] {
                let c = Classic::Interp { cubic };
                let mut seen = vec![0u8; n];
                let mut q = vec![0i64; n];
                sweep(dims, c, &[0], false, &mut q, |i, _, _| {
                    seen[i] += 1;
                    values[i]
                });
                assert!(seen.iter().all(|&s| s == 1), "{dims:?}: every element exactly once");
                assert_eq!(decode(dims, c, &codes_of(dims, c, &values)), values, "{dims:?} {c:?}");
            }
        }
        let wild: Vec<i64> =
            (0..60).map(|i| if i % 3 == 0 { i64::MAX - i } else { i64::MIN + i * 17 }).collect();
        let c = Classic::Interp { cubic: true };
        assert_eq!(decode([3, 4, 5], c, &codes_of([3, 4, 5], c, &wild)), wild);
    }

    #[test]
    fn interpolation_is_exact_on_lines_and_cubics_inside() {
        let dims = [1, 1, 64];
        let line: Vec<i64> = (0..64).map(|k| 5 * k - 40).collect();
        let codes = codes_of(dims, Classic::Interp { cubic: false }, &line);
        // Every point with a right neighbour is the average of two on the line.
        assert!(codes[1..63].iter().filter(|&&c| c != 0).count() <= 2, "{codes:?}");
        let cube: Vec<i64> = (0..64).map(|k| (k - 30) * (k - 30) * (k - 30)).collect();
        let codes = codes_of(dims, Classic::Interp { cubic: true }, &cube);
        assert!(codes[8..56].iter().filter(|&&c| c != 0).count() < 8, "{codes:?}");
    }

    #[test]
    fn table_candidates_never_mix_columns() {
        let c = Classic::candidates([100, 5, 1], true);
        assert_eq!(c, vec![Classic::Constant, Classic::Lorenzo(1)]);
        assert_eq!(Classic::candidates([10, 10, 10], false).len(), 10);
        assert!(Classic::from_byte(18).is_err());
        let c = Classic::InterpFeedback { cubic: false, reversed: true, levelwise: false };
        assert_eq!(Classic::from_byte(12).unwrap(), c);
        for b in 0..=17 {
            assert_eq!(Classic::from_byte(b).unwrap().to_byte(), b);
        }
        assert_eq!(Classic::from_byte(9).unwrap(), Classic::Interp { cubic: true });
    }
}
