//! The autoencoder's architecture and its burn modules: Baler's dense AE, or a 2-D / 3-D
//! convolutional AE, with LeakyReLU or GDN (Ballé et al.) between layers.
//!
//! Every layer is described by the codec's [`LinearOp`] (dense, convolution, transposed
//! convolution), so the trained weights export to exactly what the decoder runs. Activations are
//! kept flat ([batch, channels·positions], channels-first, as in the codec); convolutions reshape to
//! [batch, channels, d0, d1, d2] around their call. 2-D convolutions are 3-D ones with a depth-1
//! kernel (burn's CPU backend runs 2-D convolutions that way too).

use anyhow::{Result, bail, ensure};
use baler_codec::conv::{ConvGeom, LinearOp};
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::{conv_transpose3d, conv3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use serde::{Deserialize, Serialize};

/// Shape of a convolutional autoencoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvArch {
    /// 3-D kernels (bricks) or 2-D ones (over the last two axes of the tile).
    pub three_d: bool,
    /// Channels after each stride-`stride` convolution; the decoder mirrors them.
    pub channels: Vec<usize>,
    pub kernel: usize,
    pub stride: usize,
}

/// One layer: its operation, and the activation after it (`None`: the latent or the output).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    pub op: LinearOp,
    /// Channels of the activation that follows (a GDN normalizes across them).
    pub act_channels: Option<usize>,
}

/// The whole network: encoder layers, then decoder layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Arch {
    pub encoder: Vec<LayerSpec>,
    pub decoder: Vec<LayerSpec>,
    pub gdn: bool,
}

impl Arch {
    /// Baler's dense AE: dim → hidden… → latent → …hidden → dim.
    pub fn dense(dim: usize, hidden: &[usize], latent: usize, gdn: bool) -> Self {
        let mut widths = vec![dim];
        widths.extend_from_slice(hidden);
        widths.push(latent);
        let spec = |i: usize, o: usize, act: bool| LayerSpec {
            op: LinearOp::Dense { in_dim: i as u32, out_dim: o as u32 },
            act_channels: act.then_some(o),
        };
        let n = widths.len() - 1;
        let encoder = (0..n).map(|k| spec(widths[k], widths[k + 1], k + 1 < n)).collect();
        let decoder = (0..n).rev().map(|k| spec(widths[k + 1], widths[k], k > 0)).collect();
        Self { encoder, decoder, gdn }
    }

    /// Convolutional AE over `tile` = [d0, d1, d2]: stride-s convolutions through `channels`, a
    /// dense layer to the latent; the decoder mirrors it with transposed convolutions.
    pub fn conv(tile: [usize; 3], conv: &ConvArch, latent: usize, gdn: bool) -> Result<Self> {
        let (k, s) = (conv.kernel as u32, conv.stride as u32);
        ensure!(!conv.channels.is_empty(), "model.conv.channels must name at least one layer");
        ensure!(
            k >= s && s >= 1 && (k - s) % 2 == 0,
            "model.conv: kernel {k} and stride {s} must satisfy kernel ≥ stride with an even difference \
             (so that each layer divides the size by the stride exactly)"
        );
        let pad = (k - s) / 2;
        let axes = |v: u32, flat: u32| if conv.three_d { [v; 3] } else { [flat, v, v] };
        let (kernel, stride, padding) = (axes(k, 1), axes(s, 1), axes(pad, 0));
        let levels = conv.channels.len() as u32;
        let factor = (s as usize).pow(levels);
        let scaled: Vec<usize> = if conv.three_d { tile.to_vec() } else { tile[1..].to_vec() };
        if scaled.iter().any(|&d| d % factor != 0) || (!conv.three_d && tile[0] != 1) {
            bail!(
                "model.block {tile:?}: a {} model with {levels} stride-{s} layers needs {} divisible by {factor}",
                if conv.three_d { "conv3d" } else { "conv2d" },
                if conv.three_d { "every block extent" } else { "a 2-d block with both extents" }
            );
        }
        let mut size = tile.map(|d| d as u32);
        let mut channels = 1u32;
        let mut encoder = Vec::new();
        let mut ups = Vec::new();
        for &c in &conv.channels {
            let geom = |ci: u32, co: u32, in_size: [u32; 3]| ConvGeom {
                in_channels: ci,
                out_channels: co,
                in_size,
                kernel,
                stride,
                padding,
            };
            let down = LinearOp::Conv(geom(channels, c as u32, size));
            let next = [0, 1, 2].map(|a| size[a] / stride[a]);
            ups.push((LinearOp::ConvTranspose(geom(c as u32, channels, next)), channels));
            encoder.push(LayerSpec { op: down, act_channels: Some(c) });
            ensure!(down.out_dim() == c * next.iter().product::<u32>() as usize, "conv shape mismatch");
            size = next;
            channels = c as u32;
        }
        let flat = channels as usize * size.iter().product::<u32>() as usize;
        let dense = |i: usize, o: usize| LinearOp::Dense { in_dim: i as u32, out_dim: o as u32 };
        encoder.push(LayerSpec { op: dense(flat, latent), act_channels: None });
        let mut decoder = vec![LayerSpec { op: dense(latent, flat), act_channels: Some(channels as usize) }];
        for (i, (op, out_ch)) in ups.into_iter().rev().enumerate() {
            let last = i + 1 == conv.channels.len();
            decoder.push(LayerSpec { op, act_channels: (!last).then_some(out_ch as usize) });
        }
        let arch = Self { encoder, decoder, gdn };
        arch.check(tile.iter().product())?;
        Ok(arch)
    }

