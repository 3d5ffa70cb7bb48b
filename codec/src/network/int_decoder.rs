//! The decoder network in fixed-point integer arithmetic: the same bits on every decoder.
//!
//! Floating-point inference is not reproducible across CPUs, WASM and GPUs (FMA contraction,
//! reduction order). Integer sums are exact in any order, so the exported decoder runs on integers:
//! int8 weights with a power-of-two scale per output row, int16 activations, i32 accumulators and
//! requantization by a rounding arithmetic shift. Every operation fits in i32 (checked when a model is
//! loaded), which is also what WGSL offers. Only the last layer's accumulator is turned into an f64,
//! by an exact multiplication with a power of two.
//!
//! Convolutional decoders run as the dense matrices their kernels expand to (see [`crate::network::conv`]);
//! inverse GDN is an integer operation of its own ([`IntGdn`]), with an exact integer square root.
//!
//! This module defines the network, its validation and quantization; running it fast (batches of
//! tiles, SIMD kernels) is the `kernels` module's job, behind `IntDecoder::predict_acc` (defined there).

use serde::{Deserialize, Serialize};

use crate::error::{CodecError, Result};

/// Activations are clamped to this range between layers.
pub(crate) const ACT_MIN: i32 = -32768;
pub(crate) const ACT_MAX: i32 = 32767;
/// Per-row bound on |Σ w·x| + |b| with |x| ≤ 2^15, so that adding the rounding term cannot overflow i32.
pub(crate) const ACC_LIMIT: i64 = 1 << 30;
/// LeakyReLU's negative slope is `leaky_num / 2^LEAKY_SHIFT`.
pub(crate) const LEAKY_SHIFT: u32 = 12;
pub(crate) const MAX_WIDTH: u32 = 1 << 16;

/// One dense layer: `y = W x + b`, `W` row-major [out][in].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntLayer {
    pub in_dim: u32,
    pub out_dim: u32,
    pub weights: Vec<i8>,
    /// Hidden layers: right shift from the accumulator to the next layer's fixed-point scale.
    /// Last layer: the output is `acc · 2^-shift`.
    pub shifts: Vec<u8>,
    pub bias: Vec<i32>,
}

/// The decoder half of an autoencoder, ready for exact integer inference.
///
/// Serializes (postcard) as model format 1: dense LeakyReLU networks only. [`StoredDecoder`] is
/// the general stored form; this is what it expands to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntDecoder {
    /// Latents are integers in units of `2^-latent_frac_bits`.
    pub latent_frac_bits: u8,
    /// LeakyReLU negative slope × 4096.
    pub leaky_num: i32,
    pub layers: Vec<IntLayer>,
    /// Per layer, the inverse GDN that replaces LeakyReLU after it; empty = LeakyReLU everywhere.
    #[serde(skip)]
    pub norms: Vec<Option<IntGdn>>,
}

/// Right shift that takes a squared int16 activation into the norm's sum (|x|² ≤ 2^30 → ≤ 2^15).
pub(crate) const GDN_SQ_SHIFT: u32 = 15;
/// The norm's sum must stay below this, so that `x · isqrt(s)` and its rounding fit i32.
pub(crate) const GDN_SUM_LIMIT: i64 = (1 << 31) - 1;

/// Inverse generalized divisive normalization (Ballé et al.) in integers, over a channels-first
/// layer output `x[c, p]`: `y[c, p] = x[c, p] · isqrt(β_c + Σ_k γ_ck · (x[k, p]² >> 15)) >> shift_c`,
/// rounded half up and clamped to int16. `isqrt` is the exact floor square root.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntGdn {
    pub channels: u32,
    /// β per channel (≥ 0).
    pub beta: Vec<i32>,
    /// γ, row-major [c][k].
    pub gamma: Vec<u16>,
    pub shifts: Vec<u8>,
}

