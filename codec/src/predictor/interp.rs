//! Predictors 8 and 9: SZ3-style multilevel interpolation on the grid (linear, or cubic where four
//! neighbours exist). Coarse points first, each finer level predicted from the level above
//! (`interp_order.rs`). Averaging neighbours cancels part of their quantization noise, which wins
//! at loose bounds on smooth or noisy fields. Fields only.

use crate::error::Result;
use crate::predictor::interp_order::{anchors, refine_i64, runs_by_plane};
use crate::predictor::{Family, GridPredictor, Predictor, StreamInfo};

/// Predictors 8 (linear) and 9 (cubic).
pub struct GridInterpFamily;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridInterp {
    pub cubic: bool,
    /// The prediction of the first anchor: the stream's centre.
    pub first: i64,
}

impl Family for GridInterpFamily {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        8..=9
    }

    fn build(&self, id: u8, streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(GridInterp { cubic: id == 9, first: streams.centers[0] }))
    }

    /// On fields with an axis longer than 2 (shorter ones have nothing to interpolate).
    #[cfg(feature = "encode")]
    fn candidates(&self, dims: [usize; 3], streams: &StreamInfo) -> Vec<Box<dyn Predictor>> {
        if streams.table || dims.iter().all(|&d| d <= 2) {
            return Vec::new();
        }
        [false, true]
            .map(|cubic| Box::new(GridInterp { cubic, first: streams.centers[0] }) as Box<dyn Predictor>)
            .into()
    }
}

impl GridPredictor for GridInterp {
    fn id(&self) -> u8 {
        8 + self.cubic as u8
    }

    fn name(&self) -> String {
        format!("{} interpolation", if self.cubic { "cubic" } else { "linear" })
    }

    fn sweep(&self, dims: [usize; 3], q: &mut [i64], mut visit: impl FnMut(usize, i64, i64) -> i64) {
        let mut prev = self.first;
        anchors(dims, |e| {
            prev = visit(e, prev, q[e]);
            q[e] = prev;
        });
        runs_by_plane(dims, false, self.cubic, |run| refine_i64(q, run, &mut visit));
    }

    /// Each run's points predicted from the grid values as they stand (a run reads only earlier
    /// passes): without exceptions straight from the input's grid (no copy), with them from a
    /// copy where they take their predictions.
    #[cfg(feature = "encode")]
    fn codes_of(&self, dims: [usize; 3], q: &[i64], stored: &[bool]) -> Option<Vec<i64>> {
        use crate::predictor::interp_order::{codes_i64, codes_i64_stored};
        let mut codes = vec![0i64; q.len()];
        let mut own = crate::predictor::any_stored(stored).then(|| q.to_vec());
        let mut prev = self.first;
        anchors(dims, |e| match &mut own {
            Some(q) if stored[e] => q[e] = prev,
            _ => {
                codes[e] = q[e].wrapping_sub(prev);
                prev = q[e];
            }
        });
        match &mut own {
            None => runs_by_plane(dims, false, self.cubic, |run| codes_i64(q, run, &mut codes)),
            Some(q) => {
                runs_by_plane(dims, false, self.cubic, |run| codes_i64_stored(q, run, &mut codes, stored))
            }
        }
        Some(codes)
    }

