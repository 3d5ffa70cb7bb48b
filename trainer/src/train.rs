//! Autoencoder training with burn.
//!
//! Trains Baler's dense autoencoder ("AE": Linear / LeakyReLU stacks, no activation on the latent
//! or on the output) with Adam on the burn `flex` CPU backend, and exports the weights as plain
//! [`DenseLayer`]s in PyTorch layout so the compressor can run the encoder without burn
//! ([`forward_f32`]).
//!
//! Repeatability: weight initialisation, the train/validation split and the per-epoch shuffling
//! all come from this module's own seeded RNG (splitmix64), not from burn's global RNG, so two
//! runs with the same seed and data give identical weights, even when several trainings run at
//! the same time in one process.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use rayon::prelude::*;

use crate::device::Compute;
use crate::net::{AeNet, Arch, ConvArch, FloatNorm, NetLayer, tensor_to_vec};

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

/// One dense layer, weights row-major [out][in] (PyTorch layout: y = W x + b).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DenseLayer {
    pub in_dim: usize,
    pub out_dim: usize,
    /// `out_dim * in_dim` values, row `o` holds the weights of output `o`.
    pub weight: Vec<f32>,
    /// `out_dim` values.
    pub bias: Vec<f32>,
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

/// Layers expanded to dense matrices for [`forward_f32`], with the normalization after each.
pub fn dense_layers(layers: &[NetLayer]) -> (Vec<DenseLayer>, Vec<Option<FloatNorm>>) {
    layers
        .iter()
        .map(|l| {
            let positions = l.op.out_positions();
            let bias = l.bias.iter().flat_map(|&b| std::iter::repeat_n(b, positions)).collect();
            let dense = DenseLayer {
                in_dim: l.op.in_dim(),
                out_dim: l.op.out_dim(),
                weight: l.op.expand(&l.weight),
                bias,
            };
            (dense, l.norm.clone())
        })
        .unzip()
}

/// The burn device for training: flex on the CPU, the wgpu runtime (initialised once) on a GPU.
fn training_device(compute: &Compute) -> anyhow::Result<Device> {
    match compute {
        Compute::Cpu => Ok(Device::flex().autodiff()),
        Compute::Gpu { .. } => Ok(gpu_device()?.autodiff()),
    }
}

#[cfg(feature = "gpu")]
fn gpu_device() -> anyhow::Result<Device> {
    static DEVICE: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
    // The platform's own API: letting the runtime probe OpenGL too prints EGL errors on headless
    // Linux machines.
    use burn::tensor::wgpu::WgpuBackend;
    let api = if cfg!(target_os = "macos") {
        WgpuBackend::Metal
    } else if cfg!(target_os = "windows") {
        WgpuBackend::Dx12
    } else {
        WgpuBackend::Vulkan
    };
    DEVICE
        .get_or_init(|| Device::wgpu_options().graphics_api(api).init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot start burn's wgpu backend: {e}"))
}

#[cfg(not(feature = "gpu"))]
fn gpu_device() -> anyhow::Result<Device> {
    bail!("this baler-train was built without GPU support (build with `--features gpu`)")
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
// RNG

/// splitmix64: tiny, seedable, good enough for initialisation and shuffling.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64(); // (0, 1]
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.next_f64()).cos()
    }

    /// Uniform in [0, n), n >= 1.
    fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

const STREAM_INIT: u64 = 1;
const STREAM_SWAE: u64 = 4;
const STREAM_SPLIT: u64 = 2;
const STREAM_SHUFFLE: u64 = 3;

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

