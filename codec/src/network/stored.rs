//! The decoder as stored in a model section (formats 1 and 2, docs/format.md) and its expansion
//! into the integer decoder that runs.

use serde::{Deserialize, Serialize};

use crate::error::{CodecError, Result};
use crate::network::conv::LinearOp;
use crate::network::int_decoder::{IntDecoder, IntGdn, IntLayer};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredLayer {
    pub op: LinearOp,
    pub weights: Vec<i8>,
    pub shifts: Vec<u8>,
    pub bias: Vec<i32>,
    /// Inverse GDN after this layer (instead of LeakyReLU).
    pub gdn: Option<IntGdn>,
}

/// The decoder as stored in a model section (format 2; see docs/format.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredDecoder {
    pub latent_frac_bits: u8,
    pub leaky_num: i32,
    pub layers: Vec<StoredLayer>,
}

/// Most weights all expanded layers together may have (128 MiB of int8).
const MAX_EXPANDED_ENTRIES: u64 = 1 << 27;

/// First byte of a format-2 model section. A format-1 section starts with its latent scale (≤ 24).
pub(crate) const MODEL_FORMAT_2: u8 = 0x82;

impl StoredDecoder {
    /// A dense LeakyReLU decoder in stored form.
    pub fn from_dense(dec: &IntDecoder) -> Self {
        let layers = dec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| StoredLayer {
                op: LinearOp::Dense { in_dim: l.in_dim, out_dim: l.out_dim },
                weights: l.weights.clone(),
                shifts: l.shifts.clone(),
                bias: l.bias.clone(),
                gdn: dec.norm(i).cloned(),
            })
            .collect();
        Self { latent_frac_bits: dec.latent_frac_bits, leaky_num: dec.leaky_num, layers }
    }

    /// Whether format 1 (a dense LeakyReLU network) can hold this decoder.
    fn is_plain_dense(&self) -> bool {
        self.layers.iter().all(|l| matches!(l.op, LinearOp::Dense { .. }) && l.gdn.is_none())
    }

    /// The model section's bytes: format 1 when it can hold the decoder (so dense models keep
    /// their bytes and hashes), else the format-2 marker and the postcard encoding of `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.is_plain_dense() {
            let dec = self.expand().expect("a stored decoder is valid");
            return postcard::to_allocvec(&dec).expect("a decoder serializes");
        }
        let mut out = vec![MODEL_FORMAT_2];
        out.extend(postcard::to_allocvec(self).expect("a decoder serializes"));
        out
    }

    pub fn from_bytes(payload: &[u8]) -> Result<Self> {
        let err = |e: postcard::Error| CodecError::InvalidModel(format!("cannot parse the decoder: {e}"));
        match payload.split_first() {
            Some((&MODEL_FORMAT_2, rest)) => postcard::from_bytes(rest).map_err(err),
            _ => Ok(Self::from_dense(&postcard::from_bytes::<IntDecoder>(payload).map_err(err)?)),
        }
    }

    /// Stored weights, biases and normalization parameters: what the model costs.
    pub fn parameter_count(&self) -> usize {
        let gdn = |g: &IntGdn| g.beta.len() + g.gamma.len();
        self.layers.iter().map(|l| l.weights.len() + l.bias.len() + l.gdn.as_ref().map_or(0, gdn)).sum()
    }

    /// One word per layer, e.g. "dense", "conv", "conv_transpose", "+igdn" appended.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self
            .layers
            .iter()
            .map(|l| {
                let op = match l.op {
                    LinearOp::Dense { .. } => "dense",
                    LinearOp::Conv(_) => "conv",
                    LinearOp::ConvTranspose(_) => "conv_transpose",
                };
                format!("{op}{}", if l.gdn.is_some() { "+igdn" } else { "" })
            })
            .collect();
        names.join(" → ")
    }

    /// The runnable decoder: kernels expanded to dense matrices, per-channel shifts and biases
    /// repeated over each channel's positions; validated.
    pub fn expand(&self) -> Result<IntDecoder> {
        let bad = |i: usize, m: String| Err(CodecError::InvalidModel(format!("layer {i}: {m}")));
        // Each op's geometry first (its dims are only meaningful once checked, and each checked
        // op's matrix is bounded); then the sum bounds what a hostile model makes us allocate.
        for (i, l) in self.layers.iter().enumerate() {
            if let Err(m) = l.op.check() {
                return bad(i, m);
            }
        }
        let entries = self.layers.iter().map(|l| l.op.in_dim() as u64 * l.op.out_dim() as u64).sum::<u64>();
        if entries > MAX_EXPANDED_ENTRIES {
            return Err(CodecError::InvalidModel(format!("{entries} weights once expanded: too large")));
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut norms = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let c = l.op.out_channels();
            if l.weights.len() != l.op.weight_len() || l.shifts.len() != c || l.bias.len() != c {
                return bad(i, "array lengths do not match the operation".into());
            }
            let p = l.op.out_positions();
            let repeat = |v: &[u8]| v.iter().flat_map(|&x| std::iter::repeat_n(x, p)).collect::<Vec<u8>>();
            layers.push(IntLayer {
                in_dim: l.op.in_dim() as u32,
                out_dim: l.op.out_dim() as u32,
                weights: l.op.expand(&l.weights),
                shifts: repeat(&l.shifts),
                bias: l.bias.iter().flat_map(|&b| std::iter::repeat_n(b, p)).collect(),
            });
            norms.push(l.gdn.clone());
        }
        if norms.iter().all(Option::is_none) {
            norms.clear();
        }
        let dec =
            IntDecoder { latent_frac_bits: self.latent_frac_bits, leaky_num: self.leaky_num, layers, norms };
        dec.validate()?;
        Ok(dec)
    }
}

/// The model section's bytes of a dense LeakyReLU decoder (format 1; see docs/format.md).
pub fn to_bytes(dec: &IntDecoder) -> Vec<u8> {
    StoredDecoder::from_dense(dec).to_bytes()
}
