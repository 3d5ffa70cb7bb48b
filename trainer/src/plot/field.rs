//! Fields: frames as heatmaps, a 1-d field as series, and the error histogram.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::PlotOptions;
use super::data::*;
use super::draw::*;
use super::figure::*;

pub(super) fn plot_field(
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
pub(super) struct FrameFigure<'a> {
    pub(super) index: usize,
    pub(super) frames: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) original: &'a [f64],
    pub(super) reconstructed: &'a [f64],
    pub(super) bound: Option<f64>,
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
pub(super) struct SeriesFigure<'a> {
    pub(super) original: &'a [f64],
    pub(super) reconstructed: &'a [f64],
    pub(super) bound: Option<f64>,
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
pub(super) fn draw_lines<DB: DrawingBackend>(
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
pub(super) struct ErrorHistogramFigure {
    pub(super) errors: Vec<f64>,
    /// Whether the errors are divided by the error bound (else by the value range).
    pub(super) by_bound: bool,
    pub(super) scale: f64,
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
