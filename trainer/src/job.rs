//! One compression, from a dataset in memory to archive bytes, with whatever learning the options
//! ask for. `baler-train compress` and the Python package both run exactly this, so the same input
//! and options give the same archive bytes from either.

use std::time::Instant;

use anyhow::{Context, Result};
use baler_codec::Dataset;
use baler_codec::encode::Compressed;

use crate::config::Config;
use crate::pipeline::{CompressRequest, ModelMode, SavedModel, Target, compress_dataset, train_model};
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

/// Runs `job`: learns a model if asked, then compresses and verifies every value.
pub fn run(job: &CompressJob<'_>, progress: &mut dyn Progress) -> Result<JobOutcome> {
    let (ds, cfg, fill) = (job.dataset, job.config, job.fill_value);
    let mut notes = vec![format!("source: {}", job.source)];
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
                    notes.push(outcome.note);
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
