//! One compression, from a dataset in memory to archive bytes, with whatever learning the options
//! ask for; or, with classic predictors, from a file to a file, a slab of rows at a time where the
//! format allows. `baler-train compress` and the Python package both run exactly this, so the
//! same input and options give the same archive bytes from either.

use std::io::{Seek, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use baler_codec::data::RowSource;
use baler_codec::encode::{Compressed, Streamed};
use baler_codec::format::metadata::axes_note;
use baler_codec::{BoundSpec, Dataset};

use crate::config::Config;
use crate::io::{ReadOptions, load, open_rows, refuse_overwriting_inputs, spec_file, write_atomic};
use crate::pipeline::{
    CompressRequest, ModelMode, SavedModel, Target, compress_dataset, compress_rows_at, train_model,
};
use crate::search::{Effort, search_model};
use crate::train::EpochStats;

/// Where the archive's model comes from.
#[derive(Clone, Copy)]
pub enum ModelChoice<'m> {
    /// Classic predictors only.
    None,
    /// A trained model: inside the archive (offline mode) or named by its hash (online mode).
    Given { model: &'m SavedModel, embed: bool },
    /// Learn one here, spending what the effort allows (`Effort::Fast` trains nothing).
    Learn(Effort),
}

/// What to compress and how.
pub struct CompressJob<'a> {
    pub dataset: &'a Dataset,
    pub fill_value: Option<f64>,
    /// What the archive's notes and a trained model record as the input ("x.npy", "numpy array").
    pub source: &'a str,
    /// The field's axis names (from the source, or `--axes`); empty when unnamed.
    pub axes: &'a [String],
    pub target: Target,
    pub config: &'a Config,
    pub model: ModelChoice<'a>,
    /// Keep the model even where classic predictors alone would give a smaller archive.
    pub force_model: bool,
}

/// What learning cost and decided.
pub struct Learning {
    pub effort: Effort,
    pub seconds: f64,
    pub decision: String,
}

pub struct JobOutcome {
    pub compressed: Compressed,
    /// `None` without training (classic only, or a given model).
    pub learning: Option<Learning>,
    /// The model search's candidates and their sizes, for the user.
    pub search_details: Option<String>,
}

/// How a job reports progress (the CLI draws bars; the Python package stays silent).
pub trait Progress {
    fn epoch(&mut self, _stats: &EpochStats) {}
    /// The model search starts / has decided (`details` lists what it tried).
    fn searching(&mut self) {}
    fn searched(&mut self, _details: &str) {}
    /// Learning is over; the final archive is being built and verified.
    fn compressing(&mut self) {}
}

/// No progress shown.
pub struct Silent;
impl Progress for Silent {}

/// An archive's first notes: where the data came from, and the names of its axes where they are
/// known, one per axis of its `rank` (see `baler_codec::format::metadata::axes_note`).
pub fn source_notes(source: &str, axes: &[String], rank: usize) -> Vec<String> {
    let mut notes = vec![format!("source: {source}")];
    notes.extend(axes_note(axes).filter(|_| axes.len() == rank));
    notes
}

/// Why `axes` cannot name the axes of `what`, of `rank` axes: another count, or a name the
/// `axes:` note cannot carry (empty, or with a comma).
pub fn axes_problem(axes: &[String], rank: usize, what: &str) -> Option<String> {
    if axes.len() != rank {
        return Some(format!("names {} axes; {what} has {rank}", axes.len()));
    }
    axes_note(axes)
        .is_none()
        .then(|| format!("every axis needs a name without a comma (got {:?})", axes.join(",")))
}

/// Runs `job`: learns a model if asked, then compresses and verifies every value.
pub fn run(job: &CompressJob<'_>, progress: &mut dyn Progress) -> Result<JobOutcome> {
    let (ds, fill) = (job.dataset, job.fill_value);
    let classic = classic_config(job.config);
    // Learning includes a table's column models (fitted per chunk): classic is without them.
    let cfg = match job.model {
        ModelChoice::None | ModelChoice::Learn(Effort::Fast) => &classic,
        _ => job.config,
    };
    let mut notes = source_notes(job.source, job.axes, ds.shape().len());
    let mut search_details = None;
    let mut learning = None;
    let trained;
    let mode = match job.model {
        ModelChoice::None | ModelChoice::Learn(Effort::Fast) => ModelMode::None,
        ModelChoice::Given { model, embed: true } => ModelMode::Embed(model),
        ModelChoice::Given { model, embed: false } => ModelMode::Reference(model),
        ModelChoice::Learn(effort) => {
            let started = Instant::now();
            let search = match job.target {
                Target::Bound(b) if cfg.model.search && !job.force_model => Some(b),
                _ => None,
            };
            let (model, decision) = match search {
                Some(b) => {
                    progress.searching();
                    let outcome =
                        search_model(ds, cfg, fill, job.source, b, effort, &mut |s| progress.epoch(s))
                            .context("model search failed")?;
                    progress.searched(&outcome.details);
                    search_details = Some(outcome.details);
                    let decision = match &outcome.model {
                        Some(_) => format!("trained the model it chose ({})", outcome.note),
                        None => outcome.note.clone(),
                    };
                    if outcome.stored {
                        notes.push(outcome.note);
                    }
                    (outcome.model, decision)
                }
                None => (
                    Some(
                        train_model(ds, cfg, fill, job.source, &mut |s| progress.epoch(s))
                            .context("training failed")?,
                    ),
                    "trained the configured model".to_string(),
                ),
            };
            trained = model;
            learning = Some(Learning { effort, seconds: started.elapsed().as_secs_f64(), decision });
            match &trained {
                Some(t) => {
                    let r = &t.record;
                    // No wall time here: the same input and options give the same archive bytes.
                    notes.push(format!("trained here: {} tiles of {:?}, {}", r.samples, r.tile, r.stopped()));
                    ModelMode::Embed(t)
                }
                None => ModelMode::None,
            }
        }
    };
    progress.compressing();
    let request = CompressRequest {
        dataset: ds,
        target: job.target,
        fill_value: fill,
        config: cfg,
        model: mode,
        notes,
        force_model: job.force_model,
    };
    let compressed = compress_dataset(&request)?;
    Ok(JobOutcome { compressed, learning, search_details })
}

