//! The automatic choice of tile (block) and latent size for a dataset, and of whether an
//! autoencoder is worth its bytes at all: a few candidates are trained with a small budget and
//! compress a sample of the data at the requested bound; the archive size they would give the
//! whole input (the model counted once) decides. The winner is then trained with the full budget.
//!
//! That search costs tens of seconds, and on most real data no network pays for its bytes. With
//! the default effort an estimate decides first, in a fraction of a second and without training
//! (`linear_gate`): what an ideal network of each candidate's shape would give (the tiles' top
//! principal components, floored at the best int8 network precision measured, plus latents and
//! model). Candidates whose estimate is not clearly below the classic archive are not trained;
//! where none is, no search runs. (A network trained for a second or two as a pilot was tried first: on the
//! sea-state field, where the search's model wins 2×, it won 0–1 % of the tiles, so it could not
//! tell.)

use anyhow::Result;
use baler_codec::{Array, BoundSpec, Column, Dataset, ModelUse, Values};

use crate::config::{Activation, Config};
use crate::linear_gate;
use crate::pipeline::{CompressRequest, ModelMode, SavedModel, compress_dataset, train_model};
use crate::train::EpochStats;

/// Elements of the sample the candidates compress (leading rows of the data).
const SAMPLE_ELEMENTS: usize = 1 << 20;

/// How much time learning may take: no training, an estimate that decides which shapes to train,
/// or the full search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Effort {
    /// Classic predictors only (as `--no-model`).
    Fast,
    /// Train only the shapes an ideal network's estimate says could pay (`linear_gate`).
    Default,
    /// The full search, whatever the estimate says.
    Max,
}

impl Effort {
    /// As on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Effort::Fast => "fast",
            Effort::Default => "default",
            Effort::Max => "max",
        }
    }
}

/// What the search decided and why.
pub struct SearchOutcome {
    /// The winner, trained with the full budget; `None` when classic predictors alone win.
    pub model: Option<SavedModel>,
    /// One short line saying what was decided: the archive's note where `stored` (its bytes
    /// count in the ratio).
    pub note: String,
    /// Whether the archive keeps the note: not where nothing was trained (an estimate turned the
    /// search down, or there was nothing to train on), which `compress` reports and which took
    /// 8 % of a 171-row table's archive.
    pub stored: bool,
    /// Every candidate with the archive size it would give, for the user.
    pub details: String,
}

/// The leading `rows` rows (along the first axis) of a dataset.
fn leading_rows(ds: &Dataset, rows: usize) -> Dataset {
    let take = |v: &Values, n: usize| match v {
        Values::Float(x) => Values::Float(x[..n].to_vec()),
        Values::Int(x) => Values::Int(x[..n].to_vec()),
    };
    match ds {
        Dataset::Field(a) => {
            let row: usize = a.shape[1..].iter().product();
            let mut shape = a.shape.clone();
            shape[0] = rows;
            Dataset::Field(Array { dtype: a.dtype, shape, values: take(&a.values, rows * row) })
        }
        Dataset::Table { columns, .. } => Dataset::Table {
            rows,
            columns: columns
                .iter()
                .map(|c| Column { name: c.name.clone(), dtype: c.dtype, values: take(&c.values, rows) })
                .collect(),
        },
    }
}

/// (block, latent) pairs to try: the configured block and one twice as large over the last two
/// axes, each with 1/32, 1/16 and 1/8 of the tile as latent; tables (one row per sample) only vary
/// the latent.
fn candidates(ds: &Dataset, cfg: &Config) -> Vec<Shape> {
    match ds {
        Dataset::Table { columns, .. } => {
            let c = columns.len();
            let mut l: Vec<usize> = vec![(c / 4).max(1), (c / 2).max(1), c.saturating_sub(1).max(1)];
            l.dedup();
            l.into_iter().map(|z| (cfg.model.block.clone(), z)).collect()
        }
        Dataset::Field(_) => {
            let small = cfg.model.block.clone();
            let mut large = small.clone();
            let k = large.len();
            large[k - 2] *= 2;
            large[k - 1] *= 2;
            let mut out = Vec::new();
            for b in [small, large] {
                let t: usize = b.iter().product();
                for z in [(t / 32).max(1), (t / 16).max(1), (t / 8).max(1)] {
                    out.push((b.clone(), z));
                }
            }
            out
        }
    }
}

/// `cfg` with a candidate's block and latent; dense hidden layers at least four times the latent
/// wide (narrower ones, not the latent, would be the bottleneck).
fn with_candidate(cfg: &Config, block: &[usize], latent: usize) -> Config {
    let mut c = cfg.clone();
    c.model.block = block.to_vec();
    c.model.latent = latent;
    c.model.latent_ratio = 0.0;
    c.model.hidden = c.model.hidden.iter().map(|&h| h.max(4 * latent)).collect();
    c
}

