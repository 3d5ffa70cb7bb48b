//! Predictors 1–7: Lorenzo over the lattice axes in the id's bit mask (bit a = axis a): the 1-d,
//! 2-d or 3-d differences of a chunk, in raster order. A neighbour outside the chunk counts as 0.

use crate::error::Result;
use crate::predictor::{Family, GridPredictor, Predictor, StreamInfo};

/// Predictors 1–7.
pub struct LorenzoFamily;

/// A chunk's codes are made on several threads from this many values a thread.
#[cfg(feature = "encode")]
const PARALLEL_RUN_VALUES: usize = 1 << 15;

/// Lorenzo over the axes in the mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lorenzo(pub u8);

impl Family for LorenzoFamily {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        1..=7
    }

    fn build(&self, id: u8, _streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(Lorenzo(id)))
    }

    /// Every non-empty set of the axes longer than 1 (for a table only along the rows: its
    /// columns have different units).
    #[cfg(feature = "encode")]
    fn candidates(&self, dims: [usize; 3], streams: &StreamInfo) -> Vec<Box<dyn Predictor>> {
        let mut live = 0u8;
        for (a, &d) in dims.iter().enumerate() {
            if d > 1 && (!streams.table || a == 0) {
                live |= 1 << a;
            }
        }
        (1..=7u8).filter(|m| m & !live == 0).map(|m| Box::new(Lorenzo(m)) as Box<dyn Predictor>).collect()
    }
}

impl GridPredictor for Lorenzo {
    fn id(&self) -> u8 {
        self.0
    }

    fn name(&self) -> String {
        let m = self.0;
        let axes: Vec<String> = (0..3).filter(|a| m & (1 << a) != 0).map(|a| a.to_string()).collect();
        format!("lorenzo{}d(axes {})", m.count_ones(), axes.join(","))
    }

    fn sweep(&self, dims: [usize; 3], q: &mut [i64], visit: impl FnMut(usize, i64, i64) -> i64) {
        lorenzo_sweep(dims, self.0, q, visit)
    }

    /// A code is the grid's difference along each axis of the mask (a neighbour outside the
    /// chunk 0), and differences along different axes commute: the grid is the codes summed up
    /// along each of those axes in turn, plane by plane — along axes 0 and 1 adds of whole rows,
    /// which vectorize, where the sweep sums up to 7 taps a value in one chain. Wrapping sums,
    /// so the same grid exactly (tested against the sweep: `sums_along_axes_are_the_sweep`).
    fn invert_in_place(&self, dims: [usize; 3], q: &mut [i64]) -> bool {
        let [n0, n1, n2] = dims;
        let plane = n1 * n2;
        if plane == 0 || q.len() != n0 * plane {
            return false;
        }
        let along = |a: usize| self.0 & (1 << a) != 0;
        for i in 0..n0 {
            let (done, rest) = q.split_at_mut(i * plane);
            let this = &mut rest[..plane];
            if along(2) {
                for row in this.chunks_exact_mut(n2) {
                    let mut sum = 0i64;
                    for x in row {
                        sum = sum.wrapping_add(*x);
                        *x = sum;
                    }
                }
            }
            if along(1) {
                for j in 1..n1 {
                    let (before, row) = this.split_at_mut(j * n2);
                    let previous = &before[(j - 1) * n2..];
                    row[..n2].iter_mut().zip(previous).for_each(|(x, &p)| *x = x.wrapping_add(p));
                }
            }
            if along(0) && i > 0 {
                let previous = &done[(i - 1) * plane..];
                this.iter_mut().zip(previous).for_each(|(x, &p)| *x = x.wrapping_add(p));
            }
        }
        true
    }

    /// Without values stored exactly the sweep leaves the grid as it is, so a plane's codes
    /// depend on the grid alone: runs of planes on all threads, each swept from one plane before
    /// it (for the taps along axis 0; that plane's codes are the previous run's). The same codes
    /// whatever the runs. (CFD's 150 000 values are one chunk, which one thread used to sweep.)
    #[cfg(feature = "encode")]
    fn codes_of(&self, dims: [usize; 3], q: &[i64], stored: &[bool]) -> Option<Vec<i64>> {
        if crate::predictor::any_stored(stored) {
            return None;
        }
        let runs = rayon::current_num_threads().min(q.len() / PARALLEL_RUN_VALUES);
        Some(self.codes_in_runs(dims, q, runs))
    }

