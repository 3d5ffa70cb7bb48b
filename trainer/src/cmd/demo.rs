//! `baler-train demo`: the whole job on an embedded synthetic field, and learned column models on
//! an embedded synthetic event table, no files needed.

use std::time::Instant;

use anyhow::{Result, bail};
use baler_codec::{Array, BoundSpec, Column, DType, Dataset, Values};
use clap::Args;

use crate::config::Config;
use crate::metrics::evaluate;
use crate::pipeline::{CompressRequest, ModelMode, compress_dataset, train_model};

#[derive(Args)]
pub struct DemoArgs {
    /// Smaller field and shorter training (used by the tests).
    #[arg(long)]
    pub quick: bool,
    #[arg(long)]
    pub json: bool,
}

/// Uniform numbers in [0, 1) from `seed` (xorshift64): the demo's data is the same everywhere.
fn uniform(mut seed: u64) -> impl FnMut() -> f64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A 2-d flow evolving in time: advected vortices on a background of travelling waves whose
/// amplitudes fall off as k^(-5/3) (a Kolmogorov-like spectrum). Deterministic.
pub fn synthetic_flow(frames: usize, h: usize, w: usize) -> Dataset {
    let mut rnd = uniform(0x9e3779b97f4a7c15u64);
    let waves: Vec<[f64; 5]> = (0..24)
        .map(|_| {
            let (kx, ky) = (rnd() * 6.0 - 3.0, rnd() * 6.0 - 3.0);
            let k = (kx * kx + ky * ky).sqrt().max(0.3);
            [kx, ky, k.powf(-5.0 / 3.0), rnd() * 0.4, rnd() * std::f64::consts::TAU]
        })
        .collect();
    let vortices: Vec<[f64; 5]> = (0..6)
        .map(|_| [rnd(), rnd(), rnd() * 0.03 + 0.01, (rnd() - 0.5) * 2.0, 0.06 + rnd() * 0.05])
        .collect();
    let mut values = Vec::with_capacity(frames * h * w);
    for t in 0..frames {
        let tt = t as f64;
        for i in 0..h {
            let y = i as f64 / h as f64;
            for j in 0..w {
                let x = j as f64 / w as f64;
                let mut v = 0.0;
                for [kx, ky, a, om, ph] in &waves {
                    v += a * (std::f64::consts::TAU * (kx * x + ky * y) - om * tt + ph).sin();
                }
                for [x0, y0, speed, s, r] in &vortices {
                    let cx = (x0 + speed * tt).fract();
                    let (dx, dy) = (x - cx, y - y0);
                    v += s * (-(dx * dx + dy * dy) / (r * r)).exp();
                }
                values.push(v);
            }
        }
    }
    Dataset::Field(Array { dtype: DType::F64, shape: vec![frames, h, w], values: Values::Float(values) })
}

/// One row per muon, as analysis ntuples store them (float32): pT, η, φ drawn; px, py, pz, E
/// computed from them in float32; a charge and an isolation that nothing predicts. Deterministic.
pub fn synthetic_events(rows: usize) -> Dataset {
    let mut rnd = uniform(0x2545f4914f6cdd1du64);
    let names = ["pt", "eta", "phi", "px", "py", "pz", "E", "charge", "iso"];
    let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(rows); names.len()];
    for _ in 0..rows {
        let pt = (10.0 - 40.0 * (1.0 - rnd()).ln()) as f32;
        let eta = (4.8 * rnd() - 2.4) as f32;
        let phi = (std::f64::consts::TAU * rnd() - std::f64::consts::PI) as f32;
        let (px, py, pz) = (pt * phi.cos(), pt * phi.sin(), pt * eta.sinh());
        let e = (px * px + py * py + pz * pz + 0.0112).sqrt();
        let charge = if rnd() < 0.5 { -1.0 } else { 1.0 };
        let iso = (-3.0 * (1.0 - rnd()).ln()) as f32;
        for (c, v) in cols.iter_mut().zip([pt, eta, phi, px, py, pz, e, charge, iso]) {
            c.push(v as f64);
        }
    }
    let columns = names
        .iter()
        .zip(cols)
        .map(|(n, v)| Column { name: n.to_string(), dtype: DType::F32, values: Values::Float(v) })
        .collect();
    Dataset::Table { rows, columns }
}

