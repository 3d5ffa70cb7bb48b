//! Colours and the drawing blocks the figures are made of: charts, heatmaps, colour bars,
//! histograms, legends.

use anyhow::Result;
use baler_codec::colormap::{self, histogram};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::figure::*;

/// Colour of cells without data (NaN, fill values).
pub(super) const NO_DATA: RGBColor = RGBColor(150, 150, 150);
pub(super) const ORIGINAL_COLOR: RGBColor = RGBColor(31, 119, 180); // matplotlib "tab:blue"
pub(super) const RECON_COLOR: RGBColor = RGBColor(255, 127, 14); // matplotlib "tab:orange"
pub(super) const BOUND_COLOR: RGBColor = RGBColor(214, 39, 40); // matplotlib "tab:red"

pub(super) fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// matplotlib's viridis (the codec's, shared with the web viewer).
pub(super) fn viridis(t: f64) -> RGBColor {
    rgb(colormap::viridis(t))
}

/// Diverging map for t in [0, 1], 0.5 = no difference (RdBu reversed).
pub(super) fn diverging(t: f64) -> RGBColor {
    rgb(colormap::diverging(t))
}

/// A value → colour mapping over [lo, hi], grey for non-finite values.
pub(super) struct ColorScale {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) map: fn(f64) -> RGBColor,
}

impl ColorScale {
    pub(super) fn color(&self, v: f64) -> RGBColor {
        if v.is_finite() { (self.map)((v - self.lo) / (self.hi - self.lo)) } else { NO_DATA }
    }
}

pub(super) const TITLE_SIZE: u32 = 22;
pub(super) const CAPTION_SIZE: u32 = 18;
pub(super) const LABEL_SIZE: u32 = 14;
pub(super) const MARGIN: u32 = 12;
pub(super) const X_LABEL_AREA: u32 = 45;
pub(super) const Y_LABEL_AREA: u32 = 70;
/// Heatmap cells per axis at most in an SVG (a PNG gets at most one cell per pixel).
pub(super) const VECTOR_CELLS: usize = 128;
/// Histogram bins.
pub(super) const BINS: usize = 100;

pub(super) fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().into()
}

/// Tick labels for an axis over [lo, hi], all in one style: plain decimals with just enough
/// digits, or scientific notation when the axis' magnitude is very large or small.
pub(super) fn tick_formatter(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
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
pub(super) fn fmt_tick(v: f64, decimals: usize) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&v.abs()) {
        fmt_scientific(v)
    } else {
        fmt_fixed(v, decimals)
    }
}

/// `v` with at most 3 significant digits in scientific notation, trailing zeros trimmed: 1.5e-4.
pub(super) fn fmt_scientific(v: f64) -> String {
    let s = format!("{v:.2e}");
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
        None => s,
    }
}

/// `v` with at most `decimals` decimals, trailing zeros trimmed.
pub(super) fn fmt_fixed(v: f64, decimals: usize) -> String {
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

pub(super) fn trim_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

pub(super) fn index_formatter(v: &f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

/// A chart with plain f64 axes, a caption, axis descriptions and no grid.
pub(super) fn plain_chart<'a, DB: DrawingBackend>(
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
pub(super) fn draw_heatmap<DB: DrawingBackend>(
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
pub(super) fn draw_colorbar<DB: DrawingBackend>(
    area: &Area<DB>,
    caption: &str,
    scale: &ColorScale,
) -> Result<()>
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
pub(super) fn histogram_chart<'a, DB: DrawingBackend>(
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
pub(super) fn step_points(counts: &[u64], lo: f64, hi: f64) -> Vec<(f64, f64)> {
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

pub(super) fn draw_steps<DB: DrawingBackend>(
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

pub(super) fn draw_bars<DB: DrawingBackend>(
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
pub(super) fn draw_vlines<DB: DrawingBackend>(
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

pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
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
pub(super) fn draw_error_panel<DB: DrawingBackend>(
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

/// Tick values for a log axis over [lo, hi] (0 < lo < hi): the powers of ten inside, or 1-2-5
/// or 1…9 times them when that gives too few ticks. (plotters' own log axis labels only powers
/// of ten, so a range within one decade would get no label at all.)
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
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
