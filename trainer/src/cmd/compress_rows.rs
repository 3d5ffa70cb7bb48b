//! `baler-train compress` of an input read a slab of rows at a time (a C-order `.npy`, a numeric
//! HDF5 dataset): memory holds a few chunks whatever the input's size. Used where no model is
//! trained or given; the archive is byte for byte the one the in-memory path writes.

use std::time::Instant;

use anyhow::Result;
use baler_codec::BoundSpec;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::common::record_source;
use super::compress::CompressArgs;
use crate::config::Config;
use crate::io::Rows;
use crate::job::{Learning, compress_rows_to, source_notes};

/// Inputs above this many original bytes are compressed a slab at a time even when the effort
/// asks for learning: the model search holds the data in memory (several times its size).
pub const LEARNING_LIMIT_BYTES: u64 = 1 << 30;

/// Compresses `rows` under `bound` to `args.output`. `learning`: what the effort asked for and
/// why it did not run (`None` with `--no-model`).
pub fn run(
    args: &CompressArgs,
    mut rows: Rows,
    bound: BoundSpec,
    cfg: &Config,
    learning: Option<Learning>,
) -> Result<()> {
    let started = Instant::now();
    let (input, output) = (&args.input, &args.output);
    let source = record_source(input, &rows.source, &args.common);
    let original_bytes = rows.reader.layout().original_bytes();
    let axes = super::compress::axes_for(args, &rows.axes, rows.reader.layout().shape.len())?;
    let mut notes = source_notes(&source, &axes, rows.reader.layout().shape.len());
    notes.extend(learning.as_ref().map(|l| l.decision.clone()));
    let bar = progress_bar(args.quiet || args.json);
    let streamed = compress_rows_to(
        rows.reader.as_mut(),
        input,
        output,
        bound,
        rows.fill_value,
        cfg,
        notes,
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    );
    bar.finish_and_clear();
    let streamed = streamed?;
    let secs = started.elapsed().as_secs_f64();
    let archive_bytes = streamed.total_bytes();
    let ratio = original_bytes as f64 / archive_bytes as f64;
    if args.json {
        println!(
            "{}",
            json!({"archive": output, "source": source, "original_bytes": original_bytes, "archive_bytes": archive_bytes,
                "ratio": ratio, "model": false, "ae_tiles": 0, "tiles": 0, "exceptions": streamed.exceptions,
                "predictors": streamed.predictors, "seconds": secs, "notes": streamed.metadata.notes,
                "model_search": null, "streamed": true,
                "learning": learning.as_ref().map(|l| json!({"effort": l.effort.name(), "seconds": l.seconds, "decision": l.decision}))})
        );
    } else {
        println!(
            "{input} -> {}: {original_bytes} -> {archive_bytes} bytes, ratio {ratio:.2} ({}, read a slab at a time; {} values stored exactly), {secs:.2}s",
            output.display(),
            super::common::predictors_in_words(&streamed.predictors),
            streamed.exceptions,
        );
        if let Some(l) = &learning {
            println!("learning ({} effort): {:.2}s, {}", l.effort.name(), l.seconds, l.decision);
        }
    }
    Ok(())
}

fn progress_bar(quiet: bool) -> ProgressBar {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("compressing and verifying {bar:30} {percent}%  [{elapsed}]")
            .expect("valid template"),
    );
    bar
}
