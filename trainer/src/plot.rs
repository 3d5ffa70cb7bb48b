//! Plots: original against reconstructed data (the original Baler's `--mode plot`), and the
//! training loss curve.
//!
//! * Fields (gridded data): one `frame_<i>.png` per chosen frame, with three heatmaps side by
//!   side (original, reconstructed on the same colour scale with a shared colour bar, and the
//!   difference on a diverging scale symmetric around 0 with its own colour bar); non-finite
//!   cells (NaN, fill values) are grey. A 1-d field gets `series.png` (original and
//!   reconstructed as lines, and their difference) instead of frames. Every field also gets
//!   `error_histogram.png`: the histogram of (x′ − x) / bound over all finite values, which lies
//!   within [−1, 1] under a strict bound (the ±1 lines are drawn), or of (x′ − x) / range when
//!   the bound is not known.
//! * Tables: one `column_<name>.png` per column, like the original Baler's `plot_1D`: the two
//!   distributions overlaid (step histograms, same bins), the residual x′ − x, and the relative
//!   difference (x′ − x) / x (rows with x = 0 skipped).
//! * Training: [`plot_loss`], train and validation loss against epoch on a log axis.
//!
//! Every figure is a PNG, plus an SVG of the same drawing on request. Text is drawn with a
//! TrueType font read at run time ([`FONT_ENV`], then the usual DejaVu Sans paths); plotters
//! needs it to lay out text for both PNG and SVG, so without one every plot fails with an error
//! that says what to install.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use baler_codec::{Dataset, Values};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::train::EpochStats;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// What [`plot_comparison`] draws.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlotOptions {
    /// Frames of a field to draw: indices along the first axis of a 3-d field, or along the
    /// leading axes flattened (row-major) for more dimensions. Empty = first, middle and last.
    pub frames: Vec<usize>,
    /// Also write an SVG next to each PNG.
    pub svg: bool,
}

/// Environment variable naming a TrueType font to draw text with; it wins over the system paths.
pub const FONT_ENV: &str = "BALER_FONT";

/// Where DejaVu Sans lives on Debian / Ubuntu (`fonts-dejavu-core`), Arch, and Fedora.
const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Size of the three-panel figures (frames, table columns, 1-d series).
pub const PANELS_SIZE: (u32, u32) = (1500, 500);
/// Size of the single-panel figures (error histogram, loss curve).
pub const SINGLE_SIZE: (u32, u32) = (900, 550);

/// Writes the plots comparing `reconstructed` with `original` into `dir` (created if needed) and
/// returns the files written.
///
/// `bounds`: the absolute error bound per stream (one for a field, one per table column) when
/// known (from the archive), to normalize the error histograms; `None` normalizes by the value
/// range instead. A non-positive or non-finite bound counts as unknown.
///
/// A table may be compared with a 2-d field of the same shape (rows × columns) and the other way
/// round; the original's layout decides which plots are drawn.
pub fn plot_comparison(
    original: &Dataset,
    reconstructed: &Dataset,
    bounds: Option<&[f64]>,
    dir: &Path,
    opts: &PlotOptions,
) -> Result<Vec<PathBuf>> {
    ensure_font()?;
    if reconstructed.shape() != original.shape() {
        bail!("shapes differ: original {:?}, reconstructed {:?}", original.shape(), reconstructed.shape());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    match original {
        Dataset::Field(a) => {
            let orig = to_f64(&a.values);
            let recon = field_values(reconstructed);
            let count = a.shape.iter().product::<usize>();
            if orig.len() != count || recon.len() != count {
                bail!(
                    "malformed field: shape {:?} but {} original and {} reconstructed values",
                    a.shape,
                    orig.len(),
                    recon.len()
                );
            }
            let bound = stream_bounds(bounds, 1)?[0];
            plot_field(&a.shape, &orig, &recon, bound, dir, opts)
        }
        Dataset::Table { rows, columns } => {
            let recon = table_columns(reconstructed);
            let bounds = stream_bounds(bounds, columns.len())?;
            let names = file_names(columns.iter().map(|c| c.name.as_str()));
            let mut written = Vec::new();
            for (i, col) in columns.iter().enumerate() {
                let fig = ColumnFigure {
                    name: &col.name,
                    rows: *rows,
                    original: &to_f64(&col.values),
                    reconstructed: &recon[i],
                    bound: bounds[i],
                };
                written.extend(write_figure(&fig, &dir.join(&names[i]), opts.svg)?);
            }
            Ok(written)
        }
    }
}

/// Plots training and validation loss (log y axis) against epoch into `<path_stem>.png` (and
/// `<path_stem>.svg`); a `.png` / `.svg` extension on `path_stem` is dropped. Non-finite and
/// non-positive losses are left out (the line breaks there).
pub fn plot_loss(history: &[EpochStats], path_stem: &Path, svg: bool) -> Result<Vec<PathBuf>> {
    ensure_font()?;
    if history.is_empty() {
        bail!("no epochs to plot");
    }
    let stem = match path_stem.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") || e.eq_ignore_ascii_case("svg") => {
            path_stem.with_extension("")
        }
        _ => path_stem.to_path_buf(),
    };
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    write_figure(&LossFigure { history }, &stem, svg)
}

/// Counts `values` in `bins` equal bins over [`lo`, `hi`]: bin k holds
/// lo + k·w ≤ v < lo + (k+1)·w with w = (hi − lo) / bins, and the last bin also holds v = hi.
/// Values outside [lo, hi] and NaN are not counted. With `hi <= lo` (or a non-finite limit)
/// every count is 0.
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<u64> {
    let mut counts = vec![0u64; bins];
    if bins == 0 || !(lo.is_finite() && hi.is_finite() && hi > lo) {
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

// ---------------------------------------------------------------------------------------------
// Font
// ---------------------------------------------------------------------------------------------

/// The font files to try, in order: `$BALER_FONT`, then the system paths.
fn font_candidates() -> Vec<PathBuf> {
    let env = std::env::var_os(FONT_ENV).filter(|v| !v.is_empty());
    env.into_iter().map(PathBuf::from).chain(FONT_PATHS.iter().map(PathBuf::from)).collect()
}

/// Reads the first candidate that is a file and registers it as plotters' "sans-serif"
/// (plotters keeps fonts for the life of the process, hence the leaked buffer).
fn register_first_font(candidates: &[PathBuf]) -> std::result::Result<PathBuf, String> {
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "no TTF font found: install fonts-dejavu-core or set {FONT_ENV} (tried {})",
            tried.join(", ")
        ));
    };
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{}: not a TrueType / OpenType font", path.display()))?;
    Ok(path.clone())
}

