//! The decoder network in fixed-point integer arithmetic: the same bits on every decoder.
//!
//! Floating-point inference is not reproducible across CPUs, WASM and GPUs (FMA contraction,
//! reduction order). Integer sums are exact in any order, so the exported decoder runs on integers:
//! int8 weights with a power-of-two scale per output row, int16 activations, i32 accumulators and
//! requantization by a rounding arithmetic shift. Every operation fits in i32 (checked when a model is
//! loaded), which is also what WGSL offers. Only the last layer's accumulator is turned into an f64,
//! by an exact multiplication with a power of two.

use serde::{Deserialize, Serialize};

use crate::error::{CodecError, Result};

/// Activations are clamped to this range between layers.
const ACT_MIN: i32 = -32768;
const ACT_MAX: i32 = 32767;
/// Per-row bound on |Σ w·x| + |b| with |x| ≤ 2^15, so that adding the rounding term cannot overflow i32.
const ACC_LIMIT: i64 = 1 << 30;
/// LeakyReLU's negative slope is `leaky_num / 2^LEAKY_SHIFT`.
const LEAKY_SHIFT: u32 = 12;
const MAX_WIDTH: u32 = 1 << 16;

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntDecoder {
    /// Latents are integers in units of `2^-latent_frac_bits`.
    pub latent_frac_bits: u8,
    /// LeakyReLU negative slope × 4096.
    pub leaky_num: i32,
    pub layers: Vec<IntLayer>,
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

    /// The integer part of inference: the last layer's i32 accumulators (n × output_dim). This is
    /// what every backend (CPU here, WGSL on wgpu / WebGPU) computes; [`Self::outputs`] finishes.
    pub fn predict_acc(&self, latents: &[i32], n: usize) -> Vec<i32> {
        let z = self.latent_dim();
        assert_eq!(latents.len(), n * z, "latent buffer size");
        let widest = self.layers.iter().map(|l| l.out_dim as usize).max().unwrap_or(0).max(z);
        let mut cur = vec![0i32; widest];
        let mut next = vec![0i32; widest];
        let mut out = Vec::with_capacity(n * self.output_dim());
        let last = self.layers.len() - 1;
        for t in 0..n {
            for (c, &l) in cur.iter_mut().zip(&latents[t * z..(t + 1) * z]) {
                *c = clamp_activation(l);
            }
            for (li, layer) in self.layers.iter().enumerate() {
                let n_in = layer.in_dim as usize;
                let input = &cur[..n_in];
                for (j, row) in layer.weights.chunks_exact(n_in).enumerate() {
                    let mut acc = layer.bias[j];
                    for (&w, &x) in row.iter().zip(input) {
                        acc = acc.wrapping_add((w as i32).wrapping_mul(x));
                    }
                    if li == last {
                        out.push(acc);
                    } else {
                        next[j] = self.activation(acc, layer.shifts[j]);
                    }
                }
                std::mem::swap(&mut cur, &mut next);
            }
        }
        out
    }

    /// Requantizes a hidden accumulator and applies the integer LeakyReLU.
    fn activation(&self, acc: i32, shift: u8) -> i32 {
        let y = clamp_activation(round_shift(acc, shift));
        if y < 0 { (y * self.leaky_num) >> LEAKY_SHIFT } else { y }
    }

    /// Last-layer accumulators (n × output_dim) → normalized predictions, by exact powers of two.
    pub fn outputs(&self, acc: &[i32]) -> Vec<f64> {
        let shifts = &self.layers.last().expect("validated model has layers").shifts;
        acc.iter().zip(shifts.iter().cycle()).map(|(&a, &s)| a as f64 * pow2_neg(s)).collect()
    }
}

/// Network inputs and hidden activations live in the int16 range.
pub fn clamp_activation(v: i32) -> i32 {
    v.clamp(ACT_MIN, ACT_MAX)
}

/// `a / 2^s` rounded half up; cannot overflow for |a| ≤ 2^30, s ≤ 30.
fn round_shift(a: i32, s: u8) -> i32 {
    if s == 0 { a } else { a.wrapping_add(1 << (s - 1)) >> s }
}

/// 2^-s, exactly.
fn pow2_neg(s: u8) -> f64 {
    f64::from_bits((1023 - s as u64) << 52)
}

/// A float layer as trained (PyTorch layout), the input of [`quantize_decoder`].
pub struct FloatLayer<'a> {
    pub in_dim: usize,
    pub out_dim: usize,
    pub weight: &'a [f32],
    pub bias: &'a [f32],
}

fn leaky(x: f64, slope: f64) -> f64 {
    if x < 0.0 { x * slope } else { x }
}