impl IntGdn {
    /// Checks sizes and that the norm's sum cannot overflow for any int16 input.
    pub fn validate(&self, width: usize) -> std::result::Result<(), String> {
        let c = self.channels as usize;
        if c == 0 || !width.is_multiple_of(c) {
            return Err(format!("inverse GDN: {c} channels do not divide the layer's {width} outputs"));
        }
        if self.beta.len() != c || self.gamma.len() != c * c || self.shifts.len() != c {
            return Err("inverse GDN: array lengths do not match the channel count".into());
        }
        for (ch, row) in self.gamma.chunks_exact(c).enumerate() {
            let sum = self.beta[ch] as i64 + row.iter().map(|&g| g as i64).sum::<i64>() * (1 << GDN_SQ_SHIFT);
            if self.beta[ch] < 0 || sum > GDN_SUM_LIMIT || self.shifts[ch] > 30 {
                return Err(format!("inverse GDN channel {ch}: β, γ or shift out of range"));
            }
        }
        Ok(())
    }

    /// Applies the normalization to one tile's layer output (channels-first), writing `out`.
    pub fn apply(&self, x: &[i32], out: &mut [i32]) {
        self.apply_with(x, out, &mut Vec::new());
    }

    /// [`Self::apply`] with a scratch buffer of the caller's.
    pub(crate) fn apply_with(&self, x: &[i32], out: &mut [i32], squares: &mut Vec<i32>) {
        let c = self.channels as usize;
        let p = x.len() / c;
        // The squares of one position, contiguous, so that each channel's sum is a plain dot product.
        squares.resize(c, 0);
        for pos in 0..p {
            for (k, sq) in squares.iter_mut().enumerate() {
                let v = x[k * p + pos];
                *sq = (v * v) >> GDN_SQ_SHIFT;
            }
            for (ch, (gamma, (&beta, &shift))) in
                self.gamma.chunks_exact(c).zip(self.beta.iter().zip(&self.shifts)).enumerate()
            {
                let s =
                    gamma.iter().zip(squares.iter()).fold(beta, |s, (&g, &q)| s.wrapping_add(g as i32 * q));
                let r = isqrt(s as u32) as i32;
                out[ch * p + pos] = clamp_activation(round_shift(x[ch * p + pos] * r, shift));
            }
        }
    }
}

impl IntDecoder {
    pub fn latent_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.in_dim as usize)
    }

    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_dim as usize)
    }

    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.weights.len() + l.bias.len()).sum()
    }

    /// Checks every size and proves that no accumulator can overflow i32.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CodecError::InvalidModel(m));
        if self.layers.is_empty() {
            return bad("no layers".into());
        }
        if self.latent_frac_bits > 24 {
            return bad(format!("latent scale 2^-{} out of range", self.latent_frac_bits));
        }
        if !(0..=(1 << LEAKY_SHIFT)).contains(&self.leaky_num) {
            return bad(format!("LeakyReLU slope {}/4096 out of range", self.leaky_num));
        }
        let last = self.layers.len() - 1;
        if !self.norms.is_empty() && self.norms.len() != self.layers.len() {
            return bad(format!("{} normalizations for {} layers", self.norms.len(), self.layers.len()));
        }
        for (i, norm) in self.norms.iter().enumerate() {
            match norm {
                Some(_) if i == last => return bad("the output layer has no normalization".into()),
                Some(g) => g.validate(self.layers[i].out_dim as usize).map_err(CodecError::InvalidModel)?,
                None => {}
            }
        }
        for (i, l) in self.layers.iter().enumerate() {
            if l.in_dim == 0 || l.out_dim == 0 || l.in_dim > MAX_WIDTH || l.out_dim > MAX_WIDTH {
                return bad(format!("layer {i}: size {}x{} out of range", l.out_dim, l.in_dim));
            }
            if i > 0 && self.layers[i - 1].out_dim != l.in_dim {
                return bad(format!(
                    "layer {i}: input {} does not match the previous output {}",
                    l.in_dim,
                    self.layers[i - 1].out_dim
                ));
            }
            let (o, n) = (l.out_dim as usize, l.in_dim as usize);
            if l.weights.len() != o * n || l.shifts.len() != o || l.bias.len() != o {
                return bad(format!("layer {i}: array lengths do not match {o}x{n}"));
            }
            let max_shift = if i == last { 62 } else { 30 };
            for (j, row) in l.weights.chunks_exact(n).enumerate() {
                let sum: i64 =
                    row.iter().map(|&w| (w as i64).abs()).sum::<i64>() * 32768 + (l.bias[j] as i64).abs();
                if sum > ACC_LIMIT {
                    return bad(format!("layer {i} row {j}: accumulator could overflow"));
                }
                if l.shifts[j] > max_shift {
                    return bad(format!("layer {i} row {j}: shift {} out of range", l.shifts[j]));
                }
            }
        }
        Ok(())
    }

    /// Runs the network on the latents of `n` tiles (row-major n × latent_dim) and returns the
    /// normalized predictions (n × output_dim). The model must have passed [`Self::validate`].
    pub fn predict(&self, latents: &[i32], n: usize) -> Vec<f64> {
        let acc = self.predict_acc(latents, n);
        self.outputs(&acc)
    }

    /// Whether layer `i` is followed by an inverse GDN (instead of LeakyReLU).
    pub fn norm(&self, i: usize) -> Option<&IntGdn> {
        self.norms.get(i).and_then(Option::as_ref)
    }

    /// Last-layer accumulators (n × output_dim) → normalized predictions, by exact powers of two.
    pub fn outputs(&self, acc: &[i32]) -> Vec<f64> {
        self.outputs_with(acc, |x| x)
    }

    /// [`Self::outputs`], each passed through `f` on the way (one pass, no buffer of f64).
    pub fn outputs_with<T>(&self, acc: &[i32], f: impl Fn(f64) -> T) -> Vec<T> {
        let shifts = &self.layers.last().expect("validated model has layers").shifts;
        acc.iter().zip(shifts.iter().cycle()).map(|(&a, &s)| f(a as f64 * pow2_neg(s))).collect()
    }
}

