//! A figure, and writing it as PNG (and SVG).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Size of the three-panel figures (frames, table columns, 1-d series).
pub const PANELS_SIZE: (u32, u32) = (1500, 500);
/// Size of the single-panel figures (error histogram, loss curve).
pub const SINGLE_SIZE: (u32, u32) = (900, 550);

pub(super) type Area<DB> = DrawingArea<DB, Shift>;
pub(super) type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One figure, drawable on any plotters backend (PNG or SVG).
pub(super) trait Figure {
    fn size(&self) -> (u32, u32);
    /// Draws onto a white `root`; `vector` is set for SVG (fewer heatmap cells).
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>, vector: bool) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// `stem` + `.ext` (`stem` may itself contain dots).
pub(super) fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s = OsString::from(stem.as_os_str());
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Writes `fig` to `<stem>.png` (and `<stem>.svg`), returning the paths written.
pub(super) fn write_figure<F: Figure>(fig: &F, stem: &Path, svg: bool) -> Result<Vec<PathBuf>> {
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

pub(super) fn render<F: Figure, DB: DrawingBackend>(fig: &F, root: &Area<DB>, vector: bool) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    fig.draw(root, vector)?;
    root.present()?;
    Ok(())
}
