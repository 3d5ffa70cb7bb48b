//! Colormaps for the heatmap: perceptually uniform viridis (the codec's, shared with the figures of
//! `baler-train plot`), cividis (readable with colour-vision deficiencies) and magma, the diverging
//! cool-warm of Moreland (for differences and anomalies, centred on zero) and grey. Each maps
//! t ∈ [0, 1] to sRGB. Cividis and magma are matplotlib's, sampled at 17 points.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    Viridis,
    Cividis,
    Magma,
    CoolWarm,
    Gray,
}

/// Colour of "no data" (NaN, ±Inf, fill values) and of values not decoded yet.
pub const NO_DATA: [u8; 3] = [200, 200, 200];

impl Colormap {
    pub const ALL: [Colormap; 5] =
        [Colormap::Viridis, Colormap::Cividis, Colormap::Magma, Colormap::CoolWarm, Colormap::Gray];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Cividis => "cividis",
            Colormap::Magma => "magma",
            Colormap::CoolWarm => "coolwarm",
            Colormap::Gray => "gray",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Diverging maps read best centred on zero (see [`color_range`]).
    pub fn is_diverging(self) -> bool {
        self == Colormap::CoolWarm
    }

    pub fn rgb(self, t: f64) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let c = match self {
            Colormap::Viridis => return baler_codec::colormap::viridis(t),
            Colormap::Cividis => piecewise(&CIVIDIS, t),
            Colormap::Magma => piecewise(&MAGMA, t),
            Colormap::CoolWarm => piecewise(&COOL_WARM, t),
            Colormap::Gray => [t, t, t],
        };
        c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
    }

    /// 256 colours, for mapping many values fast.
    pub fn table(self) -> Vec<[u8; 3]> {
        (0..256).map(|i| self.rgb(i as f64 / 255.0)).collect()
    }
}

/// matplotlib's cividis at t = 0, 1/16, … 1.
const CIVIDIS: [[f64; 3]; 17] = [
    [0.0000, 0.1351, 0.3048],
    [0.0000, 0.1788, 0.4148],
    [0.1034, 0.2204, 0.4358],
    [0.1951, 0.2644, 0.4259],
    [0.2637, 0.3078, 0.4228],
    [0.3242, 0.3513, 0.4263],
    [0.3808, 0.3952, 0.4357],
    [0.4352, 0.4398, 0.4511],
    [0.4887, 0.4853, 0.4710],
    [0.5478, 0.5319, 0.4717],
    [0.6091, 0.5798, 0.4636],
    [0.6720, 0.6293, 0.4480],
    [0.7365, 0.6806, 0.4240],
    [0.8027, 0.7340, 0.3902],
    [0.8707, 0.7896, 0.3433],
    [0.9411, 0.8475, 0.2758],
    [0.9957, 0.9093, 0.2178],
];

/// matplotlib's magma at t = 0, 1/16, … 1.
const MAGMA: [[f64; 3]; 17] = [
    [0.0015, 0.0005, 0.0139],
    [0.0396, 0.0311, 0.1335],
    [0.1131, 0.0655, 0.2768],
    [0.2117, 0.0620, 0.4186],
    [0.3167, 0.0717, 0.4854],
    [0.4147, 0.1104, 0.5047],
    [0.5128, 0.1482, 0.5076],
    [0.6136, 0.1818, 0.4985],
    [0.7164, 0.2150, 0.4753],
    [0.8169, 0.2559, 0.4365],
    [0.9043, 0.3196, 0.3881],
    [0.9609, 0.4183, 0.3596],
    [0.9867, 0.5356, 0.3822],
    [0.9961, 0.6537, 0.4462],
    [0.9969, 0.7696, 0.5349],
    [0.9924, 0.8843, 0.6401],
    [0.9871, 0.9914, 0.7495],
];

/// Moreland's cool-warm control points.
const COOL_WARM: [[f64; 3]; 5] = [
    [0.230, 0.299, 0.754],
    [0.552, 0.690, 0.996],
    [0.865, 0.865, 0.865],
    [0.958, 0.604, 0.482],
    [0.706, 0.016, 0.150],
];

fn piecewise(points: &[[f64; 3]], t: f64) -> [f64; 3] {
    let x = t * (points.len() - 1) as f64;
    let i = (x.floor() as usize).min(points.len() - 2);
    let f = x - i as f64;
    let (a, b) = (points[i], points[i + 1]);
    [0, 1, 2].map(|k| a[k] + (b[k] - a[k]) * f)
}

/// Smallest side, as a share of the larger, for which a diverging map is centred on zero.
const CENTRED_FROM: f64 = 1.0 / 3.0;