/// Float forward pass (for calibration and tests): LeakyReLU between layers, none after the last.
pub fn float_forward(layers: &[FloatLayer<'_>], slope: f64, input: &[f64]) -> Vec<Vec<f64>> {
    let mut acts = vec![input.to_vec()];
    for (i, l) in layers.iter().enumerate() {
        let x = acts.last().expect("input");
        let mut y: Vec<f64> = (0..l.out_dim)
            .map(|j| {
                let row = &l.weight[j * l.in_dim..(j + 1) * l.in_dim];
                l.bias[j] as f64 + row.iter().zip(x).map(|(&w, &v)| w as f64 * v).sum::<f64>()
            })
            .collect();
        if i + 1 < layers.len() {
            y.iter_mut().for_each(|v| *v = leaky(*v, slope));
        }
        acts.push(y);
    }
    acts
}

/// Largest number of fractional bits (≤ 14) that keeps `max_abs` (with 50 % head-room) inside i16.
fn frac_bits_for(max_abs: f64) -> u8 {
    let mut a = 14u8;
    while a > 0 && max_abs * 1.5 * f64::from(1u32 << a) > ACT_MAX as f64 {
        a -= 1;
    }
    a
}

/// Turns a trained float decoder into an [`IntDecoder`]. `calibration` holds latents (rows of
/// `layers[0].in_dim`) typical of the data; they fix the fixed-point scale of every activation.
pub fn quantize_decoder(
    layers: &[FloatLayer<'_>],
    leaky_slope: f64,
    calibration: &[f32],
) -> Result<IntDecoder> {
    if layers.is_empty() {
        return Err(CodecError::InvalidModel("no layers".into()));
    }
    let z = layers[0].in_dim;
    let rows = calibration.len() / z.max(1);
    // Max |value| at the input of every layer (latents first), over the calibration set.
    let mut max_abs = vec![1e-6f64; layers.len()];
    for r in 0..rows {
        let input: Vec<f64> = calibration[r * z..(r + 1) * z].iter().map(|&v| v as f64).collect();
        let acts = float_forward(layers, leaky_slope, &input);
        for (l, m) in max_abs.iter_mut().enumerate() {
            let layer_max = acts[l].iter().fold(0.0f64, |a, v| a.max(v.abs()));
            *m = m.max(layer_max);
        }
    }
    let frac: Vec<u8> = max_abs.iter().map(|&m| frac_bits_for(m)).collect();
    let last = layers.len() - 1;
    let mut out = Vec::with_capacity(layers.len());
    for (li, l) in layers.iter().enumerate() {
        let a_in = frac[li] as i32;
        let a_out = if li == last { 0 } else { frac[li + 1] as i32 };
        let mut weights = Vec::with_capacity(l.in_dim * l.out_dim);
        let mut shifts = Vec::with_capacity(l.out_dim);
        let mut bias = Vec::with_capacity(l.out_dim);
        for j in 0..l.out_dim {
            let row = &l.weight[j * l.in_dim..(j + 1) * l.in_dim];
            let max_w = row.iter().fold(0.0f64, |a, &w| a.max((w as f64).abs())).max(1e-30);
            // Finest weight scale 2^-e that keeps int8 and the accumulator bound.
            let mut e = ((127.0 / max_w).log2().floor() as i32).clamp(-8, 24);
            let lo = if li == last { 0 } else { a_out - a_in };
            let hi = if li == last { 62 - a_in } else { 30 + a_out - a_in };
            e = e.clamp(lo, hi.max(lo));
            let (row_q, b_q) = loop {
                let scale = 2f64.powi(e);
                let row_q: Vec<i8> =
                    row.iter().map(|&w| (w as f64 * scale).round().clamp(-127.0, 127.0) as i8).collect();
                let abs_sum: i64 = row_q.iter().map(|&w| (w as i64).abs()).sum::<i64>() * 32768;
                let b = (l.bias[j] as f64 * 2f64.powi(a_in + e)).round();
                let room = (ACC_LIMIT - abs_sum) as f64;
                if (abs_sum < ACC_LIMIT && b.abs() <= room) || e <= lo {
                    let b = b.clamp(-room.max(0.0), room.max(0.0)) as i32;
                    break (row_q, b);
                }
                e -= 1;
            };
            weights.extend(row_q);
            bias.push(b_q);
            shifts.push((a_in + e - a_out).clamp(0, if li == last { 62 } else { 30 }) as u8);
        }
        out.push(IntLayer { in_dim: l.in_dim as u32, out_dim: l.out_dim as u32, weights, shifts, bias });
    }
    let dec = IntDecoder {
        latent_frac_bits: frac[0],
        leaky_num: (leaky_slope * 4096.0).round().clamp(0.0, 4096.0) as i32,
        layers: out,
    };
    dec.validate()?;
    Ok(dec)
}

/// The model section's bytes: the postcard encoding of the decoder (see docs/format.md).
pub fn to_bytes(dec: &IntDecoder) -> Vec<u8> {
    postcard::to_allocvec(dec).expect("a decoder serializes")
}

/// Most bits a stored latent may have dropped (the chunk's latent step is 2^shift).
pub const MAX_LATENT_SHIFT: u8 = 16;

/// A stored latent back at the decoder's input scale (saturating, so hostile values cannot overflow).
pub fn shift_up(stored: i32, shift: u8) -> i32 {
    ((stored as i64) << shift.min(MAX_LATENT_SHIFT)).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Latent floats to the integers the decoder takes (round to nearest, clamped to i16).
pub fn quantize_latents(latents: &[f32], frac_bits: u8) -> Vec<i32> {
    let s = f64::from(1u32 << frac_bits);
    latents.iter().map(|&v| (v as f64 * s).round().clamp(ACT_MIN as f64, ACT_MAX as f64) as i32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let layers: Vec<FloatLayer> = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| FloatLayer { in_dim: w[0], out_dim: w[1], weight: &ws[i], bias: &bs[i] })
            .collect();
        let mut s = 99u64;
        let lat: Vec<f32> = (0..6 * 200).map(|_| lcg(&mut s) * 3.0).collect();
        let dec = quantize_decoder(&layers, 0.01, &lat).unwrap();
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