/// One row of the demo's table part: learned column models against per-column prediction.
#[derive(serde::Serialize)]
struct TableRow {
    rel_bound: f64,
    ratio: f64,
    classic_ratio: f64,
    max_error_over_range: f64,
    program: String,
}

/// The event table at each bound, with and without learned column models, verified.
fn table_rows(rows: usize) -> Result<Vec<TableRow>> {
    let ds = synthetic_events(rows);
    let mut cfg = Config::default();
    let mut out = Vec::new();
    for rel in [1e-2, 1e-3, 1e-4] {
        cfg.compression.learned = true;
        let learned = compress_dataset(&CompressRequest::new(&ds, BoundSpec::Rel(rel), &cfg))?;
        cfg.compression.learned = false;
        let classic = compress_dataset(&CompressRequest::new(&ds, BoundSpec::Rel(rel), &cfg))?;
        let back = baler_codec::decode(&learned.bytes, None)?;
        let worst = evaluate(&ds, &back)?.iter().map(|m| m.max_error_over_range).fold(0.0, f64::max);
        if worst > rel {
            bail!("bound violated on the event table at rel {rel}: max error / range {worst}");
        }
        let original = ds.original_bytes() as f64;
        out.push(TableRow {
            rel_bound: rel,
            ratio: original / learned.bytes.len() as f64,
            classic_ratio: original / classic.bytes.len() as f64,
            max_error_over_range: worst,
            program: learned.predictors.first().cloned().unwrap_or_default(),
        });
    }
    Ok(out)
}

fn zstd_row(raw: &[u8]) -> Result<(f64, f64, f64)> {
    let t = Instant::now();
    let z = zstd::bulk::compress(raw, 19)?;
    let c = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let back = zstd::bulk::decompress(&z, raw.len())?;
    let d = t.elapsed().as_secs_f64();
    if back != raw {
        bail!("zstd round trip failed");
    }
    Ok((raw.len() as f64 / z.len() as f64, raw.len() as f64 / 1e6 / c, raw.len() as f64 / 1e6 / d))
}