/// The colour range to use: the fixed one, else the data's (`data`: its min and max; None
/// without data values). A diverging map is centred on zero
/// when the data spans zero with both sides of comparable size (the smaller at least a third of
/// the larger: anomalies, differences); for data mostly on one side, centring would paint it all
/// in one half of the map (−0.011…0.048 came out uniformly salmon), so it gets its own range.
pub fn color_range(fixed: Option<(f64, f64)>, data: Option<(f64, f64)>, cmap: Colormap) -> (f64, f64) {
    if let Some(r) = fixed {
        return r;
    }
    let (lo, hi) = data.unwrap_or((0.0, 1.0));
    let (small, large) = (lo.abs().min(hi.abs()), lo.abs().max(hi.abs()));
    if cmap.is_diverging() && lo < 0.0 && hi > 0.0 && small >= CENTRED_FROM * large {
        return (-large, large);
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {

    fn stats(values: &[f64]) -> Option<(f64, f64)> {
        let s = crate::decoded::RunningStats::of(values, |v| v.is_finite());
        (s.count > 0).then_some((s.min, s.max))
    }

    #[test]
    fn diverging_maps_centre_on_zero_only_for_balanced_data() {
        let cw = Colormap::CoolWarm;
        // Anomalies either side of zero: centred.
        assert_eq!(color_range(None, stats(&[-0.5, 0.2, 1.0]), cw), (-1.0, 1.0));
        // Mostly positive (the issue's −0.011…0.048): the data's own range.
        assert_eq!(color_range(None, stats(&[-0.011, 0.048]), cw), (-0.011, 0.048));
        // One-sided data, sequential maps and a fixed range are left alone.
        assert_eq!(color_range(None, stats(&[0.5, 2.0]), cw), (0.5, 2.0));
        assert_eq!(color_range(None, stats(&[-0.5, 1.0]), Colormap::Viridis), (-0.5, 1.0));
        assert_eq!(color_range(Some((0.0, 3.0)), stats(&[-1.0, 1.0]), cw), (0.0, 3.0));
        assert_eq!(color_range(None, stats(&[]), cw), (0.0, 1.0));
    }
    use super::*;

    #[test]
    fn cividis_and_magma_match_matplotlib_between_their_samples() {
        // matplotlib 3.x, colormaps[name](t) rounded to 8 bits (t = 0.3 and 0.71 fall between samples).
        let cases = [
            (
                Colormap::Cividis,
                [(0.0, 0x00224e), (0.3, 0x4f576c), (0.5, 0x7d7c78), (0.71, 0xb0a571), (1.0, 0xfee838)],
            ),
            (
                Colormap::Magma,
                [(0.0, 0x000004), (0.3, 0x641a80), (0.5, 0xb73779), (0.71, 0xf8745c), (1.0, 0xfcfdbf)],
            ),
        ];
        for (cmap, points) in cases {
            for (t, hex) in points {
                let want = [(hex >> 16) & 255, (hex >> 8) & 255, hex & 255];
                let got = cmap.rgb(t);
                for k in 0..3 {
                    assert!((got[k] as i32 - want[k]).abs() <= 2, "{cmap:?} t={t}: {got:?} vs {want:?}");
                }
            }
            assert_eq!(Colormap::from_name(cmap.name()), Some(cmap));
        }
    }

    #[test]
    fn viridis_matches_matplotlib_ends_and_middle() {
        // matplotlib's viridis: #440154 at 0, #21918c at 0.5, #fde725 at 1, #3b528b at 0.25 (±2 per channel)
        for (t, want) in [
            (0.0, [0x44, 0x01, 0x54]),
            (0.5, [0x21, 0x91, 0x8c]),
            (1.0, [0xfd, 0xe7, 0x25]),
            (0.25, [0x3b, 0x52, 0x8b]),
        ] {
            let got = Colormap::Viridis.rgb(t);
            for k in 0..3 {
                assert!((got[k] as i32 - want[k]).abs() <= 2, "t={t}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn viridis_lightness_increases() {
        let luma = |c: [u8; 3]| 0.2126 * c[0] as f64 + 0.7152 * c[1] as f64 + 0.0722 * c[2] as f64;
        let table = Colormap::Viridis.table();
        assert!(table.windows(8).step_by(8).all(|w| luma(w[7]) > luma(w[0])));
    }

    #[test]
    fn coolwarm_is_blue_grey_red_and_names_round_trip() {
        let [r0, _, b0] = Colormap::CoolWarm.rgb(0.0);
        let [r1, _, b1] = Colormap::CoolWarm.rgb(1.0);
        let mid = Colormap::CoolWarm.rgb(0.5);
        assert!(b0 > r0 && r1 > b1 && mid[0] == mid[1] && mid[1] == mid[2]);
        for c in Colormap::ALL {
            assert_eq!(Colormap::from_name(c.name()), Some(c));
        }
        assert_eq!(Colormap::from_name("jet"), None);
        assert_eq!(Colormap::Gray.rgb(f64::NAN), [0, 0, 0]);
    }
}
