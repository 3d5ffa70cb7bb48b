//! `baler-train models`: every model type on the same data, bound and training budget, side by
//! side — dense vs conv2d vs conv3d, LeakyReLU vs GDN, MSE vs SWAE — with the figures that decide
//! between them: the network's own reconstruction quality, the archive ratio with the model
//! counted, training time and model bytes.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use baler_codec::network::quantize_latents;
use baler_codec::preprocess::{dataset_tiles, normalization};
use baler_codec::{BoundSpec, parse_model};
use clap::Args;

use super::common::refuse_inputs;
use crate::config::{Activation, Config, Loss, ModelKind};
use crate::io::{ReadOptions, load, write_atomic};
use crate::model::infer::forward_f32;
use crate::pipeline::{CompressRequest, ModelMode, SavedModel, compress_dataset, tile_for, train_model};

#[derive(Args)]
pub struct ModelsArgs {
    /// Inputs, FILE or FILE:INNER as for compress (fields with at least 3 dimensions for conv3d).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Range-relative bound of the archives.
    #[arg(long, default_value_t = 1e-3)]
    pub rel: f64,
    /// Epochs per model (every model gets the same budget).
    #[arg(long, default_value_t = 300)]
    pub epochs: usize,
    /// Wall-time limit per model, seconds.
    #[arg(long, default_value_t = 120.0)]
    pub max_seconds: f64,
    /// Block of the dense and conv2d models; conv3d uses [4, rows, cols].
    #[arg(long, value_delimiter = ',', default_value = "16,16")]
    pub block: Vec<usize>,
    /// Latent values per block of rows × cols (conv3d: × 4, the same network ratio).
    #[arg(long, default_value_t = 8)]
    pub latent: usize,
    /// Write the table here as markdown.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// One configuration of the zoo.
struct Variant {
    kind: ModelKind,
    gdn: bool,
    swae: bool,
}

const VARIANTS: [Variant; 9] = [
    Variant { kind: ModelKind::Dense, gdn: false, swae: false },
    Variant { kind: ModelKind::Dense, gdn: true, swae: false },
    Variant { kind: ModelKind::Conv2d, gdn: false, swae: false },
    Variant { kind: ModelKind::Conv2d, gdn: true, swae: false },
    Variant { kind: ModelKind::Conv2d, gdn: false, swae: true },
    Variant { kind: ModelKind::Conv2d, gdn: true, swae: true },
    Variant { kind: ModelKind::Conv3d, gdn: false, swae: false },
    Variant { kind: ModelKind::Conv3d, gdn: true, swae: false },
    Variant { kind: ModelKind::Conv3d, gdn: true, swae: true },
];

fn config_for(v: &Variant, args: &ModelsArgs) -> Config {
    let mut cfg = Config::default();
    let m = &mut cfg.model;
    m.kind = v.kind;
    m.activation = if v.gdn { Activation::Gdn } else { Activation::LeakyRelu };
    let [r, c] = [args.block[0], args.block[1]];
    (m.block, m.latent) = if v.kind == ModelKind::Conv3d {
        (vec![4, r, c], 4 * args.latent)
    } else {
        (vec![r, c], args.latent)
    };
    let t = &mut cfg.training;
    t.epochs = args.epochs;
    t.max_seconds = args.max_seconds;
    if v.swae {
        t.loss = Loss::Swae;
    }
    cfg
}

/// PSNR (dB, over the normalized range) of the integer decoder's reconstruction of `samples`
/// from their unrounded latents: how well the network alone models the data.
fn network_psnr(model: &SavedModel, samples: &[f32], n: usize) -> Result<f64> {
    let r = &model.record;
    let dim: usize = r.tile.iter().product();
    let latents = forward_f32(&r.encoder, &r.ext.encoder_norms, r.leaky_slope, samples, n);
    let dec = parse_model(&model.decoder_payload)?;
    let pred = dec.predict(&quantize_latents(&latents, dec.latent_frac_bits), n);
    let mse = pred.iter().zip(samples).map(|(p, &s)| (p - s as f64).powi(2)).sum::<f64>() / (n * dim) as f64;
    Ok(-10.0 * mse.log10())
}

pub fn run(args: &ModelsArgs) -> Result<()> {
    anyhow::ensure!(args.block.len() == 2, "--block takes rows,cols");
    if let Some(md) = &args.markdown {
        let specs: Vec<&str> = args.inputs.iter().map(String::as_str).collect();
        refuse_inputs(md, &specs, &[])?;
    }
    let mut md = String::new();
    for input in &args.inputs {
        md += &table_for(input, args)?;
        md += "\n";
    }
    print!("{md}");
    if let Some(path) = &args.markdown {
        write_atomic(path, |w| std::io::Write::write_all(w, md.as_bytes()))?;
    }
    Ok(())
}

/// The zoo's table for one input.
fn table_for(input: &str, args: &ModelsArgs) -> Result<String> {
    let loaded = load(input, &ReadOptions::default())?;
    let (ds, fill) = (loaded.dataset, loaded.fill_value);
    let original = ds.original_bytes() as f64;
    let bound = BoundSpec::Rel(args.rel);
    let default = Config::default();
    let classic = compress_dataset(&CompressRequest::new(&ds, bound, &default).fill_value(fill))?;
    let mut md = format!(
        "Model zoo on `{}` at rel {:e}: every model trained with the same budget ({} epochs, ≤ {} s), \
         then compressed with the model embedded and forced in (ratio counts the model). \
         Classic predictors alone: ratio {:.2}.\n\n",
        input,
        args.rel,
        args.epochs,
        args.max_seconds,
        original / classic.bytes.len() as f64
    );
    md += "| model | activation | loss | tile → latents | decoder bytes | parameters | train s (epochs) | network PSNR dB | ratio, model forced | network tiles | ratio, automatic |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for v in &VARIANTS {
        let cfg = config_for(v, args);
        let label = format!(
            "{} {}{}",
            v.kind,
            if v.gdn { "gdn" } else { "leaky" },
            if v.swae { " swae" } else { "" }
        );
        eprintln!("training {label} …");
        let model = match train_model(&ds, &cfg, fill, input, &mut |_| {}) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("  {label}: {e:#}");
                continue;
            }
        };
        let r = &model.record;
        let tile = tile_for(&ds, &cfg.model.block)?;
        let norm = normalization(&ds, fill);
        let (samples, n) = dataset_tiles(&ds, tile, &norm, fill, cfg.training.max_samples)?;
        let psnr = network_psnr(&model, &samples, n)?;
        let request = CompressRequest::new(&ds, bound, &cfg).fill_value(fill).model(ModelMode::Embed(&model));
        let forced = compress_dataset(&request.clone().force_model(true))
            .with_context(|| format!("{label}: compressing"))?;
        let auto = compress_dataset(&request)?;
        let params =
            baler_codec::network::StoredDecoder::from_bytes(&model.decoder_payload)?.parameter_count();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:?} → {} | {} | {} | {:.1} ({}) | {:.1} | {:.2} | {} / {} | {:.2} |",
            v.kind,
            if v.gdn { "GDN" } else { "LeakyReLU" },
            if v.swae { "MSE + SWAE" } else { "MSE" },
            r.tile,
            r.encoder.last().map_or(0, |l| l.out_dim),
            model.decoder_payload.len(),
            params,
            r.seconds,
            r.history.len(),
            psnr,
            original / forced.bytes.len() as f64,
            forced.ae_tiles,
            forced.total_tiles,
            original / auto.bytes.len() as f64,
        );
    }
    Ok(md)
}
