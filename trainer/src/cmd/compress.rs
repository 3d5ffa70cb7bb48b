//! `baler-train compress`: an archive whose every value is within the bound.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use baler_codec::ModelUse;
use clap::Args;
use serde_json::json;

use super::common::{
    BoundArgs, InputArgs, epoch_progress, load_config, load_model, open_input_rows, predictors_in_words,
    read_input, recorded_source, refuse_inputs, spinner, write_bytes,
};
use super::{compress_h5, compress_rows};
use crate::device::resolve as use_device;
use crate::job::{self, CompressJob, JobOutcome, Learning, ModelChoice, Progress, axes_problem};
use crate::pipeline::Target;
use crate::search::Effort;
use crate::train::EpochStats;

#[derive(Args)]
pub struct CompressArgs {
    /// FILE or FILE:INNER (HDF5 dataset, NetCDF variable, ROOT tree[:branches], npz member).
    pub input: String,
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub bound: BoundArgs,
    /// Use this model (online mode: the archive names it by hash) instead of training one.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// With --model: put the model into the archive (offline mode).
    #[arg(long, requires = "model")]
    pub embed_model: bool,
    /// Classic predictors only: no training, and for tables no learned column models (the same as
    /// `--effort fast`).
    #[arg(long, conflicts_with = "model")]
    pub no_model: bool,
    /// How much time learning may take: `fast` trains nothing; `default` first estimates, without
    /// training, what an ideal network of each candidate shape could give and trains only shapes
    /// that could pay; `max` always searches (6–7 networks, tens of seconds).
    #[arg(long, value_enum, default_value = "default", conflicts_with = "model")]
    pub effort: Effort,
    /// Keep the model even where classic predictors alone would give a smaller archive.
    #[arg(long, conflicts_with = "no_model")]
    pub force_model: bool,

    /// Write an HDF5 file (`-o out.h5` or `out.h5:/dataset`) whose array is stored through the
    /// Baler HDF5 filter (id 305), classic predictors, instead of a .baler archive: any HDF5
    /// program reads it with the plugin (libh5baler.so in HDF5_PLUGIN_PATH).
    #[arg(long, conflicts_with_all = ["model", "force_model"])]
    pub h5_filter: bool,
    /// Names of the field's axes, one per axis (`--axes time,lat,lon`), kept in the archive's
    /// notes for viewers to label their axes; a NetCDF variable's dimension names and an HDF5
    /// dataset's dimension scales are kept without it.
    #[arg(long, value_delimiter = ',')]
    pub axes: Vec<String>,
    /// Check every chunk by running the decoder's own sweep over its decoded codes, not from the
    /// encoder's reconstruction (the same archive, about 10 % slower; config `full_check`).
    #[arg(long)]
    pub full_check: bool,
    #[command(flatten)]
    pub common: InputArgs,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
}

/// The axis names an archive records: `--axes` (checked against the input's `rank`), else
/// `from_source`'s.
pub fn axes_for(args: &CompressArgs, from_source: &[String], rank: usize) -> Result<Vec<String>> {
    if args.axes.is_empty() {
        return Ok(from_source.to_vec());
    }
    if let Some(why) = axes_problem(&args.axes, rank, &args.input) {
        bail!("--axes {why}");
    }
    Ok(args.axes.clone())
}