    /// Every layer chains into the next and the ends have `dim` values.
    pub fn check(&self, dim: usize) -> Result<()> {
        let mut width = dim;
        for (i, l) in self.encoder.iter().chain(&self.decoder).enumerate() {
            l.op.check().map_err(|e| anyhow::anyhow!("layer {i}: {e}"))?;
            ensure!(l.op.in_dim() == width, "layer {i} takes {} values, gets {width}", l.op.in_dim());
            width = l.op.out_dim();
        }
        ensure!(width == dim, "the decoder gives {width} values, the tile has {dim}");
        Ok(())
    }

    pub fn latent(&self) -> usize {
        self.encoder.last().map_or(0, |l| l.op.out_dim())
    }

    fn layers(&self) -> impl Iterator<Item = &LayerSpec> {
        self.encoder.iter().chain(&self.decoder)
    }

    /// Parameters of the decoder as stored (kernels, biases, normalizations).
    pub fn decoder_parameters(&self) -> usize {
        self.decoder
            .iter()
            .map(|l| {
                let norm = l.act_channels.filter(|_| self.gdn).map_or(0, |c| c * c + c);
                l.op.weight_len() + l.op.out_channels() + norm
            })
            .sum()
    }
}

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

/// One trained layer in the codec's layout: the op's weights, one bias per output channel, and
/// the normalization that follows it (if GDN is used there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetLayer {
    pub op: LinearOp,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub norm: Option<FloatNorm>,
}

// ---------------------------------------------------------------------------------------------
// burn modules

/// GDN parameters, reparametrized so that β > 0 and γ ≥ 0 whatever the optimiser does.
#[derive(Module, Debug)]
pub struct Gdn {
    beta: Param<Tensor<1>>,
    gamma: Param<Tensor<2>>,
}

/// β = b² + BETA_MIN keeps the normalization away from a division by zero.
const BETA_MIN: f64 = 1e-4;

impl Gdn {
    fn effective(&self) -> (Tensor<1>, Tensor<2>) {
        (self.beta.val().square().add_scalar(BETA_MIN), self.gamma.val().square())
    }

    /// x: [batch, channels·positions], channels-first.
    fn forward(&self, x: Tensor<2>, inverse: bool) -> Tensor<2> {
        let [b, w] = x.dims();
        let (beta, gamma) = self.effective();
        let c = beta.dims()[0];
        let p = w / c;
        let x3 = x.reshape([b, c, p]);
        let sq = x3.clone().square().swap_dims(1, 2).reshape([b * p, c]);
        let norm = sq.matmul(gamma.transpose()) + beta.unsqueeze::<2>();
        let norm = norm.reshape([b, p, c]).swap_dims(1, 2).sqrt();
        let y = if inverse { x3 * norm } else { x3 / norm };
        y.reshape([b, w])
    }

