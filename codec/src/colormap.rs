//! Colours and counts shared by the figures (`baler-train plot`) and the web viewer: matplotlib's
//! viridis, ColorBrewer's diverging RdBu (reversed), and equal-width histograms.

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// matplotlib's viridis sampled at t = 0, 1/9, …, 1 (the 10-colour `viridis(10)` palette of
/// matplotlib / R's viridisLite: #440154 … #FDE725).
pub const VIRIDIS: [Rgb; 10] = [
    [0x44, 0x01, 0x54],
    [0x48, 0x28, 0x78],
    [0x3E, 0x4A, 0x89],
    [0x31, 0x68, 0x8E],
    [0x26, 0x82, 0x8E],
    [0x1F, 0x9E, 0x89],
    [0x35, 0xB7, 0x79],
    [0x6D, 0xCD, 0x59],
    [0xB4, 0xDE, 0x2C],
    [0xFD, 0xE7, 0x25],
];

/// ColorBrewer's 11-class RdBu, reversed (= matplotlib's `RdBu_r`): blue for negative, near-white
/// at 0, red for positive.
pub const RDBU_R: [Rgb; 11] = [
    [0x05, 0x30, 0x61],
    [0x21, 0x66, 0xAC],
    [0x43, 0x93, 0xC3],
    [0x92, 0xC5, 0xDE],
    [0xD1, 0xE5, 0xF0],
    [0xF7, 0xF7, 0xF7],
    [0xFD, 0xDB, 0xC7],
    [0xF4, 0xA5, 0x82],
    [0xD6, 0x60, 0x4D],
    [0xB2, 0x18, 0x2B],
    [0x67, 0x00, 0x1F],
];

/// Linear interpolation between equally spaced colour stops (at least two); `t` is clamped to
/// [0, 1], NaN counts as 0.
pub fn interpolate(stops: &[Rgb], t: f64) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (stops.len() - 1) as f64;
    let k = (pos.floor() as usize).min(stops.len() - 2);
    let f = pos - k as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (stops[k], stops[k + 1]);
    [0, 1, 2].map(|c| mix(a[c], b[c]))
}

/// Viridis at t ∈ [0, 1].
pub fn viridis(t: f64) -> Rgb {
    interpolate(&VIRIDIS, t)
}

/// Diverging map for t ∈ [0, 1], 0.5 = no difference.
pub fn diverging(t: f64) -> Rgb {
    interpolate(&RDBU_R, t)
}

/// Counts `values` in `bins` equal bins over [`lo`, `hi`]: bin k holds
/// lo + k·w ≤ v < lo + (k+1)·w with w = (hi − lo) / bins, and the last bin also holds v = hi.
/// Values outside [lo, hi] and NaN are not counted. A single point (`hi == lo`) puts the values
/// equal to it in bin 0; with `hi < lo` or a non-finite limit every count is 0.
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<u64> {
    let mut counts = vec![0u64; bins];
    if bins == 0 || !(lo.is_finite() && hi.is_finite() && hi >= lo) {
        return counts;
    }
    if hi == lo {
        counts[0] = values.iter().filter(|&&v| v == lo).count() as u64;
        return counts;
    }
    let per_unit = bins as f64 / (hi - lo);
    for &v in values {
        if v >= lo && v <= hi {
            let k = (((v - lo) * per_unit) as usize).min(bins - 1);
            counts[k] += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_matches_references() {
        // plotters 0.3.7's ViridisRGB (style/colors/colormaps.rs), 8 stops at k/7: an independent
        // sampling of matplotlib's viridis.
        let reference = [
            [68, 1, 84],
            [70, 50, 127],
            [54, 92, 141],
            [39, 127, 143],
            [31, 162, 136],
            [74, 194, 110],
            [160, 219, 57],
            [254, 232, 37],
        ];
        for (k, want) in reference.iter().enumerate() {
            let c = viridis(k as f64 / 7.0);
            assert!((0..3).all(|i| (i32::from(c[i]) - want[i]).abs() <= 8), "t = {k}/7: {c:?} vs {want:?}");
        }
        // matplotlib: #440154 at 0, #3b528b at 0.25, #21918c at 0.5, #fde725 at 1 (±2 per channel).
        for (t, want) in [
            (0.0, [0x44, 0x01, 0x54]),
            (0.25, [0x3b, 0x52, 0x8b]),
            (0.5, [0x21, 0x91, 0x8c]),
            (1.0, [0xfd, 0xe7, 0x25]),
        ] {
            let c = viridis(t);
            assert!((0..3).all(|i| (i32::from(c[i]) - want[i]).abs() <= 2), "t = {t}: {c:?} vs {want:?}");
        }
        assert_eq!(viridis(f64::NAN), VIRIDIS[0]);
        assert_eq!(diverging(0.5), [0xF7, 0xF7, 0xF7]);
        assert_eq!(diverging(0.0), [0x05, 0x30, 0x61]);
        assert_eq!(diverging(2.0), [0x67, 0x00, 0x1F]);
    }

    #[test]
    fn histogram_golden_counts() {
        // Bins of width 1 over [0, 4]: [0,1) [1,2) [2,3) [3,4].
        let v = [0.0, 0.5, 0.999, 1.0, 2.5, 3.0, 3.999, 4.0, -0.001, 4.001, f64::NAN, f64::INFINITY];
        assert_eq!(histogram(&v, 0.0, 4.0, 4), vec![3, 1, 1, 3]);
        assert_eq!(histogram(&v, 0.0, 4.0, 1), vec![8]);
        assert_eq!(histogram(&[-1.0, -0.5, 0.0, 0.5, 1.0], -1.0, 1.0, 2), vec![2, 3]);
        assert_eq!(histogram(&[0.0, 0.5, 1.0, 2.0, f64::NAN], 0.0, 1.0, 2), vec![1, 2]);
        // A single point: its values in the first bin; empty or non-finite ranges count nothing.
        assert_eq!(histogram(&v, 1.0, 1.0, 3), vec![1, 0, 0]);
        assert_eq!(histogram(&v, 1.0, 0.0, 3), vec![0, 0, 0]);
        assert_eq!(histogram(&v, f64::INFINITY, f64::NEG_INFINITY, 2), vec![0, 0]);
        assert_eq!(histogram(&v, 0.0, f64::NAN, 2), vec![0, 0]);
        assert!(histogram(&v, 0.0, 4.0, 0).is_empty());
    }
}
