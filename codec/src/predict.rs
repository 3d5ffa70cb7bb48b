//! Classic predictors on the integer quantization grid, and the raster sweep every chunk is coded in.
//!
//! Values are first pre-quantized to integers q (cuSZ's "dual quantization"), so prediction is exact
//! integer arithmetic (wrapping, hence lossless for any i64): the encoder and every decoder compute the
//! same predictions, and the per-value reconstruction never depends on which predictor was chosen.

use crate::error::{Result, corrupt};

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

/// Visits the chunk in raster order. For each element, `visit(index, classic_prediction, q)` gets
/// the already-final values of q before it and returns the element's final q.
pub fn sweep(
    dims: [usize; 3],
    classic: Classic,
    centers: &[i64],
    table: bool,
    q: &mut [i64],
    mut visit: impl FnMut(usize, i64) -> i64,
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
                        q[idx] = visit(idx, c);
                        idx += 1;
                    }
                }
            }
        }
        // The feedback predictor's values come from `feedback::decode`; on the grid it sweeps in
        // its order with the integer stencils (callers branch before this).
        Classic::Interp { cubic } | Classic::InterpFeedback { cubic, .. } => {
            interpolation_sweep(dims, cubic, centers[0], q, visit)
        }
        Classic::Lorenzo(mask) => {
            let strides = [n1 * n2, n2, 1];
            let taps: Vec<([usize; 3], usize, i64)> = stencil(mask)
                .into_iter()
                .map(|(d, s)| (d, d[0] * strides[0] + d[1] * strides[1] + d[2], s))
                .collect();
            // Which taps exist depends on the row (i, j) and on whether k = 0: resolve that once
            // per row, so the inner loop has no bounds checks on the lattice.
            let mut row_taps: Vec<(usize, i64)> = Vec::with_capacity(7);
            let mut first_taps: Vec<(usize, i64)> = Vec::with_capacity(7);
            let mut idx = 0;
            for i in 0..n0 {
                for j in 0..n1 {
                    row_taps.clear();
                    first_taps.clear();
                    for &(d, off, sign) in &taps {
                        if i >= d[0] && j >= d[1] {
                            row_taps.push((off, sign));
                            if d[2] == 0 {
                                first_taps.push((off, sign));
                            }
                        }
                    }
                    for k in 0..n2 {
                        let t = if k == 0 { &first_taps } else { &row_taps };
                        let mut p = 0i64;
                        for &(off, sign) in t {
                            let v = q[idx - off];
                            p = if sign > 0 { p.wrapping_add(v) } else { p.wrapping_sub(v) };
                        }
                        q[idx] = visit(idx, p);
                        idx += 1;
                    }
                }
            }
        }
    }
}

/// Where a point of the interpolation order takes its prediction from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taps {
    /// An anchor: the previous anchor (None for the first: the centre).
    Anchor(Option<usize>),
    /// Along one axis: the known points at −h, +h, −3h, +3h (those that exist).
    Along { l1: usize, r1: Option<usize>, l3: Option<usize>, r3: Option<usize>, h: usize },
}