/// Registers the font once per process; every later call gives the same outcome.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| register_first_font(&font_candidates()))
        .as_ref()
        .map(|_| ())
        .map_err(|e| anyhow!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// Figures and their output
// ---------------------------------------------------------------------------------------------

type Area<DB> = DrawingArea<DB, Shift>;
type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One figure, drawable on any plotters backend (PNG or SVG).
trait Figure {
    fn size(&self) -> (u32, u32);
    /// Draws onto a white `root`; `vector` is set for SVG (fewer heatmap cells).
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, vector: bool) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// `stem` + `.ext` (`stem` may itself contain dots).
fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s = OsString::from(stem.as_os_str());
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Writes `fig` to `<stem>.png` (and `<stem>.svg`), returning the paths written.
fn write_figure<F: Figure>(fig: &F, stem: &Path, svg: bool) -> Result<Vec<PathBuf>> {
    let png = with_suffix(stem, "png");
    {
        let root = BitMapBackend::new(&png, fig.size()).into_drawing_area();
        render(fig, &root, false).with_context(|| format!("{}: cannot draw", png.display()))?;
    }
    let mut written = vec![png];
    if svg {
        let path = with_suffix(stem, "svg");
        {
            let root = SVGBackend::new(&path, fig.size()).into_drawing_area();
            render(fig, &root, true).with_context(|| format!("{}: cannot draw", path.display()))?;
        }
        written.push(path);
    }
    Ok(written)
}

fn render<F: Figure, DB: DrawingBackend>(fig: &F, root: &Area<DB>, vector: bool) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    fig.draw(root, vector)?;
    root.present()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Data preparation
// ---------------------------------------------------------------------------------------------

fn to_f64(values: &Values) -> Vec<f64> {
    match values {
        Values::Float(v) => v.clone(),
        Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
    }
}

/// A dataset's values in row-major order (a table as rows × columns).
fn field_values(ds: &Dataset) -> Vec<f64> {
    match ds {
        Dataset::Field(a) => to_f64(&a.values),
        Dataset::Table { rows, columns } => {
            let cols: Vec<Vec<f64>> = columns.iter().map(|c| to_f64(&c.values)).collect();
            (0..*rows).flat_map(|r| cols.iter().map(move |c| c[r])).collect()
        }
    }
}

/// A dataset's columns (a 2-d field's columns; any other field is one column).
fn table_columns(ds: &Dataset) -> Vec<Vec<f64>> {
    match ds {
        Dataset::Table { columns, .. } => columns.iter().map(|c| to_f64(&c.values)).collect(),
        Dataset::Field(a) if a.shape.len() == 2 => {
            let (rows, cols) = (a.shape[0], a.shape[1]);
            let v = to_f64(&a.values);
            (0..cols).map(|c| (0..rows).map(|r| v[r * cols + c]).collect()).collect()
        }
        Dataset::Field(a) => vec![to_f64(&a.values)],
    }
}

/// One bound per stream, `None` where unknown or unusable (≤ 0, non-finite).
fn stream_bounds(bounds: Option<&[f64]>, streams: usize) -> Result<Vec<Option<f64>>> {
    match bounds {
        None => Ok(vec![None; streams]),
        Some(b) if b.len() != streams => {
            bail!("expected {streams} error bound(s), one per stream, got {}", b.len())
        }
        Some(b) => Ok(b.iter().map(|&x| (x.is_finite() && x > 0.0).then_some(x)).collect()),
    }
}

/// `column_<name>` for each column: characters other than ASCII letters, digits, `-`, `_` and
/// `.` become `_`; an empty or repeated name gets the column index appended.
fn file_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, name) in names.enumerate() {
        let clean: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
            .collect();
        let mut stem = format!("column_{clean}");
        if clean.is_empty() || out.contains(&stem) {
            stem = format!("column_{clean}_{i}");
        }
        out.push(stem);
    }
    out
}

/// How a field splits into frames: (frames, rows, columns) of a 2-d or higher field.
fn frame_layout(shape: &[usize]) -> Option<(usize, usize, usize)> {
    match shape.len() {
        0 | 1 => None,
        n => Some((shape[..n - 2].iter().product(), shape[n - 2], shape[n - 1])),
    }
}

/// The frames to draw: the requested ones (checked), or first, middle and last.
fn choose_frames(requested: &[usize], frames: usize) -> Result<Vec<usize>> {
    if let Some(&bad) = requested.iter().find(|&&f| f >= frames) {
        bail!("frame {bad} out of range: the field has {frames} frame(s)");
    }
    let mut chosen =
        if requested.is_empty() { vec![0, frames / 2, frames.saturating_sub(1)] } else { requested.to_vec() };
    chosen.sort_unstable();
    chosen.dedup();
    Ok(chosen)
}

/// (min, max) of the finite values, if any.
fn finite_range<'a>(values: impl IntoIterator<Item = &'a f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, &v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A non-empty interval around [lo, hi] (a constant gets ±0.5, or ±1% of its size).
fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        let pad = (lo.abs() * 0.01).max(0.5);
        (lo - pad, hi + pad)
    }
}

/// max |v| over the finite values (0 if none).
fn max_abs(values: &[f64]) -> f64 {
    values.iter().filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
}

/// (x′ − x) / scale for each pair where both are finite.
fn scaled_errors(orig: &[f64], recon: &[f64], scale: f64) -> Vec<f64> {
    orig.iter()
        .zip(recon)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (y - x) / scale)
        .collect()
}

/// (x′ − x) / x for each pair where both are finite and x ≠ 0.
fn relative_errors(orig: &[f64], recon: &[f64]) -> Vec<f64> {
    orig.iter()
        .zip(recon)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **x != 0.0)
        .map(|(x, y)| (y - x) / x)
        .collect()
}

/// The `q` quantile (0..=1) of |v| over `values` (0 if empty).
fn abs_quantile(values: &[f64], q: f64) -> f64 {
    let mut a: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    if a.is_empty() {
        return 0.0;
    }
    let k = ((a.len() - 1) as f64 * q).round() as usize;
    *a.select_nth_unstable_by(k, f64::total_cmp).1
}

