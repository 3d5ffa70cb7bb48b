//! The training loss curve.

use anyhow::Result;
use plotters::prelude::*;

use super::data::*;
use super::draw::*;
use super::figure::*;
use crate::train::EpochStats;

pub(super) struct LossFigure<'a> {
    pub(super) history: &'a [EpochStats],
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
