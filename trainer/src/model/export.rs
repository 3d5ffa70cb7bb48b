//! Trained weights out of burn: per layer in the codec's layout ([`NetLayer`], what the decoder's
//! quantizer takes), or expanded to dense matrices ([`DenseLayer`], what model files store for the
//! encoder and [`super::infer`] runs).

use anyhow::Result;
use baler_codec::network::conv::LinearOp;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::FloatNorm;

/// One trained layer in the codec's layout: the op's weights, one bias per output channel, and
/// the normalization that follows it (if GDN is used there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetLayer {
    pub op: LinearOp,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub norm: Option<FloatNorm>,
}

/// One dense layer, weights row-major [out][in] (PyTorch layout: y = W x + b).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    pub in_dim: usize,
    pub out_dim: usize,
    /// `out_dim * in_dim` values, row `o` holds the weights of output `o`.
    pub weight: Vec<f32>,
    /// `out_dim` values.
    pub bias: Vec<f32>,
}

/// Layers expanded to dense matrices, with the normalization after each.
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

pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("reading tensor data: {e}"))
}
