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
}

impl Classic {
    pub fn to_byte(self) -> u8 {
        match self {
            Classic::Constant => 0,
            Classic::Lorenzo(m) => m,
        }
    }

    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            0 => Ok(Classic::Constant),
            1..=7 => Ok(Classic::Lorenzo(b)),
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
    fn table_candidates_never_mix_columns() {
        let c = Classic::candidates([100, 5, 1], true);
        assert_eq!(c, vec![Classic::Constant, Classic::Lorenzo(1)]);
        assert_eq!(Classic::candidates([10, 10, 10], false).len(), 8);
        assert!(Classic::from_byte(8).is_err());
    }
}