/// The multilevel interpolation order (SZ3): anchors on a grid of spacing S (the largest power of
/// two below the longest axis) in raster order, each predicted by the previous anchor (the first by
/// the centre); then for spacing h = S/2, S/4, …, 1 and each axis a in turn, the points at odd
/// multiples of h along a, multiples of h along the axes before a and of 2h along the axes after,
/// predicted along a from the known points at ±h (and ±3h), in raster order. `reversed` takes the
/// axes in the order 2, 1, 0 within each level ("before" and "after" follow that order).
pub fn interpolation_order(dims: [usize; 3], reversed: bool, mut visit: impl FnMut(usize, Taps)) {
    let strides = [dims[1] * dims[2], dims[2], 1];
    let longest = dims.iter().copied().max().unwrap_or(0);
    if dims.contains(&0) {
        return;
    }
    let mut spacing = 1usize;
    while spacing * 2 < longest {
        spacing *= 2;
    }
    let mut prev = None;
    for i in (0..dims[0]).step_by(spacing) {
        for j in (0..dims[1]).step_by(spacing) {
            for k in (0..dims[2]).step_by(spacing) {
                let idx = i * strides[0] + j * strides[1] + k;
                visit(idx, Taps::Anchor(prev));
                prev = Some(idx);
            }
        }
    }
    let mut h = spacing / 2;
    while h >= 1 {
        // Axis order within a level; which is better depends on the data (time first or not).
        let order = if reversed { [2, 1, 0] } else { [0, 1, 2] };
        let rank = |x: usize| if reversed { 2 - x } else { x };
        for a in order {
            if dims[a] <= h {
                continue;
            }
            // Per axis: (first coordinate, step) of the points refined now.
            let range = |b: usize| -> (usize, usize) {
                match rank(b).cmp(&rank(a)) {
                    std::cmp::Ordering::Less => (0, h),
                    std::cmp::Ordering::Equal => (h, 2 * h),
                    std::cmp::Ordering::Greater => (0, 2 * h),
                }
            };
            let (r0, r1, r2) = (range(0), range(1), range(2));
            let (n_a, s_a) = (dims[a], strides[a]);
            for i in (r0.0..dims[0]).step_by(r0.1) {
                for j in (r1.0..dims[1]).step_by(r1.1) {
                    for k in (r2.0..dims[2]).step_by(r2.1) {
                        let idx = i * strides[0] + j * strides[1] + k;
                        let c = [i, j, k][a];
                        visit(
                            idx,
                            Taps::Along {
                                l1: idx - h * s_a,
                                r1: (c + h < n_a).then(|| idx + h * s_a),
                                l3: (c >= 3 * h).then(|| idx - 3 * h * s_a),
                                r3: (c + 3 * h < n_a).then(|| idx + 3 * h * s_a),
                                h,
                            },
                        );
                    }
                }
            }
        }
        h /= 2;
    }
}

/// Integer interpolation on the grid (predictors 8 and 9).
fn interpolation_sweep(
    dims: [usize; 3],
    cubic: bool,
    center: i64,
    q: &mut [i64],
    mut visit: impl FnMut(usize, i64) -> i64,
) {
    interpolation_order(dims, false, |idx, taps| {
        let p = match taps {
            Taps::Anchor(prev) => prev.map_or(center, |a| q[a]),
            Taps::Along { l1, r1, l3, r3, .. } => {
                let l1 = q[l1];
                match (r1, l3, r3) {
                    (Some(r1), Some(l3), Some(r3)) if cubic => {
                        // (−l3 + 9 l1 + 9 r1 − r3) / 16, rounded half up, wrapping.
                        l1.wrapping_add(q[r1])
                            .wrapping_mul(9)
                            .wrapping_sub(q[l3].wrapping_add(q[r3]))
                            .wrapping_add(8)
                            >> 4
                    }
                    (Some(r1), _, _) => l1.wrapping_add(q[r1]).wrapping_add(1) >> 1,
                    // Past the last known point: linear extrapolation (3 l1 − l3) / 2.
                    (None, Some(l3), _) => l1.wrapping_mul(3).wrapping_sub(q[l3]).wrapping_add(1) >> 1,
                    (None, None, _) => l1,
                }
            }
        };
        q[idx] = visit(idx, p);
    });
}

/// The same order and stencils in f64 on reconstructed values (predictors 10 and 11: prediction
/// from what the decoder will have, SZ's error feedback). `recon` must hold the final value of
/// every point before it in the order; IEEE f64 in this exact operation order is reproducible on
/// every platform (Rust does not contract to FMA).
pub fn interpolation_prediction(taps: Taps, cubic: bool, center: f64, recon: &[f64]) -> f64 {
    match taps {
        Taps::Anchor(prev) => prev.map_or(center, |a| recon[a]),
        Taps::Along { l1, r1, l3, r3, .. } => {
            let l1 = recon[l1];
            match (r1, l3, r3) {
                (Some(r1), Some(l3), Some(r3)) if cubic => {
                    (9.0 * (l1 + recon[r1]) - (recon[l3] + recon[r3])) * 0.0625
                }
                (Some(r1), _, _) => (l1 + recon[r1]) * 0.5,
                (None, Some(l3), _) => (3.0 * l1 - recon[l3]) * 0.5,
                (None, None, _) => l1,
            }
        }
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
        sweep(dims, classic, &[0], false, &mut q, |i, p| {
            codes[i] = values[i].wrapping_sub(p);
            values[i]
        });
        codes
    }

    fn decode(dims: [usize; 3], classic: Classic, codes: &[i64]) -> Vec<i64> {
        let mut q = vec![0; codes.len()];
        sweep(dims, classic, &[0], false, &mut q, |i, p| p.wrapping_add(codes[i]));
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
                sweep(dims, c, &[0], false, &mut q, |i, _| {
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
