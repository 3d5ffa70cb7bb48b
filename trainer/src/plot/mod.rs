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

mod data;
mod draw;
mod field;
mod figure;
mod font;
mod loss;
mod table;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use baler_codec::Dataset;
/// Counts in equal bins (the codec's, shared with the web viewer).
pub use baler_codec::colormap::histogram;

use crate::train::EpochStats;
use data::{field_values, file_names, stream_bounds, table_columns, to_f64};
use field::plot_field;
use figure::write_figure;
pub use figure::{PANELS_SIZE, SINGLE_SIZE};
pub use font::FONT_ENV;
use font::ensure_font;
use loss::LossFigure;
use table::ColumnFigure;

/// What [`plot_comparison`] draws.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlotOptions {
    /// Frames of a field to draw: indices along the first axis of a 3-d field, or along the
    /// leading axes flattened (row-major) for more dimensions. Empty = first, middle and last.
    pub frames: Vec<usize>,
    /// Also write an SVG next to each PNG.
    pub svg: bool,
}

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
