//! Colormaps for the heatmap: perceptually uniform viridis (the codec's, shared with the figures of
//! `baler-train plot`), the diverging cool-warm of Moreland (for differences and anomalies, centred
//! on zero) and grey. Each maps t ∈ [0, 1] to sRGB.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    Viridis,
    CoolWarm,
    Gray,
}

/// Colour of "no data" (NaN, ±Inf, fill values) and of values not decoded yet.
pub const NO_DATA: [u8; 3] = [200, 200, 200];

impl Colormap {
    pub const ALL: [Colormap; 3] = [Colormap::Viridis, Colormap::CoolWarm, Colormap::Gray];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::CoolWarm => "coolwarm",
            Colormap::Gray => "gray",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Diverging maps read best with a range symmetric about zero.
    pub fn is_diverging(self) -> bool {
        self == Colormap::CoolWarm
    }

    pub fn rgb(self, t: f64) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let c = match self {
            Colormap::Viridis => return baler_codec::colormap::viridis(t),
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

#[cfg(test)]
mod tests {
    use super::*;

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