    /// The anchors, the levels of spacing ≥ 4 and the points near the chunk's edges (other
    /// stencils, larger codes) whole; of the rest of the two finest levels (most of the points),
    /// one row in [`SAMPLED_ROWS`] of each pass ([`crate::predictor::sampled_row`]), each code weighing
    /// as many as the pass has such points per point sampled. A code here is its point's grid
    /// value minus a prediction from grid values, so the sample's codes are exactly the whole
    /// chunk's at those points.
    #[cfg(feature = "encode")]
    fn sampled_estimate(&self, dims: [usize; 3], grid: &crate::predictor::GridReader<'_>) -> Option<f64> {
        use crate::predictor::interp_order::{Stencil, predict_i64_with, runs};
        let failed = std::cell::Cell::new(false);
        let q = grid.or_flag(&failed);
        let mut whole = Vec::new();
        let mut prev = self.first;
        anchors(dims, |e| {
            whole.push(q(e).wrapping_sub(prev));
            prev = q(e);
        });
        // Per pass of spacing 1 or 2 and axis: its points away from the edges, the codes sampled.
        #[derive(Default)]
        struct Pass {
            points: usize,
            codes: Vec<i64>,
        }
        let mut passes: [[Pass; 3]; 2] = Default::default();
        runs(dims, false, self.cubic, |run| {
            let inside = if self.cubic { Stencil::Cubic } else { Stencil::Linear };
            let out = match run.h {
                1 | 2 if run.stencil == inside => {
                    let pass = &mut passes[run.h - 1][run.axis];
                    pass.points += run.count;
                    let row = run.first / dims[2];
                    if !crate::predictor::sampled_row(row / dims[1], row % dims[1], SAMPLED_ROWS) {
                        return;
                    }
                    &mut pass.codes
                }
                _ => &mut whole,
            };
            for e in (0..run.count).map(|m| run.first + m * run.step) {
                out.push(q(e).wrapping_sub(predict_i64_with(q, e, run.d, run.stencil)));
            }
        });
        if failed.get() {
            return None;
        }
        let mut parts = vec![(whole.as_slice(), 1.0)];
        for pass in passes.iter().flatten() {
            if pass.codes.is_empty() && pass.points > 0 {
                return None;
            }
            parts.push((&pass.codes, pass.points as f64 / pass.codes.len().max(1) as f64));
        }
        Some(crate::predictor::estimated_bytes_weighted(&parts))
    }
}

/// One row in this many of the finest levels is coded by [`GridInterp`]'s sampled estimate.
#[cfg(feature = "encode")]
const SAMPLED_ROWS: usize = 16;

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
    use crate::predictor::tests::{codes_of, decode};

    #[test]
    fn interpolation_visits_every_element_once_and_is_lossless() {
        for dims in [[60, 50, 50], [1, 1, 7], [3, 1, 1], [5, 9, 2], [1, 33, 17], [2, 2, 2]] {
            let n = dims.iter().product::<usize>();
            let values: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 1000 - 500 + i / 3).collect();
            for cubic in [false, true] {
                let p = GridInterp { cubic, first: 0 };
                let mut seen = vec![0u8; n];
                let mut q = vec![0i64; n];
                p.sweep(dims, &mut q, |i, _, _| {
                    seen[i] += 1;
                    values[i]
                });
                assert!(seen.iter().all(|&s| s == 1), "{dims:?}: every element exactly once");
                assert_eq!(decode(&p, dims, &codes_of(&p, dims, &values)), values, "{dims:?} {p:?}");
            }
        }
    }

    #[test]
    fn the_batched_encoder_gives_the_sweeps_codes() {
        for dims in [[60, 50, 50], [1, 1, 7], [3, 1, 1], [5, 9, 2], [1, 33, 17], [9, 10, 11]] {
            let n = dims.iter().product::<usize>();
            let q: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 1000 - 500 + i / 3).collect();
            for cubic in [false, true] {
                let p = GridInterp { cubic, first: 3 };
                for every in [0, 1, 7, 2] {
                    let stored: Vec<bool> = (0..n).map(|e| every > 0 && e % every == 0).collect();
                    let mut want = vec![0i64; n];
                    p.sweep(dims, &mut q.clone(), |e, pred, x| {
                        if stored[e] {
                            pred
                        } else {
                            want[e] = x.wrapping_sub(pred);
                            x
                        }
                    });
                    assert_eq!(
                        p.codes_of(dims, &q, &stored),
                        Some(want),
                        "{dims:?} cubic {cubic} every {every}"
                    );
                }
            }
        }
    }

    #[test]
    fn interpolation_is_exact_on_lines_and_cubics_inside() {
        let dims = [1, 1, 64];
        let line: Vec<i64> = (0..64).map(|k| 5 * k - 40).collect();
        let codes = codes_of(&GridInterp { cubic: false, first: 0 }, dims, &line);
        // Every point with a right neighbour is the average of two on the line.
        assert!(codes[1..63].iter().filter(|&&c| c != 0).count() <= 2, "{codes:?}");
        let cube: Vec<i64> = (0..64).map(|k| (k - 30) * (k - 30) * (k - 30)).collect();
        let codes = codes_of(&GridInterp { cubic: true, first: 0 }, dims, &cube);
        assert!(codes[8..56].iter().filter(|&&c| c != 0).count() < 8, "{codes:?}");
    }
}
