//! The training objective: reconstruction MSE, plus the L1 activation penalty or the
//! sliced-Wasserstein term (SWAE), and its value on held-out rows.

use burn::prelude::*;

use super::{EVAL_CHUNK_ROWS, TrainConfig, scalar};
use crate::model::Autoencoder;
use crate::rng::SplitMix64;

/// Sliced-Wasserstein distance² between the rows of `latent` [n, z] and as many draws from a
/// standard normal prior: the mean over random unit directions of the squared differences of the
/// sorted projections. Directions and draws come from `rng`, so training stays repeatable.
pub(super) fn sliced_wasserstein(latent: Tensor<2>, projections: usize, rng: &mut SplitMix64) -> Tensor<1> {
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
pub(super) fn gather(samples: &[f32], dim: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * dim);
    for &r in rows {
        out.extend_from_slice(&samples[r * dim..(r + 1) * dim]);
    }
    out
}

/// Objective (MSE + l1 term) of `model` on `rows`, without autodiff, in chunks.
pub(super) fn evaluate(
    model: &Autoencoder,
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
        let f = model.forward(x.clone(), with_abs);
        sq += scalar((f.output - x).square().sum())?;
        if let Some(a) = f.activity
            && let Some(sum) = a.sum
        {
            abs += scalar(sum)?;
            abs_count += a.count;
        }
    }
    let mut loss = sq / (rows.len() * dim) as f64;
    if abs_count > 0 {
        loss += cfg.l1_weight * abs / abs_count as f64;
    }
    Ok(loss)
}
