//! What several subcommands share: input and bound arguments, reading inputs, configuration and
//! model files, atomic writes, progress bars.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::device::DeviceChoice;
use crate::io::{
    Loaded, ReadOptions, Rows, load, open_rows, refuse_overwriting_inputs, spec_file, write_atomic,
};
use crate::pipeline::{SavedModel, Target};
use crate::train::EpochStats;

#[derive(Args)]
pub struct InputArgs {
    /// Options file (see `baler-train new`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Read a plain 2-d .npy as a table (one bound per column).
    #[arg(long)]
    pub table: bool,
    /// Values equal to this are "no data" (e.g. -1e34 over land): kept exactly, left out of ranges.
    #[arg(long, allow_hyphen_values = true)]
    pub fill_value: Option<f64>,
    /// Where training runs: cpu, gpu (wgpu: Vulkan/Metal/DX12), or auto (a GPU if there is one).
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
    /// Record the input's path as given, directories included, in the archive or model file
    /// (by default only its file name and the dataset / member / tree inside it).
    #[arg(long)]
    pub record_source_path: bool,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct BoundArgs {
    /// Absolute error bound: |x − x′| ≤ EB for every value.
    #[arg(long = "abs", value_name = "EB", allow_hyphen_values = true)]
    pub abs: Option<f64>,
    /// Bound relative to the value range (per column for tables): |x − x′| ≤ EB·(max − min).
    #[arg(long = "rel", value_name = "EB", allow_hyphen_values = true)]
    pub rel: Option<f64>,
    /// Target PSNR in dB (per column for tables): the loosest range-relative bound that reaches it.
    #[arg(long = "psnr", value_name = "DB", allow_hyphen_values = true)]
    pub psnr: Option<f64>,
}

impl BoundArgs {
    /// What the user asked for, checked.
    pub fn target(&self) -> Result<Target> {
        match (self.abs, self.rel, self.psnr) {
            // Named as the option here: "--psnr -3: give a target …".
            (_, _, Some(p)) => Target::from_user("psnr", p).map_err(|e| anyhow::anyhow!("--{e}")),
            (Some(a), _, _) => Target::from_user("abs", a),
            (_, Some(r), _) => Target::from_user("rel", r),
            _ => bail!("give an error bound with --abs, --rel or --psnr"),
        }
    }
}

pub fn load_config(path: Option<&Path>) -> Result<Config> {
    let Some(p) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?;
    Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

/// Reads an input spec; the file's own fill value (NetCDF `_FillValue`) applies unless
/// `--fill-value` overrides it.
pub fn read_input(spec: &str, common: &InputArgs) -> Result<Loaded> {
    check_fill(common)?;
    let mut loaded = load(spec, &ReadOptions { table: common.table })?;
    if common.fill_value.is_some() {
        loaded.fill_value = common.fill_value;
    }
    Ok(loaded)
}

fn check_fill(common: &InputArgs) -> Result<()> {
    if let Some(f) = common.fill_value
        && !f.is_finite()
    {
        bail!("--fill-value must be finite (NaN and Inf are always kept exactly)");
    }
    Ok(())
}

/// Opens an input for reading a slab of rows at a time, when its format allows (see
/// [`crate::io::open_rows`]); `--fill-value` overrides the file's own as in [`read_input`].
pub fn open_input_rows(spec: &str, common: &InputArgs) -> Result<Option<Rows>> {
    check_fill(common)?;
    let mut rows = open_rows(spec, &ReadOptions { table: common.table })?;
    if let Some(r) = &mut rows
        && common.fill_value.is_some()
    {
        r.fill_value = common.fill_value;
    }
    Ok(rows)
}

/// What an archive or model file records about its input: the reader's description (the file
/// name, no directories), with the directories as given when `--record-source-path` asks.
pub fn recorded_source(spec: &str, loaded: &Loaded, common: &InputArgs) -> String {
    record_source(spec, &loaded.source, common)
}

/// [`recorded_source`] of a reader's description `source`.
pub fn record_source(spec: &str, source: &str, common: &InputArgs) -> String {
    match spec_file(spec).parent() {
        Some(dir) if common.record_source_path && !dir.as_os_str().is_empty() => {
            dir.join(source).display().to_string()
        }
        _ => source.to_string(),
    }
}

/// Refuses an output that is one of the inputs (a data file's spec counts by its file part):
/// checked before any work, so nothing is computed only to be refused.
pub fn refuse_inputs(output: &Path, specs: &[&str], files: &[Option<&Path>]) -> Result<()> {
    let inputs: Vec<&Path> =
        specs.iter().map(|s| spec_file(s)).chain(files.iter().copied().flatten()).collect();
    Ok(refuse_overwriting_inputs(output, &inputs)?)
}

pub fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("{}: {what} not found", path.display()),
        _ => anyhow::anyhow!("{}: cannot read {what}: {e}", path.display()),
    })
}

pub fn load_model(path: &Path) -> Result<SavedModel> {
    let bytes = read_file(path, "model file")?;
    SavedModel::from_bytes(&bytes).with_context(|| format!("{}", path.display()))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(write_atomic(path, |w| w.write_all(bytes))?)
}

/// Training progress: a bar on a terminal (hidden with --quiet or when stderr is not one).
pub fn epoch_progress(epochs: usize, quiet: bool) -> (ProgressBar, impl FnMut(&EpochStats)) {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(epochs as u64) };
    bar.set_style(
        ProgressStyle::with_template("training {bar:30} {pos}/{len} epochs  {msg}  [{elapsed}]")
            .expect("valid template"),
    );
    let b = bar.clone();
    (bar, move |s: &EpochStats| {
        let val = s.val_loss.map_or(String::new(), |v| format!(" val {v:.3e}"));
        b.set_message(format!("loss {:.3e}{val} lr {:.1e}", s.train_loss, s.learning_rate));
        b.set_position(s.epoch as u64);
    })
}

pub fn spinner(msg: &str, quiet: bool) -> ProgressBar {
    let s = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    s.set_message(msg.to_string());
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    s
}

/// The predictors of an archive without a network, in words for the one-line report: classic,
/// or those learned per chunk (a table's column models, predictor 18; a field's learned last
/// pass, predictor 19) in how many chunks.
pub fn predictors_in_words(predictors: &[String]) -> String {
    let columns = predictors.iter().filter(|p| p.starts_with("columns[")).count();
    let pass = predictors.iter().filter(|p| p.ends_with("learned last pass")).count();
    let n = predictors.len();
    match (columns, pass) {
        (0, 0) => "classic predictors".to_string(),
        (k, 0) => format!("learned column models in {k} of {n} chunks"),
        (_, k) => format!("learned last interpolation pass in {k} of {n} chunks"),
    }
}
