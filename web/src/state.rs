//! The view's state as it lives in the URL hash (`#src=…&frame=3&cmap=viridis&range=0,1`), so a
//! link reproduces what its sender saw. Values are percent-encoded; unknown keys are ignored.

use crate::colormap::Colormap;

#[derive(Clone, Debug, PartialEq)]
pub struct ViewState {
    /// URL of the archive.
    pub src: Option<String>,
    /// URL of the model file an online-mode archive needs.
    pub model: Option<String>,
    /// Axis the field is sliced along (0 = frames / time).
    pub axis: usize,
    /// Index of the slice along `axis`.
    pub frame: usize,
    pub cmap: Colormap,
    /// Fixed colour range; None = the data's range.
    pub range: Option<(f64, f64)>,
    /// Fetch only the chunks the view needs, whatever the archive's size (by default only large
    /// archives are read so; small ones are read and checked whole).
    pub lazy: bool,
    /// Colours on a log10 scale.
    pub log: bool,
    /// Playback speed, frames per second.
    pub fps: u32,
    /// The part of the slice shown (first row, first column, rows, columns); None = all of it.
    pub window: Option<(usize, usize, usize, usize)>,
    /// The point picked in the slice (row, column): its line profile and time series are drawn.
    pub point: Option<(usize, usize)>,
    /// Table histograms: bins, and counts on a log scale.
    pub bins: usize,
    pub log_y: bool,
    /// Table columns shown against each other (x, y).
    pub scatter: Option<(usize, usize)>,
}

/// Defaults that the hash leaves out.
pub const DEFAULT_FPS: u32 = 8;
pub const DEFAULT_BINS: usize = 60;
/// Playback speeds offered (frames per second).
pub const SPEEDS: [u32; 5] = [2, 4, 8, 16, 30];

impl Default for ViewState {
    fn default() -> Self {
        Self {
            src: None,
            model: None,
            axis: 0,
            frame: 0,
            cmap: Colormap::Viridis,
            range: None,
            lazy: false,
            log: false,
            fps: DEFAULT_FPS,
            window: None,
            point: None,
            bins: DEFAULT_BINS,
            log_y: false,
            scatter: None,
        }
    }
}

impl ViewState {
    /// Parses a location hash (with or without the leading `#`).
    pub fn parse(hash: &str) -> Self {
        let mut s = Self::default();
        for pair in hash.trim_start_matches('#').split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "src" if !value.is_empty() => s.src = Some(value),
                "model" if !value.is_empty() => s.model = Some(value),
                "axis" => s.axis = value.parse().unwrap_or(0).min(2),
                "frame" => s.frame = value.parse().unwrap_or(0),
                "lazy" => s.lazy = value == "1",
                "log" => s.log = value == "1",
                "logy" => s.log_y = value == "1",
                "fps" => s.fps = value.parse().ok().filter(|f| SPEEDS.contains(f)).unwrap_or(DEFAULT_FPS),
                "bins" => s.bins = value.parse().unwrap_or(DEFAULT_BINS).clamp(2, 1000),
                "point" => s.point = index_pair(&value),
                "zoom" => {
                    let v: Vec<usize> = value.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                    s.window = (v.len() == 4 && v[2] > 0 && v[3] > 0).then(|| (v[0], v[1], v[2], v[3]));
                }
                "scatter" => s.scatter = index_pair(&value),
                "cmap" => s.cmap = Colormap::from_name(&value).unwrap_or(Colormap::Viridis),
                "range" => {
                    s.range = value.split_once(',').and_then(|(a, b)| {
                        let (lo, hi) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
                        (lo.is_finite() && hi.is_finite() && lo < hi).then_some((lo, hi))
                    })
                }
                _ => {}
            }
        }
        s
    }

    /// The hash that reproduces this state (defaults left out).
    pub fn to_hash(&self) -> String {
        let mut parts = Vec::new();
        if let Some(src) = &self.src {
            parts.push(format!("src={}", percent_encode(src)));
        }
        if let Some(m) = &self.model {
            parts.push(format!("model={}", percent_encode(m)));
        }
        if self.axis != 0 {
            parts.push(format!("axis={}", self.axis));
        }
        if self.frame != 0 {
            parts.push(format!("frame={}", self.frame));
        }
        if self.cmap != Colormap::Viridis {
            parts.push(format!("cmap={}", self.cmap.name()));
        }
        if let Some((lo, hi)) = self.range {
            parts.push(format!("range={lo},{hi}"));
        }
        if self.lazy {
            parts.push("lazy=1".into());
        }
        if self.log {
            parts.push("log=1".into());
        }
        if self.fps != DEFAULT_FPS {
            parts.push(format!("fps={}", self.fps));
        }
        if let Some((r0, c0, rows, cols)) = self.window {
            parts.push(format!("zoom={r0},{c0},{rows},{cols}"));
        }
        if let Some((r, c)) = self.point {
            parts.push(format!("point={r},{c}"));
        }
        if self.bins != DEFAULT_BINS {
            parts.push(format!("bins={}", self.bins));
        }
        if self.log_y {
            parts.push("logy=1".into());
        }
        if let Some((x, y)) = self.scatter {
            parts.push(format!("scatter={x},{y}"));
        }
        format!("#{}", parts.join("&"))
    }
}

/// `a,b` as two indices.
fn index_pair(value: &str) -> Option<(usize, usize)> {
    let (a, b) = value.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Percent-encodes everything but unreserved characters and the URL punctuation that is safe in a
/// hash value (`/ : . - _ ~ ?` stay readable; `&`, `=`, `#`, `%` and spaces are encoded).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/:?@!$'()*+,;".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are; invalid UTF-8 is replaced).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_hash() {
        let s = ViewState {
            src: Some("https://example.org/data/run 1.baler?x=1&y=2#z".into()),
            model: Some("/m.bmodel".into()),
            axis: 2,
            frame: 17,
            cmap: Colormap::CoolWarm,
            range: Some((-0.5, 1.25)),
            lazy: true,
            log: true,
            fps: 16,
            window: Some((2, 3, 10, 20)),
            point: Some((3, 40)),
            bins: 25,
            log_y: true,
            scatter: Some((1, 4)),
        };
        let h = s.to_hash();
        assert!(!h[1..].contains('#') && h.matches('&').count() == 13, "{h}");
        assert_eq!(ViewState::parse(&h), s);
        assert_eq!(ViewState::default().to_hash(), "#");
    }

    #[test]
    fn bad_values_fall_back_to_defaults() {
        let s = ViewState::parse("#src=a.baler&frame=-3&axis=9&cmap=jet&range=2,1&what=ever&%zz");
        assert_eq!(s.src.as_deref(), Some("a.baler"));
        assert_eq!((s.frame, s.axis, s.cmap, s.range), (0, 2, Colormap::Viridis, None));
        assert_eq!(ViewState::parse("range=nan,1").range, None);
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("a%2Fb%zz"), "a/b%zz");
        let s = ViewState::parse("fps=7&bins=1&point=3&scatter=a,b");
        assert_eq!((s.fps, s.bins, s.point, s.scatter), (DEFAULT_FPS, 2, None, None));
    }
}
