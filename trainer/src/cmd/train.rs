//! `baler-train train`: a model file for online-mode compression.

use std::path::PathBuf;

use anyhow::{Context, Result};
use baler_codec::format::metadata::hex;
use clap::Args;
use serde_json::json;

use super::common::{
    InputArgs, epoch_progress, load_config, read_input, recorded_source, refuse_inputs, write_bytes,
};
use crate::device::resolve as use_device;
use crate::pipeline::train_model;

#[derive(Args)]
pub struct TrainArgs {
    /// FILE or FILE:INNER (HDF5 dataset, NetCDF variable, ROOT tree[:branches], npz member).
    pub input: String,
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub common: InputArgs,
    #[arg(long)]
    pub quiet: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let TrainArgs { input, output, common, quiet, json } = args;
    let (quiet, json) = (*quiet, *json);
    refuse_inputs(output, &[input.as_str()], &[common.config.as_deref()])?;
    let mut cfg = load_config(common.config.as_deref())?;
    cfg.device = use_device(common.device, quiet || json)?;
    let loaded = read_input(input, common)?;
    let source = recorded_source(input, &loaded, common);
    let (bar, mut on_epoch) = epoch_progress(cfg.training.epochs, quiet || json);
    let model = train_model(&loaded.dataset, &cfg, loaded.fill_value, &source, &mut on_epoch)
        .with_context(|| format!("{input}: training failed"))?;
    bar.finish_and_clear();
    write_bytes(output, &model.to_bytes())?;
    let r = &model.record;
    let last = r.history.last();
    if json {
        println!(
            "{}",
            json!({"model": output, "source": r.source, "samples": r.samples, "tile": r.tile, "seconds": r.seconds,
                "epochs": r.history.len(), "best_epoch": r.best_epoch, "stop_reason": r.stop_reason,
                "train_loss": last.map(|h| h.train_loss), "val_loss": last.and_then(|h| h.val_loss),
                "losses": r.history.iter().map(|h| h.train_loss).collect::<Vec<_>>(), "device": cfg.device.describe(),
                "decoder_bytes": model.decoder_payload.len(), "hash": hex(&model.hash()),
                "model_kind": r.ext.model, "loss": r.ext.loss, "latent": r.encoder.last().map(|l| l.out_dim),
                "latent_ratio": r.latent_ratio(), "requested_latent_ratio": r.ext.requested_latent_ratio})
        );
        return Ok(());
    }
    println!("model: {}; loss {}", r.ext.model, r.ext.loss);
    let requested = match r.ext.requested_latent_ratio {
        q if q > 0.0 => format!("requested {q}"),
        _ => "from model.latent".into(),
    };
    println!(
        "network ratio: tile {:?} → {} latents = {:.2} ({requested}); the archive's ratio also counts \
         residuals and the model: see `baler-train info`",
        r.tile,
        r.encoder.last().map_or(0, |l| l.out_dim),
        r.latent_ratio()
    );
    println!(
        "trained on {} tiles of {:?} in {:.1}s ({}; best epoch {}); decoder {} bytes, hash {}",
        r.samples,
        r.tile,
        r.seconds,
        r.stopped(),
        r.best_epoch,
        model.decoder_payload.len(),
        hex(&model.hash())
    );
    Ok(())
}
