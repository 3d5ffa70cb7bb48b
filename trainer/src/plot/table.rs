//! Table columns: distributions, residuals and relative differences.

use anyhow::Result;
use baler_codec::colormap::histogram;
use plotters::prelude::*;

use super::data::*;
use super::draw::*;
use super::figure::*;

/// One column: distributions | residual | relative difference.
pub(super) struct ColumnFigure<'a> {
    pub(super) name: &'a str,
    pub(super) rows: usize,
    pub(super) original: &'a [f64],
    pub(super) reconstructed: &'a [f64],
    pub(super) bound: Option<f64>,
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