pub fn run(args: &CompressArgs) -> Result<()> {
    let CompressArgs {
        input,
        output,
        bound,
        model,
        embed_model,
        no_model,
        effort,
        force_model,
        h5_filter,
        axes: _,
        full_check,
        common,
        json,
        quiet,
    } = args;
    let (force_model, json, quiet, effort) = (*force_model, *json, *quiet, *effort);
    let no_model = *no_model || effort == Effort::Fast;
    refuse_inputs(output, &[input.as_str()], &[model.as_deref(), common.config.as_deref()])?;
    let target = bound.target()?;
    if *h5_filter {
        return compress_h5::run(args, target);
    }
    let mut cfg = load_config(common.config.as_deref())?;
    cfg.compression.full_check |= *full_check;
    if no_model {
        // A table's column models are learned too (in milliseconds): classic is without them.
        cfg = crate::job::classic_config(&cfg);
    }
    if !no_model {
        // Training and the encoder run there.
        cfg.device = use_device(common.device, quiet || json)?;
    }
    if let (Target::Bound(b), None) = (target, model)
        && let Some(rows) = open_input_rows(input, common)?
    {
        let bytes = rows.reader.layout().original_bytes();
        if no_model {
            return compress_rows::run(args, rows, b, &cfg, None);
        }
        if bytes > compress_rows::LEARNING_LIMIT_BYTES && cfg.model.search && !force_model {
            let decision = format!(
                "model search skipped: the input ({:.2} GB) is read a slab at a time and the search holds its data in \
                 memory; train a model on a part of it (baler-train train) and pass --model",
                bytes as f64 / 1e9
            );
            let learning = Learning { effort, seconds: 0.0, decision };
            return compress_rows::run(args, rows, b, &cfg, Some(learning));
        }
    }
    let loaded = read_input(input, common)?;
    let ds = &loaded.dataset;
    let started = Instant::now();
    let source = recorded_source(input, &loaded, common);
    let given = model.as_deref().map(load_model).transpose()?;
    let choice = match &given {
        _ if no_model => ModelChoice::None,
        Some(m) => ModelChoice::Given { model: m, embed: *embed_model },
        None => ModelChoice::Learn(effort),
    };
    let axes = axes_for(args, &loaded.axes, ds.shape().len())?;
    let job = CompressJob {
        dataset: ds,
        fill_value: loaded.fill_value,
        source: &source,
        axes: &axes,
        target,
        config: &cfg,
        model: choice,
        force_model,
    };
    let mut bars = Bars::new(cfg.training.epochs, quiet || json);
    let outcome = job::run(&job, &mut bars).with_context(|| input.clone());
    bars.finish();
    bars.epochs.finish_and_clear();
    let JobOutcome { compressed: c, learning, search_details } = outcome?;
    write_bytes(output, &c.bytes)?;
    let secs = started.elapsed().as_secs_f64();
    let ratio = ds.original_bytes() as f64 / c.bytes.len() as f64;
    if json {
        println!(
            "{}",
            json!({"archive": output, "source": source, "original_bytes": ds.original_bytes(), "archive_bytes": c.bytes.len(),
                "ratio": ratio, "model": c.metadata.model != ModelUse::None, "ae_tiles": c.ae_tiles, "tiles": c.total_tiles,
                "exceptions": c.exceptions, "predictors": c.predictors, "seconds": secs, "notes": c.metadata.notes,
                "model_search": search_details,
                "learning": learning.as_ref().map(|l| json!({"effort": l.effort.name(), "seconds": l.seconds, "decision": l.decision}))})
        );
    } else {
        println!(
            "{} -> {}: {} -> {} bytes, ratio {:.2} ({}; {} values stored exactly), {:.2}s",
            input,
            output.display(),
            ds.original_bytes(),
            c.bytes.len(),
            ratio,
            if c.metadata.model == ModelUse::None {
                predictors_in_words(&c.predictors)
            } else {
                format!("autoencoder in {} of {} tiles", c.ae_tiles, c.total_tiles)
            },
            c.exceptions,
            secs
        );
        if let Some(l) = &learning {
            println!("learning ({} effort): {:.2}s, {}", l.effort.name(), l.seconds, l.decision);
        }
    }
    Ok(())
}

/// The job's progress on a terminal: the epoch bar while training, spinners around the search and
/// the final compression, the search's findings on stderr (all hidden with --quiet / --json).
struct Bars {
    quiet: bool,
    epochs: indicatif::ProgressBar,
    on_epoch: Box<dyn FnMut(&EpochStats)>,
    spinner: Option<indicatif::ProgressBar>,
}

impl Bars {
    fn new(epochs: usize, quiet: bool) -> Self {
        let (bar, on_epoch) = epoch_progress(epochs, quiet);
        Self { quiet, epochs: bar, on_epoch: Box::new(on_epoch), spinner: None }
    }

    fn spin(&mut self, msg: &str) {
        self.finish();
        self.spinner = Some(spinner(msg, self.quiet));
    }

    fn finish(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn epoch(&mut self, stats: &EpochStats) {
        (self.on_epoch)(stats);
    }

    fn searching(&mut self) {
        self.spin("choosing block and latent size on a sample");
    }

    fn searched(&mut self, details: &str) {
        self.finish();
        if !self.quiet {
            eprintln!("{details}");
        }
    }

    fn compressing(&mut self) {
        self.epochs.finish_and_clear();
        self.spin("compressing and verifying");
    }
}