/// One row of the demo's table.
#[derive(serde::Serialize)]
struct Row {
    codec: String,
    rel_bound: Option<f64>,
    ratio: f64,
    psnr_db: f64,
    max_error_over_range: f64,
    compress_mb_s: f64,
    decompress_mb_s: f64,
    ae_tiles: usize,
    tiles: usize,
    verified: bool,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let DemoArgs { quick, json } = *args;
    let (frames, size) = if quick { (16, 48) } else { (48, 64) };
    let ds = synthetic_flow(frames, size, size);
    let mb = ds.original_bytes() as f64 / 1e6;
    let mut cfg = Config::default();
    cfg.training.max_seconds = if quick { 4.0 } else { 20.0 };
    cfg.training.epochs = if quick { 30 } else { 150 };
    let t = Instant::now();
    let model = train_model(&ds, &cfg, None, "demo", &mut |_| {})?;
    let train_seconds = t.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    let mut decisions = Vec::new();
    for rel in [1e-2, 1e-3, 1e-4] {
        let t = Instant::now();
        let c = compress_dataset(
            &CompressRequest::new(&ds, BoundSpec::Rel(rel), &cfg)
                .model(ModelMode::Embed(&model))
                .notes(vec!["demo".into()]),
        )?;
        let comp = t.elapsed().as_secs_f64();
        decisions.extend(
            c.metadata
                .notes
                .iter()
                .filter(|n| n.starts_with("autoencoder"))
                .map(|n| format!("rel {rel:e}: {n}")),
        );
        let t = Instant::now();
        let back = baler_codec::decode(&c.bytes, None)?;
        let dec = t.elapsed().as_secs_f64();
        let m = &evaluate(&ds, &back)?[0];
        if m.max_error_over_range > rel || m.non_finite_mismatches > 0 {
            bail!("bound violated at rel {rel}: max error / range {}", m.max_error_over_range);
        }
        rows.push(Row {
            codec: "baler".into(),
            rel_bound: Some(rel),
            ratio: ds.original_bytes() as f64 / c.bytes.len() as f64,
            psnr_db: m.psnr_db,
            max_error_over_range: m.max_error_over_range,
            compress_mb_s: mb / comp,
            decompress_mb_s: mb / dec,
            ae_tiles: c.ae_tiles,
            tiles: c.total_tiles,
            verified: true,
        });
    }
    let Dataset::Field(a) = &ds else { unreachable!("the demo field") };
    let Values::Float(v) = &a.values else { unreachable!("float values") };
    let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let (zr, zc, zd) = zstd_row(&raw)?;
    rows.push(Row {
        codec: "zstd-19".into(),
        rel_bound: None,
        ratio: zr,
        psnr_db: f64::INFINITY,
        max_error_over_range: 0.0,
        compress_mb_s: zc,
        decompress_mb_s: zd,
        ae_tiles: 0,
        tiles: 0,
        verified: true,
    });
    let events = if quick { 5_000 } else { 50_000 };
    let table = table_rows(events)?;
    if json {
        let r = &model.record;
        println!(
            "{}",
            serde_json::json!({"data": {"frames": frames, "height": size, "width": size, "dtype": "float64", "bytes": ds.original_bytes()},
                "training": {"hidden": cfg.model.hidden, "tiles": r.samples, "tile": r.tile, "epochs": r.history.len(), "seconds": train_seconds,
                    "stop_reason": r.stop_reason, "decoder_bytes": model.decoder_payload.len()},
                "rows": rows, "decisions": decisions,
                "table": {"rows": events, "columns": 9, "dtype": "float32", "bounds": table}})
        );
        return Ok(());
    }
    println!("baler demo: synthetic 2-d flow, {frames} frames of {size}x{size}, float64, {mb:.2} MB");
    let r = &model.record;
    println!(
        "trained dense AE {:?} on {} tiles of {:?}: {} epochs in {:.1}s ({}), decoder {} bytes (int8)",
        cfg.model.hidden,
        r.samples,
        r.tile,
        r.history.len(),
        train_seconds,
        r.stopped(),
        model.decoder_payload.len()
    );
    println!();
    println!(
        "{:<10} {:>8} {:>9} {:>13} {:>11} {:>11} {:>10}  verified",
        "bound", "ratio", "PSNR dB", "max err/range", "comp MB/s", "dec MB/s", "AE tiles"
    );
    for row in &rows {
        let (bound, err, tiles) = match row.rel_bound {
            Some(rel) => (
                format!("rel {rel:e}"),
                format!("{:.3e}", row.max_error_over_range),
                format!("{}/{}", row.ae_tiles, row.tiles),
            ),
            None => (row.codec.clone(), "0 (lossless)".into(), "-".into()),
        };
        println!(
            "{:<10} {:>8.2} {:>9.2} {:>13} {:>11.1} {:>11.1} {:>10}  {}",
            bound,
            row.ratio,
            row.psnr_db,
            err,
            row.compress_mb_s,
            row.decompress_mb_s,
            tiles,
            if row.verified { "yes" } else { "no" }
        );
    }
    println!();
    println!(
        "ratio = original bytes / archive bytes, model included; every value checked against the bound."
    );
    for d in decisions {
        println!("{d}");
    }
    println!();
    println!(
        "synthetic event table: {events} muons x 9 float32 columns (pt, eta, phi, px, py, pz, E, charge, iso)"
    );
    println!(
        "{:<10} {:>14} {:>14} {:>8} {:>13}  verified",
        "bound", "column models", "per column", "gain", "max err/range"
    );
    for row in &table {
        println!(
            "{:<10} {:>14.2} {:>14.2} {:>7.2}x {:>13.3e}  yes",
            format!("rel {:e}", row.rel_bound),
            row.ratio,
            row.classic_ratio,
            row.ratio / row.classic_ratio,
            row.max_error_over_range
        );
    }
    if let Some(row) = table.get(1) {
        println!("learned at rel {:e}: {}", row.rel_bound, row.program);
    }
    Ok(())
}
