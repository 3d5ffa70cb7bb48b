//! One layer of the autoencoder as a burn module: a dense layer or a (transposed) 3-D convolution,
//! then its activation (LeakyReLU, or a GDN). Activations are kept flat ([batch,
//! channels·positions], channels-first, as in the codec); convolutions reshape to [batch, channels,
//! d0, d1, d2] around their call. 2-D convolutions are 3-D ones with a depth-1 kernel (burn's CPU
//! backend runs 2-D convolutions that way too).

use anyhow::Result;
use baler_codec::network::conv::LinearOp;
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::{conv_transpose3d, conv3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::{DenseLayer, Gdn, LayerSpec, NetLayer, tensor_to_vec};

/// The weights of a (transposed) convolution, in PyTorch layout.
#[derive(Module, Debug)]
pub struct Kernel {
    weight: Param<Tensor<5>>,
    bias: Param<Tensor<1>>,
}

/// The linear part of a layer.
#[derive(Module, Debug)]
pub enum Op {
    Dense(Linear),
    /// A convolution or a transposed one, as the layer's [`LayerSpec`] says.
    Conv(Kernel),
}

/// A layer and the activation after it.
#[derive(Module, Debug)]
pub struct Layer {
    op: Op,
    /// The normalization after the layer, when the network uses GDN there.
    norm: Option<Gdn>,
    #[module(skip)]
    spec: LayerSpec,
    leaky_slope: f64,
}

fn us3(v: [u32; 3]) -> [usize; 3] {
    v.map(|d| d as usize)
}

impl Layer {
    /// A layer of `spec`, weights and biases drawn from `uniform` (PyTorch's default:
    /// U(−1/√fan_in, 1/√fan_in), fan_in = inputs feeding one output), weights first. With `gdn`,
    /// its activation is a GDN (an inverse one when `decoding`).
    pub fn init(
        spec: &LayerSpec,
        gdn: bool,
        decoding: bool,
        leaky_slope: f64,
        uniform: &mut dyn FnMut() -> f64,
        device: &Device,
    ) -> Self {
        let op = &spec.op;
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
        let op_module = match op {
            LinearOp::Dense { in_dim, out_dim } => {
                let (i, o) = (*in_dim as usize, *out_dim as usize);
                Op::Dense(Linear {
                    // Drawn in burn's [in][out] order (as the dense trainer always has: same seed,
                    // same model).
                    weight: Param::from_data(TensorData::new(w, [i, o]), device),
                    bias: Some(Param::from_data(TensorData::new(b, [o]), device)),
                })
            }
            LinearOp::Conv(g) | LinearOp::ConvTranspose(g) => {
                let (a, c) = match op {
                    LinearOp::Conv(_) => (g.out_channels, g.in_channels),
                    _ => (g.in_channels, g.out_channels),
                };
                let [k0, k1, k2] = us3(g.kernel);
                Op::Conv(Kernel {
                    weight: Param::from_data(
                        TensorData::new(w, [a as usize, c as usize, k0, k1, k2]),
                        device,
                    ),
                    bias: Param::from_data(TensorData::new(b, [op.out_channels()]), device),
                })
            }
        };
        let norm = spec.act_channels.filter(|_| gdn).map(|c| Gdn::init(c, decoding, device));
        Self { op: op_module, norm, spec: spec.clone(), leaky_slope }
    }

    /// An exported dense layer (weights [out][in]) with LeakyReLU after it when `activation`.
    pub fn from_dense(l: &DenseLayer, activation: bool, leaky_slope: f64, device: &Device) -> Self {
        // [out][in] → [in][out], so that y = x·W + b.
        let mut wt = vec![0f32; l.in_dim * l.out_dim];
        for (o, row) in l.weight.chunks_exact(l.in_dim).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                wt[i * l.out_dim + o] = w;
            }
        }
        let linear = Linear {
            weight: Param::from_data(TensorData::new(wt, [l.in_dim, l.out_dim]), device),
            bias: Some(Param::from_data(TensorData::new(l.bias.clone(), [l.out_dim]), device)),
        };
        let spec = LayerSpec {
            op: LinearOp::Dense { in_dim: l.in_dim as u32, out_dim: l.out_dim as u32 },
            act_channels: activation.then_some(l.out_dim),
        };
        Self { op: Op::Dense(linear), norm: None, spec, leaky_slope }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        match &self.op {
            Op::Dense(l) => l.weight.val().device(),
            Op::Conv(k) => k.weight.val().device(),
        }
    }

    /// Whether an activation follows the layer.
    pub fn activated(&self) -> bool {
        self.spec.act_channels.is_some()
    }

    /// x: [batch, in_dim] → [batch, out_dim], activation applied.
    pub fn forward(&self, h: Tensor<2>) -> Tensor<2> {
        let b = h.dims()[0];
        let h = match (&self.op, &self.spec.op) {
            (Op::Dense(linear), _) => linear.forward(h),
            (Op::Conv(k), op @ (LinearOp::Conv(g) | LinearOp::ConvTranspose(g))) => {
                let [d0, d1, d2] = us3(g.in_size);
                let x5 = h.reshape([b, g.in_channels as usize, d0, d1, d2]);
                let (st, pad) = (us3(g.stride), us3(g.padding));
                let y = match op {
                    LinearOp::Conv(_) => {
                        conv3d(x5, k.weight.val(), Some(k.bias.val()), ConvOptions::new(st, pad, [1; 3], 1))
                    }
                    _ => conv_transpose3d(
                        x5,
                        k.weight.val(),
                        Some(k.bias.val()),
                        ConvTransposeOptions::new(st, pad, [0; 3], [1; 3], 1),
                    ),
                };
                y.reshape([b, op.out_dim()])
            }
            (Op::Conv(_), LinearOp::Dense { .. }) => unreachable!("a kernel for a dense layer"),
        };
        match (&self.norm, self.activated()) {
            (Some(norm), true) => norm.forward(h),
            (None, true) => leaky_relu(h, self.leaky_slope),
            (_, false) => h,
        }
    }

    /// The trained weights in the codec's layout (dense weights [out][in]).
    pub fn export(&self) -> Result<NetLayer> {
        let op = self.spec.op;
        let (weight, bias) = match &self.op {
            Op::Dense(l) => {
                let (i, o) = (op.in_dim(), op.out_dim());
                let w = tensor_to_vec(l.weight.val())?;
                let b = match &l.bias {
                    Some(b) => tensor_to_vec(b.val())?,
                    None => vec![0.0; o],
                };
                (transpose(&w, i, o), b)
            }
            Op::Conv(k) => (tensor_to_vec(k.weight.val())?, tensor_to_vec(k.bias.val())?),
        };
        let norm = match &self.norm {
            Some(g) if self.activated() => Some(g.export()?),
            _ => None,
        };
        Ok(NetLayer { op, weight, bias, norm })
    }
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
