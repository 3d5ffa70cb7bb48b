//! `baler-train compress`: an archive whose every value is within the bound.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use baler_codec::ModelUse;
use clap::Args;
use serde_json::json;

use super::common::{
    BoundArgs, InputArgs, epoch_progress, load_config, load_model, read_input, recorded_source,
    refuse_inputs, spinner, write_bytes,
};
use crate::device::resolve as use_device;
use crate::pipeline::{CompressRequest, ModelMode, Target, compress_dataset, train_model};
use crate::search::{Effort, search_model};

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
    /// Classic predictors only: no training (the same as `--effort fast`).
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
    #[command(flatten)]
    pub common: InputArgs,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
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
        common,
        json,
        quiet,
    } = args;
    let (force_model, json, quiet, effort) = (*force_model, *json, *quiet, *effort);
    let no_model = *no_model || effort == Effort::Fast;
    refuse_inputs(output, &[input.as_str()], &[model.as_deref(), common.config.as_deref()])?;
    let target = bound.target()?;
    let mut cfg = load_config(common.config.as_deref())?;
    if !no_model {
        // Training and the encoder run there.
        cfg.device = use_device(common.device, quiet || json)?;
    }
    let loaded = read_input(input, common)?;
    let ds = &loaded.dataset;
    let started = Instant::now();
    let source = recorded_source(input, &loaded, common);
    let mut notes = vec![format!("source: {source}")];
    let trained;
    let given;
    let mut search_details = None;
    // What learning cost and decided (None without training: no model, or a given one).
    let mut learning: Option<(f64, String)> = None;
    let mode = if no_model {
        ModelMode::None
    } else if let Some(m) = model {
        given = load_model(m)?;
        if *embed_model { ModelMode::Embed(&given) } else { ModelMode::Reference(&given) }
    } else {
        let learning_started = Instant::now();
        let (bar, mut on_epoch) = epoch_progress(cfg.training.epochs, quiet || json);
        let search = match target {
            Target::Bound(b) if cfg.model.search && !force_model => Some(b),
            _ => None,
        };
        let fill = loaded.fill_value;
        let (model, decision) = match search {
            Some(b) => {
                let spin = spinner("choosing block and latent size on a sample", quiet || json);
                let outcome = search_model(ds, &cfg, fill, &source, b, effort, &mut on_epoch)
                    .with_context(|| format!("{input}: model search failed"))?;
                spin.finish_and_clear();
                if !(quiet || json) {
                    eprintln!("{}", outcome.details);
                }
                search_details = Some(outcome.details);
                let decision = match &outcome.model {
                    Some(_) => format!("trained the model it chose ({})", outcome.note),
                    None => outcome.note.clone(),
                };
                notes.push(outcome.note);
                (outcome.model, decision)
            }
            None => (
                Some(
                    train_model(ds, &cfg, fill, &source, &mut on_epoch)
                        .with_context(|| format!("{input}: training failed"))?,
                ),
                "trained the configured model".to_string(),
            ),
        };
        trained = model;
        bar.finish_and_clear();
        learning = Some((learning_started.elapsed().as_secs_f64(), decision));
        match &trained {
            Some(t) => {
                let r = &t.record;
                // No wall time here: the same input and options give the same archive bytes.
                notes.push(format!("trained here: {} tiles of {:?}, {}", r.samples, r.tile, r.stopped()));
                ModelMode::Embed(t)
            }
            None => ModelMode::None,
        }
    };
    let spin = spinner("compressing and verifying", quiet || json);
    let request = CompressRequest {
        dataset: ds,
        target,
        fill_value: loaded.fill_value,
        config: &cfg,
        model: mode,
        notes,
        force_model,
    };
    let c = compress_dataset(&request).with_context(|| input.clone())?;
    spin.finish_and_clear();
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
                "learning": learning.as_ref().map(|(seconds, decision)| json!({"effort": effort.name(), "seconds": seconds, "decision": decision}))})
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
                "classic predictors".to_string()
            } else {
                format!("autoencoder in {} of {} tiles", c.ae_tiles, c.total_tiles)
            },
            c.exceptions,
            secs
        );
        if let Some((seconds, decision)) = &learning {
            println!("learning ({} effort): {seconds:.2}s, {decision}", effort.name());
        }
    }
    Ok(())
}