    /// Rows with a tap missing (the chunk's first plane, row or column along a stencil axis)
    /// whole; of the others, one in [`SAMPLED_ROWS`] ([`crate::predictor::sampled_row`]), each code
    /// weighing as many as there are such codes per code sampled. A code is its point's grid
    /// value minus a sum of grid values, so the sample's codes are the whole chunk's there. What
    /// a Huffman code makes of them ([`crate::predictor::huffman_bytes_weighted`]): Lorenzo is
    /// weighed against feedback interpolation's length as counted.
    #[cfg(feature = "encode")]
    fn sampled_estimate(&self, dims: [usize; 3], grid: &crate::predictor::GridReader<'_>) -> Option<f64> {
        let [n0, n1, n2] = dims;
        let strides = [n1 * n2, n2, 1];
        let taps = stencil(self.0);
        let failed = std::cell::Cell::new(false);
        let q = grid.or_flag(&failed);
        // The codes of row (i, j) from k on: the row and the rows its taps read, each read once,
        // each tap applied along the whole row (wrapping sums: the order does not matter).
        let read = |i: usize, j: usize| -> Vec<i64> {
            let mut row = Vec::with_capacity(n2);
            if !grid.row(i * strides[0] + j * strides[1], n2, &mut row) {
                failed.set(true);
            }
            row
        };
        let row_codes = |i: usize, j: usize, from: usize, out: &mut Vec<i64>| {
            let own = read(i, j);
            let mut codes = own.clone();
            let mut rows: [[Option<Vec<i64>>; 2]; 2] = Default::default();
            for &(d, sign) in taps.iter().filter(|(d, _)| i >= d[0] && j >= d[1]) {
                let src = match (d[0], d[1]) {
                    (0, 0) => &own,
                    (d0, d1) => rows[d0][d1].get_or_insert_with(|| read(i - d0, j - d1)),
                };
                for (c, &v) in codes[d[2]..].iter_mut().zip(src) {
                    *c = if sign > 0 { c.wrapping_sub(v) } else { c.wrapping_add(v) };
                }
            }
            out.extend_from_slice(&codes[from.min(n2)..]);
        };
        let uses = |a: usize| self.0 & (1 << a) != 0;
        let (mut whole, mut sampled) = (Vec::new(), Vec::new());
        let mut inside = 0usize;
        for i in 0..n0 {
            for j in 0..n1 {
                if (uses(0) && i == 0) || (uses(1) && j == 0) {
                    row_codes(i, j, 0, &mut whole);
                    continue;
                }
                let from = uses(2) as usize;
                inside += n2.saturating_sub(from);
                if crate::predictor::sampled_row(i, j, SAMPLED_ROWS) {
                    row_codes(i, j, from, &mut sampled);
                }
                if from > 0 && n2 > 0 {
                    // The row's first element, which lacks its taps along the row.
                    let e = i * strides[0] + j * strides[1];
                    let across = taps.iter().filter(|(d, _)| d[2] == 0);
                    whole.push(across.fold(q(e), |c, &(d, sign)| {
                        let v = q(e - d[0] * strides[0] - d[1] * strides[1]);
                        if sign > 0 { c.wrapping_sub(v) } else { c.wrapping_add(v) }
                    }));
                }
            }
        }
        if failed.get() || (inside > 0 && sampled.is_empty()) {
            return None;
        }
        let weight = inside as f64 / sampled.len().max(1) as f64;
        Some(crate::predictor::huffman_bytes_weighted(&[(&whole, 1.0), (&sampled, weight)]))
    }
}

impl Lorenzo {
    /// [`GridPredictor::codes_of`] without stored values, the planes in `runs` runs. A code is
    /// its grid value minus its prediction, a signed sum of grid values (wrapping, so in any
    /// order): each run starts from its grid values and takes off one tap at a time, a row at a
    /// time — loops over slices that vectorize, where the sweep carried each value through a
    /// closure (4.5 ns a value on CFD, a copy of the grid and its write-back included).
    #[cfg(feature = "encode")]
    fn codes_in_runs(&self, dims: [usize; 3], q: &[i64], runs: usize) -> Vec<i64> {
        use rayon::prelude::*;
        let [n0, n1, n2] = dims;
        let plane = n1 * n2;
        let mut codes = q.to_vec();
        if plane == 0 || n0 == 0 {
            return codes;
        }
        let taps = taps_of(dims, self.0);
        // Takes tap (offset `off`, `sign`) off `out`, the codes of elements `at..at + out.len()`.
        let take_off = |out: &mut [i64], at: usize, off: usize, sign: i64| {
            let read = &q[at - off..at - off + out.len()];
            if sign > 0 {
                out.iter_mut().zip(read).for_each(|(c, &v)| *c = c.wrapping_sub(v));
            } else {
                out.iter_mut().zip(read).for_each(|(c, &v)| *c = c.wrapping_add(v));
            }
        };
        let per_run = n0.div_ceil(runs.clamp(1, n0));
        codes.par_chunks_mut(per_run * plane).enumerate().for_each(|(r, out)| {
            let base = r * per_run * plane;
            // Along axis 0 only (a table's columns): a plane is one run of elements.
            if self.0 == 1 {
                let from = base.max(plane);
                if from < base + out.len() {
                    take_off(&mut out[from - base..], from, plane, 1);
                }
                return;
            }
            for (row, codes) in out.chunks_mut(n2).enumerate() {
                let at = base + row * n2;
                let (i, j) = (at / plane, (at / n2) % n1);
                for &(d, off, sign) in &taps {
                    // A tap outside the chunk counts as 0; along axis 2 the row's first
                    // element has none.
                    if (d[0] == 1 && i == 0) || (d[1] == 1 && j == 0) || d[2] >= n2 {
                        continue;
                    }
                    take_off(&mut codes[d[2]..], at + d[2], off, sign);
                }
            }
        });
        codes
    }
}