fn kb(bytes: f64) -> String {
    format!("{:.1} KB", bytes / 1000.0)
}

/// Runs the search for `ds` at `bound`; see the module documentation.
pub fn search_model(
    ds: &Dataset,
    cfg: &Config,
    fill: Option<f64>,
    source: &str,
    bound: BoundSpec,
    effort: Effort,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<SearchOutcome> {
    let shape = ds.shape();
    if shape.is_empty() || ds.element_count() == 0 {
        let note = "model search: nothing to train on".to_string();
        return Ok(SearchOutcome { model: None, details: note.clone(), note, stored: false });
    }
    let row: usize = shape[1..].iter().product::<usize>().max(1);
    let rows = (SAMPLE_ELEMENTS / row).clamp(1, shape[0].max(1));
    let sample = leading_rows(ds, rows);
    let scale = ds.element_count() as f64 / sample.element_count().max(1) as f64;
    // A range-relative bound must mean the whole field's range on the sample too.
    let bound = match (bound, ds) {
        (BoundSpec::Rel(r), Dataset::Field(a)) => {
            match baler_codec::preprocess::finite_range(&a.values, fill, a.dtype) {
                Some((lo, hi)) if hi > lo => BoundSpec::Abs(r * (hi - lo)),
                _ => bound,
            }
        }
        _ => bound,
    };
    let classic = compress_dataset(&CompressRequest::new(&sample, bound, cfg).fill_value(fill))?;
    let classic_est = classic.bytes.len() as f64 * scale;
    let mut candidates = candidates(ds, cfg);
    let mut gate_said = None;
    if effort == Effort::Default {
        let (kept, said) = gate(ds, cfg, fill, bound, candidates, classic_est)?;
        if kept.is_empty() {
            let details = format!("model search skipped: {said} (classic only {})", kb(classic_est));
            let note = format!("model search skipped: {said}");
            return Ok(SearchOutcome { model: None, note, details, stored: false });
        }
        candidates = kept;
        gate_said = Some(said);
    }
    let mut tried = vec![format!("classic only {}", kb(classic_est))];
    // Archive size for the whole input with a model, or None when it does not pay. The network's
    // tiles are weighed against the classic predictors alone, not the learned last pass: a
    // network trained briefly on the sample loses to that pass on the sea-state field (so the
    // search kept none), while trained in full it beats it by 1.7×; the size it reaches is then
    // compared with the classic archive's, learned pass included.
    let estimate = |c: &Config, model: &SavedModel| -> Result<Option<f64>> {
        let c = crate::job::classic_config(c);
        let archive = compress_dataset(
            &CompressRequest::new(&sample, bound, &c).fill_value(fill).model(ModelMode::Embed(model)),
        )?;
        if archive.metadata.model == ModelUse::None {
            return Ok(None);
        }
        let m = archive.sizes.model as f64;
        Ok(Some((archive.bytes.len() as f64 - m) * scale + m))
    };
    // A candidate's model (trained on fewer tiles and seconds) and its estimate, or None when it
    // does not pay.
    let mut try_candidate = |c: &Config| -> Result<Option<(f64, SavedModel)>> {
        let mut c = c.clone();
        let t = &mut c.training;
        // Fewer tiles, not fewer epochs: a network trained briefly would not show what it can do.
        t.max_samples = if t.max_samples == 0 { 4000 } else { t.max_samples.min(4000) };
        t.max_seconds = if t.max_seconds > 0.0 { t.max_seconds / 8.0 } else { 15.0 };
        let m = &c.model;
        let label = format!("block {:?} latent {} {}", m.block, m.latent, m.activation);
        let Ok(model) = train_model(ds, &c, fill, source, &mut |_| {}) else {
            tried.push(format!("{label}: cannot train"));
            return Ok(None);
        };
        let Some(est) = estimate(&c, &model)? else {
            tried.push(format!("{label}: does not pay"));
            return Ok(None);
        };
        tried.push(format!("{label}: {}", kb(est)));
        Ok(Some((est, model)))
    };
    let mut best: Option<(f64, Config, SavedModel)> = None;
    // The smallest of those whose tiles paid at all, below the classic size or not.
    let mut closest: Option<(f64, Config)> = None;
    for (block, latent) in candidates {
        let c = with_candidate(cfg, &block, latent);
        let Some((est, model)) = try_candidate(&c)? else { continue };
        if closest.as_ref().is_none_or(|b| est < b.0) {
            closest = Some((est, c.clone()));
        }
        if est < classic_est && best.as_ref().is_none_or(|b| est < b.0) {
            best = Some((est, c, model));
        }
    }
    // The closest once more with (inverse) GDN instead of LeakyReLU: on data with structure a
    // network can model it often reaches a much higher PSNR (docs/models.md); on the sea-state
    // field the LeakyReLU networks come to 1.02 × the classic size (learned last pass included)
    // and the GDN one far below it.
    if let Some((_, c)) = &closest
        && c.model.activation == Activation::LeakyRelu
    {
        let mut g = c.clone();
        g.model.activation = Activation::Gdn;
        let beat = best.as_ref().map_or(classic_est, |b| b.0);
        if let Some((e, model)) = try_candidate(&g)?
            && e < beat
        {
            best = Some((e, g, model));
        }
    }
    let details = format!(
        "{}model search on the first {rows} of {} rows, archive sizes for the whole input: {}",
        gate_said.map_or(String::new(), |p| format!("{p}; ")),
        shape[0],
        tried.join(", ")
    );
    let n = tried.len() - 1;
    let Some((searched_est, chosen, searched)) = best else {
        let note = format!("model search: none of {n} autoencoders paid");
        return Ok(SearchOutcome { model: None, note, details, stored: true });
    };
    let m = &chosen.model;
    let mut note =
        format!("model search: block {:?} latent {} {} smallest of {n}", m.block, m.latent, m.activation);
    // Training in full (every tile, the whole time budget) usually gains; where it came out larger
    // (GDN runs differ: on 16 frames of the sea field 778 KB against the search's 416 KB) the
    // search's model is kept.
    let full = train_model(ds, &chosen, fill, source, on_epoch)?;
    let full_est = estimate(&chosen, &full)?;
    let model = match full_est {
        Some(e) if e <= searched_est => full,
        _ => {
            note += &format!(
                "; trained in full it came to {} against the search's {}, so the search's model is kept",
                full_est.map_or("no gain".to_string(), kb),
                kb(searched_est)
            );
            searched
        }
    };
    Ok(SearchOutcome { model: Some(model), note, details, stored: true })
}

/// An ideal network's estimate must come below this fraction of the classic archive for its shape
/// to be trained. Trained networks land well above the estimate (measured on the sea-state field:
/// 1.3× it at 1e-3, 3.5× at 1e-2), so an estimate within 20 % of the classic size leaves no room;
/// on a smooth field with 1 % noise the estimates came to 0.93–0.98 of the classic size and every
/// network trained there lost.
const GATE_MARGIN: f64 = 0.8;

/// A candidate model shape: (block, latent).
type Shape = (Vec<usize>, usize);

/// The candidates whose ideal-network estimate ([`linear_gate`]) is below [`GATE_MARGIN`] of the
/// classic archive's size (those it cannot estimate are kept), and the estimates in words.
fn gate(
    ds: &Dataset,
    cfg: &Config,
    fill: Option<f64>,
    bound: BoundSpec,
    candidates: Vec<Shape>,
    classic_bytes: f64,
) -> Result<(Vec<Shape>, String)> {
    let mut kept = Vec::new();
    let mut said = Vec::new();
    let mut blocks: Vec<Vec<usize>> = candidates.iter().map(|c| c.0.clone()).collect();
    blocks.dedup();
    // One pass over the data for the ranges, shared by every block.
    let norm = baler_codec::preprocess::normalization(ds, fill);
    for block in blocks {
        let latents: Vec<usize> = candidates.iter().filter(|c| c.0 == block).map(|c| c.1).collect();
        // Shapes it cannot estimate (a tile too wide, a block that does not fit the data) are
        // left to training, which reports what it can and cannot do.
        match linear_gate::estimate(ds, &norm, &block, &latents, &cfg.model.hidden, fill, bound) {
            Ok(None) | Err(_) => kept.extend(latents.iter().map(|&z| (block.clone(), z))),
            Ok(Some(estimates)) => {
                for e in estimates {
                    let shape = match ds {
                        Dataset::Table { .. } => format!("latent {}", e.latent),
                        Dataset::Field(_) => format!("{:?}/{}", e.block, e.latent),
                    };
                    said.push(format!("{shape} {}", kb(e.bytes)));
                    if e.bytes < GATE_MARGIN * classic_bytes {
                        kept.push((e.block, e.latent));
                    }
                }
            }
        }
    }
    let what = if matches!(ds, Dataset::Table { .. }) { "" } else { " (block/latent)" };
    let said = if said.is_empty() {
        "no candidate shape could be estimated".to_string()
    } else {
        format!("an ideal network would give{what} {}", said.join(", "))
    };
    Ok((kept, said))
}
