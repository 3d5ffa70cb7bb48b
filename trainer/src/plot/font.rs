//! The TrueType font every figure draws its text with: [`super::FONT_ENV`], then the usual DejaVu
//! Sans paths.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::style::FontStyle;

/// Environment variable naming a TrueType font to draw text with; it wins over the system paths.
pub const FONT_ENV: &str = "BALER_FONT";

/// Where DejaVu Sans lives on Debian / Ubuntu (`fonts-dejavu-core`), Arch, and Fedora.
pub(super) const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// The font files to try, in order: `$BALER_FONT`, then the system paths.
pub(super) fn font_candidates() -> Vec<PathBuf> {
    let env = std::env::var_os(FONT_ENV).filter(|v| !v.is_empty());
    env.into_iter().map(PathBuf::from).chain(FONT_PATHS.iter().map(PathBuf::from)).collect()
}

/// Reads the first candidate that is a file and registers it as plotters' "sans-serif"
/// (plotters keeps fonts for the life of the process, hence the leaked buffer).
pub(super) fn register_first_font(candidates: &[PathBuf]) -> std::result::Result<PathBuf, String> {
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
pub(super) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| register_first_font(&font_candidates()))
        .as_ref()
        .map(|_| ())
        .map_err(|e| anyhow!("{e}"))
}