/// Splits points into runs of finite, positive-if-`positive` y values (a line breaks at gaps).
fn segments<X: Copy>(points: impl IntoIterator<Item = (X, f64)>, positive: bool) -> Vec<Vec<(X, f64)>> {
    let mut runs = vec![Vec::new()];
    for (x, y) in points {
        if y.is_finite() && (!positive || y > 0.0) {
            runs.last_mut().expect("never empty").push((x, y));
        } else if !runs.last().expect("never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// At most about `2 · max_buckets` points that keep the shape of a long series: per bucket of
/// consecutive indices, its minimum and maximum in index order. Short series come back whole.
fn envelope(values: &[f64], max_buckets: usize) -> Vec<(f64, f64)> {
    let n = values.len();
    if n <= 2 * max_buckets {
        return values.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect();
    }
    let per = n.div_ceil(max_buckets);
    let mut out = Vec::with_capacity(2 * max_buckets);
    for start in (0..n).step_by(per) {
        let chunk = &values[start..(start + per).min(n)];
        let finite = chunk.iter().enumerate().filter(|(_, v)| v.is_finite());
        let lo = finite.clone().min_by(|a, b| a.1.total_cmp(b.1));
        let hi = finite.max_by(|a, b| a.1.total_cmp(b.1));
        match (lo, hi) {
            (Some(lo), Some(hi)) => {
                let (a, b) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
                out.push(((start + a.0) as f64, *a.1));
                out.push(((start + b.0) as f64, *b.1));
            }
            _ => out.push((start as f64, f64::NAN)),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Colour maps
// ---------------------------------------------------------------------------------------------

/// Colour of cells without data (NaN, fill values).
const NO_DATA: RGBColor = RGBColor(150, 150, 150);
const ORIGINAL_COLOR: RGBColor = RGBColor(31, 119, 180); // matplotlib "tab:blue"
const RECON_COLOR: RGBColor = RGBColor(255, 127, 14); // matplotlib "tab:orange"
const BOUND_COLOR: RGBColor = RGBColor(214, 39, 40); // matplotlib "tab:red"

/// matplotlib's viridis sampled at t = 0, 1/9, …, 1 (the 10-colour `viridis(10)` palette of
/// matplotlib / R's viridisLite: #440154 … #FDE725).
const VIRIDIS: [(u8, u8, u8); 10] = [
    (0x44, 0x01, 0x54),
    (0x48, 0x28, 0x78),
    (0x3E, 0x4A, 0x89),
    (0x31, 0x68, 0x8E),
    (0x26, 0x82, 0x8E),
    (0x1F, 0x9E, 0x89),
    (0x35, 0xB7, 0x79),
    (0x6D, 0xCD, 0x59),
    (0xB4, 0xDE, 0x2C),
    (0xFD, 0xE7, 0x25),
];

/// ColorBrewer's 11-class RdBu, reversed (= matplotlib's `RdBu_r`): blue for negative, near-white
/// at 0, red for positive.
const RDBU_R: [(u8, u8, u8); 11] = [
    (0x05, 0x30, 0x61),
    (0x21, 0x66, 0xAC),
    (0x43, 0x93, 0xC3),
    (0x92, 0xC5, 0xDE),
    (0xD1, 0xE5, 0xF0),
    (0xF7, 0xF7, 0xF7),
    (0xFD, 0xDB, 0xC7),
    (0xF4, 0xA5, 0x82),
    (0xD6, 0x60, 0x4D),
    (0xB2, 0x18, 0x2B),
    (0x67, 0x00, 0x1F),
];

/// Linear interpolation between equally spaced colour stops; `t` is clamped to [0, 1].
fn interpolate(stops: &[(u8, u8, u8)], t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (stops.len() - 1) as f64;
    let k = (pos.floor() as usize).min(stops.len() - 2);
    let f = pos - k as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (stops[k], stops[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn viridis(t: f64) -> RGBColor {
    interpolate(&VIRIDIS, t)
}

/// Diverging map for t in [0, 1], 0.5 = no difference.
fn diverging(t: f64) -> RGBColor {
    interpolate(&RDBU_R, t)
}

/// A value → colour mapping over [lo, hi], grey for non-finite values.
struct ColorScale {
    lo: f64,
    hi: f64,
    map: fn(f64) -> RGBColor,
}

impl ColorScale {
    fn color(&self, v: f64) -> RGBColor {
        if v.is_finite() { (self.map)((v - self.lo) / (self.hi - self.lo)) } else { NO_DATA }
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing helpers
// ---------------------------------------------------------------------------------------------

const TITLE_SIZE: u32 = 22;
const CAPTION_SIZE: u32 = 18;
const LABEL_SIZE: u32 = 14;
const MARGIN: u32 = 12;
const X_LABEL_AREA: u32 = 45;
const Y_LABEL_AREA: u32 = 70;
/// Heatmap cells per axis at most in an SVG (a PNG gets at most one cell per pixel).
const VECTOR_CELLS: usize = 128;
/// Histogram bins.
const BINS: usize = 100;

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().into()
}

/// Tick labels for an axis over [lo, hi], all in one style: plain decimals with just enough
/// digits, or scientific notation when the axis' magnitude is very large or small.
fn tick_formatter(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let span = (hi - lo).abs();
    let magnitude = lo.abs().max(hi.abs());
    let scientific = magnitude.is_finite() && !(1e-3..1e5).contains(&magnitude);
    let decimals = if span > 0.0 && span.is_finite() {
        (1.0 - (span / 5.0).log10().floor()).clamp(0.0, 12.0) as usize
    } else {
        3
    };
    // Key points computed in floating point can miss 0 by a rounding error (-1.1e-16).
    let zero = if span.is_finite() { span * 1e-9 } else { 0.0 };
    move |&v: &f64| {
        if v.abs() < zero || v == 0.0 {
            "0".to_string()
        } else if scientific {
            fmt_scientific(v)
        } else {
            fmt_fixed(v, decimals)
        }
    }
}

/// One value on its own: scientific notation for very large or small magnitudes.
fn fmt_tick(v: f64, decimals: usize) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&v.abs()) {
        fmt_scientific(v)
    } else {
        fmt_fixed(v, decimals)
    }
}

/// `v` with at most 3 significant digits in scientific notation, trailing zeros trimmed: 1.5e-4.
fn fmt_scientific(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
        None => s,
    }
}

/// `v` with at most `decimals` decimals, trailing zeros trimmed.
fn fmt_fixed(v: f64, decimals: usize) -> String {
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

fn index_formatter(v: &f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// A chart with plain f64 axes, a caption, axis descriptions and no grid.
fn plain_chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    caption: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart2d<'a, DB>>
where
    DB::ErrorType: 'static,
{
    Ok(ChartBuilder::on(area)
        .caption(caption, font(CAPTION_SIZE))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x, y)?)
}

/// Draws a row-major `h × w` grid as coloured cells (row 0 at the top, cell centres at integer
/// coordinates as in matplotlib's `imshow`). A grid larger than the plotting area is sampled at
/// one cell per pixel (per [`VECTOR_CELLS`] for SVG), taking the value at each cell's centre.
fn draw_heatmap<DB: DrawingBackend>(
    area: &Area<DB>,
    caption: &str,
    (h, w, values): (usize, usize, &[f64]),
    scale: &ColorScale,
    vector: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mut chart = plain_chart(area, caption, -0.5..w as f64 - 0.5, h as f64 - 0.5..-0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("column")
        .y_desc("row")
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&index_formatter)
        .y_label_formatter(&index_formatter)
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(LABEL_SIZE))
        .draw()?;
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let cap = if vector { VECTOR_CELLS } else { usize::MAX };
    let nx = w.min(pw as usize).min(cap).max(1);
    let ny = h.min(ph as usize).min(cap).max(1);
    let (sx, sy) = (w as f64 / nx as f64, h as f64 / ny as f64);
    let cells = (0..ny).flat_map(|j| (0..nx).map(move |i| (i, j)));
    chart.draw_series(cells.map(|(i, j)| {
        let c = (((i as f64 + 0.5) * sx) as usize).min(w - 1);
        let r = (((j as f64 + 0.5) * sy) as usize).min(h - 1);
        let (x0, y0) = (i as f64 * sx - 0.5, j as f64 * sy - 0.5);
        Rectangle::new([(x0, y0), (x0 + sx, y0 + sy)], scale.color(values[r * w + c]).filled())
    }))?;
    Ok(())
}

/// A vertical colour bar for `scale` with tick labels on its right.
fn draw_colorbar<DB: DrawingBackend>(area: &Area<DB>, caption: &str, scale: &ColorScale) -> Result<()>
where
    DB::ErrorType: 'static,
{
    const STEPS: usize = 200;
    let (lo, hi) = (scale.lo, scale.hi);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(CAPTION_SIZE))
        .margin(MARGIN)
        .margin_left(4)
        .x_label_area_size(X_LABEL_AREA)
        .right_y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..1.0, lo..hi)?
        .set_secondary_coord(0.0..1.0, lo..hi);
    let step = (hi - lo) / STEPS as f64;
    chart.draw_series((0..STEPS).map(|k| {
        let y0 = lo + k as f64 * step;
        Rectangle::new([(0.0, y0), (1.0, y0 + step)], scale.color(y0 + step / 2.0).filled())
    }))?;
    chart.draw_series(std::iter::once(Rectangle::new([(0.0, lo), (1.0, hi)], BLACK.stroke_width(1))))?;
    let fmt = tick_formatter(lo, hi);
    chart
        .configure_secondary_axes()
        .x_labels(0)
        .y_labels(8)
        .y_label_formatter(&fmt)
        .set_all_tick_mark_size(5)
        .label_style(font(LABEL_SIZE))
        .draw()?;
    Ok(())
}

/// Axes for a histogram over [lo, hi] with counts up to `max_count`.
fn histogram_chart<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    caption: &str,
    x_desc: &str,
    (lo, hi): (f64, f64),
    max_count: u64,
) -> Result<Chart2d<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let top = (max_count.max(1) as f64) * 1.08;
    let mut chart = plain_chart(area, caption, lo..hi, 0.0..top)?;
    let x_fmt = tick_formatter(lo, hi);
    let y_fmt = tick_formatter(0.0, top);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(7)
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(x_desc)
        .y_desc("count")
        .label_style(font(LABEL_SIZE))
        .axis_desc_style(font(LABEL_SIZE))
        .draw()?;
    Ok(chart)
}

/// The outline of a histogram (a step line), for overlaying several.
fn step_points(counts: &[u64], lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let w = (hi - lo) / counts.len() as f64;
    let mut pts = vec![(lo, 0.0)];
    for (k, &c) in counts.iter().enumerate() {
        let x0 = lo + k as f64 * w;
        pts.push((x0, c as f64));
        pts.push((x0 + w, c as f64));
    }
    pts.push((hi, 0.0));
    pts
}

fn draw_steps<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    counts: &[u64],
    (lo, hi): (f64, f64),
    style: ShapeStyle,
    label: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .draw_series(std::iter::once(PathElement::new(step_points(counts, lo, hi), style)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style.stroke_width(3)));
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    counts: &[u64],
    (lo, hi): (f64, f64),
    color: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let w = (hi - lo) / counts.len() as f64;
    chart.draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(k, &c)| {
        let x0 = lo + k as f64 * w;
        Rectangle::new([(x0, 0.0), (x0 + w, c as f64)], color.mix(0.75).filled())
    }))?;
    Ok(())
}

