//! Numbers behind the view's scales: the colour scale (linear or log), its ticks, ranges by
//! percentile, and tick positions for axes and histograms. No DOM: tested natively.

/// Maps values to [0, 1] for a colormap: linearly over `lo..hi`, or by log10 (then only
/// positive values have a colour).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorScale {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
}

impl ColorScale {
    /// A log scale needs a positive range: `lo` is raised to the smallest positive value seen
    /// (`min_positive`) or, failing that, to hi / 1e6.
    pub fn new((lo, hi): (f64, f64), log: bool, min_positive: Option<f64>) -> Self {
        if !log {
            return Self { lo, hi, log };
        }
        let hi = if hi > 0.0 { hi } else { 1.0 };
        let lo = if lo > 0.0 { lo } else { min_positive.filter(|&m| m < hi).unwrap_or(hi * 1e-6) };
        Self { lo, hi, log }
    }

    /// Position of `v` on the scale, clamped to [0, 1]; None where it has no colour (NaN, or
    /// not positive on a log scale).
    pub fn position(&self, v: f64) -> Option<f64> {
        if v.is_nan() || (self.log && v <= 0.0) {
            return None;
        }
        let (a, b, x) =
            if self.log { (self.lo.log10(), self.hi.log10(), v.log10()) } else { (self.lo, self.hi, v) };
        let span = if b > a { b - a } else { 1.0 };
        Some(((x - a) / span).clamp(0.0, 1.0))
    }

    /// `n` ≥ 2 tick values from low to high: evenly spaced, geometrically on a log scale.
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        let n = n.max(2);
        (0..n)
            .map(|i| {
                let f = i as f64 / (n - 1) as f64;
                if self.log {
                    10f64.powf(self.lo.log10() + f * (self.hi.log10() - self.lo.log10()))
                } else {
                    self.lo + f * (self.hi - self.lo)
                }
            })
            .collect()
    }
}

/// The `p_lo` and `p_hi` percentiles (0–100) of the data values (nearest rank); None without any.
pub fn percentiles(
    values: &[f64],
    is_data: impl Fn(f64) -> bool,
    p_lo: f64,
    p_hi: f64,
) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|&x| is_data(x)).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((p / 100.0 * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    Some((at(p_lo), at(p_hi)))
}

/// Up to about `n` round tick positions in `0..len` (an axis of `len` cells): 0 and multiples of
/// 1, 2 or 5 × 10^k.
pub fn index_ticks(len: usize, n: usize) -> Vec<usize> {
    if len <= 1 {
        return vec![0];
    }
    let raw = (len - 1) as f64 / n.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|&s| s >= raw).unwrap_or(raw).max(1.0);
    let step = step as usize;
    (0..len).step_by(step).collect()
}

/// Round tick positions in `start..start + len` (about `n` of them): multiples of 1, 2 or 5 × 10^k.
pub fn index_ticks_in(start: usize, len: usize, n: usize) -> Vec<usize> {
    // One tick only: the step is the whole length (not 1, a tick on every cell).
    let step = index_ticks(len, n).get(1).copied().unwrap_or(len).max(1);
    let first = start.div_ceil(step) * step;
    (first..start + len).step_by(step).collect()
}

/// Round tick positions for an axis showing cells `start..start + len` at `px` CSS pixels each,
/// at least `room` pixels apart (what a label needs), at most 5: a 256-column slice drawn 36 px
/// wide had its labels written over each other.
pub fn ticks_that_fit(start: usize, len: usize, px: f64, room: f64) -> Vec<usize> {
    match (len.saturating_sub(1) as f64 * px / room.max(1.0)) as usize {
        0 => vec![start], // room for one label: the first cell's
        n => index_ticks_in(start, len, n.min(5)),
    }
}