/// What [`compress_file`] wrote.
pub struct FileOutcome {
    pub original_bytes: u64,
    pub archive_bytes: u64,
    pub exceptions: usize,
    pub predictors: Vec<String>,
    pub notes: Vec<String>,
    /// Read a slab at a time (else read whole: a format or layout [`open_rows`] does not take).
    pub streamed: bool,
}

/// `cfg` for classic predictors only: no learned column models on tables either.
pub fn classic_config(cfg: &Config) -> Config {
    let mut classic = cfg.clone();
    classic.compression.learned = false;
    classic
}

/// Compresses the input `spec` (`FILE` or `FILE:INNER`) with classic predictors under `bound` to
/// the file `output`, written atomically. An input [`open_rows`] takes is read a slab of rows at a
/// time ([`compress_rows_to`]); any other is read whole. The archive records `source` as the
/// input (`None`: the reader's description); `fill_value` overrides the file's own.
pub fn compress_file(
    spec: &str,
    output: &Path,
    bound: BoundSpec,
    opts: &ReadOptions,
    fill_value: Option<f64>,
    config: &Config,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FileOutcome> {
    refuse_overwriting_inputs(output, &[spec_file(spec)])?;
    let config = &classic_config(config);
    if let Some(mut rows) = open_rows(spec, opts)? {
        let fill = fill_value.or(rows.fill_value);
        let notes = source_notes(&rows.source, &rows.axes, rows.reader.layout().shape.len());
        let original_bytes = rows.reader.layout().original_bytes();
        let s = compress_rows_to(rows.reader.as_mut(), spec, output, bound, fill, config, notes, progress)?;
        return Ok(FileOutcome {
            original_bytes,
            archive_bytes: s.total_bytes(),
            exceptions: s.exceptions,
            predictors: s.predictors,
            notes: s.metadata.notes,
            streamed: true,
        });
    }
    let loaded = load(spec, opts)?;
    let job = CompressJob {
        dataset: &loaded.dataset,
        fill_value: fill_value.or(loaded.fill_value),
        source: &loaded.source,
        axes: &loaded.axes,
        target: Target::Bound(bound),
        config,
        model: ModelChoice::None,
        force_model: false,
    };
    let c = run(&job, &mut Silent).with_context(|| spec.to_string())?.compressed;
    write_atomic(output, |w| w.write_all(&c.bytes))?;
    Ok(FileOutcome {
        original_bytes: loaded.dataset.original_bytes(),
        archive_bytes: c.bytes.len() as u64,
        exceptions: c.exceptions,
        predictors: c.predictors,
        notes: c.metadata.notes,
        streamed: false,
    })
}

/// Compresses `rows` (the input `input`, as errors name it) with classic predictors under `bound`
/// to the file `output`, written atomically. The chunk sections wait in a nameless temporary file
/// beside the output (not in memory, not on a tmpfs /tmp) until the index that precedes them is
/// known; that file is made first, so an output directory that cannot take it fails before any
/// work.
#[allow(clippy::too_many_arguments)]
pub fn compress_rows_to(
    rows: &mut dyn RowSource,
    input: &str,
    output: &Path,
    bound: BoundSpec,
    fill_value: Option<f64>,
    config: &Config,
    notes: Vec<String>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Streamed> {
    let dir = output.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let spill_error = |e: std::io::Error| {
        anyhow::anyhow!("{}: cannot use a temporary file in '{}': {e}", output.display(), dir.display())
    };
    let spill = tempfile::tempfile_in(dir).map_err(spill_error)?;
    let mut spill = std::io::BufWriter::with_capacity(1 << 20, spill);
    let streamed = compress_rows_at(rows, bound, fill_value, config, notes, &mut spill, progress)
        .with_context(|| input.to_string())?;
    let mut spill = spill.into_inner().map_err(|e| spill_error(e.into_error()))?;
    spill.rewind().map_err(spill_error)?;
    write_atomic(output, |w| {
        w.write_all(&streamed.head)?;
        let copied = std::io::copy(&mut spill, w)?;
        if copied != streamed.chunk_bytes {
            return Err(std::io::Error::other(format!(
                "the temporary file holds {copied} bytes of chunks, {} were written",
                streamed.chunk_bytes
            )));
        }
        w.write_all(&streamed.tail)
    })?;
    Ok(streamed)
}