/// Dashed vertical lines at `xs`, from 0 up to `top`, labelled once in the legend.
fn draw_vlines<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    xs: &[f64],
    top: f64,
    label: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let style = BOUND_COLOR.stroke_width(2);
    chart
        .draw_series(xs.iter().map(|&x| DashedPathElement::new(vec![(x, 0.0), (x, top)], 8, 5, style)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    Ok(())
}

fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font(font(LABEL_SIZE))
        .draw()?;
    Ok(())
}

/// Histogram of `values` over a symmetric range ±`half`, as bars, with an optional bound marker.
fn draw_error_panel<DB: DrawingBackend>(
    area: &Area<DB>,
    caption: &str,
    x_desc: &str,
    values: &[f64],
    half: f64,
    marks: Option<(f64, &str)>,
    color: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let range = (-half, half);
    let counts = histogram(values, -half, half, BINS);
    let max = counts.iter().copied().max().unwrap_or(0);
    let mut chart = histogram_chart(area, caption, x_desc, range, max)?;
    draw_bars(&mut chart, &counts, range, color)?;
    if let Some((m, label)) = marks {
        draw_vlines(&mut chart, &[-m, m], max.max(1) as f64 * 1.08, label)?;
        draw_legend(&mut chart)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------------------------

fn plot_field(
    shape: &[usize],
    orig: &[f64],
    recon: &[f64],
    bound: Option<f64>,
    dir: &Path,
    opts: &PlotOptions,
) -> Result<Vec<PathBuf>> {
    if orig.is_empty() {
        bail!("the field is empty: nothing to plot");
    }
    let mut written = Vec::new();
    match frame_layout(shape) {
        Some((frames, h, w)) => {
            for f in choose_frames(&opts.frames, frames)? {
                let len = h * w;
                let fig = FrameFigure {
                    index: f,
                    frames,
                    h,
                    w,
                    original: &orig[f * len..(f + 1) * len],
                    reconstructed: &recon[f * len..(f + 1) * len],
                    bound,
                };
                written.extend(write_figure(&fig, &dir.join(format!("frame_{f}")), opts.svg)?);
            }
        }
        None => {
            if !opts.frames.is_empty() {
                bail!("a 1-d field has no frames to choose");
            }
            let fig = SeriesFigure { original: orig, reconstructed: recon, bound };
            written.extend(write_figure(&fig, &dir.join("series"), opts.svg)?);
        }
    }
    let fig = ErrorHistogramFigure::new(orig, recon, bound);
    written.extend(write_figure(&fig, &dir.join("error_histogram"), opts.svg)?);
    Ok(written)
}

/// One frame: original | reconstructed | colour bar | difference | colour bar.
struct FrameFigure<'a> {
    index: usize,
    frames: usize,
    h: usize,
    w: usize,
    original: &'a [f64],
    reconstructed: &'a [f64],
    bound: Option<f64>,
}

impl FrameFigure<'_> {
    fn difference(&self) -> Vec<f64> {
        self.original
            .iter()
            .zip(self.reconstructed)
            .map(|(x, y)| y - x) // NaN where either is not finite (inf − inf, NaN − x)
            .map(|d| if d.is_finite() { d } else { f64::NAN })
            .collect()
    }

    fn title(&self) -> String {
        let mut t = if self.frames > 1 {
            format!("frame {} of {} ({} × {})", self.index, self.frames, self.h, self.w)
        } else {
            format!("field ({} × {})", self.h, self.w)
        };
        if let Some(b) = self.bound {
            t += &format!(", error bound {}", fmt_tick(b, 6));
        }
        let missing = self.original.iter().chain(self.reconstructed).any(|v| !v.is_finite());
        if missing {
            t += " (grey: no data)";
        }
        t
    }
}