/// ⌊√s⌋ exactly, for every u32: s is exact in f64 and the square root correctly rounded. For
/// k² ≤ s < (k + 1)², √s ≥ k and √s < k + 1 − 1/(2(k + 1)), a gap of at least 2^-17 that
/// rounding near 2^16 (steps of 2^-36) cannot close, so the truncation is k.
pub(crate) fn isqrt(s: u32) -> u32 {
    (s as f64).sqrt() as u32
}

/// Network inputs and hidden activations live in the int16 range.
pub fn clamp_activation(v: i32) -> i32 {
    v.clamp(ACT_MIN, ACT_MAX)
}

/// `a / 2^s` rounded half up; cannot overflow for |a| ≤ 2^30, s ≤ 30. Branch-free (the rounding
/// term `2^s >> 1` is 0 for s = 0), so that loops over a batch vectorize.
pub(crate) fn round_shift(a: i32, s: u8) -> i32 {
    a.wrapping_add((1 << s) >> 1) >> s
}

/// 2^-s, exactly.
pub(crate) fn pow2_neg(s: u8) -> f64 {
    f64::from_bits((1023 - s as u64) << 52)
}

/// Most bits a stored latent may have dropped (the chunk's latent step is 2^shift).
pub const MAX_LATENT_SHIFT: u8 = 16;

