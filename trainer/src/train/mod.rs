//! Autoencoder training with burn.
//!
//! Trains the [`crate::model`] autoencoder with Adam on the burn `flex` CPU backend (or wgpu), and
//! exports the weights of the best epoch in the codec's layer layout ([`NetLayer`]); the
//! compressor runs the exported encoder without burn ([`crate::model::infer::forward_f32`]).
//!
//! Repeatability: weight initialisation, the train/validation split and the per-epoch shuffling
//! all come from the crate's own seeded RNG ([`crate::rng`], splitmix64), not from burn's global
//! RNG, so two runs with the same seed and data give identical weights, even when several
//! trainings run at the same time in one process.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

use crate::device::{Compute, training_device};
use crate::model::{Arch, Autoencoder, AutoencoderConfig, ConvArch, NetLayer, tensor_to_vec};
use crate::rng::{STREAM_SHUFFLE, STREAM_SPLIT, STREAM_SWAE, SplitMix64};

mod loss;
#[cfg(test)]
mod tests;

use loss::{evaluate, gather, sliced_wasserstein};

/// Training hyper-parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Encoder hidden widths, e.g. `[200, 100, 50]`; the decoder mirrors them (dense model).
    pub hidden: Vec<usize>,
    /// A convolutional model over `tile` instead of the dense one.
    pub conv: Option<ConvArch>,
    /// The tile a sample is (its product is the sample width); shapes convolutional models.
    pub tile: Option<[usize; 3]>,
    /// GDN (encoder) and inverse GDN (decoder) instead of LeakyReLU.
    pub gdn: bool,
    /// Weight of the sliced-Wasserstein distance between the latents and a standard normal prior
    /// (SWAE, Kolouri et al.); 0 = off.
    pub swae_weight: f64,
    /// Random projections per batch of the sliced-Wasserstein distance.
    pub swae_projections: usize,
    /// Latent width (z).
    pub latent: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Mini-batch size (rows per optimiser step).
    pub batch_size: usize,
    /// Initial Adam learning rate.
    pub learning_rate: f64,
    /// Weight of the L1 activation penalty: `l1_weight * mean |a|`, the mean taken over every
    /// element of every hidden activation (encoder and decoder, after LeakyReLU) and of the
    /// latent. 0 = plain MSE.
    pub l1_weight: f64,
    /// Fraction of the samples held out for validation (split with the seed); 0 = none, in
    /// which case early stopping, the plateau schedule and the best epoch use the training loss.
    pub validation_fraction: f64,
    /// Epochs without a relative improvement of at least 1e-6 before stopping; 0 = off.
    pub early_stopping_patience: usize,
    /// Plateau schedule: epochs without improvement before `lr *= lr_factor`; 0 = off.
    pub lr_patience: usize,
    /// Learning-rate reduction factor of the plateau schedule, in (0, 1].
    pub lr_factor: f64,
    /// The plateau schedule never goes below this learning rate.
    pub min_learning_rate: f64,
    /// LeakyReLU negative slope.
    pub leaky_slope: f64,
    /// Seed of the initialisation, the validation split and the shuffling.
    pub seed: u64,
    /// Stop after this much wall time (seconds), checked after every batch.
    pub max_seconds: Option<f64>,
    /// CPU (flex) or GPU (burn's wgpu backend). Only the CPU is bit-for-bit repeatable.
    #[serde(skip)]
    pub device: Compute,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            hidden: vec![200, 100, 50],
            conv: None,
            tile: None,
            gdn: false,
            swae_weight: 0.0,
            swae_projections: 50,
            latent: 8,
            epochs: 100,
            batch_size: 64,
            learning_rate: 1e-3,
            l1_weight: 0.0,
            validation_fraction: 0.15,
            early_stopping_patience: 20,
            lr_patience: 8,
            lr_factor: 0.5,
            min_learning_rate: 1e-5,
            leaky_slope: 0.01,
            seed: 0,
            max_seconds: None,
            device: Compute::Cpu,
        }
    }
}

