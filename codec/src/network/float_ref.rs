//! The decoder as trained, in f64: the reference the integer decoder is measured against and
//! the input of quantization.

use crate::error::{CodecError, Result};
use crate::network::conv::LinearOp;

/// Inverse GDN as trained: `y_c = x_c · sqrt(β_c + Σ_k γ_ck x_k²)` over channels-first outputs.
#[derive(Clone, Copy)]
pub struct FloatGdn<'a> {
    /// β per channel (> 0).
    pub beta: &'a [f32],
    /// γ row-major [c][k] (≥ 0).
    pub gamma: &'a [f32],
}

/// A float layer as trained (PyTorch layout), the input of [`quantize_decoder`].
#[derive(Clone, Copy)]
pub struct FloatLayer<'a> {
    pub op: LinearOp,
    /// In the op's layout (dense: [out][in]).
    pub weight: &'a [f32],
    /// One per output channel.
    pub bias: &'a [f32],
    /// Inverse GDN after this (hidden) layer, replacing LeakyReLU.
    pub gdn: Option<FloatGdn<'a>>,
}

impl<'a> FloatLayer<'a> {
    pub fn dense(in_dim: usize, out_dim: usize, weight: &'a [f32], bias: &'a [f32]) -> Self {
        let op = LinearOp::Dense { in_dim: in_dim as u32, out_dim: out_dim as u32 };
        Self { op, weight, bias, gdn: None }
    }

    pub(crate) fn check(&self) -> Result<()> {
        self.op.check().map_err(CodecError::InvalidModel)?;
        let c = self.op.out_channels();
        // A normalization's channels need not be the op's: a dense layer's outputs may be the
        // channels-first input of a transposed convolution.
        let gdn_ok = self.gdn.is_none_or(|g| {
            let gc = g.beta.len();
            gc > 0 && self.op.out_dim().is_multiple_of(gc) && g.gamma.len() == gc * gc
        });
        if self.weight.len() != self.op.weight_len() || self.bias.len() != c || !gdn_ok {
            return Err(CodecError::InvalidModel("float layer: array lengths do not match".into()));
        }
        Ok(())
    }
}

fn leaky(x: f64, slope: f64) -> f64 {
    if x < 0.0 { x * slope } else { x }
}

/// Float inverse GDN over one channels-first vector.
fn float_igdn(g: &FloatGdn<'_>, x: &[f64]) -> Vec<f64> {
    let c = g.beta.len();
    let p = x.len() / c;
    let mut y = vec![0.0; x.len()];
    for ch in 0..c {
        for pos in 0..p {
            let s: f64 = g.beta[ch] as f64
                + (0..c).map(|k| g.gamma[ch * c + k] as f64 * x[k * p + pos].powi(2)).sum::<f64>();
            y[ch * p + pos] = x[ch * p + pos] * s.max(0.0).sqrt();
        }
    }
    y
}

/// A float layer with its dense matrix and per-row bias, ready to run.
pub(crate) struct Expanded<'a> {
    layer: FloatLayer<'a>,
    matrix: Vec<f32>,
    positions: usize,
}

impl<'a> Expanded<'a> {
    pub(crate) fn new(layer: FloatLayer<'a>) -> Self {
        Self { matrix: layer.op.expand(layer.weight), positions: layer.op.out_positions(), layer }
    }

    /// `W x + b`.
    fn linear(&self, x: &[f64]) -> Vec<f64> {
        let n = self.layer.op.in_dim();
        self.matrix
            .chunks_exact(n)
            .enumerate()
            .map(|(r, row)| {
                self.layer.bias[r / self.positions] as f64
                    + row.iter().zip(x).map(|(&w, &v)| w as f64 * v).sum::<f64>()
            })
            .collect()
    }
}

/// Float forward pass: per layer, its input and (for layers followed by an inverse GDN) its
/// linear output before the normalization; the last entry of the inputs is the network output.
pub(crate) fn float_forward_expanded(
    layers: &[Expanded<'_>],
    slope: f64,
    input: &[f64],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut acts = vec![input.to_vec()];
    let mut mids = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let mut y = l.linear(acts.last().expect("input"));
        let hidden = i + 1 < layers.len();
        match l.layer.gdn {
            Some(g) if hidden => {
                let normed = float_igdn(&g, &y);
                mids.push(std::mem::replace(&mut y, normed));
            }
            _ => {
                if hidden {
                    y.iter_mut().for_each(|v| *v = leaky(*v, slope));
                }
                mids.push(Vec::new());
            }
        }
        acts.push(y);
    }
    (acts, mids)
}

/// Float forward pass (for calibration and tests): LeakyReLU (or the layer's inverse GDN)
/// between layers, none after the last. Returns every layer's input, then the output.
pub fn float_forward(layers: &[FloatLayer<'_>], slope: f64, input: &[f64]) -> Vec<Vec<f64>> {
    let expanded: Vec<Expanded> = layers.iter().map(|&l| Expanded::new(l)).collect();
    float_forward_expanded(&expanded, slope, input).0
}
