//! `baler-train bench`: our codec and its peers (SZ3, ZFP, zstd through shared/bench/bench_peers.py)
//! on the same data at the same bounds in one run, plus training epoch time for Baler's CFD setup.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use baler_codec::{BoundSpec, Dataset};
use clap::Args;
use serde_json::Value;

use super::common::{load_config, refuse_inputs};
use crate::device::{Compute, DeviceChoice, network_on};
use crate::io::{ReadOptions, load, split_spec, write_atomic};
use crate::metrics::evaluate;
use crate::pipeline::{CompressRequest, ModelMode, compress_dataset, train_model};
use crate::search::{Effort, search_model};
use crate::train::{TrainConfig, time_epochs};

#[derive(Args)]
pub struct BenchArgs {
    /// Inputs, FILE or FILE:INNER as for compress (tables get per-column bounds).
    pub inputs: Vec<String>,
    /// Relative bounds to measure.
    #[arg(long, value_delimiter = ',', default_value = "1e-2,1e-3,1e-4")]
    pub rel: Vec<f64>,
    /// Python with numpy, pysz, zfpy and zstandard: runs shared/bench/bench_peers.py in the same run.
    #[arg(long)]
    pub peers_python: Option<PathBuf>,
    /// Path of bench_peers.py.
    #[arg(long, default_value = "../shared/bench/bench_peers.py")]
    pub peers_script: PathBuf,
    /// Epochs to time for Baler's CFD training setup (0 = skip).
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Write the results as a markdown table here (the README's results table).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the rows as JSON instead of the markdown table.
    #[arg(long)]
    pub json: bool,
    /// `gpu` / `auto`: also time training epochs and decoding on the GPU, next to the CPU.
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
    /// As `compress --effort`: `fast` measures classic compression (no model, no learned
    /// predictors) in memory; `default` and `max` search for a model as `compress` does.
    #[arg(long, value_enum, default_value = "default")]
    pub effort: Effort,
}

/// The original Baler's CFD training on this kind of machine: s/epoch, one thread.
const ORIGINAL_EPOCH_SECONDS: f64 = 0.0255;

#[derive(serde::Serialize)]
struct Row {
    input: String,
    codec: String,
    rel: Option<f64>,
    ratio: f64,
    psnr: f64,
    max_err_over_range: f64,
    comp_mbs: f64,
    /// Ours only: compression on one thread (the column above uses every thread; the peers run
    /// on one).
    comp_mbs_1t: Option<f64>,
    dec_mbs: f64,
    /// Ours only: decompression on one thread (the column above uses every thread).
    dec_mbs_1t: Option<f64>,
    note: String,
}

/// Best time of repeated calls: at least `reps` calls and half a second in all (at most 200
/// calls) — the rule `bench_peers.py` times SZ3, ZFP and zstd by, so both sides get as many tries.
fn best_of<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<(T, f64)> {
    const MIN_SECONDS: f64 = 0.5;
    const MAX_REPS: usize = 200;
    let (mut best, mut total, mut done) = (f64::INFINITY, 0.0, 0);
    let mut out = None;
    while (done < reps.max(1) || total < MIN_SECONDS) && done < MAX_REPS {
        let t = Instant::now();
        let r = f()?;
        let dt = t.elapsed().as_secs_f64();
        (best, total, done) = (best.min(dt), total + dt, done + 1);
        out = Some(r);
    }
    Ok((out.expect("one rep"), best))
}

fn peers(python: &Path, script: &Path, input: &Path, table: bool) -> Result<Vec<Value>> {
    let out = std::env::temp_dir().join(format!("baler-peers-{}.json", std::process::id()));
    let spec = if input.extension().is_some_and(|e| e == "npz") {
        format!("{}:data", input.display())
    } else {
        input.display().to_string()
    };
    let status = Command::new(python)
        .arg(script)
        .arg(if table { "table" } else { "grid" })
        .arg(&spec)
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("{}: cannot run", python.display()))?;
    if !status.success() {
        bail!("{} {} failed ({status})", python.display(), script.display());
    }
    // Python's json writes Infinity / NaN (lossless PSNR), which JSON proper does not have.
    let text = std::fs::read_to_string(&out)?
        .replace(": -Infinity", ": null")
        .replace(": Infinity", ": null")
        .replace(": NaN", ": null");
    let _ = std::fs::remove_file(&out);
    let v: Value = serde_json::from_str(&text)?;
    Ok(v["rows"].as_array().cloned().unwrap_or_default())
}

/// Baler's CFD training setup (dense 2500-200-100-50-25, 60 samples, batch 60): the epoch-time
/// comparison with the original.
fn cfd_training_setup() -> TrainConfig {
    TrainConfig {
        hidden: vec![200, 100, 50],
        latent: 25,
        batch_size: 60,
        validation_fraction: 0.0,
        ..TrainConfig::default()
    }
}