impl Figure for FrameFigure<'_> {
    fn size(&self) -> (u32, u32) {
        PANELS_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, vector: bool) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let body = root.titled(&self.title(), font(TITLE_SIZE))?;
        let (w, _) = body.dim_in_pixel();
        let bar = 105;
        let heat = (w as i32 - 2 * bar) / 3;
        let panels =
            body.split_by_breakpoints([heat, 2 * heat, 2 * heat + bar, 3 * heat + bar], [] as [i32; 0]);
        let (lo, hi) = finite_range(self.original.iter().chain(self.reconstructed)).unwrap_or((0.0, 1.0));
        let (lo, hi) = widen(lo, hi);
        let values = ColorScale { lo, hi, map: viridis };
        let diff = self.difference();
        let m = max_abs(&diff);
        let m = if m > 0.0 { m } else { self.bound.unwrap_or(1.0) };
        let diffs = ColorScale { lo: -m, hi: m, map: diverging };
        let grid = |v| (self.h, self.w, v);
        draw_heatmap(&panels[0], "original x", grid(self.original), &values, vector)?;
        draw_heatmap(&panels[1], "reconstructed x′", grid(self.reconstructed), &values, vector)?;
        draw_colorbar(&panels[2], "value", &values)?;
        draw_heatmap(&panels[3], "difference x′ − x", grid(&diff), &diffs, vector)?;
        draw_colorbar(&panels[4], "x′ − x", &diffs)?;
        Ok(())
    }
}

/// A 1-d field: both series as lines, and their difference.
struct SeriesFigure<'a> {
    original: &'a [f64],
    reconstructed: &'a [f64],
    bound: Option<f64>,
}

