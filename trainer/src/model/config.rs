//! The autoencoder's description: its layers ([`Arch`], each a codec [`LinearOp`] and the
//! activation after it) and [`AutoencoderConfig`], which builds the burn modules on a device.
//!
//! Every layer is described by the codec's [`LinearOp`] (dense, convolution, transposed
//! convolution), so the trained weights export to exactly what the decoder runs.

use anyhow::{Result, bail, ensure};
use baler_codec::network::conv::{ConvGeom, LinearOp};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Autoencoder, Decoder, Encoder, Layer};
use crate::rng::{STREAM_INIT, SplitMix64};

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSpec {
    pub op: LinearOp,
    /// Channels of the activation that follows (a GDN normalizes across them).
    pub act_channels: Option<usize>,
}

/// The whole network: encoder layers, then decoder layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

    pub fn layers(&self) -> impl Iterator<Item = &LayerSpec> {
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

/// The autoencoder to build: its layers, the LeakyReLU slope, and the seed of its initial weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoencoderConfig {
    pub arch: Arch,
    pub leaky_slope: f64,
    pub seed: u64,
}

impl AutoencoderConfig {
    pub fn new(arch: Arch, leaky_slope: f64, seed: u64) -> Self {
        Self { arch, leaky_slope, seed }
    }

    /// The network on `device`, initialised from the seed's own random stream (not burn's global
    /// RNG), so training is repeatable: PyTorch's default U(−1/√fan_in, 1/√fan_in) for weights and
    /// biases, drawn layer by layer, encoder first; GDN starts at β = 1, γ = 0.1 on the diagonal.
    pub fn init(&self, device: &Device) -> Autoencoder {
        let mut rng = SplitMix64::new(self.seed, STREAM_INIT);
        let a = &self.arch;
        let n_enc = a.encoder.len();
        let mut layers: Vec<Layer> = a
            .layers()
            .enumerate()
            .map(|(i, spec)| {
                Layer::init(spec, a.gdn, i >= n_enc, self.leaky_slope, &mut || rng.next_f64(), device)
            })
            .collect();
        let decoder = layers.split_off(n_enc);
        Autoencoder { encoder: Encoder { layers }, decoder: Decoder { layers: decoder } }
    }
}
