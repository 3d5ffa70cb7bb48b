//! `baler-train eval`: error figures of a reconstruction against its original.

use anyhow::{Context, Result};
use clap::Args;

use crate::io::{ReadOptions, load};
use crate::metrics::evaluate;

#[derive(Args)]
pub struct EvalArgs {
    pub original: String,
    pub reconstructed: String,
    #[arg(long)]
    pub table: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let EvalArgs { original, reconstructed, table, json } = args;
    let a = load(original, &ReadOptions { table: *table })?.dataset;
    let b = load(reconstructed, &ReadOptions { table: *table })?.dataset;
    let ms = evaluate(&a, &b).with_context(|| format!("{original} vs {reconstructed}"))?;
    if *json {
        println!("{}", serde_json::to_string_pretty(&ms)?);
        return Ok(());
    }
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
    Ok(())
}