impl Figure for SeriesFigure<'_> {
    fn size(&self) -> (u32, u32) {
        PANELS_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, _vector: bool) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let n = self.original.len();
        let title = format!("1-d field ({n} values)");
        let body = root.titled(&title, font(TITLE_SIZE))?;
        let panels = body.split_evenly((1, 2));
        let x = -0.5..n as f64 - 0.5;

        // Left: both series.
        let (lo, hi) = finite_range(self.original.iter().chain(self.reconstructed)).unwrap_or((0.0, 1.0));
        let (lo, hi) = widen(lo, hi);
        let pad = (hi - lo) * 0.05;
        let mut chart = plain_chart(&panels[0], "original and reconstructed", x.clone(), lo - pad..hi + pad)?;
        let y_fmt = tick_formatter(lo, hi);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("index")
            .y_desc("value")
            .x_label_formatter(&index_formatter)
            .y_label_formatter(&y_fmt)
            .label_style(font(LABEL_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .draw()?;
        draw_lines(&mut chart, self.original, ORIGINAL_COLOR, "original x")?;
        draw_lines(&mut chart, self.reconstructed, RECON_COLOR, "reconstructed x′")?;
        draw_legend(&mut chart)?;

        // Right: the difference, with the bound.
        let diff: Vec<f64> = self.original.iter().zip(self.reconstructed).map(|(x, y)| y - x).collect();
        let m = max_abs(&diff).max(self.bound.unwrap_or(0.0));
        let m = if m > 0.0 { m * 1.08 } else { 1.0 };
        let mut chart = plain_chart(&panels[1], "difference x′ − x", x, -m..m)?;
        let y_fmt = tick_formatter(-m, m);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("index")
            .y_desc("x′ − x")
            .x_label_formatter(&index_formatter)
            .y_label_formatter(&y_fmt)
            .label_style(font(LABEL_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .draw()?;
        draw_lines(&mut chart, &diff, BLACK, "x′ − x")?;
        if let Some(b) = self.bound {
            let ends = (-0.5, n as f64 - 0.5);
            let style = BOUND_COLOR.stroke_width(2);
            chart
                .draw_series(
                    [-b, b].map(|y| DashedPathElement::new(vec![(ends.0, y), (ends.1, y)], 8, 5, style)),
                )?
                .label("± bound")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        draw_legend(&mut chart)?;
        Ok(())
    }
}

/// A series as a line against its index (decimated when long, broken at non-finite values).
fn draw_lines<DB: DrawingBackend>(
    chart: &mut Chart2d<'_, DB>,
    values: &[f64],
    color: RGBColor,
    label: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let style = color.stroke_width(1);
    chart
        .draw_series(segments(envelope(values, 2000), false).into_iter().map(|s| PathElement::new(s, style)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    Ok(())
}

/// Histogram of the normalized errors of a whole field.
struct ErrorHistogramFigure {
    errors: Vec<f64>,
    /// Whether the errors are divided by the error bound (else by the value range).
    by_bound: bool,
    scale: f64,
}

impl ErrorHistogramFigure {
    fn new(orig: &[f64], recon: &[f64], bound: Option<f64>) -> Self {
        let range = finite_range(orig).map_or(0.0, |(lo, hi)| hi - lo);
        let (by_bound, scale) = match bound {
            Some(b) => (true, b),
            None => (false, if range > 0.0 { range } else { 1.0 }),
        };
        ErrorHistogramFigure { errors: scaled_errors(orig, recon, scale), by_bound, scale }
    }

    /// Half-width of the symmetric x range: always shows ±1 when normalized by the bound.
    fn half_range(&self) -> f64 {
        let m = max_abs(&self.errors);
        if self.by_bound {
            (m * 1.02).max(1.1)
        } else if m > 0.0 {
            m * 1.05
        } else {
            1.0
        }
    }
}

impl Figure for ErrorHistogramFigure {
    fn size(&self) -> (u32, u32) {
        SINGLE_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, _vector: bool) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (caption, x_desc) = if self.by_bound {
            (
                format!("error / bound (bound {}, {} values)", fmt_tick(self.scale, 6), self.errors.len()),
                "(x′ − x) / bound",
            )
        } else {
            (
                format!(
                    "error / value range (range {}, {} values)",
                    fmt_tick(self.scale, 6),
                    self.errors.len()
                ),
                "(x′ − x) / range",
            )
        };
        let area = root.margin(8, 8, 8, 16);
        let marks = self.by_bound.then_some((1.0, "± bound"));
        draw_error_panel(&area, &caption, x_desc, &self.errors, self.half_range(), marks, ORIGINAL_COLOR)
    }
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// One column: distributions | residual | relative difference.
struct ColumnFigure<'a> {
    name: &'a str,
    rows: usize,
    original: &'a [f64],
    reconstructed: &'a [f64],
    bound: Option<f64>,
}

impl ColumnFigure<'_> {
    fn draw_distributions<DB: DrawingBackend>(&self, area: &Area<DB>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let (lo, hi) = finite_range(self.original.iter().chain(self.reconstructed)).unwrap_or((0.0, 1.0));
        let range = widen(lo, hi);
        let a = histogram(self.original, range.0, range.1, BINS);
        let b = histogram(self.reconstructed, range.0, range.1, BINS);
        let max = a.iter().chain(&b).copied().max().unwrap_or(0);
        let mut chart = histogram_chart(area, "distributions", self.name, range, max)?;
        draw_steps(&mut chart, &a, range, ORIGINAL_COLOR.stroke_width(3), "original x")?;
        draw_steps(&mut chart, &b, range, RECON_COLOR.stroke_width(1), "reconstructed x′")?;
        draw_legend(&mut chart)
    }

    fn draw_residuals<DB: DrawingBackend>(&self, area: &Area<DB>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let r = scaled_errors(self.original, self.reconstructed, 1.0);
        let m = max_abs(&r).max(self.bound.unwrap_or(0.0));
        let half = if m > 0.0 { m * 1.08 } else { 1.0 };
        let marks = self.bound.map(|b| (b, "± bound"));
        draw_error_panel(area, "residual", "x′ − x", &r, half, marks, ORIGINAL_COLOR)
    }

    fn draw_relative<DB: DrawingBackend>(&self, area: &Area<DB>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let rel = relative_errors(self.original, self.reconstructed);
        // Relative differences explode near x = 0: show the central 99 % and say how many are
        // beyond.
        let q = abs_quantile(&rel, 0.99);
        let half = if q > 0.0 { q * 1.05 } else { 1.0 };
        let outside = rel.iter().filter(|v| v.abs() > half).count();
        let caption = if outside > 0 {
            format!("relative difference ({outside} beyond ±{})", fmt_tick(half, 3))
        } else {
            "relative difference".to_string()
        };
        draw_error_panel(area, &caption, "(x′ − x) / x", &rel, half, None, ORIGINAL_COLOR)
    }
}

impl Figure for ColumnFigure<'_> {
    fn size(&self) -> (u32, u32) {
        PANELS_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, _vector: bool) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let mut title = format!("column {} ({} rows)", self.name, self.rows);
        if let Some(b) = self.bound {
            title += &format!(", error bound {}", fmt_tick(b, 6));
        }
        let body = root.titled(&title, font(TITLE_SIZE))?;
        let panels = body.split_evenly((1, 3));
        self.draw_distributions(&panels[0])?;
        self.draw_residuals(&panels[1])?;
        self.draw_relative(&panels[2])
    }
}

/// Tick values for a log axis over [lo, hi] (0 < lo < hi): the powers of ten inside, or 1-2-5
/// or 1…9 times them when that gives too few ticks. (plotters' own log axis labels only powers
/// of ten, so a range within one decade would get no label at all.)
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mut ticks = Vec::new();
    for mults in [&[1.0][..], &[1.0, 2.0, 5.0], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]] {
        ticks = (first..=last)
            .flat_map(|e| mults.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|t| (lo..=hi).contains(t))
            .collect();
        if ticks.len() >= 3 {
            break;
        }
    }
    ticks
}

// ---------------------------------------------------------------------------------------------
// Loss
// ---------------------------------------------------------------------------------------------

struct LossFigure<'a> {
    history: &'a [EpochStats],
}

impl LossFigure<'_> {
    /// The y range: the positive finite losses, padded by a factor 1.3 on each side.
    fn y_range(&self) -> (f64, f64) {
        let all = self
            .history
            .iter()
            .flat_map(|e| [Some(e.train_loss), e.val_loss])
            .flatten()
            .filter(|v| v.is_finite() && *v > 0.0);
        let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if hi <= 0.0 {
            return (0.1, 1.0);
        }
        (lo / 1.3, hi * 1.3)
    }
}