/// Statistics of one epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training objective (MSE + l1 term) over the epoch's batches, weighted by rows.
    pub train_loss: f64,
    /// Objective on the validation set after the epoch, if there is one.
    pub val_loss: Option<f64>,
    /// Learning rate used during this epoch.
    pub learning_rate: f64,
    /// Wall time of this epoch (training and validation), in seconds.
    pub seconds: f64,
}

/// A trained autoencoder, weights in plain f32, in the codec's layer layout.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainedAe {
    /// dim -> … -> latent
    pub encoder: Vec<NetLayer>,
    /// latent -> … -> dim
    pub decoder: Vec<NetLayer>,
    pub leaky_slope: f64,
    pub history: Vec<EpochStats>,
    /// "epochs", "early stopping at epoch N", "time limit" or "non-finite loss at epoch N".
    pub stop_reason: String,
    /// 1-based epoch whose weights are returned (lowest validation loss, or training loss
    /// without validation).
    pub best_epoch: usize,
}

impl TrainedAe {
    /// Latent width.
    pub fn latent(&self) -> usize {
        self.encoder.last().map_or(0, |l| l.op.out_dim())
    }

    /// Input / output width.
    pub fn dim(&self) -> usize {
        self.encoder.first().map_or(0, |l| l.op.in_dim())
    }
}

/// Keeps glibc from handing freed memory back to the OS after every step.
///
/// Each optimiser step allocates and frees a few MB of tensors; with glibc's defaults (dynamic
/// mmap threshold, 128 KiB trim threshold) most of them are returned to the kernel and page-faulted
/// back in on the next step, which doubled the time of small-batch training. Raising both
/// thresholds (the memory stays reserved by the process instead) fixes that. Process-wide, done
/// once, skipped when the user sets glibc's own `MALLOC_*_THRESHOLD_` variables; a no-op for
/// other C libraries.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some()
                || std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            {
                return;
            }
            unsafe extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: mallopt only changes allocator tuning parameters; valid at any time.
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 32 << 20);
                mallopt(M_TRIM_THRESHOLD, 512 << 20);
            }
        });
    }
}

/// Relative improvement needed to reset the patience counters.
const MIN_REL_IMPROVEMENT: f64 = 1e-6;
/// Rows per chunk when evaluating the validation loss (bounds memory).
const EVAL_CHUNK_ROWS: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Training

fn validate(samples: &[f32], n_samples: usize, dim: usize, cfg: &TrainConfig) -> anyhow::Result<()> {
    ensure!(dim > 0, "dim must be > 0");
    ensure!(n_samples >= 1, "need at least one sample");
    let expected = n_samples.checked_mul(dim).context("n_samples * dim overflows")?;
    ensure!(
        samples.len() == expected,
        "samples has {} values, expected n_samples * dim = {n_samples} * {dim} = {expected}",
        samples.len()
    );
    if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
        bail!("non-finite value {} at sample {}, feature {}", samples[i], i / dim, i % dim);
    }
    ensure!(cfg.latent > 0, "latent must be > 0");
    ensure!(cfg.hidden.iter().all(|&h| h > 0), "hidden widths must be > 0: {:?}", cfg.hidden);
    ensure!(cfg.epochs >= 1, "epochs must be >= 1");
    ensure!(cfg.batch_size >= 1, "batch_size must be >= 1");
    ensure!(
        cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0,
        "learning_rate must be > 0, got {}",
        cfg.learning_rate
    );
    ensure!(
        cfg.l1_weight.is_finite() && cfg.l1_weight >= 0.0,
        "l1_weight must be >= 0, got {}",
        cfg.l1_weight
    );
    ensure!(
        cfg.validation_fraction.is_finite() && (0.0..1.0).contains(&cfg.validation_fraction),
        "validation_fraction must be in [0, 1), got {}",
        cfg.validation_fraction
    );
    ensure!(
        cfg.lr_factor.is_finite() && cfg.lr_factor > 0.0 && cfg.lr_factor <= 1.0,
        "lr_factor must be in (0, 1], got {}",
        cfg.lr_factor
    );
    ensure!(
        cfg.min_learning_rate.is_finite() && cfg.min_learning_rate >= 0.0,
        "min_learning_rate must be >= 0, got {}",
        cfg.min_learning_rate
    );
    ensure!(cfg.leaky_slope.is_finite(), "leaky_slope must be finite, got {}", cfg.leaky_slope);
    if let Some(s) = cfg.max_seconds {
        ensure!(!s.is_nan() && s > 0.0, "max_seconds must be > 0, got {s}");
    }
    Ok(())
}