    fn export(&self, inverse: bool) -> Result<FloatNorm> {
        let (beta, gamma) = self.effective();
        let beta = tensor_to_vec(beta)?;
        Ok(FloatNorm { channels: beta.len(), beta, gamma: tensor_to_vec(gamma)?, inverse })
    }
}

/// The weights of a (transposed) convolution, in PyTorch layout.
#[derive(Module, Debug)]
pub struct Kernel {
    weight: Param<Tensor<5>>,
    bias: Param<Tensor<1>>,
}

/// The autoencoder. Layers of each kind are kept in the order [`Arch`] lists them.
#[derive(Module, Debug)]
pub struct AeNet {
    linears: Vec<Linear>,
    kernels: Vec<Kernel>,
    /// One per activation, in order, when the architecture uses GDN.
    norms: Vec<Gdn>,
}

/// Output of a forward pass: reconstruction, latent, and (if asked) the sum of |activation| over
/// the hidden layers and the latent, with the number of elements summed.
pub struct Forward {
    pub output: Tensor<2>,
    pub latent: Tensor<2>,
    pub abs_sum: Option<Tensor<1>>,
    pub abs_count: usize,
}

fn geom_of(op: &LinearOp) -> Option<&ConvGeom> {
    match op {
        LinearOp::Dense { .. } => None,
        LinearOp::Conv(g) | LinearOp::ConvTranspose(g) => Some(g),
    }
}

fn us3(v: [u32; 3]) -> [usize; 3] {
    v.map(|d| d as usize)
}

impl AeNet {
    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.linears[0].weight.val().device()
    }

    pub fn forward(&self, arch: &Arch, x: Tensor<2>, slope: f64, with_abs: bool) -> Forward {
        let mut abs_sum: Option<Tensor<1>> = None;
        let mut abs_count = 0usize;
        let mut add_abs = |a: &Tensor<2>| {
            if with_abs {
                let [r, c] = a.dims();
                abs_count += r * c;
                let s = a.clone().abs().sum();
                abs_sum = Some(match abs_sum.take() {
                    Some(t) => t + s,
                    None => s,
                });
            }
        };
        let (mut li, mut ki, mut ni) = (0, 0, 0);
        let mut h = x;
        let mut latent = None;
        let n_enc = arch.encoder.len();
        for (i, spec) in arch.layers().enumerate() {
            let b = h.dims()[0];
            h = match &spec.op {
                LinearOp::Dense { .. } => {
                    li += 1;
                    self.linears[li - 1].forward(h)
                }
                op => {
                    let g = geom_of(op).expect("a convolution");
                    let k = &self.kernels[ki];
                    ki += 1;
                    let [d0, d1, d2] = us3(g.in_size);
                    let x5 = h.reshape([b, g.in_channels as usize, d0, d1, d2]);
                    let (st, pad) = (us3(g.stride), us3(g.padding));
                    let y = match op {
                        LinearOp::Conv(_) => conv3d(
                            x5,
                            k.weight.val(),
                            Some(k.bias.val()),
                            ConvOptions::new(st, pad, [1; 3], 1),
                        ),
                        _ => conv_transpose3d(
                            x5,
                            k.weight.val(),
                            Some(k.bias.val()),
                            ConvTransposeOptions::new(st, pad, [0; 3], [1; 3], 1),
                        ),
                    };
                    y.reshape([b, op.out_dim()])
                }
            };
            let decoding = i >= n_enc;
            if spec.act_channels.is_some() {
                h = if arch.gdn {
                    ni += 1;
                    self.norms[ni - 1].forward(h, decoding)
                } else {
                    leaky_relu(h, slope)
                };
            }
            if spec.act_channels.is_some() || i + 1 == n_enc {
                add_abs(&h); // hidden activations and the latent
            }
            if i + 1 == n_enc {
                latent = Some(h.clone());
            }
        }
        Forward { output: h, latent: latent.expect("the encoder has layers"), abs_sum, abs_count }
    }
}