impl Figure for LossFigure<'_> {
    fn size(&self) -> (u32, u32) {
        SINGLE_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, _vector: bool) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let first = self.history.first().map_or(1, |e| e.epoch);
        let last = self.history.last().map_or(1, |e| e.epoch);
        let x = if last > first { first..last } else { first.saturating_sub(1)..first + 1 };
        let (lo, hi) = self.y_range();
        let area = root.margin(8, 8, 8, 16);
        let mut chart = ChartBuilder::on(&area)
            .caption("training loss", font(TITLE_SIZE))
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x, (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)))?;
        let y_fmt = |v: &f64| fmt_tick(*v, 6);
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .y_label_formatter(&y_fmt)
            .label_style(font(LABEL_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .draw()?;
        let train = self.history.iter().map(|e| (e.epoch, e.train_loss));
        let val = self.history.iter().map(|e| (e.epoch, e.val_loss.unwrap_or(f64::NAN)));
        let markers = self.history.len() <= 60;
        for (points, color, label) in [
            (segments(train, true), ORIGINAL_COLOR, "training"),
            (segments(val, true), RECON_COLOR, "validation"),
        ] {
            if points.is_empty() {
                continue;
            }
            let style = color.stroke_width(2);
            chart
                .draw_series(points.iter().map(|s| PathElement::new(s.clone(), style)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            if markers {
                chart.draw_series(points.iter().flatten().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
        }
        draw_legend(&mut chart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baler_codec::{Array, Column, DType};

    /// (width, height) from a PNG's signature and IHDR chunk; panics if the bytes are no PNG.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.len() > 24, "{}: too short for a PNG", path.display());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}: no PNG signature", path.display());
        assert_eq!(&bytes[12..16], b"IHDR", "{}: first chunk is not IHDR", path.display());
        let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
        (be(&bytes[16..20]), be(&bytes[20..24]))
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    fn field(shape: &[usize], values: Vec<f64>) -> Dataset {
        Dataset::Field(Array { dtype: DType::F64, shape: shape.to_vec(), values: Values::Float(values) })
    }

    #[test]
    fn histogram_golden_counts() {
        // Bins of width 1 over [0, 4]: [0,1) [1,2) [2,3) [3,4].
        let v = [0.0, 0.5, 0.999, 1.0, 2.5, 3.0, 3.999, 4.0, -0.001, 4.001, f64::NAN, f64::INFINITY];
        assert_eq!(histogram(&v, 0.0, 4.0, 4), vec![3, 1, 1, 3]);
        assert_eq!(histogram(&v, 0.0, 4.0, 1), vec![8]);
        assert_eq!(histogram(&[-1.0, -0.5, 0.0, 0.5, 1.0], -1.0, 1.0, 2), vec![2, 3]);
        // Degenerate ranges count nothing.
        assert_eq!(histogram(&v, 1.0, 1.0, 3), vec![0, 0, 0]);
        assert_eq!(histogram(&v, 0.0, f64::NAN, 2), vec![0, 0]);
        assert!(histogram(&v, 0.0, 4.0, 0).is_empty());
    }

    #[test]
    fn font_lookup_reports_what_to_install() {
        let missing = [PathBuf::from("/nonexistent/a.ttf"), PathBuf::from("/nonexistent/b.ttf")];
        let err = register_first_font(&missing).unwrap_err();
        assert!(err.starts_with("no TTF font found: install fonts-dejavu-core or set BALER_FONT"), "{err}");
        assert!(err.contains("/nonexistent/b.ttf"), "{err}");
        // A file that is not a font is refused by name.
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("bogus.ttf");
        std::fs::write(&bogus, b"not a font").unwrap();
        let err = register_first_font(&[missing[0].clone(), bogus.clone()]).unwrap_err();
        assert!(err.contains("bogus.ttf: not a TrueType"), "{err}");
        // $BALER_FONT comes first among the candidates.
        assert_eq!(font_candidates().last().unwrap(), Path::new(FONT_PATHS[2]));
    }

    #[test]
    fn viridis_matches_plotters_reference() {
        // plotters 0.3.7's ViridisRGB (style/colors/colormaps.rs), 8 stops at k/7: an independent
        // sampling of matplotlib's viridis.
        let reference = [
            (68, 1, 84),
            (70, 50, 127),
            (54, 92, 141),
            (39, 127, 143),
            (31, 162, 136),
            (74, 194, 110),
            (160, 219, 57),
            (254, 232, 37),
        ];
        for (k, &(r, g, b)) in reference.iter().enumerate() {
            let c = viridis(k as f64 / 7.0);
            let close = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs() <= 8;
            assert!(close(c.0, r) && close(c.1, g) && close(c.2, b), "t = {k}/7: {c:?} vs {:?}", (r, g, b));
        }
        assert_eq!(diverging(0.5), RGBColor(0xF7, 0xF7, 0xF7));
        assert_eq!(diverging(0.0), RGBColor(0x05, 0x30, 0x61));
        assert_eq!(diverging(2.0), RGBColor(0x67, 0x00, 0x1F));
    }

    #[test]
    fn helpers_choose_frames_names_and_ticks() {
        assert_eq!(choose_frames(&[], 4).unwrap(), vec![0, 2, 3]);
        assert_eq!(choose_frames(&[], 1).unwrap(), vec![0]);
        assert_eq!(choose_frames(&[3, 1, 3], 4).unwrap(), vec![1, 3]);
        assert!(choose_frames(&[4], 4).is_err());
        assert_eq!(frame_layout(&[2, 3, 4, 5]), Some((6, 4, 5)));
        assert_eq!(frame_layout(&[7]), None);
        assert_eq!(
            file_names(["pt", "eta/phi", "", "eta_phi"].into_iter()),
            vec!["column_pt", "column_eta_phi", "column__2", "column_eta_phi_3"]
        );
        assert_eq!(fmt_tick(0.30000000000000004, 1), "0.3");
        assert_eq!(fmt_tick(-2.5e-5, 3), "-2.5e-5");
        assert_eq!(fmt_tick(120000.0, 0), "1.2e5");
        assert_eq!(tick_formatter(-1.0, 1.0)(&-0.4), "-0.4");
        assert_eq!(tick_formatter(-5e-4, 5e-4)(&-1.08e-19), "0");
        // One style per axis: ±9.99e-4 is all scientific, even the tick at 1e-3.
        let f = tick_formatter(-9.99e-4, 9.99e-4);
        assert_eq!([f(&-1e-3), f(&5e-4), f(&0.0)], ["-1e-3", "5e-4", "0"]);
        assert_eq!(tick_formatter(0.0, 2000.0)(&1500.0), "1500");
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x / y - 1.0).abs() < 1e-12)
        };
        assert!(close(&log_ticks(5e-4, 0.2), &[1e-3, 1e-2, 1e-1]));
        assert!(close(&log_ticks(0.004, 0.06), &[0.005, 0.01, 0.02, 0.05]));
        let t = log_ticks(0.0061, 0.029);
        assert!(close(&t, &[0.007, 0.008, 0.009, 0.01, 0.02]), "{t:?}");
        assert_eq!(
            segments([(0, 1.0), (1, f64::NAN), (2, 2.0), (3, -1.0), (4, 3.0)], true),
            vec![vec![(0, 1.0)], vec![(2, 2.0)], vec![(4, 3.0)]]
        );
        assert_eq!(envelope(&[1.0, 5.0, 2.0, 0.0, 3.0, 4.0], 1).len(), 2);
    }

    #[test]
    fn field_writes_frames_and_error_histogram() {
        let (f, h, w) = (4, 20, 30);
        let mut orig: Vec<f64> = (0..f * h * w).map(|i| ((i % 97) as f64 * 0.37).sin() * 10.0).collect();
        orig[5 * w + 7] = f64::NAN;
        let recon: Vec<f64> =
            orig.iter().enumerate().map(|(i, v)| v + 0.01 * ((i % 7) as f64 - 3.0) / 3.0).collect();
        let dir = tempfile::tempdir().unwrap();
        let opts = PlotOptions { frames: vec![], svg: true };
        let out = plot_comparison(
            &field(&[f, h, w], orig),
            &field(&[f, h, w], recon),
            Some(&[0.01]),
            dir.path(),
            &opts,
        )
        .unwrap();
        let mut got = names(&out);
        got.sort();
        assert_eq!(
            got,
            [
                "error_histogram.png",
                "error_histogram.svg",
                "frame_0.png",
                "frame_0.svg",
                "frame_2.png",
                "frame_2.svg",
                "frame_3.png",
                "frame_3.svg"
            ]
        );
        for p in &out {
            assert!(p.starts_with(dir.path()) && p.is_file(), "{}", p.display());
            match p.extension().unwrap().to_str().unwrap() {
                "png" if p.ends_with("error_histogram.png") => assert_eq!(png_size(p), SINGLE_SIZE),
                "png" => assert_eq!(png_size(p), PANELS_SIZE),
                _ => {
                    let text = std::fs::read_to_string(p).unwrap();
                    assert!(text.contains("<svg"), "{}", p.display());
                }
            }
        }
        // Wrong bound count and out-of-range frames are errors.
        let ds = field(&[f, h, w], vec![0.0; f * h * w]);
        assert!(plot_comparison(&ds, &ds, Some(&[1.0, 2.0]), dir.path(), &PlotOptions::default()).is_err());
        let opts = PlotOptions { frames: vec![4], svg: false };
        assert!(plot_comparison(&ds, &ds, None, dir.path(), &opts).is_err());
        assert!(
            plot_comparison(
                &ds,
                &field(&[f, h, w - 1], vec![0.0; f * h * (w - 1)]),
                None,
                dir.path(),
                &PlotOptions::default()
            )
            .is_err()
        );
    }

    #[test]
    fn one_d_field_writes_series() {
        let orig: Vec<f64> = (0..500).map(|i| (i as f64 * 0.05).sin()).collect();
        let recon: Vec<f64> = orig.iter().map(|v| v + 0.001).collect();
        let dir = tempfile::tempdir().unwrap();
        let out = plot_comparison(
            &field(&[500], orig),
            &field(&[500], recon),
            None,
            dir.path(),
            &PlotOptions::default(),
        )
        .unwrap();
        assert_eq!(names(&out), ["series.png", "error_histogram.png"]);
        assert_eq!(png_size(&out[0]), PANELS_SIZE);
    }

    #[test]
    fn table_writes_one_png_per_column() {
        let rows = 300;
        let col = |name: &str, v: Vec<f64>| Column {
            name: name.to_string(),
            dtype: DType::F64,
            values: Values::Float(v),
        };
        let a: Vec<f64> = (0..rows).map(|i| (i as f64 * 0.1).exp().ln() + 1.0).collect();
        let b: Vec<f64> = (0..rows).map(|i| (i % 13) as f64 - 6.0).collect();
        let orig = Dataset::Table { rows, columns: vec![col("pt", a.clone()), col("eta/phi", b.clone())] };
        let recon = Dataset::Table {
            rows,
            columns: vec![
                col("pt", a.iter().map(|x| x * 1.001).collect()),
                col("eta/phi", b.iter().map(|x| x + 0.05).collect()),
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        let out =
            plot_comparison(&orig, &recon, Some(&[0.5, 0.1]), dir.path(), &PlotOptions::default()).unwrap();
        assert_eq!(names(&out), ["column_pt.png", "column_eta_phi.png"]);
        for p in &out {
            assert_eq!(png_size(p), PANELS_SIZE);
        }
        // A reconstruction saved as a plain 2-d array still plots by column.
        let flat: Vec<f64> = (0..rows).flat_map(|r| [a[r], b[r]]).collect();
        let out = plot_comparison(
            &orig,
            &field(&[rows, 2], flat),
            None,
            &dir.path().join("mixed"),
            &PlotOptions::default(),
        )
        .unwrap();
        assert_eq!(names(&out), ["column_pt.png", "column_eta_phi.png"]);
        assert!(
            plot_comparison(
                &orig,
                &field(&[rows, 3], vec![0.0; rows * 3]),
                None,
                dir.path(),
                &PlotOptions::default()
            )
            .is_err()
        );
    }

    #[test]
    fn loss_plot_has_expected_size() {
        let history: Vec<EpochStats> = (1..=30)
            .map(|e| EpochStats {
                epoch: e,
                train_loss: 0.5 / e as f64,
                val_loss: (e != 7).then(|| 0.6 / e as f64),
                learning_rate: 1e-3,
                seconds: 0.1,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let out = plot_loss(&history, &dir.path().join("sub").join("loss"), true).unwrap();
        assert_eq!(names(&out), ["loss.png", "loss.svg"]);
        assert_eq!(png_size(&out[0]), SINGLE_SIZE);
        // One epoch still draws; no epochs is an error.
        let out = plot_loss(&history[..1], &dir.path().join("one.png"), false).unwrap();
        assert_eq!(names(&out), ["one.png"]);
        assert!(plot_loss(&[], &dir.path().join("none"), false).is_err());
    }
}
