//! The `baler-train` command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use baler_codec::meta::{Quantizer, hex};
use baler_codec::{Archive, BoundSpec, Dataset, ModelUse, NetworkRunner};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::config::{Config, TEMPLATE};
use crate::device::{DeviceChoice, network_on, resolve as use_device};
use crate::io::{
    Format, Loaded, ReadOptions, load, npy_dtype, refuse_overwriting_inputs, save, spec_file, split_spec,
    write_atomic, write_npy_parts,
};
use crate::metrics::evaluate;
use crate::pipeline::{ModelMode, SavedModel, compress_dataset, compress_to_psnr, train_model};
use crate::search::search_model;

#[derive(Parser)]
#[command(
    name = "baler-train",
    version,
    about = "Train autoencoders and compress scientific data under a strict error bound"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a commented baler.toml with every option and its default into DIR.
    New {
        dir: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Train a model on INPUT and save it (a .bmodel file) for online-mode compression.
    Train {
        /// FILE or FILE:INNER (HDF5 dataset, NetCDF variable, ROOT tree[:branches], npz member).
        input: String,
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        common: InputArgs,
        #[arg(long)]
        quiet: bool,
        #[arg(long)]
        json: bool,
    },
    /// Compress INPUT into an archive whose every value is within the bound.
    Compress {
        /// FILE or FILE:INNER (HDF5 dataset, NetCDF variable, ROOT tree[:branches], npz member).
        input: String,
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        bound: BoundArgs,
        /// Use this model (online mode: the archive names it by hash) instead of training one.
        #[arg(long)]
        model: Option<PathBuf>,
        /// With --model: put the model into the archive (offline mode).
        #[arg(long, requires = "model")]
        embed_model: bool,
        /// Classic predictors only: no training.
        #[arg(long, conflicts_with = "model")]
        no_model: bool,
        /// Keep the model even where classic predictors alone would give a smaller archive.
        #[arg(long, conflicts_with = "no_model")]
        force_model: bool,
        #[command(flatten)]
        common: InputArgs,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        quiet: bool,
    },
    /// Decode ARCHIVE to OUTPUT (.npy, .npz, .csv, or .h5[:/dataset] by extension).
    Decompress {
        archive: PathBuf,
        #[arg(short, long)]
        output: String,
        /// The model file an online-mode archive names.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Where the decoder network runs: cpu, gpu or auto. Every device gives the same bits.
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        quiet: bool,
    },
    /// Shape, dtype, bound, bytes per section, honest ratio and content hash of ARCHIVE.
    Info {
        archive: PathBuf,
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// PSNR, max abs error, max error / range and RMSE of RECONSTRUCTED against ORIGINAL.
    Eval {
        original: String,
        reconstructed: String,
        #[arg(long)]
        table: bool,
        #[arg(long)]
        json: bool,
    },
    /// Plots: original / reconstructed / difference per frame, error histograms, per-column
    /// distributions for tables, and the training loss curve of a model file.
    Plot {
        original: String,
        /// An archive (.baler) or a reconstructed file.
        compared: String,
        #[arg(short, long)]
        output: PathBuf,
        /// Model file: needed for online-mode archives; its loss curve is plotted too.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Frames (index along the first axis) to draw; default first, middle, last.
        #[arg(long, value_delimiter = ',')]
        frames: Vec<usize>,
        /// Also write SVG.
        #[arg(long)]
        svg: bool,
        #[arg(long)]
        table: bool,
        #[arg(long)]
        json: bool,
    },
    /// Generate a synthetic flow field, train, compress at three bounds, verify, print the table.
    Demo {
        /// Smaller field and shorter training (used by the tests).
        #[arg(long)]
        quick: bool,
        #[arg(long)]
        json: bool,
    },
    /// Benchmark: training epochs of Baler's CFD setup, compress/decompress speed and ratio on INPUTs.
    Bench(crate::bench::BenchArgs),
    /// Every model type (dense / conv2d / conv3d, LeakyReLU / GDN, MSE / SWAE) on INPUT with the same budget: network PSNR, ratio with the model counted, training time, model bytes.
    Models(crate::zoo::ModelsArgs),
}

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

/// What the user asked for.
pub enum BoundRequest {
    Bound(BoundSpec),
    Psnr(f64),
}

impl BoundArgs {
    pub fn spec(&self) -> Result<BoundRequest> {
        if let Some(p) = self.psnr {
            if !(p > 0.0 && p < 400.0) {
                bail!("--psnr {p}: give a target between 0 and 400 dB");
            }
            return Ok(BoundRequest::Psnr(p));
        }
        let (v, spec) = match (self.abs, self.rel) {
            (Some(a), _) => (a, BoundSpec::Abs(a)),
            (_, Some(r)) => (r, BoundSpec::Rel(r)),
            _ => bail!("give an error bound with --abs, --rel or --psnr"),
        };
        if !(v > 0.0 && v.is_finite()) {
            bail!("error bound {v} must be a finite number > 0");
        }
        Ok(BoundRequest::Bound(spec))
    }
}

pub fn load_config(path: Option<&Path>) -> Result<Config> {
    let Some(p) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?;
    let c: Config = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", p.display(), e.message()))?;
    c.validate().map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    Ok(c)
}

/// Reads an input spec; the file's own fill value (NetCDF `_FillValue`) applies unless
/// `--fill-value` overrides it.
fn read_input(spec: &str, common: &InputArgs) -> Result<Loaded> {
    if let Some(f) = common.fill_value
        && !f.is_finite()
    {
        bail!("--fill-value must be finite (NaN and Inf are always kept exactly)");
    }
    let mut loaded = load(spec, &ReadOptions { table: common.table })?;
    if common.fill_value.is_some() {
        loaded.fill_value = common.fill_value;
    }
    Ok(loaded)
}

/// A dataset from a file, or decoded from an archive (then with its per-stream bounds).
fn read_or_decode(spec: &str, model: Option<&Path>, table: bool) -> Result<(Dataset, Option<Vec<f64>>)> {
    if spec.ends_with(".baler") {
        let path = Path::new(spec);
        let bytes = read_file(path, "archive")?;
        let ext = model.map(load_model).transpose()?;
        let a = Archive::open(&bytes, ext.as_ref().map(|m| m.decoder_payload.as_slice()))
            .with_context(|| spec.to_string())?;
        let ds = a.decode().with_context(|| spec.to_string())?;
        let bounds = a
            .meta
            .streams
            .iter()
            .map(|s| match s.quantizer {
                Quantizer::Float { bound, .. } => bound,
                Quantizer::Int => 0.0,
            })
            .collect();
        Ok((ds, Some(bounds)))
    } else {
        Ok((load(spec, &ReadOptions { table })?.dataset, None))
    }
}

/// What an archive or model file records about its input: the reader's description (the file
/// name, no directories), with the directories as given when `--record-source-path` asks.
fn recorded_source(spec: &str, loaded: &Loaded, common: &InputArgs) -> String {
    match spec_file(spec).parent() {
        Some(dir) if common.record_source_path && !dir.as_os_str().is_empty() => {
            dir.join(&loaded.source).display().to_string()
        }
        _ => loaded.source.clone(),
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

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(write_atomic(path, |w| w.write_all(bytes))?)
}

/// Training progress: a bar on a terminal (hidden with --quiet or when stderr is not one).
fn epoch_progress(epochs: usize, quiet: bool) -> (ProgressBar, impl FnMut(&crate::train::EpochStats)) {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(epochs as u64) };
    bar.set_style(
        ProgressStyle::with_template("training {bar:30} {pos}/{len} epochs  {msg}  [{elapsed}]")
            .expect("valid template"),
    );
    let b = bar.clone();
    (bar, move |s: &crate::train::EpochStats| {
        let val = s.val_loss.map_or(String::new(), |v| format!(" val {v:.3e}"));
        b.set_message(format!("loss {:.3e}{val} lr {:.1e}", s.train_loss, s.learning_rate));
        b.set_position(s.epoch as u64);
    })
}

fn spinner(msg: &str, quiet: bool) -> ProgressBar {
    let s = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    s.set_message(msg.to_string());
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    s
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::New { dir, force } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("{}: cannot create directory", dir.display()))?;
            let path = dir.join("baler.toml");
            if path.exists() && !force {
                bail!("{}: already exists (use --force to overwrite)", path.display());
            }
            write_bytes(&path, TEMPLATE.as_bytes())?;
            println!("wrote {}", path.display());
        }
        Command::Train { input, output, common, quiet, json } => {
            refuse_inputs(&output, &[&input], &[common.config.as_deref()])?;
            let mut cfg = load_config(common.config.as_deref())?;
            cfg.device = use_device(common.device, quiet || json)?;
            let loaded = read_input(&input, &common)?;
            let source = recorded_source(&input, &loaded, &common);
            let (bar, mut on_epoch) = epoch_progress(cfg.training.epochs, quiet || json);
            let model = train_model(&loaded.dataset, &cfg, loaded.fill_value, &source, &mut on_epoch)
                .with_context(|| format!("{input}: training failed"))?;
            bar.finish_and_clear();
            write_bytes(&output, &model.to_bytes())?;
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
            } else {
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
                    r.stop_reason,
                    r.best_epoch,
                    model.decoder_payload.len(),
                    hex(&model.hash())
                );
            }
        }
        Command::Compress {
            input,
            output,
            bound,
            model,
            embed_model,
            no_model,
            force_model,
            common,
            json,
            quiet,
        } => {
            refuse_inputs(&output, &[&input], &[model.as_deref(), common.config.as_deref()])?;
            let spec = bound.spec()?;
            let mut cfg = load_config(common.config.as_deref())?;
            if !no_model {
                // Training and the encoder run there.
                cfg.device = use_device(common.device, quiet || json)?;
            }
            let loaded = read_input(&input, &common)?;
            let ds = &loaded.dataset;
            let started = Instant::now();
            let source = recorded_source(&input, &loaded, &common);
            let mut notes = vec![format!("source: {source}")];
            let trained;
            let given;
            let mut search_details = None;
            let mode = if no_model {
                ModelMode::None
            } else if let Some(m) = &model {
                given = load_model(m)?;
                if embed_model { ModelMode::Embed(&given) } else { ModelMode::Reference(&given) }
            } else {
                let (bar, mut on_epoch) = epoch_progress(cfg.training.epochs, quiet || json);
                let search = match spec {
                    BoundRequest::Bound(b) if cfg.model.search && !force_model => Some(b),
                    _ => None,
                };
                let fill = loaded.fill_value;
                trained = match search {
                    Some(b) => {
                        let spin = spinner("choosing block and latent size on a sample", quiet || json);
                        let outcome = search_model(ds, &cfg, fill, &source, b, &mut on_epoch)
                            .with_context(|| format!("{input}: model search failed"))?;
                        spin.finish_and_clear();
                        if !(quiet || json) {
                            eprintln!("{}", outcome.details);
                        }
                        search_details = Some(outcome.details);
                        notes.push(outcome.note);
                        outcome.model
                    }
                    None => Some(
                        train_model(ds, &cfg, fill, &source, &mut on_epoch)
                            .with_context(|| format!("{input}: training failed"))?,
                    ),
                };
                bar.finish_and_clear();
                match &trained {
                    Some(t) => {
                        let r = &t.record;
                        // No wall time here: the same input and options give the same archive bytes.
                        notes.push(format!(
                            "trained here: {} tiles of {:?}, {}",
                            r.samples, r.tile, r.stop_reason
                        ));
                        ModelMode::Embed(t)
                    }
                    None => ModelMode::None,
                }
            };
            let spin = spinner("compressing and verifying", quiet || json);
            let c = match spec {
                BoundRequest::Bound(b) => {
                    compress_dataset(ds, b, loaded.fill_value, &cfg, mode, notes, force_model)
                }
                BoundRequest::Psnr(p) => {
                    compress_to_psnr(ds, p, loaded.fill_value, &cfg, mode, notes, force_model)
                }
            }
            .with_context(|| input.clone())?;
            spin.finish_and_clear();
            write_bytes(&output, &c.bytes)?;
            let secs = started.elapsed().as_secs_f64();
            let ratio = ds.original_bytes() as f64 / c.bytes.len() as f64;
            if json {
                println!(
                    "{}",
                    json!({"archive": output, "source": source, "original_bytes": ds.original_bytes(), "archive_bytes": c.bytes.len(),
                        "ratio": ratio, "model": c.metadata.model != ModelUse::None, "ae_tiles": c.ae_tiles, "tiles": c.total_tiles,
                        "exceptions": c.exceptions, "predictors": c.predictors, "seconds": secs, "notes": c.metadata.notes,
                        "model_search": search_details})
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
            }
        }
        Command::Decompress { archive, output, model, device, json, quiet } => {
            refuse_inputs(spec_file(&output), &[], &[Some(&archive), model.as_deref()])?;
            let compute = use_device(device, quiet || json)?;
            let started = Instant::now();
            let spin = spinner("decoding", quiet || json);
            let bytes = read_file(&archive, "archive")?;
            let ext = model.as_deref().map(load_model).transpose()?;
            let a = Archive::open(&bytes, ext.as_ref().map(|m| m.decoder_payload.as_slice()))
                .with_context(|| format!("{}", archive.display()))?;
            let shape: Vec<usize> = a.meta.shape.iter().map(|&d| d as usize).collect();
            let gpu_net = network_on(&compute, a.decoder.as_ref())?;
            let net: Option<&dyn NetworkRunner> = gpu_net.as_deref();
            let streaming = split_spec(&output).1.is_none()
                && Format::of(Path::new(&output)).is_ok_and(|f| f == Format::Npy);
            if streaming {
                // .npy: decode and write chunk by chunk, memory bounded by a few chunks.
                let dtypes: Vec<_> = a.meta.streams.iter().map(|s| s.dtype).collect();
                let mut failure = None;
                let written = write_npy_parts(Path::new(&output), npy_dtype(&dtypes), &shape, |emit| {
                    a.decode_each_on(
                        |part| emit(&part).map_err(|e| baler_codec::CodecError::InvalidInput(e.to_string())),
                        net,
                    )
                    .map_err(|e| {
                        let msg = e.to_string();
                        failure = Some(e);
                        std::io::Error::other(msg)
                    })
                });
                if let Some(e) = failure {
                    return Err(e).with_context(|| format!("{}", archive.display()));
                }
                written?;
            } else {
                let ds = a.decode_on(net).with_context(|| format!("{}", archive.display()))?;
                save(&output, &ds, a.meta.fill_value)?;
            }
            spin.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            if json {
                println!(
                    "{}",
                    json!({"archive": archive, "output": output, "shape": shape, "original_bytes": a.meta.original_bytes,
                        "seconds": secs, "content_hash": hex(&a.meta.content_hash[..a.hash_kind.digest_len()]), "device": compute.describe()})
                );
            } else {
                println!("{} -> {}: shape {:?}, {:.2}s", archive.display(), output, shape, secs);
            }
        }
        Command::Info { archive, model, json } => info(&archive, model.as_deref(), json)?,
        Command::Eval { original, reconstructed, table, json } => {
            let a = load(&original, &ReadOptions { table })?.dataset;
            let b = load(&reconstructed, &ReadOptions { table })?.dataset;
            let ms = evaluate(&a, &b).with_context(|| format!("{original} vs {reconstructed}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ms)?);
            } else {
                println!(
                    "{:<12} {:>10} {:>12} {:>12} {:>12} {:>10}",
                    "column", "PSNR dB", "max |err|", "max err/rng", "RMSE", "values"
                );
                for m in &ms {
                    println!(
                        "{:<12} {:>10.2} {:>12.4e} {:>12.4e} {:>12.4e} {:>10}",
                        m.name, m.psnr_db, m.max_abs_error, m.max_error_over_range, m.rmse, m.count
                    );
                }
            }
        }
        Command::Plot { original, compared, output, model, frames, svg, table, json } => {
            refuse_inputs(&output, &[&original, &compared], &[model.as_deref()])?;
            let orig = load(&original, &ReadOptions { table })?.dataset;
            let (recon, bounds) = read_or_decode(&compared, model.as_deref(), table)?;
            let opts = crate::plot::PlotOptions { frames, svg };
            let mut files = crate::plot::plot_comparison(&orig, &recon, bounds.as_deref(), &output, &opts)
                .with_context(|| format!("plotting into {}", output.display()))?;
            if let Some(m) = &model {
                let saved = load_model(m)?;
                files.extend(crate::plot::plot_loss(&saved.record.history, &output.join("loss"), svg)?);
            }
            if json {
                println!("{}", json!({"files": files}));
            } else {
                for f in &files {
                    println!("wrote {}", f.display());
                }
            }
        }
        Command::Demo { quick, json } => crate::demo::run(quick, json)?,
        Command::Bench(args) => crate::bench::run(&args)?,
        Command::Models(args) => crate::zoo::run(&args)?,
    }
    Ok(())
}

