//! The decoder network in fixed-point integer arithmetic: the same bits on every decoder.
//!
//! Floating-point inference is not reproducible across CPUs, WASM and GPUs (FMA contraction,
//! reduction order). Integer sums are exact in any order, so the exported decoder runs on integers:
//! int8 weights with a power-of-two scale per output row, int16 activations, i32 accumulators and
//! requantization by a rounding arithmetic shift. Every operation fits in i32 (checked when a model is
//! loaded), which is also what WGSL offers. Only the last layer's accumulator is turned into an f64,
//! by an exact multiplication with a power of two.
//!
//! Convolutional decoders run as the dense matrices their kernels expand to (see [`crate::conv`]);
//! inverse GDN is an integer operation of its own ([`IntGdn`]), with an exact integer square root.
//!
//! This module defines the network, its validation and quantization; running it fast (batches of
//! tiles, SIMD kernels) is the private `infer` module's job, behind [`IntDecoder::predict_acc`].

use serde::{Deserialize, Serialize};

use crate::conv::LinearOp;
use crate::error::{CodecError, Result};

/// Activations are clamped to this range between layers.
const ACT_MIN: i32 = -32768;
const ACT_MAX: i32 = 32767;
/// Per-row bound on |Σ w·x| + |b| with |x| ≤ 2^15, so that adding the rounding term cannot overflow i32.
const ACC_LIMIT: i64 = 1 << 30;
/// LeakyReLU's negative slope is `leaky_num / 2^LEAKY_SHIFT`.
pub(crate) const LEAKY_SHIFT: u32 = 12;
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
const GDN_SUM_LIMIT: i64 = (1 << 31) - 1;

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

    /// The integer part of inference: the last layer's i32 accumulators (n × output_dim). This is
    /// what every backend (CPU here, WGSL on wgpu / WebGPU) computes; [`Self::outputs`] finishes.
    ///
    /// Runs 16 tiles at a time (see the `infer` module), with SIMD kernels where the CPU has them;
    /// integer sums are exact in any order, so the bits are those of the plain per-tile definition
    /// (`infer::predict_acc_plain`, also what runs for a few tiles).
    pub fn predict_acc(&self, latents: &[i32], n: usize) -> Vec<i32> {
        assert_eq!(latents.len(), n * self.latent_dim(), "latent buffer size");
        crate::infer::predict_acc(self, latents, n)
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
fn pow2_neg(s: u8) -> f64 {
    f64::from_bits((1023 - s as u64) << 52)
}

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

    fn check(&self) -> Result<()> {
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
struct Expanded<'a> {
    layer: FloatLayer<'a>,
    matrix: Vec<f32>,
    positions: usize,
}

impl<'a> Expanded<'a> {
    fn new(layer: FloatLayer<'a>) -> Self {
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
fn float_forward_expanded(
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

/// Largest number of fractional bits (≤ 14) that keeps `max_abs` (with 50 % head-room) inside i16.
fn frac_bits_for(max_abs: f64) -> u8 {
    let mut a = 14u8;
    while a > 0 && max_abs * 1.5 * f64::from(1u32 << a) > ACT_MAX as f64 {
        a -= 1;
    }
    a
}

/// Output channel of each stored weight (a dense layer's rows are its channels).
fn weight_channels(op: &LinearOp) -> Vec<usize> {
    let mut ch = vec![0usize; op.weight_len()];
    let positions = op.out_positions();
    op.for_each_tap(|r, _, w| ch[w] = r / positions);
    ch
}

/// Quantizes one linear layer: int8 weights with one power-of-two scale per output channel (the
/// finest that keeps every row's accumulator bound), bias at the accumulator's scale, and the shift
/// from there to `a_out` fractional bits.
fn quantize_linear(l: &FloatLayer<'_>, a_in: i32, a_out: i32, last: bool) -> StoredLayer {
    let channels = l.op.out_channels();
    let positions = l.op.out_positions();
    let owner = weight_channels(&l.op);
    let mut max_w = vec![1e-30f64; channels];
    for (&w, &c) in l.weight.iter().zip(&owner) {
        max_w[c] = max_w[c].max((w as f64).abs());
    }
    let lo = if last { 0 } else { a_out - a_in };
    let hi = if last { 62 - a_in } else { 30 + a_out - a_in };
    let mut e: Vec<i32> = max_w
        .iter()
        .map(|&m| ((127.0 / m).log2().floor() as i32).clamp(-8, 24).clamp(lo, hi.max(lo)))
        .collect();
    loop {
        let weights: Vec<i8> = l
            .weight
            .iter()
            .zip(&owner)
            .map(|(&w, &c)| (w as f64 * 2f64.powi(e[c])).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let bias: Vec<f64> =
            l.bias.iter().zip(&e).map(|(&b, &ec)| (b as f64 * 2f64.powi(a_in + ec)).round()).collect();
        let mut row_abs = vec![0i64; l.op.out_dim()];
        l.op.for_each_tap(|r, _, w| row_abs[r] += (weights[w] as i64).abs());
        // Room left for the bias in each channel's fullest row.
        let mut room = vec![ACC_LIMIT; channels];
        for (r, &a) in row_abs.iter().enumerate() {
            room[r / positions] = room[r / positions].min(ACC_LIMIT - a * 32768);
        }
        let mut tightened = false;
        for c in 0..channels {
            if (room[c] < 0 || bias[c].abs() > room[c] as f64) && e[c] > lo {
                e[c] -= 1;
                tightened = true;
            }
        }
        if !tightened {
            let bias =
                bias.iter().zip(&room).map(|(&b, &r)| b.clamp(-(r.max(0) as f64), r.max(0) as f64) as i32);
            let cap = if last { 62 } else { 30 };
            return StoredLayer {
                op: l.op,
                weights,
                shifts: e.iter().map(|&ec| (a_in + ec - a_out).clamp(0, cap) as u8).collect(),
                bias: bias.collect(),
                gdn: None,
            };
        }
    }
}

/// Quantizes an inverse GDN from `a` to at most `a_next` fractional bits; returns it with the
/// fractional bits its output actually has (≤ `a_next`). The norm's sum is kept at scale 2^(2m)
/// with the largest `m` whose integers fit, so `isqrt` returns √s · 2^m exactly scaled.
fn quantize_igdn(g: &FloatGdn<'_>, a: i32, a_next: i32) -> (IntGdn, i32) {
    let c = g.beta.len();
    let quantize = |m: i32| -> Option<(Vec<i32>, Vec<u16>)> {
        let beta: Vec<f64> = g.beta.iter().map(|&b| (b as f64 * 2f64.powi(2 * m)).round()).collect();
        let gscale = 2f64.powi(2 * m + GDN_SQ_SHIFT as i32 - 2 * a);
        let gamma: Vec<f64> = g.gamma.iter().map(|&v| (v.max(0.0) as f64 * gscale).round()).collect();
        let fits = gamma.iter().all(|&v| v <= u16::MAX as f64)
            && beta.iter().zip(gamma.chunks_exact(c)).all(|(&b, row)| {
                b >= 0.0
                    && b + row.iter().sum::<f64>() * (1u64 << GDN_SQ_SHIFT) as f64 <= GDN_SUM_LIMIT as f64
            });
        fits.then(|| (beta.iter().map(|&b| b as i32).collect(), gamma.iter().map(|&v| v as u16).collect()))
    };
    // y = x·r / 2^(a + m) in real units; at a_out fractional bits the shift is a + m − a_out, which
    // must lie in [0, 30]: m ≤ a_next − a + 30, and a_out drops below a_next when m is small.
    let top = (a_next - a + 30).min(24);
    let (m, (beta, gamma)) = (-24..=top)
        .rev()
        .find_map(|m| quantize(m).map(|q| (m, q)))
        .unwrap_or((top.min(-24), (vec![0; c], vec![0; c * c])));
    let a_out = a_next.min(a + m);
    let shift = (a + m - a_out) as u8;
    (IntGdn { channels: c as u32, beta, gamma, shifts: vec![shift; c] }, a_out)
}

/// Turns a trained float decoder into a [`StoredDecoder`]. `calibration` holds latents (rows of
/// the first layer's input width) typical of the data; they fix the fixed-point scale of every
/// activation.
pub fn quantize_decoder(
    layers: &[FloatLayer<'_>],
    leaky_slope: f64,
    calibration: &[f32],
) -> Result<StoredDecoder> {
    if layers.is_empty() {
        return Err(CodecError::InvalidModel("no layers".into()));
    }
    for l in layers {
        l.check()?;
    }
    let expanded: Vec<Expanded> = layers.iter().map(|&l| Expanded::new(l)).collect();
    let z = layers[0].op.in_dim();
    let rows = calibration.len() / z.max(1);
    // Max |value| at the input of every layer (latents first) and before every inverse GDN.
    let mut max_in = vec![1e-6f64; layers.len()];
    let mut max_mid = vec![1e-6f64; layers.len()];
    let peak = |v: &[f64]| v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    for r in 0..rows {
        let input: Vec<f64> = calibration[r * z..(r + 1) * z].iter().map(|&v| v as f64).collect();
        let (acts, mids) = float_forward_expanded(&expanded, leaky_slope, &input);
        for l in 0..layers.len() {
            max_in[l] = max_in[l].max(peak(&acts[l]));
            max_mid[l] = max_mid[l].max(peak(&mids[l]));
        }
    }
    let mut frac: Vec<i32> = max_in.iter().map(|&m| frac_bits_for(m) as i32).collect();
    let last = layers.len() - 1;
    let mut out = Vec::with_capacity(layers.len());
    for (li, l) in layers.iter().enumerate() {
        let a_in = frac[li];
        let stored = match l.gdn.filter(|_| li < last) {
            Some(g) => {
                let a_mid = frac_bits_for(max_mid[li]) as i32;
                let (gdn, a_next) = quantize_igdn(&g, a_mid, frac[li + 1]);
                frac[li + 1] = a_next;
                StoredLayer { gdn: Some(gdn), ..quantize_linear(l, a_in, a_mid, false) }
            }
            None => quantize_linear(l, a_in, if li == last { 0 } else { frac[li + 1] }, li == last),
        };
        out.push(stored);
    }
    let dec = StoredDecoder {
        latent_frac_bits: frac[0] as u8,
        leaky_num: (leaky_slope * 4096.0).round().clamp(0.0, 4096.0) as i32,
        layers: out,
    };
    dec.expand()?;
    Ok(dec)
}

/// One stored layer: the op's compact weights, per-output-channel shifts and biases.
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
const MODEL_FORMAT_2: u8 = 0x82;

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
        use crate::conv::ConvGeom;
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
        use crate::conv::ConvGeom;
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
        use crate::conv::ConvGeom;
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