/// Training epochs and decoding, CPU and GPU side by side (same data, same run).
fn gpu_section(args: &BenchArgs, cfg: &crate::config::Config, gpu: &Compute) -> Result<String> {
    let mut md = format!("GPU: {} (CPU: {} threads)\n\n", gpu.describe(), rayon::current_num_threads());
    md += "| what | CPU | GPU | GPU ÷ CPU speed |\n|---|---|---|---|\n";
    if args.epochs > 0 {
        let tc = cfd_training_setup();
        let cpu = time_epochs(60, 2500, &tc, args.epochs)?;
        let on_gpu = TrainConfig { device: gpu.clone(), ..tc };
        // The first GPU epochs compile the shaders: timed apart, then the steady state.
        let t = Instant::now();
        time_epochs(60, 2500, &on_gpu, 2)?;
        let warmup = t.elapsed().as_secs_f64();
        let g = time_epochs(60, 2500, &on_gpu, args.epochs)?;
        md += &format!(
            "| training, Baler's CFD setup (s/epoch; GPU warm-up {warmup:.1} s) | {cpu:.4} | {g:.4} | {:.2} |\n",
            cpu / g
        );
    }
    let rel = args.rel.first().copied().unwrap_or(1e-3);
    for input in &args.inputs {
        let loaded = load(input, &ReadOptions::default())?;
        let (ds, fill) = (loaded.dataset, loaded.fill_value);
        let model = train_model(&ds, cfg, fill, input, &mut |_| {})?;
        let c = compress_dataset(
            &CompressRequest::new(&ds, BoundSpec::Rel(rel), cfg)
                .fill_value(fill)
                .model(ModelMode::Embed(&model))
                .force_model(true),
        )?;
        let archive = baler_codec::Archive::open(&c.bytes, None)?;
        let net = network_on(gpu, archive.decoder.as_ref())?;
        let mb = ds.original_bytes() as f64 / 1e6;
        let (a, cpu_s) = best_of(3, || Ok(archive.decode()?))?;
        let (b, gpu_s) = best_of(3, || Ok(archive.decode_on(net.as_deref())?))?;
        if baler_codec::hash::content_hash(&a) != baler_codec::hash::content_hash(&b) {
            bail!("{input}: GPU and CPU decodes differ");
        }
        md += &format!(
            "| decode {input} at rel {rel:e} ({} of {} tiles on the network), MB/s | {:.0} | {:.0} | {:.2} |\n",
            c.ae_tiles,
            c.total_tiles,
            mb / cpu_s,
            mb / gpu_s,
            cpu_s / gpu_s
        );
    }
    Ok(md)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(md) = &args.markdown {
        let specs: Vec<&str> = args.inputs.iter().map(String::as_str).collect();
        refuse_inputs(md, &specs, &[args.config.as_deref(), Some(&args.peers_script)])?;
    }
    let mut cfg = load_config(args.config.as_deref())?;
    if args.effort == Effort::Fast {
        cfg = crate::job::classic_config(&cfg);
    }
    let mut md = String::new();
    let compute = crate::device::resolve(args.device, args.json)?;
    if compute.is_gpu() {
        let section = gpu_section(args, &cfg, &compute)?;
        if !args.json {
            println!("{section}");
        }
        writeln!(md, "{section}")?;
    }
    if args.epochs > 0 {
        let tc = cfd_training_setup();
        let s = time_epochs(60, 2500, &tc, args.epochs)?;
        let line = format!(
            "training, Baler's CFD setup (dense 2500-200-100-50-25, 60 samples, batch 60): {s:.4} s/epoch here ({} threads) vs original Baler {ORIGINAL_EPOCH_SECONDS} s/epoch (1 thread, reference figure): x{:.2}",
            rayon::current_num_threads(),
            ORIGINAL_EPOCH_SECONDS / s
        );
        if !args.json {
            println!("{line}\n");
        }
        writeln!(md, "{line}\n")?;
    }
    let mut rows: Vec<Row> = Vec::new();
    for input in &args.inputs {
        let loaded = load(input, &ReadOptions::default())?;
        let (ds, fill) = (loaded.dataset, loaded.fill_value);
        let table = matches!(ds, Dataset::Table { .. });
        let file = Path::new(split_spec(input).0);
        let name = file.file_name().map_or_else(|| input.clone(), |n| n.to_string_lossy().into_owned());
        let mb = ds.original_bytes() as f64 / 1e6;
        for &rel in &args.rel {
            // The model as `compress` gets it by default: searched for at this bound (or trained
            // with the configuration's shape when the search is off); its note, where `compress`
            // stores one, counts in the ratio.
            let t = Instant::now();
            let (model, how, stored) = if args.effort == Effort::Fast {
                (None, "classic predictors (--effort fast)".to_string(), false)
            } else if cfg.model.search {
                let found =
                    search_model(&ds, &cfg, fill, &name, BoundSpec::Rel(rel), args.effort, &mut |_| {})?;
                (found.model, found.note, found.stored)
            } else {
                (Some(train_model(&ds, &cfg, fill, &name, &mut |_| {})?), "model trained".to_string(), true)
            };
            let train_s = t.elapsed().as_secs_f64();
            let mode = model.as_ref().map_or(ModelMode::None, ModelMode::Embed);
            let request = CompressRequest::new(&ds, BoundSpec::Rel(rel), &cfg)
                .fill_value(fill)
                .model(mode)
                .notes(if stored { vec![how.clone()] } else { Vec::new() });
            let (c, cs) = best_of(3, || compress_dataset(&request))?;
            let (back, ds_) = best_of(5, || Ok(baler_codec::decode(&c.bytes, None)?))?;
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
            let (_, cs1) = one.install(|| best_of(3, || compress_dataset(&request)))?;
            let (_, ds1) = one.install(|| best_of(5, || Ok(baler_codec::decode(&c.bytes, None)?)))?;
            let m = &evaluate(&ds, &back)?[0];
            if m.max_error_over_range > rel {
                bail!("{name}: bound violated at rel {rel}");
            }
            rows.push(Row {
                input: name.clone(),
                codec: "baler".into(),
                rel: Some(rel),
                ratio: ds.original_bytes() as f64 / c.bytes.len() as f64,
                psnr: m.psnr_db,
                max_err_over_range: m.max_error_over_range,
                comp_mbs: mb / cs,
                comp_mbs_1t: Some(mb / cs1),
                dec_mbs: mb / ds_,
                dec_mbs_1t: Some(mb / ds1),
                note: format!(
                    "{how}: AE {}/{} tiles, model {} B ({train_s:.1}s)",
                    c.ae_tiles, c.total_tiles, c.sizes.model
                ),
            });
        }
        if let Some(py) = &args.peers_python {
            let dtype = match &ds {
                Dataset::Field(a) => a.dtype.name().to_string(),
                Dataset::Table { columns, .. } => columns[0].dtype.name().to_string(),
            };
            let ext = file.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
            if !matches!(ext.as_deref(), Some("npy" | "npz")) {
                eprintln!("{name}: peers run on .npy / .npz inputs only, skipped");
                continue;
            }
            for r in peers(py, &args.peers_script, file, table)? {
                let codec = r["codec"].as_str().unwrap_or("?").to_string();
                let mode = r["mode"].as_str().unwrap_or("");
                if r["dtype"].as_str() != Some(dtype.as_str()) || (table && mode.contains("global")) {
                    continue;
                }
                let f =
                    |k: &str| r[k].as_f64().or_else(|| r[format!("global_{k}")].as_f64()).unwrap_or(f64::NAN);
                rows.push(Row {
                    input: name.clone(),
                    codec,
                    rel: r["rel_bound"].as_f64(),
                    ratio: f("ratio"),
                    psnr: r["psnr_db"]
                        .as_f64()
                        .or_else(|| r["colwise_psnr_mean"].as_f64())
                        .unwrap_or(f64::NAN),
                    max_err_over_range: r["max_abs_err_over_range"]
                        .as_f64()
                        .or_else(|| r["colwise_max_abs_over_range_max"].as_f64())
                        .unwrap_or(f64::NAN),
                    comp_mbs: f("comp_MBps_best"),
                    comp_mbs_1t: None,
                    dec_mbs: f("decomp_MBps_best"),
                    dec_mbs_1t: None,
                    note: mode.to_string(),
                });
            }
        }
    }
    if args.json {
        println!("{}", serde_json::json!({"epoch_seconds_note": md.lines().next(), "rows": rows}));
    }
    let header = format!(
        "| input | codec | bound (× range) | ratio | ours ÷ SZ3 | PSNR dB | max err / range | comp MB/s (ours: {t} threads) | ours, 1 thread | ÷ SZ3, 1 thread | decomp MB/s (ours: {t} threads) | ours, 1 thread | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        t = rayon::current_num_threads()
    );
    if !args.json {
        println!("{header}");
    }
    writeln!(md, "{header}")?;
    for r in &rows {
        let sz3 = rows.iter().find(|p| p.input == r.input && p.codec == "SZ3" && p.rel == r.rel);
        let vs = match (r.codec.as_str(), sz3) {
            ("baler", Some(s)) => format!("{:.2}", r.ratio / s.ratio),
            _ => String::new(),
        };
        // Compression speed against SZ3's on the same data and bound, both on one thread.
        let speed_vs = match (r.comp_mbs_1t, sz3) {
            (Some(ours), Some(s)) => format!("{:.2}", ours / s.comp_mbs),
            _ => String::new(),
        };
        let line = format!(
            "| {} | {} | {} | {:.2} | {} | {:.1} | {:.2e} | {:.0} | {} | {} | {:.0} | {} | {} |",
            r.input,
            r.codec,
            r.rel.map_or("lossless".into(), |v| format!("{v:e}")),
            r.ratio,
            vs,
            r.psnr,
            r.max_err_over_range,
            r.comp_mbs,
            r.comp_mbs_1t.map_or(String::new(), |v| format!("{v:.0}")),
            speed_vs,
            r.dec_mbs,
            r.dec_mbs_1t.map_or(String::new(), |v| format!("{v:.0}")),
            r.note
        );
        if !args.json {
            println!("{line}");
        }
        writeln!(md, "{line}")?;
    }
    if let Some(p) = &args.markdown {
        write_atomic(p, |w| std::io::Write::write_all(w, md.as_bytes()))?;
        println!("\nwrote {}", p.display());
    }
    Ok(())
}