fn info(path: &Path, model: Option<&Path>, json: bool) -> Result<()> {
    let bytes = read_file(path, "archive")?;
    let ext = model.map(load_model).transpose()?;
    let ext_payload = ext.as_ref().map(|m| m.decoder_payload.as_slice());
    let ctx = || format!("{}", path.display());
    let a = match ext_payload {
        Some(_) => Archive::open(&bytes, ext_payload),
        None => Archive::open_metadata_only(&bytes),
    }
    .with_context(ctx)?;
    // Decoding checks every checksum and the content hash; without its model an online-mode
    // archive can only be described.
    let verified = match a.decode() {
        Ok(_) => true,
        Err(baler_codec::CodecError::ModelMissing { .. }) => false,
        Err(e) => return Err(e).with_context(ctx),
    };
    let m = &a.meta;
    let total = bytes.len() as u64;
    let model_bytes = a.sizes.model;
    let ratio = m.original_bytes as f64 / total as f64;
    let without_model = m.original_bytes as f64 / (total - model_bytes) as f64;
    let (mode, with_pack) = match &m.model {
        ModelUse::None => ("none (classic predictors)".to_string(), None),
        ModelUse::Embedded { hash } => (format!("embedded ({})", hex(hash)), None),
        ModelUse::Referenced { hash } => {
            let pack = ext.as_ref().map(|e| e.decoder_payload.len() as u64);
            (
                format!("referenced ({})", hex(hash)),
                pack.map(|p| m.original_bytes as f64 / (total + p) as f64),
            )
        }
    };
    let bounds: Vec<serde_json::Value> = m
        .streams
        .iter()
        .map(|s| match s.quantizer {
            Quantizer::Float { bound, .. } => json!({"name": s.name, "dtype": s.dtype.name(), "abs_bound": bound, "min": s.min, "max": s.max}),
            Quantizer::Int => json!({"name": s.name, "dtype": s.dtype.name(), "abs_bound": 0.0, "lossless": true}),
        })
        .collect();
    // What the compressor chose, chunk by chunk (parsing needs no model): counted per choice.
    let mut choices: Vec<(String, usize)> = Vec::new();
    for i in 0..a.chunk_count() {
        let (predictor, coder) = match a.parse_chunk(i) {
            Ok(p) => p.choices(),
            Err(_) => break,
        };
        let key = format!("predictor {predictor}, coder {coder}");
        match choices.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => choices.push((key, 1)),
        }
    }
    let sizes = &a.sizes;
    let report = json!({
        "chunk_choices": choices.iter().map(|(k, n)| json!({"choice": k, "chunks": n})).collect::<Vec<_>>(),
        "archive": path, "format_version": a.version,
        "kind": if m.table { "table" } else { "field" }, "shape": m.shape,
        "bound": match m.bound { BoundSpec::Abs(v) => json!({"abs": v}), BoundSpec::Rel(v) => json!({"rel": v}) },
        "streams": bounds, "fill_value": m.fill_value,
        "original_bytes": m.original_bytes, "archive_bytes": total,
        "ratio": ratio, "ratio_without_model": without_model, "ratio_with_model_pack": with_pack,
        "model": mode, "tile": m.tile, "chunks": a.chunk_count(),
        "network": a.model_summary.as_ref().map(|s| json!({"layers": s.layers, "parameters": s.parameters, "latent_dim": s.latent_dim,
            "network_ratio": m.tile.iter().map(|&t| t as f64).product::<f64>() / s.latent_dim.max(1) as f64})),
        "sections": {"header": sizes.header, "metadata": sizes.metadata, "model": sizes.model, "model_ref": sizes.model_ref,
                     "chunk_index": sizes.chunk_index, "chunks": sizes.chunks, "end": sizes.end},
        "content_hash": hex(&m.content_hash[..a.hash_kind.digest_len()]), "content_hash_kind": a.hash_kind.name(),
        "content_hash_verified": verified, "notes": m.notes,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("archive        {} (format v{})", path.display(), a.version);
    println!("data           {} {:?}", if m.table { "table" } else { "field" }, m.shape);
    for s in &m.streams {
        let b = match s.quantizer {
            Quantizer::Float { bound, .. } => format!("|err| <= {bound:.6e}"),
            Quantizer::Int => "lossless (integer)".into(),
        };
        let name = if s.name.is_empty() { "values" } else { &s.name };
        println!("  {name:<12} {:<8} range [{:.6e}, {:.6e}]  {b}", s.dtype.name(), s.min, s.max);
    }
    println!("bound          {:?}", m.bound);
    if let Some(f) = m.fill_value {
        println!("fill value     {f:e}");
    }
    println!("model          {mode}");
    if let Some(ms) = &a.model_summary {
        let dim: u64 = m.tile.iter().map(|&t| t as u64).product();
        println!("  network      {}", ms.layers);
        println!(
            "  size         {} parameters; tile {:?} = {dim} values → {} latents: network ratio {:.2}",
            ms.parameters,
            m.tile,
            ms.latent_dim,
            dim as f64 / ms.latent_dim.max(1) as f64
        );
    }
    println!("bytes          original {}  archive {}", m.original_bytes, total);
    println!(
        "  sections     header {}  metadata {}  model {}  model-ref {}  index {}  chunks {} ({})  end {}",
        sizes.header,
        sizes.metadata,
        sizes.model,
        sizes.model_ref,
        sizes.chunk_index,
        sizes.chunks,
        a.chunk_count(),
        sizes.end
    );
    for (k, n) in &choices {
        println!("  chunks       {n} × {k}");
    }
    println!("ratio          {ratio:.3} (everything needed to decode)");
    println!("  w/o model    {without_model:.3}");
    if let ModelUse::Referenced { .. } = m.model {
        match with_pack {
            Some(r) => println!("  with pack    {r:.3} (archive + model decoder)"),
            None => println!("  with pack    unknown: pass --model to count the model"),
        }
    }
    let check = if verified { "verified by decoding" } else { "not verified: the model is needed to decode" };
    println!(
        "content hash   {} {} ({check})",
        a.hash_kind.name(),
        hex(&m.content_hash[..a.hash_kind.digest_len()])
    );
    for n in &m.notes {
        println!("note           {n}");
    }
    Ok(())
}