/// One row in this many away from the chunk's edges is coded by [`Lorenzo`]'s sampled estimate.
#[cfg(feature = "encode")]
const SAMPLED_ROWS: usize = 16;

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

/// [`stencil`] in a chunk of `dims`: each tap's offsets, its distance back in elements and sign.
fn taps_of(dims: [usize; 3], mask: u8) -> Vec<([usize; 3], usize, i64)> {
    let strides = [dims[1] * dims[2], dims[2], 1];
    stencil(mask).into_iter().map(|(d, s)| (d, d[0] * strides[0] + d[1] * strides[1] + d[2], s)).collect()
}

/// (offset back, sign) of each tap present.
type Taps = Vec<(usize, i64)>;

/// Lorenzo in raster order. Which taps exist depends on the row (i, j) and on whether k = 0:
/// that is resolved once per row, and rows with the stencil's full set of taps run a loop with
/// the taps fixed at compile time (the 1-, 2- and 3-axis stencils have 1, 3 and 7 taps).
fn lorenzo_sweep(dims: [usize; 3], mask: u8, q: &mut [i64], mut visit: impl FnMut(usize, i64, i64) -> i64) {
    let [n0, n1, n2] = dims;
    let taps = taps_of(dims, mask);
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

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
    use crate::predictor::tests::codes_of;

    /// The decoder's sums along the axes give what its sweep gives, for every mask, on shapes with
    /// axes of 1 and 2, from codes of any size.
    #[test]
    fn sums_along_axes_are_the_sweep() {
        for dims in [[7, 5, 6], [1, 9, 4], [13, 3, 1], [5, 1, 11], [2, 2, 2], [1, 1, 1], [30, 20, 25]] {
            let n: usize = dims.iter().product();
            let codes: Vec<i64> = (0..n as i64)
                .map(|i| if i % 7 == 3 { i64::MAX - i } else { (i * 7919) % 201 - 100 })
                .collect();
            for mask in 1..=7u8 {
                let mut swept = codes.clone();
                Lorenzo(mask).sweep(dims, &mut swept, |_, p, code| p.wrapping_add(code));
                let mut summed = codes.clone();
                assert!(Lorenzo(mask).invert_in_place(dims, &mut summed));
                assert_eq!(summed, swept, "mask {mask} dims {dims:?}");
            }
        }
    }

    /// Planes swept in runs on several threads make the codes the one sweep makes, for every
    /// stencil and run count (runs of one plane, more runs than planes, tables along axis 0).
    #[test]
    fn runs_of_planes_make_the_sweeps_codes() {
        let cases = [
            ([7, 5, 6], false),
            ([1, 9, 4], false),
            ([13, 3, 1], true),
            ([5, 1, 11], false),
            ([4, 6, 1], false),
        ];
        for (dims, table) in cases {
            let n: usize = dims.iter().product();
            let q: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 97 - 40 + (i / 5) * (i % 3)).collect();
            for mask in 1..=7u8 {
                if table && mask != 1 {
                    continue;
                }
                let p = Lorenzo(mask);
                let mut swept = q.clone();
                let mut want = vec![0i64; n];
                p.sweep(dims, &mut swept, |e, pred, x| {
                    want[e] = x.wrapping_sub(pred);
                    x
                });
                for runs in [1, 2, 3, 4, 20] {
                    assert_eq!(p.codes_in_runs(dims, &q, runs), want, "{dims:?} mask {mask} runs {runs}");
                }
                assert_eq!(codes_of(&p, dims, &q), want);
            }
        }
    }

    #[test]
    fn lorenzo_is_exact_on_planes() {
        let dims = [3, 4, 5];
        let plane: Vec<i64> = (0..60).map(|i| (i / 20) * 7 + ((i / 5) % 4) * 3 - (i % 5) * 2).collect();
        let c3 = codes_of(&Lorenzo(7), dims, &plane);
        // A linear function is predicted exactly away from the borders.
        for i in 1..3 {
            for j in 1..4 {
                for k in 1..5 {
                    assert_eq!(c3[(i * 4 + j) * 5 + k], 0);
                }
            }
        }
    }
}