/// The part of an `h` × `w` slice shown: `rows` rows from `r0`, `cols` columns from `c0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub r0: usize,
    pub c0: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Window {
    pub fn whole(h: usize, w: usize) -> Self {
        Self { r0: 0, c0: 0, rows: h, cols: w }
    }

    /// This window made to fit an `h` × `w` slice (at least one cell).
    pub fn fit(self, h: usize, w: usize) -> Self {
        let rows = self.rows.clamp(1, h.max(1));
        let cols = self.cols.clamp(1, w.max(1));
        Self { r0: self.r0.min(h.saturating_sub(rows)), c0: self.c0.min(w.saturating_sub(cols)), rows, cols }
    }

    pub fn is_whole(&self, h: usize, w: usize) -> bool {
        *self == Self::whole(h, w)
    }

    /// Zoomed by `factor` (> 1 in, < 1 out) keeping cell (`r`, `c`) where it is on screen.
    pub fn zoom(self, factor: f64, (r, c): (usize, usize), h: usize, w: usize) -> Self {
        let rows = ((self.rows as f64 / factor).round() as usize).clamp(1, h.max(1));
        let cols = ((self.cols as f64 / factor).round() as usize).clamp(1, w.max(1));
        // The cell's share of the way across the window stays the same.
        let keep = |at: usize, start: usize, old: usize, new: usize| {
            let share = (at.saturating_sub(start) as f64 + 0.5) / old.max(1) as f64;
            (at as f64 + 0.5 - share * new as f64).round().max(0.0) as usize
        };
        Self { r0: keep(r, self.r0, self.rows, rows), c0: keep(c, self.c0, self.cols, cols), rows, cols }
            .fit(h, w)
    }

    /// Moved by `dr` rows and `dc` columns, within the slice.
    pub fn pan(self, dr: isize, dc: isize, h: usize, w: usize) -> Self {
        let shift = |v: usize, d: isize| v.saturating_add_signed(d);
        Self { r0: shift(self.r0, dr), c0: shift(self.c0, dc), ..self }.fit(h, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_keep_their_labels_apart() {
        for len in [1, 2, 7, 50, 256, 4000, 8000] {
            for px in [0.07, 0.14, 1.0, 2.2, 16.0] {
                for start in [0, 3, 1000] {
                    let ticks = ticks_that_fit(start, len, px, 40.0);
                    assert!(!ticks.is_empty() && ticks.len() <= 6, "{len} {px}: {ticks:?}");
                    assert!(ticks.iter().all(|&t| (start..start + len).contains(&t)), "{ticks:?}");
                    for pair in ticks.windows(2) {
                        assert!((pair[1] - pair[0]) as f64 * px >= 40.0, "{len} {px}: {ticks:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn linear_and_log_scales() {
        let lin = ColorScale::new((-1.0, 3.0), false, None);
        assert_eq!(lin.position(1.0), Some(0.5));
        assert_eq!(lin.position(9.0), Some(1.0));
        assert_eq!(lin.position(f64::NAN), None);
        assert_eq!(lin.ticks(5), vec![-1.0, 0.0, 1.0, 2.0, 3.0]);
        // A log scale over 1e-2..1e2: 1 sits in the middle; zero and negatives have no colour.
        let log = ColorScale::new((0.01, 100.0), true, None);
        assert!((log.position(1.0).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(log.position(0.0), None);
        assert_eq!(log.position(-3.0), None);
        let t = log.ticks(3);
        assert!((t[1] - 1.0).abs() < 1e-12 && (t[2] - 100.0).abs() < 1e-9, "{t:?}");
        // Data reaching below zero: the scale starts at the smallest positive value.
        assert_eq!(ColorScale::new((-5.0, 10.0), true, Some(0.1)).lo, 0.1);
        assert!((ColorScale::new((-5.0, 10.0), true, None).lo - 1e-5).abs() < 1e-18);
    }

    #[test]
    fn percentiles_skip_no_data() {
        let v: Vec<f64> = (0..=100).map(f64::from).chain([f64::NAN, 1e30]).collect();
        let r = percentiles(&v, |x| x.is_finite() && x < 1e29, 1.0, 99.0);
        assert_eq!(r, Some((1.0, 99.0)));
        assert_eq!(percentiles(&[f64::NAN], |x| x.is_finite(), 1.0, 99.0), None);
    }

    #[test]
    fn windows_zoom_around_a_cell_and_stay_inside() {
        let whole = Window::whole(50, 80);
        let z = whole.zoom(2.0, (10, 70), 50, 80);
        assert_eq!((z.rows, z.cols), (25, 40));
        // Cell (10, 70) keeps its place: 21 % of the way down, 88 % across.
        assert_eq!((z.r0, z.c0), (5, 35));
        assert_eq!(z.zoom(0.5, (10, 70), 50, 80), whole);
        assert!(whole.zoom(0.5, (0, 0), 50, 80).is_whole(50, 80));
        let far = z.pan(100, -100, 50, 80);
        assert_eq!((far.r0, far.c0), (25, 0));
        assert_eq!(
            Window { r0: 45, c0: 0, rows: 99, cols: 3 }.fit(50, 80),
            Window { r0: 0, c0: 0, rows: 50, cols: 3 }
        );
        assert_eq!(whole.zoom(1e9, (3, 4), 50, 80), Window { r0: 3, c0: 4, rows: 1, cols: 1 });
        assert_eq!(index_ticks_in(37, 20, 5), vec![40, 45, 50, 55]);
        assert_eq!(index_ticks_in(0, 50, 5), index_ticks(50, 5));
    }

    #[test]
    fn index_ticks_are_round() {
        assert_eq!(index_ticks(50, 5), vec![0, 10, 20, 30, 40]);
        assert_eq!(index_ticks(256, 5), vec![0, 100, 200]);
        assert_eq!(index_ticks(7, 5), vec![0, 2, 4, 6]);
        assert_eq!(index_ticks(1, 5), vec![0]);
        assert_eq!(index_ticks(3, 10), vec![0, 1, 2]);
    }
}
