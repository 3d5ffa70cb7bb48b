//! `baler-train plot`: comparison plots of an original and its archive or reconstruction, and
//! a model file's loss curve.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use baler_codec::format::metadata::Quantizer;
use baler_codec::{Archive, Dataset};
use clap::Args;
use serde_json::json;

use super::common::{load_model, read_file, refuse_inputs};
use crate::io::{ReadOptions, load};
use crate::plot::{PlotOptions, plot_comparison, plot_loss};

#[derive(Args)]
pub struct PlotArgs {
    pub original: String,
    /// An archive (.baler) or a reconstructed file.
    pub compared: String,
    #[arg(short, long)]
    pub output: PathBuf,
    /// Model file: needed for online-mode archives; its loss curve is plotted too.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Frames (index along the first axis) to draw; default first, middle, last.
    #[arg(long, value_delimiter = ',')]
    pub frames: Vec<usize>,
    /// Also write SVG.
    #[arg(long)]
    pub svg: bool,
    #[arg(long)]
    pub table: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PlotArgs) -> Result<()> {
    let PlotArgs { original, compared, output, model, frames, svg, table, json } = args;
    refuse_inputs(output, &[original.as_str(), compared.as_str()], &[model.as_deref()])?;
    let orig = load(original, &ReadOptions { table: *table })?.dataset;
    let (recon, bounds) = read_or_decode(compared, model.as_deref(), *table)?;
    let opts = PlotOptions { frames: frames.clone(), svg: *svg };
    let mut files = plot_comparison(&orig, &recon, bounds.as_deref(), output, &opts)
        .with_context(|| format!("plotting into {}", output.display()))?;
    if let Some(m) = model {
        let saved = load_model(m)?;
        files.extend(plot_loss(&saved.record.history, &output.join("loss"), *svg)?);
    }
    if *json {
        println!("{}", json!({"files": files}));
    } else {
        for f in &files {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// A dataset from a file, or decoded from an archive (then with its per-stream bounds).
fn read_or_decode(spec: &str, model: Option<&Path>, table: bool) -> Result<(Dataset, Option<Vec<f64>>)> {
    if !spec.ends_with(".baler") {
        return Ok((load(spec, &ReadOptions { table })?.dataset, None));
    }
    let bytes = read_file(Path::new(spec), "archive")?;
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
}