fn scalar(t: Tensor<1>) -> anyhow::Result<f64> {
    Ok(tensor_to_vec(t)?.first().copied().unwrap_or(f32::NAN) as f64)
}

/// The network `cfg` asks for, on samples of `dim` values.
pub fn architecture(dim: usize, cfg: &TrainConfig) -> anyhow::Result<Arch> {
    match &cfg.conv {
        None => Ok(Arch::dense(dim, &cfg.hidden, cfg.latent, cfg.gdn)),
        Some(conv) => {
            let tile = cfg.tile.context("a convolutional model needs the tile shape")?;
            ensure!(tile.iter().product::<usize>() == dim, "tile {tile:?} does not hold {dim} values");
            Arch::conv(tile, conv, cfg.latent, cfg.gdn)
        }
    }
}

/// Train Baler's dense autoencoder on `samples` (row-major, n_samples x dim, already normalised
/// to about [0, 1]).
///
/// Architecture exactly as the original Baler "AE": encoder Linear(dim,h0) LeakyReLU
/// Linear(h0,h1) LeakyReLU ... Linear(h_last, latent) (no activation on the latent); decoder
/// Linear(latent,h_last) LeakyReLU ... Linear(h0, dim) (no activation on the output). Adam
/// optimiser (PyTorch defaults: betas 0.9/0.999, eps 1e-8). MSE loss (+ l1_weight * mean
/// |activations|). `on_epoch` is called after every epoch. The returned weights are those of
/// the best epoch.
pub fn train_autoencoder(
    samples: &[f32],
    n_samples: usize,
    dim: usize,
    cfg: &TrainConfig,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> anyhow::Result<TrainedAe> {
    validate(samples, n_samples, dim, cfg)?;
    tune_allocator();
    let start = Instant::now();
    let device = training_device(&cfg.device)?;

    // Train / validation split.
    let mut order: Vec<usize> = (0..n_samples).collect();
    let n_val = if cfg.validation_fraction > 0.0 {
        ((n_samples as f64 * cfg.validation_fraction).round() as usize).min(n_samples - 1)
    } else {
        0
    };
    if n_val > 0 {
        SplitMix64::new(cfg.seed, STREAM_SPLIT).shuffle(&mut order);
    }
    let (val_rows, train_rows) = order.split_at(n_val);
    let val_rows = val_rows.to_vec();
    let mut train_rows = train_rows.to_vec();
    train_rows.sort_unstable();
    let n_train = train_rows.len();

    let arch = architecture(dim, cfg)?;
    let mut model = AutoencoderConfig::new(arch, cfg.leaky_slope, cfg.seed).init(&device);
    let mut swae_rng = SplitMix64::new(cfg.seed, STREAM_SWAE);
    // PyTorch's Adam defaults (burn's epsilon default is 1e-5).
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut shuffle_rng = SplitMix64::new(cfg.seed, STREAM_SHUFFLE);
    let with_abs = cfg.l1_weight > 0.0;

    let mut lr = cfg.learning_rate;
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(Autoencoder, usize, f64)> = None;
    let mut patience_ref = f64::INFINITY;
    let mut since_improve = 0usize;
    let mut since_lr_change = 0usize;
    let mut stop_reason = String::from("epochs");
    let time_up = |start: &Instant| cfg.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s);

    for epoch in 1..=cfg.epochs {
        let epoch_start = Instant::now();
        shuffle_rng.shuffle(&mut train_rows);
        // Summed on the device and read once per epoch (no per-step synchronisation).
        let mut loss_sum: Option<Tensor<1>> = None;
        let mut rows_done = 0usize;
        let mut out_of_time = false;
        for batch in train_rows.chunks(cfg.batch_size) {
            let x = Tensor::<2>::from_data(
                TensorData::new(gather(samples, dim, batch), [batch.len(), dim]),
                &device,
            );
            let f = model.forward(x.clone(), with_abs);
            let mut loss = (f.output - x).square().mean();
            if let Some(a) = f.activity
                && let Some(sum) = a.sum
            {
                loss = loss + sum.div_scalar(a.count as f64).mul_scalar(cfg.l1_weight);
            }
            if cfg.swae_weight > 0.0 {
                let sw = sliced_wasserstein(f.latent, cfg.swae_projections, &mut swae_rng);
                loss = loss + sw.mul_scalar(cfg.swae_weight);
            }
            let weighted = loss.clone().detach().mul_scalar(batch.len() as f64);
            loss_sum = Some(match loss_sum.take() {
                Some(t) => t + weighted,
                None => weighted,
            });
            rows_done += batch.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            if time_up(&start) {
                out_of_time = true;
                break;
            }
        }
        let train_loss = match loss_sum {
            Some(t) => scalar(t)? / rows_done as f64,
            None => f64::NAN,
        };
        let val_loss = if n_val > 0 { Some(evaluate(&model, samples, dim, &val_rows, cfg)?) } else { None };
        let stats = EpochStats {
            epoch,
            train_loss,
            val_loss,
            learning_rate: lr,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        on_epoch(&stats);
        history.push(stats);

        let watched = val_loss.unwrap_or(train_loss);
        if !watched.is_finite() {
            if best.is_none() {
                bail!("training diverged: non-finite loss at epoch {epoch} (try a lower learning rate)");
            }
            stop_reason = format!("non-finite loss at epoch {epoch}");
            break;
        }
        if out_of_time && rows_done < n_train {
            // A partial epoch's loss is not comparable: keep the best complete epoch.
            if best.is_none() {
                best = Some((model.clone(), epoch, watched));
            }
            stop_reason = "time limit".into();
            break;
        }
        if best.as_ref().is_none_or(|b| watched < b.2) {
            best = Some((model.clone(), epoch, watched));
        }
        if watched < patience_ref * (1.0 - MIN_REL_IMPROVEMENT) {
            patience_ref = watched;
            since_improve = 0;
            since_lr_change = 0;
        } else {
            since_improve += 1;
            since_lr_change += 1;
        }
        if out_of_time || time_up(&start) {
            stop_reason = "time limit".into();
            break;
        }
        if cfg.early_stopping_patience > 0 && since_improve >= cfg.early_stopping_patience {
            if epoch < cfg.epochs {
                stop_reason = format!("early stopping at epoch {epoch}");
            }
            break;
        }
        if cfg.lr_patience > 0 && since_lr_change >= cfg.lr_patience {
            lr = (lr * cfg.lr_factor).max(cfg.min_learning_rate.min(lr));
            since_lr_change = 0;
        }
    }

    let (best_model, best_epoch, _) = best.context("no epoch was trained")?;
    let (encoder, decoder) = best_model.export()?;
    Ok(TrainedAe { encoder, decoder, leaky_slope: cfg.leaky_slope, history, stop_reason, best_epoch })
}

/// Time `epochs` epochs of training for a given setup on random data (benchmarks call this):
/// returns seconds per epoch (mean wall time of the epochs, validation included when
/// `cfg.validation_fraction > 0`; early stopping, the plateau schedule and the time limit off).
pub fn time_epochs(n_samples: usize, dim: usize, cfg: &TrainConfig, epochs: usize) -> anyhow::Result<f64> {
    ensure!(epochs >= 1, "epochs must be >= 1");
    let n = n_samples.checked_mul(dim).context("n_samples * dim overflows")?;
    let mut rng = SplitMix64::new(cfg.seed, 0xBE7C);
    let samples: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32).collect();
    let cfg =
        TrainConfig { epochs, early_stopping_patience: 0, lr_patience: 0, max_seconds: None, ..cfg.clone() };
    let ae = train_autoencoder(&samples, n_samples, dim, &cfg, &mut |_| {})?;
    Ok(ae.history.iter().map(|s| s.seconds).sum::<f64>() / ae.history.len() as f64)
}