/// A stored latent back at the decoder's input scale (saturating, so hostile values cannot overflow).
pub fn shift_up(stored: i32, shift: u8) -> i32 {
    ((stored as i64) << shift.min(MAX_LATENT_SHIFT)).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::conv::LinearOp;
    use crate::network::float_ref::*;
    use crate::network::quantize::*;
    use crate::network::stored::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn random_net(dims: &[usize], seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let mut s = seed;
        let mut ws = Vec::new();
        let mut bs = Vec::new();
        for w in dims.windows(2) {
            let scale = 1.0 / (w[0] as f32).sqrt();
            ws.push((0..w[0] * w[1]).map(|_| lcg(&mut s) * scale).collect());
            bs.push((0..w[1]).map(|_| lcg(&mut s) * 0.1).collect());
        }
        (ws, bs)
    }

    #[test]
    fn integer_decoder_tracks_the_float_decoder() {
        let dims = [6, 50, 100, 64];
        let (ws, bs) = random_net(&dims, 7);
        let layers: Vec<FloatLayer> =
            dims.windows(2).enumerate().map(|(i, w)| FloatLayer::dense(w[0], w[1], &ws[i], &bs[i])).collect();
        let mut s = 99u64;
        let lat: Vec<f32> = (0..6 * 200).map(|_| lcg(&mut s) * 3.0).collect();
        let dec = quantize_decoder(&layers, 0.01, &lat).unwrap().expand().unwrap();
        let q = quantize_latents(&lat, dec.latent_frac_bits);
        let pred = dec.predict(&q, 200);
        let mut max_err = 0.0f64;
        let mut max_val = 0.0f64;
        for t in 0..200 {
            let input: Vec<f64> = lat[t * 6..(t + 1) * 6].iter().map(|&v| v as f64).collect();
            let f = float_forward(&layers, 0.01, &input);
            for (a, b) in f.last().unwrap().iter().zip(&pred[t * 64..(t + 1) * 64]) {
                max_err = max_err.max((a - b).abs());
                max_val = max_val.max(a.abs());
            }
        }
        // int8 weights: a few percent of the output's scale, not more.
        assert!(max_err < 0.05 * max_val, "max err {max_err} vs scale {max_val}");
        assert!(max_err > 0.0, "quantization cannot be exact for random weights");
    }

    /// Dense → inverse GDN → transposed conv → inverse GDN → transposed conv, 16×16 output.
    #[test]
    fn conv_igdn_decoder_tracks_the_float_decoder_and_round_trips() {
        use crate::network::conv::ConvGeom;
        let up = |ci: u32, co: u32, n: u32| {
            LinearOp::ConvTranspose(ConvGeom {
                in_channels: ci,
                out_channels: co,
                in_size: [1, n, n],
                kernel: [1, 4, 4],
                stride: [1, 2, 2],
                padding: [0, 1, 1],
            })
        };
        let ops = [LinearOp::Dense { in_dim: 5, out_dim: 4 * 16 }, up(4, 3, 4), up(3, 1, 8)];
        let mut s = 5u64;
        let ws: Vec<Vec<f32>> =
            ops.iter().map(|op| (0..op.weight_len()).map(|_| lcg(&mut s) * 0.5).collect()).collect();
        let bs: Vec<Vec<f32>> =
            ops.iter().map(|op| (0..op.out_channels()).map(|_| lcg(&mut s) * 0.1).collect()).collect();
        let gd: Vec<(Vec<f32>, Vec<f32>)> = [4usize, 3]
            .iter()
            .map(|&c| {
                let beta = (0..c).map(|_| 1.0 + lcg(&mut s).abs()).collect();
                let gamma = (0..c * c).map(|_| 0.2 * lcg(&mut s).abs()).collect();
                (beta, gamma)
            })
            .collect();
        let layers: Vec<FloatLayer> = (0..3)
            .map(|i| FloatLayer {
                op: ops[i],
                weight: &ws[i],
                bias: &bs[i],
                gdn: gd.get(i).map(|(b, g)| FloatGdn { beta: b, gamma: g }),
            })
            .collect();
        let lat: Vec<f32> = (0..5 * 100).map(|_| lcg(&mut s) * 2.0).collect();
        let stored = quantize_decoder(&layers, 0.01, &lat).unwrap();
        assert_eq!(stored.describe(), "dense+igdn → conv_transpose+igdn → conv_transpose");
        // The kernels are stored, not the 256×192 matrices they expand to.
        assert_eq!(stored.parameter_count(), 5 * 64 + 64 + 4 + 16 + 4 * 3 * 16 + 3 + 3 + 9 + 3 * 16 + 1);
        let bytes = stored.to_bytes();
        assert_eq!(bytes[0], MODEL_FORMAT_2);
        assert_eq!(StoredDecoder::from_bytes(&bytes).unwrap(), stored);
        let dec = crate::parse_model(&bytes).unwrap();
        assert_eq!(dec.output_dim(), 256);
        let pred = dec.predict(&quantize_latents(&lat, dec.latent_frac_bits), 100);
        let (mut max_err, mut max_val) = (0.0f64, 0.0f64);
        for t in 0..100 {
            let input: Vec<f64> = lat[t * 5..(t + 1) * 5].iter().map(|&v| v as f64).collect();
            let f = float_forward(&layers, 0.01, &input);
            for (a, b) in f.last().unwrap().iter().zip(&pred[t * 256..(t + 1) * 256]) {
                max_err = max_err.max((a - b).abs());
                max_val = max_val.max(a.abs());
            }
        }
        assert!(max_err < 0.05 * max_val, "max err {max_err} vs scale {max_val}");
        // Without the normalizations the output differs: the integer GDN is really applied.
        let mut plain = dec.clone();
        plain.norms.clear();
        assert_ne!(plain.predict(&quantize_latents(&lat, dec.latent_frac_bits), 100), pred);
    }

    #[test]
    fn hostile_stored_models_are_refused_before_expansion() {
        use crate::network::conv::ConvGeom;
        // One weight that expands to a 4096 × 4096 matrix, nine times: each layer is within its
        // own limit, the sum is not.
        let geom = ConvGeom {
            in_channels: 1,
            out_channels: 1,
            in_size: [1, 64, 64],
            kernel: [1, 1, 1],
            stride: [1, 1, 1],
            padding: [0, 0, 0],
        };
        let conv = StoredLayer {
            op: LinearOp::Conv(geom),
            weights: vec![1],
            shifts: vec![0],
            bias: vec![0],
            gdn: None,
        };
        let layers = vec![conv; 9];
        let dec = StoredDecoder { latent_frac_bits: 0, leaky_num: 0, layers };
        let err = dec.expand().unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
        // Wrong weight counts and unknown bytes are errors, not panics.
        let mut short =
            StoredDecoder { latent_frac_bits: 0, leaky_num: 0, layers: vec![dec.layers[0].clone()] };
        short.layers[0].weights.clear();
        assert!(short.expand().is_err());
        assert!(StoredDecoder::from_bytes(&[MODEL_FORMAT_2, 0xff, 0xff, 0xff]).is_err());
        // Geometry far out of range (its expanded size overflowed 64 bits in the sum, a panic with
        // overflow checks): refused by the layer's own check, before any size is multiplied.
        let huge = ConvGeom {
            in_channels: u32::MAX,
            out_channels: u32::MAX,
            in_size: [u32::MAX; 3],
            kernel: [1, 1, 1],
            stride: [1, 1, 1],
            padding: [0, 0, 0],
        };
        for op in [LinearOp::Conv(huge), LinearOp::ConvTranspose(huge)] {
            let layer = StoredLayer { op, weights: vec![1], shifts: vec![0], bias: vec![0], gdn: None };
            let dec = StoredDecoder { latent_frac_bits: 0, leaky_num: 0, layers: vec![layer; 3] };
            let err = dec.expand().unwrap_err().to_string();
            assert!(err.contains("layer 0") && err.contains("out of range"), "{err}");
        }
        // Checked convolutions of the largest dims: their product needs more than 64 bits.
        let widest = ConvGeom {
            in_channels: 1024,
            out_channels: 1024,
            in_size: [4096; 3],
            kernel: [1, 1, 1],
            stride: [1, 1, 1],
            padding: [0, 0, 0],
        };
        assert!(LinearOp::Conv(widest).check().unwrap_err().contains("out of range"));
    }

    /// Damaged format-2 payloads (every byte flipped in turn, truncations) are errors or valid
    /// models, never panics.
    #[test]
    fn damaged_format_2_payloads_never_panic() {
        use crate::network::conv::ConvGeom;
        let geom = ConvGeom {
            in_channels: 2,
            out_channels: 1,
            in_size: [1, 4, 4],
            kernel: [1, 4, 4],
            stride: [1, 2, 2],
            padding: [0, 1, 1],
        };
        let dec = StoredDecoder {
            latent_frac_bits: 8,
            leaky_num: 41,
            layers: vec![
                StoredLayer {
                    op: LinearOp::Dense { in_dim: 3, out_dim: 32 },
                    weights: (0..96).map(|i| (i % 7) as i8 - 3).collect(),
                    shifts: vec![4; 32],
                    bias: vec![1; 32],
                    gdn: Some(IntGdn {
                        channels: 2,
                        beta: vec![1 << 12; 2],
                        gamma: vec![3, 1, 2, 5],
                        shifts: vec![6; 2],
                    }),
                },
                StoredLayer {
                    op: LinearOp::ConvTranspose(geom),
                    weights: (0..32).map(|i| (i % 5) as i8 - 2).collect(),
                    shifts: vec![8],
                    bias: vec![0],
                    gdn: None,
                },
            ],
        };
        let bytes = dec.to_bytes();
        let good = crate::parse_model(&bytes).unwrap();
        assert_eq!(good.output_dim(), 64);
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                if let Ok(d) = crate::parse_model(&b) {
                    d.predict(&vec![100; d.latent_dim()], 1);
                }
            }
            assert!(crate::parse_model(&bytes[..i]).is_err() || i == 0);
        }
    }

    #[test]
    fn integer_gdn_matches_hand_computation_and_rejects_overflow() {
        let g = IntGdn { channels: 2, beta: vec![1 << 20, 4], gamma: vec![2, 0, 1, 3], shifts: vec![10, 4] };
        g.validate(4).unwrap();
        // x = [c0: 1000, -2000 | c1: 300, 32767]
        let x = [1000, -2000, 300, 32767];
        let mut y = [0; 4];
        g.apply(&x, &mut y);
        let sq = |v: i32| (v * v) >> 15;
        let r00 = ((1i32 << 20) + 2 * sq(1000)).isqrt();
        let r01 = ((1i32 << 20) + 2 * sq(-2000)).isqrt();
        let r10 = (4 + sq(1000) + 3 * sq(300)).isqrt();
        let r11 = (4 + sq(-2000) + 3 * sq(32767)).isqrt();
        let rs = |v: i32, s: u32| (v + (1 << (s - 1))) >> s;
        assert_eq!(
            y,
            [rs(1000 * r00, 10), rs(-2000 * r01, 10), rs(300 * r10, 4), rs(32767 * r11, 4).min(32767)]
        );
        assert!(IntGdn { gamma: vec![40000, 40000, 0, 0], ..g.clone() }.validate(4).is_err());
        assert!(g.validate(3).is_err(), "2 channels do not divide 3 outputs");
    }

    #[test]
    fn validation_rejects_overflow_and_bad_shapes() {
        let good = IntDecoder {
            latent_frac_bits: 8,
            leaky_num: 41,
            layers: vec![IntLayer {
                in_dim: 2,
                out_dim: 1,
                weights: vec![1, -1],
                shifts: vec![8],
                bias: vec![0],
            }],
            norms: vec![],
        };
        good.validate().unwrap();
        let mut big = good.clone();
        big.layers[0] =
            IntLayer { in_dim: 20000, out_dim: 1, weights: vec![127; 20000], shifts: vec![0], bias: vec![0] };
        assert!(big.validate().is_err());
        let mut wrong = good.clone();
        wrong.layers[0].weights.pop();
        assert!(wrong.validate().is_err());
        let mut chain = good.clone();
        chain.layers.push(IntLayer {
            in_dim: 3,
            out_dim: 1,
            weights: vec![0; 3],
            shifts: vec![0],
            bias: vec![0],
        });
        assert!(chain.validate().is_err());
    }

    #[test]
    fn prediction_is_pure_integer_and_repeatable() {
        let dec = IntDecoder {
            latent_frac_bits: 4,
            leaky_num: 41,
            layers: vec![
                IntLayer {
                    in_dim: 2,
                    out_dim: 2,
                    weights: vec![3, -5, 7, 1],
                    shifts: vec![2, 1],
                    bias: vec![5, -9],
                },
                IntLayer { in_dim: 2, out_dim: 1, weights: vec![-2, 4], shifts: vec![3], bias: vec![1] },
            ],
            norms: vec![],
        };
        dec.validate().unwrap();
        // Hand computation: h0 = (3*10 - 5*(-20) + 5 + 2) >> 2 = 137 >> 2 = 34
        //                   h1 = (7*10 + 1*(-20) - 9 + 1) >> 1 = 42 >> 1 = 21
        // out = (-2*34 + 4*21 + 1) / 8 = 17 / 8
        assert_eq!(dec.predict(&[10, -20], 1), vec![17.0 / 8.0]);
        // Negative pre-activation goes through the integer LeakyReLU: (-58 >> 1 = -29) * 41 >> 12 = -1.
        let p = dec.predict(&[-10, 20], 1);
        // h0 = (-30 - 100 + 5 + 2) >> 2 = -123 >> 2 = -31 -> (-31*41)>>12 = -1; h1 = (-70 + 20 - 9 + 1) >> 1 = -29 -> -1
        assert_eq!(p, vec![(2 - 4 + 1) as f64 / 8.0]);
    }
}