/// The parameters on the host, used to initialise the burn network (from our seeded RNG, so
/// training is repeatable) and to export it.
pub fn init(arch: &Arch, mut uniform: impl FnMut() -> f64, device: &Device) -> AeNet {
    let mut linears = Vec::new();
    let mut kernels = Vec::new();
    let mut norms = Vec::new();
    for spec in arch.layers() {
        let op = &spec.op;
        // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = inputs feeding one output.
        let fan_in = match op {
            LinearOp::Dense { in_dim, .. } => *in_dim as usize,
            LinearOp::Conv(g) | LinearOp::ConvTranspose(g) => {
                g.in_channels as usize * g.kernel.iter().product::<u32>() as usize
            }
        };
        let bound = 1.0 / (fan_in as f64).sqrt();
        let mut u =
            |n: usize| -> Vec<f32> { (0..n).map(|_| ((uniform() * 2.0 - 1.0) * bound) as f32).collect() };
        let (w, b) = (u(op.weight_len()), u(op.out_channels()));
        match op {
            LinearOp::Dense { in_dim, out_dim } => {
                let (i, o) = (*in_dim as usize, *out_dim as usize);
                linears.push(Linear {
                    // Drawn in burn's [in][out] order (as the dense trainer always has: same seed,
                    // same model).
                    weight: Param::from_data(TensorData::new(w, [i, o]), device),
                    bias: Some(Param::from_data(TensorData::new(b, [o]), device)),
                });
            }
            LinearOp::Conv(g) | LinearOp::ConvTranspose(g) => {
                let (a, c) = match op {
                    LinearOp::Conv(_) => (g.out_channels, g.in_channels),
                    _ => (g.in_channels, g.out_channels),
                };
                let [k0, k1, k2] = us3(g.kernel);
                kernels.push(Kernel {
                    weight: Param::from_data(
                        TensorData::new(w, [a as usize, c as usize, k0, k1, k2]),
                        device,
                    ),
                    bias: Param::from_data(TensorData::new(b, [op.out_channels()]), device),
                });
            }
        }
        if let (Some(c), true) = (spec.act_channels, arch.gdn) {
            // β = 1, γ = 0.1 on the diagonal and 0.001 elsewhere (all reachable by gradients).
            let gamma: Vec<f32> =
                (0..c * c).map(|i| if i % (c + 1) == 0 { 0.1f32.sqrt() } else { 0.001f32.sqrt() }).collect();
            norms.push(Gdn {
                beta: Param::from_data(TensorData::new(vec![(1.0 - BETA_MIN as f32).sqrt(); c], [c]), device),
                gamma: Param::from_data(TensorData::new(gamma, [c, c]), device),
            });
        }
    }
    AeNet { linears, kernels, norms }
}

fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}

pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("reading tensor data: {e}"))
}

/// The trained weights in the codec's layout: (encoder, decoder).
pub fn export(arch: &Arch, net: &AeNet) -> Result<(Vec<NetLayer>, Vec<NetLayer>)> {
    let (mut li, mut ki, mut ni) = (0, 0, 0);
    let mut out = Vec::new();
    let n_enc = arch.encoder.len();
    for (i, spec) in arch.layers().enumerate() {
        let op = spec.op;
        let (weight, bias) = match op {
            LinearOp::Dense { in_dim, out_dim } => {
                let l = &net.linears[li];
                li += 1;
                let w = tensor_to_vec(l.weight.val())?;
                let b = match &l.bias {
                    Some(b) => tensor_to_vec(b.val())?,
                    None => vec![0.0; out_dim as usize],
                };
                (transpose(&w, in_dim as usize, out_dim as usize), b)
            }
            _ => {
                let k = &net.kernels[ki];
                ki += 1;
                (tensor_to_vec(k.weight.val())?, tensor_to_vec(k.bias.val())?)
            }
        };
        let norm = match (spec.act_channels, arch.gdn) {
            (Some(_), true) => {
                ni += 1;
                Some(net.norms[ni - 1].export(i >= n_enc)?)
            }
            _ => None,
        };
        out.push(NetLayer { op, weight, bias, norm });
    }
    let decoder = out.split_off(n_enc);
    Ok((out, decoder))
}
