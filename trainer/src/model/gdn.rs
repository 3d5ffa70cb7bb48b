//! Generalized divisive normalization (Ballé et al.): `y = x / sqrt(β + γ·x²)` across the channels
//! of each position (GDN, in the encoder), or `x · sqrt(…)` (inverse GDN, in the decoder). The burn
//! module trains it; [`FloatNorm`] is its exported form.

use anyhow::Result;
use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::tensor_to_vec;

/// A normalization as trained: `y = x / sqrt(β + γ·x²)` (GDN, encoder) or `x · sqrt(…)` (inverse,
/// decoder), over `channels` channels of a channels-first vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatNorm {
    pub channels: usize,
    pub beta: Vec<f32>,
    /// Row-major [c][k].
    pub gamma: Vec<f32>,
    pub inverse: bool,
}

impl FloatNorm {
    /// Normalizes one vector in place.
    pub fn apply(&self, x: &mut [f32]) {
        let c = self.channels;
        let p = x.len() / c;
        let mut norm = vec![0f32; x.len()];
        for ch in 0..c {
            for pos in 0..p {
                let s: f32 = self.beta[ch]
                    + (0..c).map(|k| self.gamma[ch * c + k] * x[k * p + pos] * x[k * p + pos]).sum::<f32>();
                norm[ch * p + pos] = s.max(0.0).sqrt();
            }
        }
        for (v, n) in x.iter_mut().zip(norm) {
            *v = if self.inverse { *v * n } else { *v / n.max(f32::MIN_POSITIVE) };
        }
    }
}

/// GDN parameters, reparametrized so that β > 0 and γ ≥ 0 whatever the optimiser does.
#[derive(Module, Debug)]
pub struct Gdn {
    beta: Param<Tensor<1>>,
    gamma: Param<Tensor<2>>,
    /// Inverse GDN (the decoder's).
    inverse: bool,
}

/// β = b² + BETA_MIN keeps the normalization away from a division by zero.
const BETA_MIN: f64 = 1e-4;

impl Gdn {
    /// β = 1, γ = 0.1 on the diagonal and 0.001 elsewhere (all reachable by gradients).
    pub fn init(channels: usize, inverse: bool, device: &Device) -> Self {
        let c = channels;
        let gamma: Vec<f32> =
            (0..c * c).map(|i| if i % (c + 1) == 0 { 0.1f32.sqrt() } else { 0.001f32.sqrt() }).collect();
        Self {
            beta: Param::from_data(TensorData::new(vec![(1.0 - BETA_MIN as f32).sqrt(); c], [c]), device),
            gamma: Param::from_data(TensorData::new(gamma, [c, c]), device),
            inverse,
        }
    }

    fn effective(&self) -> (Tensor<1>, Tensor<2>) {
        (self.beta.val().square().add_scalar(BETA_MIN), self.gamma.val().square())
    }

    /// x: [batch, channels·positions], channels-first.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, w] = x.dims();
        let (beta, gamma) = self.effective();
        let c = beta.dims()[0];
        let p = w / c;
        let x3 = x.reshape([b, c, p]);
        let sq = x3.clone().square().swap_dims(1, 2).reshape([b * p, c]);
        let norm = sq.matmul(gamma.transpose()) + beta.unsqueeze::<2>();
        let norm = norm.reshape([b, p, c]).swap_dims(1, 2).sqrt();
        let y = if self.inverse { x3 * norm } else { x3 / norm };
        y.reshape([b, w])
    }

    /// The effective β and γ.
    pub fn export(&self) -> Result<FloatNorm> {
        let (beta, gamma) = self.effective();
        let beta = tensor_to_vec(beta)?;
        Ok(FloatNorm { channels: beta.len(), beta, gamma: tensor_to_vec(gamma)?, inverse: self.inverse })
    }
}