/// Sliced-Wasserstein distance² between the rows of `latent` [n, z] and as many draws from a
/// standard normal prior: the mean over random unit directions of the squared differences of the
/// sorted projections. Directions and draws come from `rng`, so training stays repeatable.
fn sliced_wasserstein(latent: Tensor<2>, projections: usize, rng: &mut SplitMix64) -> Tensor<1> {
    let [n, z] = latent.dims();
    let device = latent.device();
    let mut dirs: Vec<f32> = (0..z * projections).map(|_| rng.normal() as f32).collect();
    for p in 0..projections {
        let norm = (0..z).map(|k| dirs[k * projections + p].powi(2)).sum::<f32>().sqrt().max(1e-12);
        (0..z).for_each(|k| dirs[k * projections + p] /= norm);
    }
    let prior: Vec<f32> = (0..n * z).map(|_| rng.normal() as f32).collect();
    let dirs = Tensor::<2>::from_data(TensorData::new(dirs, [z, projections]), &device);
    let prior = Tensor::<2>::from_data(TensorData::new(prior, [n, z]), &device);
    let a = latent.matmul(dirs.clone()).sort(0);
    let b = prior.matmul(dirs).sort(0);
    (a - b).square().mean()
}

/// Copies the given rows of `samples` into one contiguous buffer.
fn gather(samples: &[f32], dim: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * dim);
    for &r in rows {
        out.extend_from_slice(&samples[r * dim..(r + 1) * dim]);
    }
    out
}

/// Objective (MSE + l1 term) of `model` on `rows`, without autodiff, in chunks.
fn evaluate(
    model: &AeNet,
    arch: &Arch,
    samples: &[f32],
    dim: usize,
    rows: &[usize],
    cfg: &TrainConfig,
) -> anyhow::Result<f64> {
    let model = model.valid();
    let device = &model.device();
    let with_abs = cfg.l1_weight > 0.0;
    let (mut sq, mut abs, mut abs_count) = (0f64, 0f64, 0usize);
    for chunk in rows.chunks(EVAL_CHUNK_ROWS) {
        let x =
            Tensor::<2>::from_data(TensorData::new(gather(samples, dim, chunk), [chunk.len(), dim]), device);
        let f = model.forward(arch, x.clone(), cfg.leaky_slope, with_abs);
        sq += scalar((f.output - x).square().sum())?;
        if let Some(a) = f.abs_sum {
            abs += scalar(a)?;
            abs_count += f.abs_count;
        }
    }
    let mut loss = sq / (rows.len() * dim) as f64;
    if abs_count > 0 {
        loss += cfg.l1_weight * abs / abs_count as f64;
    }
    Ok(loss)
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
    let mut init_rng = SplitMix64::new(cfg.seed, STREAM_INIT);
    let mut model = crate::net::init(&arch, || init_rng.next_f64(), &device);
    let mut swae_rng = SplitMix64::new(cfg.seed, STREAM_SWAE);
    // PyTorch's Adam defaults (burn's epsilon default is 1e-5).
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut shuffle_rng = SplitMix64::new(cfg.seed, STREAM_SHUFFLE);
    let with_abs = cfg.l1_weight > 0.0;

    let mut lr = cfg.learning_rate;
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(AeNet, usize, f64)> = None;
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
            let f = model.forward(&arch, x.clone(), cfg.leaky_slope, with_abs);
            let mut loss = (f.output - x).square().mean();
            if let Some(a) = f.abs_sum {
                loss = loss + a.div_scalar(f.abs_count as f64).mul_scalar(cfg.l1_weight);
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
        let val_loss =
            if n_val > 0 { Some(evaluate(&model, &arch, samples, dim, &val_rows, cfg)?) } else { None };
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
    let (encoder, decoder) = crate::net::export(&arch, &best_model)?;
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

// ---------------------------------------------------------------------------------------------
// Plain f32 inference

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 8;
    let mut acc = [0f32; L];
    let (ac, ar) = a.split_at(a.len() / L * L);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(L).zip(bc.chunks_exact(L)) {
        for k in 0..L {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

fn forward_row(
    layers: &[DenseLayer],
    norms: &[Option<FloatNorm>],
    slope: f32,
    input: &[f32],
    out: &mut [f32],
) {
    let mut cur = input.to_vec();
    let mut next = Vec::new();
    for (k, l) in layers.iter().enumerate() {
        next.clear();
        next.extend(l.weight.chunks_exact(l.in_dim).zip(&l.bias).map(|(w, b)| dot(w, &cur) + b));
        if k + 1 < layers.len() {
            match norms.get(k) {
                Some(Some(norm)) => norm.apply(&mut next),
                _ => next.iter_mut().filter(|v| **v < 0.0).for_each(|v| *v *= slope),
            }
        }
        std::mem::swap(&mut cur, &mut next);
    }
    out.copy_from_slice(&cur);
}

/// Plain f32 forward pass of a layer stack on the CPU (no burn), LeakyReLU (or the layer's entry
/// in `norms`, when there is one) between layers and none after the last. rows x in -> rows x out, row-major. An empty stack is the identity.
///
/// # Panics
/// If the layers are inconsistent (`weight`/`bias` lengths, chained widths) or
/// `input.len() != rows * layers[0].in_dim`.
pub fn forward_f32(
    layers: &[DenseLayer],
    norms: &[Option<FloatNorm>],
    leaky_slope: f64,
    input: &[f32],
    rows: usize,
) -> Vec<f32> {
    let Some(first) = layers.first() else {
        return input.to_vec();
    };
    let mut width = first.in_dim;
    for l in layers {
        assert!(
            l.in_dim == width
                && l.weight.len() == l.in_dim * l.out_dim
                && l.bias.len() == l.out_dim
                && l.in_dim > 0,
            "forward_f32: inconsistent layer ({} -> {}, {} weights, {} biases) after width {width}",
            l.in_dim,
            l.out_dim,
            l.weight.len(),
            l.bias.len()
        );
        width = l.out_dim;
    }
    let (in_dim, out_dim) = (first.in_dim, width);
    assert_eq!(input.len(), rows * in_dim, "forward_f32: input length != rows * in_dim");
    let mut out = vec![0f32; rows * out_dim];
    if out_dim == 0 {
        return out;
    }
    let slope = leaky_slope as f32;
    out.par_chunks_mut(out_dim)
        .zip(input.par_chunks(in_dim))
        .with_min_len(16)
        .for_each(|(o, x)| forward_row(layers, norms, slope, x, o));
    out
}

/// Rows per batch of [`forward_on`]'s GPU path.
const GPU_FORWARD_ROWS: usize = 16_384;

/// [`forward_f32`] on `compute`: with a GPU, the same layers run on burn's wgpu backend, batch by
/// batch (inputs of any size stream through). Float results may differ from the CPU's in the last
/// bits, which is fine for the encoder: its latents are stored, never recomputed by a decoder.
pub fn forward_on(
    compute: &Compute,
    layers: &[DenseLayer],
    norms: &[Option<FloatNorm>],
    leaky_slope: f64,
    input: &[f32],
    rows: usize,
) -> anyhow::Result<Vec<f32>> {
    // GDN layers run on the CPU path only.
    let (Compute::Gpu { .. }, Some(first), false) =
        (compute, layers.first(), norms.iter().any(Option::is_some))
    else {
        return Ok(forward_f32(layers, norms, leaky_slope, input, rows));
    };
    let device = gpu_device()?;
    let weights: Vec<(Tensor<2>, Tensor<2>)> = layers
        .iter()
        .map(|l| {
            // [out][in] → [in][out], so that y = x·W + b.
            let mut wt = vec![0f32; l.in_dim * l.out_dim];
            for (o, row) in l.weight.chunks_exact(l.in_dim).enumerate() {
                for (i, &w) in row.iter().enumerate() {
                    wt[i * l.out_dim + o] = w;
                }
            }
            (
                Tensor::<2>::from_data(TensorData::new(wt, [l.in_dim, l.out_dim]), &device),
                Tensor::<2>::from_data(TensorData::new(l.bias.clone(), [1, l.out_dim]), &device),
            )
        })
        .collect();
    let in_dim = first.in_dim;
    ensure!(input.len() == rows * in_dim, "forward_on: input length != rows * in_dim");
    let mut out = Vec::with_capacity(rows * layers.last().map_or(0, |l| l.out_dim));
    for start in (0..rows).step_by(GPU_FORWARD_ROWS) {
        let n = GPU_FORWARD_ROWS.min(rows - start);
        let slice = input[start * in_dim..(start + n) * in_dim].to_vec();
        let mut h = Tensor::<2>::from_data(TensorData::new(slice, [n, in_dim]), &device);
        for (k, (w, b)) in weights.iter().enumerate() {
            h = h.matmul(w.clone()) + b.clone();
            if k + 1 < weights.len() {
                h = leaky_relu(h, leaky_slope);
            }
        }
        out.extend(tensor_to_vec(h)?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` smooth 64-dim patterns `0.5 + 0.4 sin(f x + p)` with random frequency and phase.
    fn sines(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed, 99);
        let mut v = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let f = 1.0 + 3.0 * rng.next_f64();
            let p = std::f64::consts::TAU * rng.next_f64();
            for j in 0..dim {
                let x = j as f64 / dim as f64 * std::f64::consts::TAU;
                v.push((0.5 + 0.4 * (f * x + p).sin()) as f32);
            }
        }
        v
    }

    fn small_cfg() -> TrainConfig {
        TrainConfig {
            hidden: vec![32, 16],
            latent: 4,
            epochs: 60,
            batch_size: 32,
            learning_rate: 3e-3,
            validation_fraction: 0.0,
            early_stopping_patience: 0,
            lr_patience: 0,
            seed: 7,
            ..TrainConfig::default()
        }
    }

    fn mse(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len() as f64
    }

    #[test]
    fn loss_decreases_and_export_matches() {
        let (n, dim) = (256, 64);
        let data = sines(n, dim, 1);
        let cfg = small_cfg();
        let mut seen = 0;
        let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| seen += 1).unwrap();
        assert_eq!(seen, ae.history.len());
        assert_eq!(ae.stop_reason, "epochs");
        assert_eq!(ae.history.len(), 60);
        let first = ae.history[0].train_loss;
        let last = ae.history.last().unwrap().train_loss;
        assert!(last < 0.3 * first, "first {first}, last {last}");
        assert_eq!(ae.latent(), 4);
        assert_eq!(ae.dim(), dim);
        let (enc, enc_norms) = dense_layers(&ae.encoder);
        let (dec, dec_norms) = dense_layers(&ae.decoder);
        let z = forward_f32(&enc, &enc_norms, ae.leaky_slope, &data, n);
        assert_eq!(z.len(), n * 4);
        let rec = forward_f32(&dec, &dec_norms, ae.leaky_slope, &z, n);
        let m = mse(&rec, &data);
        let best = ae.history[ae.best_epoch - 1].train_loss;
        assert!(m < 2.0 * best && m > best / 2.0, "reconstruction mse {m} vs best-epoch loss {best}");
    }

    #[test]
    fn validation_and_schedule() {
        let (n, dim) = (200, 64);
        let data = sines(n, dim, 2);
        let cfg = TrainConfig {
            epochs: 12,
            validation_fraction: 0.2,
            lr_patience: 1,
            lr_factor: 0.5,
            learning_rate: 0.5, // too large: plateaus quickly
            min_learning_rate: 0.1,
            ..small_cfg()
        };
        let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
        assert!(ae.history.iter().all(|s| s.val_loss.is_some()));
        let best = ae.history.iter().map(|s| s.val_loss.unwrap()).fold(f64::INFINITY, f64::min);
        assert_eq!(ae.history[ae.best_epoch - 1].val_loss.unwrap(), best);
        let lrs: Vec<f64> = ae.history.iter().map(|s| s.learning_rate).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
        assert!(lrs.iter().all(|&l| l >= 0.1), "{lrs:?}");
        assert!(lrs.iter().any(|&l| l < 0.5), "{lrs:?}");
    }

    #[test]
    fn repeatable_with_seed() {
        let (n, dim) = (96, 32);
        let data = sines(n, dim, 3);
        let cfg = TrainConfig { epochs: 5, batch_size: 16, validation_fraction: 0.25, ..small_cfg() };
        let a = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
        let b = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
        assert_eq!(a.encoder, b.encoder);
        assert_eq!(a.decoder, b.decoder);
        assert_eq!(a.history[4].train_loss, b.history[4].train_loss);
        let c = train_autoencoder(&data, n, dim, &TrainConfig { seed: 8, ..cfg }, &mut |_| {}).unwrap();
        assert_ne!(a.encoder, c.encoder);
        assert_ne!(a.decoder, c.decoder);
    }

    #[test]
    fn early_stopping_on_constant_data() {
        let (n, dim) = (64, 16);
        let data = vec![0.5f32; n * dim];
        let cfg = TrainConfig { epochs: 200, learning_rate: 1e-9, early_stopping_patience: 2, ..small_cfg() };
        let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
        assert!(ae.history.len() < 200, "ran {} epochs", ae.history.len());
        let e = ae.history.len();
        assert_eq!(ae.stop_reason, format!("early stopping at epoch {e}"));
        assert!(ae.best_epoch <= e - 2);
    }

    #[test]
    fn l1_penalty_shrinks_latent() {
        let (n, dim) = (128, 32);
        let data = sines(n, dim, 4);
        let mean_abs_latent = |l1: f64| {
            let cfg = TrainConfig { epochs: 30, l1_weight: l1, ..small_cfg() };
            let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
            let (enc, norms) = dense_layers(&ae.encoder);
            let z = forward_f32(&enc, &norms, ae.leaky_slope, &data, n);
            z.iter().map(|v| v.abs() as f64).sum::<f64>() / z.len() as f64
        };
        let plain = mean_abs_latent(0.0);
        let sparse = mean_abs_latent(1.0);
        assert!(sparse < 0.5 * plain, "l1 {sparse} vs plain {plain}");
    }

    #[test]
    fn time_limit_stops() {
        let (n, dim) = (64, 16);
        let data = sines(n, dim, 5);
        let cfg = TrainConfig { epochs: 1_000_000, batch_size: 1, max_seconds: Some(0.2), ..small_cfg() };
        let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
        assert_eq!(ae.stop_reason, "time limit");
        assert!(ae.best_epoch >= 1 && ae.best_epoch <= ae.history.len());
    }

    #[test]
    fn bad_input_is_an_error() {
        let cfg = small_cfg();
        let mut data = sines(8, 4, 6);
        assert!(train_autoencoder(&data, 8, 5, &cfg, &mut |_| {}).is_err());
        assert!(train_autoencoder(&data[..31], 8, 4, &cfg, &mut |_| {}).is_err());
        assert!(train_autoencoder(&[], 0, 4, &cfg, &mut |_| {}).is_err());
        assert!(train_autoencoder(&[], 1, 0, &cfg, &mut |_| {}).is_err());
        let bad = TrainConfig { batch_size: 0, ..cfg.clone() };
        assert!(train_autoencoder(&data, 8, 4, &bad, &mut |_| {}).is_err());
        data[5] = f32::NAN;
        let err = train_autoencoder(&data, 8, 4, &cfg, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{err}");
        data[5] = f32::INFINITY;
        assert!(train_autoencoder(&data, 8, 4, &cfg, &mut |_| {}).is_err());
    }

    #[test]
    fn forward_f32_matches_hand_computation() {
        let layers = vec![
            DenseLayer { in_dim: 2, out_dim: 2, weight: vec![1.0, -2.0, 0.5, 0.5], bias: vec![0.0, 1.0] },
            DenseLayer { in_dim: 2, out_dim: 1, weight: vec![1.0, 1.0], bias: vec![-1.0] },
        ];
        // row (1, 1): h = (1-2, 0.5+0.5+1) = (-1, 2) -> leaky (-0.1, 2) -> 1.9 - 1 = 0.9
        // row (0, 2): h = (-4, 2) -> (-0.4, 2) -> 0.6
        let y = forward_f32(&layers, &[], 0.1, &[1.0, 1.0, 0.0, 2.0], 2);
        assert!((y[0] - 0.9).abs() < 1e-6 && (y[1] - 0.6).abs() < 1e-6, "{y:?}");
    }

    fn conv_cfg(three_d: bool, tile: [usize; 3], gdn: bool) -> TrainConfig {
        TrainConfig {
            conv: Some(ConvArch { three_d, channels: vec![4, 6], kernel: 4, stride: 2 }),
            tile: Some(tile),
            gdn,
            ..small_cfg()
        }
    }

    /// Smooth 2-D / 3-D patterns over a tile.
    fn waves(n: usize, tile: [usize; 3], seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed, 98);
        let mut v = Vec::new();
        for _ in 0..n {
            let (f, g, p) = (0.3 + rng.next_f64(), 0.2 + rng.next_f64(), rng.next_f64() * 6.0);
            for a in 0..tile[0] {
                for b in 0..tile[1] {
                    for c in 0..tile[2] {
                        v.push((0.5 + 0.3 * (f * b as f64 + g * c as f64 + 0.4 * a as f64 + p).sin()) as f32);
                    }
                }
            }
        }
        v
    }

    /// The exported layers (kernels expanded by the codec) compute what burn computed: the layouts
    /// of convolutions, transposed convolutions and GDN agree between the trainer and the codec.
    #[test]
    fn exported_conv_networks_match_burn() {
        for (three_d, tile, gdn) in [
            (false, [1, 8, 8], false),
            (false, [1, 8, 12], true),
            (true, [4, 8, 4], false),
            (true, [4, 4, 8], true),
        ] {
            let dim: usize = tile.iter().product();
            let cfg = conv_cfg(three_d, tile, gdn);
            let arch = architecture(dim, &cfg).unwrap();
            let device = Device::flex();
            let mut rng = SplitMix64::new(3, 1);
            let net = crate::net::init(&arch, || rng.next_f64(), &device);
            let n = 5;
            let x = waves(n, tile, 9);
            let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, dim]), &device);
            let f = net.forward(&arch, t, cfg.leaky_slope, false);
            let burn_out = tensor_to_vec(f.output).unwrap();
            let burn_lat = tensor_to_vec(f.latent).unwrap();
            let (enc, dec) = crate::net::export(&arch, &net).unwrap();
            assert_eq!(enc.iter().filter(|l| l.norm.is_some()).count(), if gdn { 2 } else { 0 });
            let (enc, en) = dense_layers(&enc);
            let (dec, dn) = dense_layers(&dec);
            let lat = forward_f32(&enc, &en, cfg.leaky_slope, &x, n);
            let out = forward_f32(&dec, &dn, cfg.leaky_slope, &lat, n);
            let close =
                |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()));
            assert!(close(&lat, &burn_lat), "{three_d} {tile:?} {gdn}: latents differ");
            assert!(close(&out, &burn_out), "{three_d} {tile:?} {gdn}: outputs differ");
        }
    }

    #[test]
    fn conv_models_train_with_gdn_and_swae() {
        let tile = [1, 8, 8];
        let (n, dim) = (192, 64);
        let data = waves(n, tile, 5);
        for (gdn, swae) in [(true, 0.0), (false, 0.05)] {
            let cfg = TrainConfig { epochs: 40, latent: 4, swae_weight: swae, ..conv_cfg(false, tile, gdn) };
            let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
            let (first, last) = (ae.history[0].train_loss, ae.history.last().unwrap().train_loss);
            assert!(last.is_finite() && last < 0.5 * first, "gdn {gdn} swae {swae}: {first} -> {last}");
            assert_eq!(ae.latent(), 4);
            assert!(ae.decoder.iter().any(|l| matches!(l.op, baler_codec::conv::LinearOp::ConvTranspose(_))));
        }
        // A tile the strides cannot halve twice is refused with the reason.
        let cfg = conv_cfg(false, [1, 6, 6], false);
        let err = train_autoencoder(&waves(8, [1, 6, 6], 1), 8, 36, &cfg, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("divisible by 4"), "{err}");
    }
}
