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

use serde::{Deserialize, Serialize};

use crate::conv::LinearOp;
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
const GDN_SQ_SHIFT: u32 = 15;
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
    fn apply_with(&self, x: &[i32], out: &mut [i32], squares: &mut Vec<i32>) {
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
    /// Runs 16 tiles at a time (see `Plan`), with SIMD kernels where the CPU has them; integer
    /// sums are exact in any order, so the bits are those of the plain per-tile definition
    /// (`predict_acc_plain`, also what runs for a few tiles).
    pub fn predict_acc(&self, latents: &[i32], n: usize) -> Vec<i32> {
        assert_eq!(latents.len(), n * self.latent_dim(), "latent buffer size");
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = Avx2::detect() {
            // SAFETY: `k` exists, so the CPU has AVX2.
            return unsafe { self.predict_acc_avx2(k, latents, n) };
        }
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        let k = Sse2;
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        let k = Portable;
        self.predict_acc_with(k, latents, n)
    }

    /// [`Self::predict_acc_with`] compiled for AVX2: the element-wise steps vectorize too.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn predict_acc_avx2(&self, k: Avx2, latents: &[i32], n: usize) -> Vec<i32> {
        self.predict_acc_with(k, latents, n)
    }

    #[inline(always)]
    fn predict_acc_with<K: Kernels>(&self, k: K, latents: &[i32], n: usize) -> Vec<i32> {
        // A last, partial batch costs a whole one (and the first needs a `Plan`): a few tiles are
        // faster the plain way.
        let batched = if n % BATCH < K::PLAIN_BELOW { n / BATCH * BATCH } else { n };
        let z = self.latent_dim();
        let mut out =
            if batched > 0 { Plan::new(self).run(k, &latents[..batched * z], batched) } else { Vec::new() };
        if batched < n {
            out.extend(self.predict_acc_plain(&latents[batched * z..], n - batched));
        }
        out
    }

    /// [`Self::predict_acc`] the plain way, one tile after the other: the definition the batched
    /// form must match, and faster for a few tiles of a large model (no [`Plan`] to build).
    fn predict_acc_plain(&self, latents: &[i32], n: usize) -> Vec<i32> {
        let z = self.latent_dim();
        let widest = self.layers.iter().map(|l| l.out_dim as usize).max().unwrap_or(0).max(z);
        let mut cur = vec![0i32; widest];
        let mut next = vec![0i32; widest];
        let mut normed = vec![0i32; widest];
        let mut squares = Vec::new();
        let mut input16 = vec![0i16; widest];
        let mut out = Vec::with_capacity(n * self.output_dim());
        let last = self.layers.len() - 1;
        for t in 0..n {
            for (c, &l) in cur.iter_mut().zip(&latents[t * z..(t + 1) * z]) {
                *c = clamp_activation(l);
            }
            for (li, layer) in self.layers.iter().enumerate() {
                let n_in = layer.in_dim as usize;
                for (d, &x) in input16.iter_mut().zip(&cur[..n_in]) {
                    *d = x as i16;
                }
                let input = &input16[..n_in];
                let leaky = self.norm(li).is_none();
                for (j, row) in layer.weights.chunks_exact(n_in).enumerate() {
                    let acc = layer.bias[j].wrapping_add(dot(row, input));
                    if li == last {
                        out.push(acc);
                    } else {
                        let y = clamp_activation(round_shift(acc, layer.shifts[j]));
                        next[j] = if y < 0 && leaky { (y * self.leaky_num) >> LEAKY_SHIFT } else { y };
                    }
                }
                if let Some(norm) = self.norm(li) {
                    let width = layer.out_dim as usize;
                    norm.apply_with(&next[..width], &mut normed[..width], &mut squares);
                    std::mem::swap(&mut next, &mut normed);
                }
                std::mem::swap(&mut cur, &mut next);
            }
        }
        out
    }

    /// Whether layer `i` is followed by an inverse GDN (instead of LeakyReLU).
    pub fn norm(&self, i: usize) -> Option<&IntGdn> {
        self.norms.get(i).and_then(Option::as_ref)
    }

    /// Last-layer accumulators (n × output_dim) → normalized predictions, by exact powers of two.
    pub fn outputs(&self, acc: &[i32]) -> Vec<f64> {
        let shifts = &self.layers.last().expect("validated model has layers").shifts;
        acc.iter().zip(shifts.iter().cycle()).map(|(&a, &s)| a as f64 * pow2_neg(s)).collect()
    }
}

/// ⌊√s⌋ exactly, for every u32: s is exact in f64 and the square root correctly rounded. For
/// k² ≤ s < (k + 1)², √s ≥ k and √s < k + 1 − 1/(2(k + 1)), a gap of at least 2^-17 that
/// rounding near 2^16 (steps of 2^-36) cannot close, so the truncation is k.
fn isqrt(s: u32) -> u32 {
    (s as f64).sqrt() as u32
}

/// Σ w·x in i32 (int8 weights, int16 activations), in lanes the compiler can vectorize.
fn dot(w: &[i8], x: &[i16]) -> i32 {
    const LANES: usize = 16;
    let mut acc = [0i32; LANES];
    let (wc, wr) = w.split_at(w.len() / LANES * LANES);
    let (xc, xr) = x.split_at(wc.len());
    for (a, b) in wc.chunks_exact(LANES).zip(xc.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] = acc[k].wrapping_add(a[k] as i32 * b[k] as i32);
        }
    }
    let mut s = acc.iter().fold(0i32, |a, &v| a.wrapping_add(v));
    for (&a, &b) in wr.iter().zip(xr) {
        s = s.wrapping_add(a as i32 * b as i32);
    }
    s
}

/// Tiles per pass over the weights: every weight is loaded once for this many tiles.
const BATCH: usize = 16;
/// Output rows computed together, so that every activation load serves this many rows.
const ROWS: usize = 4;

/// `(lo, hi)` as the two i16 halves of an i32: one operand of pmaddwd (`lo·x0 + hi·x1`).
fn pack_pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

/// A matrix for the batched product `acc[r][b] = bias[r] + Σ_c W[r][c] · x[c][b]` over a batch
/// of [`BATCH`] tiles, activations feature-major (`x[c·BATCH + b]`, int16).
///
/// Columns go in pairs (one pmaddwd lane is `W[r][c]·x[c][b] + W[r][c+1]·x[c+1][b]`), rows in
/// blocks of [`ROWS`]; a block keeps only the column pairs that are non-zero in one of its rows
/// (expanded convolutions are mostly zeros). Every sum is exact in i32 (validation bounds every
/// partial sum, and wrapping adds give the exact result in any order), so the bits are those of
/// a plain dot product.
struct PairMatrix {
    /// Input column pairs: ⌈columns / 2⌉. The input needs `2·pairs` rows (a padding row's
    /// weights are zero, its values anything).
    pairs: usize,
    /// Block `k`'s entries are `start[k]..start[k + 1]`.
    start: Vec<usize>,
    /// Per entry: its column pair and its ROWS rows' weights there, packed by [`pack_pair`].
    col: Vec<u32>,
    w: Vec<[i32; ROWS]>,
    /// Per row, padded with zeros to whole blocks.
    bias: Vec<i32>,
}

impl PairMatrix {
    /// From a row-major `rows × cols` matrix and one bias per row. Runs once per
    /// [`IntDecoder::predict_acc`] call, at the cost of a few tiles' plain inference.
    fn new<T: Copy + Into<i16>>(weights: &[T], cols: usize, bias: &[i32]) -> Self {
        let rows = bias.len();
        assert_eq!(weights.len(), rows * cols, "matrix size");
        let pairs = cols.div_ceil(2);
        let blocks = rows.div_ceil(ROWS);
        let mut m = PairMatrix {
            pairs,
            start: Vec::with_capacity(blocks + 1),
            col: Vec::with_capacity(blocks * pairs),
            w: Vec::with_capacity(blocks * pairs),
            bias: (0..blocks * ROWS).map(|r| bias.get(r).copied().unwrap_or(0)).collect(),
        };
        m.start.push(0);
        // The block's rows as int16, zero-padded to whole pairs (and rows past the matrix zero):
        // no bounds to check per weight.
        let mut buf = vec![0i16; ROWS * 2 * pairs];
        for k in 0..blocks {
            for (i, b) in buf.chunks_exact_mut(2 * pairs).enumerate() {
                let r = k * ROWS + i;
                let row = weights.get(r * cols..(r + 1) * cols).unwrap_or(&[]);
                for (d, &v) in b.iter_mut().zip(row) {
                    *d = v.into();
                }
                b[row.len()..].fill(0);
            }
            let mut rows: [_; ROWS] =
                std::array::from_fn(|i| buf[i * 2 * pairs..][..2 * pairs].chunks_exact(2));
            for p in 0..pairs {
                let w: [i32; ROWS] = std::array::from_fn(|i| {
                    let pair = rows[i].next().expect("a pair per row");
                    pack_pair(pair[0], pair[1])
                });
                if w != [0; ROWS] {
                    m.col.push(p as u32);
                    m.w.push(w);
                }
            }
            m.start.push(m.col.len());
        }
        m
    }

    /// Rows, padded to whole blocks: what [`Kernels::mul`] writes.
    fn padded_rows(&self) -> usize {
        self.bias.len()
    }

    /// Block `k`'s entries: column pairs and weights.
    fn block(&self, k: usize) -> impl Iterator<Item = (usize, &[i32; ROWS])> {
        let r = self.start[k]..self.start[k + 1];
        self.col[r.clone()].iter().map(|&c| c as usize).zip(&self.w[r])
    }
}

/// Inverse GDN as a batched matrix product. With `γ' = γ − 2^15` and `q' = q − 2^14` both int16
/// (q = x² >> 15 ≤ 2^15), `Σ_k γ_k q_k = Σ_k γ'_k q'_k + 2^14 Σ_k γ'_k + 2^15 Σ_k q'_k + C·2^29`:
/// a pmaddwd product, a per-channel constant (with β, in `m.bias`) and a column sum per position
/// and tile. Computed modulo 2^32, the result is exact because the true sum lies in [0, 2^31)
/// (validation).
struct GdnPlan {
    channels: usize,
    positions: usize,
    m: PairMatrix,
    shifts: Vec<u8>,
}

impl GdnPlan {
    fn new(g: &IntGdn, width: usize) -> Self {
        let c = g.channels as usize;
        let gamma: Vec<i16> = g.gamma.iter().map(|&v| (v as i32 - (1 << 15)) as i16).collect();
        let bias: Vec<i32> = gamma
            .chunks_exact(c)
            .zip(&g.beta)
            .map(|(row, &beta)| {
                let sum_g: i64 = row.iter().map(|&v| v as i64).sum();
                (beta as i64 + (sum_g << 14) + ((c as i64) << 29)) as i32
            })
            .collect();
        let m = PairMatrix::new(&gamma, c, &bias);
        GdnPlan { channels: c, positions: width / c, m, shifts: g.shifts.clone() }
    }
}

/// One layer of a [`Plan`].
struct LayerPlan {
    m: PairMatrix,
    out: usize,
    shifts: Vec<u8>,
    gdn: Option<GdnPlan>,
}

/// A decoder laid out for batched inference: [`BATCH`] tiles per pass, the same integer operations
/// as the per-tile definition (requantization by [`round_shift`], clamping to int16, LeakyReLU or
/// [`IntGdn::apply`]).
struct Plan {
    z: usize,
    leaky_num: i32,
    layers: Vec<LayerPlan>,
}

/// The operations that dominate inference, per instruction set.
trait Kernels: Copy {
    /// Fewer tiles than this (in a last, partial batch) run the plain way. A batch of 16 costs
    /// about 2 tiles of plain inference with SIMD kernels (and building a [`Plan`] 2–5 more),
    /// 5–10 in scalar WASM, where the empty lanes cost as much as full ones.
    const PLAIN_BELOW: usize;
    /// `acc[r·BATCH + b] = bias[r] + Σ_c W[r][c]·x[c·BATCH + b]` for every padded row `r` of `m`.
    fn mul(self, m: &PairMatrix, x: &[i16], acc: &mut [i32]);
    /// [`isqrt`] of every element (all in [0, 2^31)).
    fn isqrt(self, s: &mut [i32; BATCH]);
    /// `out[b·o + j] = acc[j·BATCH + b]` for `j < o`, `b < out.len() / o`: tile-major results.
    fn transpose(self, acc: &[i32], o: usize, out: &mut [i32]) {
        for (b, dst) in out.chunks_exact_mut(o).enumerate() {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = acc[j * BATCH + b];
            }
        }
    }
}

/// Plain Rust: WASM and other targets without kernels of their own.
#[derive(Clone, Copy)]
struct Portable;

impl Kernels for Portable {
    const PLAIN_BELOW: usize = 8;

    #[inline(always)]
    fn mul(self, m: &PairMatrix, x: &[i16], acc: &mut [i32]) {
        for (k, (bias, out)) in m.bias.chunks_exact(ROWS).zip(acc.chunks_exact_mut(ROWS * BATCH)).enumerate()
        {
            // One row at a time, its sums in a local array: the fastest plain form in WASM (twice
            // the per-tile dot product's speed there). A lane's two products stay below 2^30 in
            // magnitude (|w| ≤ 128, or |γ'·q'| ≤ 2^29).
            for (r, o) in out.chunks_exact_mut(BATCH).enumerate() {
                let mut a = [bias[r]; BATCH];
                for (c, w) in m.block(k) {
                    let (x0, x1) = x[2 * c * BATCH..][..2 * BATCH].split_at(BATCH);
                    let (w0, w1) = (w[r] as i16 as i32, w[r] >> 16);
                    for ((a, &u), &v) in a.iter_mut().zip(x0).zip(x1) {
                        *a = a.wrapping_add(w0 * u as i32 + w1 * v as i32);
                    }
                }
                o.copy_from_slice(&a);
            }
        }
    }

    #[inline(always)]
    fn isqrt(self, s: &mut [i32; BATCH]) {
        for v in s {
            *v = isqrt(*v as u32) as i32;
        }
    }
}

/// SSE2, which every x86_64 CPU has: 8 multiply-adds per pmaddwd.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[derive(Clone, Copy)]
struct Sse2;

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl Kernels for Sse2 {
    const PLAIN_BELOW: usize = 4;

    #[inline(always)]
    fn mul(self, m: &PairMatrix, x: &[i16], acc: &mut [i32]) {
        // SAFETY: this build targets SSE2 (the x86_64 baseline).
        unsafe { sse2::mul(m, x, acc) }
    }

    #[inline(always)]
    fn isqrt(self, s: &mut [i32; BATCH]) {
        Portable.isqrt(s)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use super::{BATCH, PairMatrix, ROWS};
    use std::arch::x86_64::*;

    /// Rows per pass over a block's entries: 2 rows × 4 sums of 4 tiles, plus the 4 paired
    /// inputs, fit the 16 registers.
    const PASS: usize = 2;

    #[target_feature(enable = "sse2")]
    pub(super) fn mul(m: &PairMatrix, x: &[i16], acc: &mut [i32]) {
        for (k, (bias, out)) in m.bias.chunks_exact(ROWS).zip(acc.chunks_exact_mut(ROWS * BATCH)).enumerate()
        {
            for (r0, out) in (0..ROWS).step_by(PASS).zip(out.chunks_exact_mut(PASS * BATCH)) {
                let mut a: [[__m128i; 4]; PASS] = std::array::from_fn(|r| [_mm_set1_epi32(bias[r0 + r]); 4]);
                for (c, w) in m.block(k) {
                    let xs = &x[2 * c * BATCH..][..2 * BATCH];
                    // SAFETY: `xs` holds 32 i16, four unaligned 128-bit loads.
                    let v: [__m128i; 4] =
                        std::array::from_fn(|i| unsafe { _mm_loadu_si128(xs[8 * i..].as_ptr().cast()) });
                    // Tiles 0–3, 4–7, 8–11, 12–15, each (x0, x1) pair side by side.
                    let p = [
                        _mm_unpacklo_epi16(v[0], v[2]),
                        _mm_unpackhi_epi16(v[0], v[2]),
                        _mm_unpacklo_epi16(v[1], v[3]),
                        _mm_unpackhi_epi16(v[1], v[3]),
                    ];
                    for (ar, &wr) in a.iter_mut().zip(&w[r0..r0 + PASS]) {
                        let wr = _mm_set1_epi32(wr);
                        for (s, &pi) in ar.iter_mut().zip(&p) {
                            *s = _mm_add_epi32(*s, _mm_madd_epi16(pi, wr));
                        }
                    }
                }
                for (ar, o) in a.iter().zip(out.chunks_exact_mut(BATCH)) {
                    for (i, &s) in ar.iter().enumerate() {
                        // SAFETY: `o` holds 16 i32, four unaligned 128-bit stores.
                        unsafe { _mm_storeu_si128(o[4 * i..].as_mut_ptr().cast(), s) };
                    }
                }
            }
        }
    }
}

/// AVX2 (x86_64, detected at run time): 16 multiply-adds per pmaddwd.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// The kernels, if this CPU has AVX2 (only then can the value exist).
    fn detect() -> Option<Self> {
        is_x86_feature_detected!("avx2").then_some(Avx2(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx2 {
    const PLAIN_BELOW: usize = 4;

    #[inline(always)]
    fn mul(self, m: &PairMatrix, x: &[i16], acc: &mut [i32]) {
        // SAFETY: an `Avx2` exists only where the CPU has AVX2.
        unsafe { avx2::mul(m, x, acc) }
    }

    #[inline(always)]
    fn isqrt(self, s: &mut [i32; BATCH]) {
        // SAFETY: as above.
        unsafe { avx2::isqrt(s) }
    }

    #[inline(always)]
    fn transpose(self, acc: &[i32], o: usize, out: &mut [i32]) {
        // SAFETY: as above.
        unsafe { avx2::transpose(acc, o, out) }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BATCH, PairMatrix, ROWS};
    use std::arch::x86_64::*;

    const _: () = assert!(BATCH == 16, "a row of a batch is one 256-bit vector of i16");

    #[target_feature(enable = "avx2")]
    pub(super) fn mul(m: &PairMatrix, x: &[i16], acc: &mut [i32]) {
        for (k, (bias, out)) in m.bias.chunks_exact(ROWS).zip(acc.chunks_exact_mut(ROWS * BATCH)).enumerate()
        {
            // `lo` holds tiles 0–3 and 8–11, `hi` tiles 4–7 and 12–15 (unpack works per 128-bit lane).
            let mut lo: [__m256i; ROWS] = std::array::from_fn(|r| _mm256_set1_epi32(bias[r]));
            let mut hi = lo;
            for (c, w) in m.block(k) {
                let xs = &x[2 * c * BATCH..][..2 * BATCH];
                // SAFETY: `xs` holds 32 i16, two unaligned 256-bit loads.
                let (x0, x1) = unsafe {
                    (_mm256_loadu_si256(xs.as_ptr().cast()), _mm256_loadu_si256(xs[BATCH..].as_ptr().cast()))
                };
                let (p0, p1) = (_mm256_unpacklo_epi16(x0, x1), _mm256_unpackhi_epi16(x0, x1));
                for r in 0..ROWS {
                    let wr = _mm256_set1_epi32(w[r]);
                    lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(p0, wr));
                    hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(p1, wr));
                }
            }
            for (r, o) in out.chunks_exact_mut(BATCH).enumerate() {
                let first = _mm256_permute2x128_si256::<0x20>(lo[r], hi[r]);
                let second = _mm256_permute2x128_si256::<0x31>(lo[r], hi[r]);
                // SAFETY: `o` holds 16 i32, two unaligned 256-bit stores.
                unsafe {
                    _mm256_storeu_si256(o.as_mut_ptr().cast(), first);
                    _mm256_storeu_si256(o[8..].as_mut_ptr().cast(), second);
                }
            }
        }
    }

    /// ⌊√s⌋ for 0 ≤ s < 2^31, 8 lanes at a time (vsqrtpd would do 4). The f32 square root is
    /// within 0.006 of √s (two roundings of relative 2^-24 each, √s < 46341), so its truncation
    /// is off by at most one, and one exact integer step each way corrects it. At most
    /// ⌊√(2^31 − 1)⌋ = 46340 (the cap only makes that explicit), every square fits i32, and
    /// `s − r² > 2r` is `(r + 1)² ≤ s` without overflow. Checked on all of [0, 2^31) by
    /// `isqrt_is_exact_everywhere`.
    #[target_feature(enable = "avx2")]
    pub(super) fn isqrt(s: &mut [i32; BATCH]) {
        for half in s.chunks_exact_mut(8) {
            // SAFETY: `half` holds 8 i32, an unaligned 256-bit load and store.
            let v = unsafe { _mm256_loadu_si256(half.as_ptr().cast()) };
            let r = _mm256_cvttps_epi32(_mm256_sqrt_ps(_mm256_cvtepi32_ps(v)));
            let r = _mm256_min_epi32(r, _mm256_set1_epi32(46340));
            let r = _mm256_add_epi32(r, _mm256_cmpgt_epi32(_mm256_mullo_epi32(r, r), v));
            let rest = _mm256_sub_epi32(v, _mm256_mullo_epi32(r, r));
            let r = _mm256_sub_epi32(r, _mm256_cmpgt_epi32(rest, _mm256_add_epi32(r, r)));
            unsafe { _mm256_storeu_si256(half.as_mut_ptr().cast(), r) };
        }
    }

    /// [`super::Kernels::transpose`] by 8 × 8 blocks in registers.
    #[target_feature(enable = "avx2")]
    pub(super) fn transpose(acc: &[i32], o: usize, out: &mut [i32]) {
        let tiles = out.len() / o;
        let (j8, b8) = (o / 8 * 8, if tiles == BATCH { BATCH } else { 0 });
        for b0 in (0..b8).step_by(8) {
            for j0 in (0..j8).step_by(8) {
                // Rows j0..j0+8, tiles b0..b0+8.
                let r: [__m256i; 8] = std::array::from_fn(|i| {
                    let src = &acc[(j0 + i) * BATCH + b0..][..8];
                    // SAFETY: `src` holds 8 i32.
                    unsafe { _mm256_loadu_si256(src.as_ptr().cast()) }
                });
                let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
                let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
                let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
                let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
                let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
                let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
                let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
                let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
                let u0 = _mm256_unpacklo_epi64(t0, t2);
                let u1 = _mm256_unpackhi_epi64(t0, t2);
                let u2 = _mm256_unpacklo_epi64(t1, t3);
                let u3 = _mm256_unpackhi_epi64(t1, t3);
                let u4 = _mm256_unpacklo_epi64(t4, t6);
                let u5 = _mm256_unpackhi_epi64(t4, t6);
                let u6 = _mm256_unpacklo_epi64(t5, t7);
                let u7 = _mm256_unpackhi_epi64(t5, t7);
                let cols = [
                    _mm256_permute2x128_si256::<0x20>(u0, u4),
                    _mm256_permute2x128_si256::<0x20>(u1, u5),
                    _mm256_permute2x128_si256::<0x20>(u2, u6),
                    _mm256_permute2x128_si256::<0x20>(u3, u7),
                    _mm256_permute2x128_si256::<0x31>(u0, u4),
                    _mm256_permute2x128_si256::<0x31>(u1, u5),
                    _mm256_permute2x128_si256::<0x31>(u2, u6),
                    _mm256_permute2x128_si256::<0x31>(u3, u7),
                ];
                for (i, v) in cols.into_iter().enumerate() {
                    let dst = &mut out[(b0 + i) * o + j0..][..8];
                    // SAFETY: `dst` holds 8 i32.
                    unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), v) };
                }
            }
        }
        // What the blocks leave: the last rows, or all of a partial batch.
        for (b, dst) in out.chunks_exact_mut(o).enumerate() {
            let from = if b < b8 { j8 } else { 0 };
            for (j, d) in dst.iter_mut().enumerate().skip(from) {
                *d = acc[j * BATCH + b];
            }
        }
    }
}

impl Plan {
    fn new(dec: &IntDecoder) -> Self {
        let layers = dec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (out, n_in) = (l.out_dim as usize, l.in_dim as usize);
                LayerPlan {
                    m: PairMatrix::new(&l.weights, n_in, &l.bias),
                    out,
                    shifts: l.shifts.clone(),
                    gdn: dec.norm(i).map(|g| GdnPlan::new(g, out)),
                }
            })
            .collect();
        Plan { z: dec.latent_dim(), leaky_num: dec.leaky_num, layers }
    }

    #[inline(always)]
    fn run<K: Kernels>(&self, k: K, latents: &[i32], n: usize) -> Vec<i32> {
        let z = self.z;
        let last = self.layers.len() - 1;
        let out_dim = self.layers[last].out;
        let widest_in = self.layers.iter().map(|l| l.m.pairs).max().unwrap_or(0) * 2 * BATCH;
        let widest_acc = self.layers.iter().map(|l| l.m.padded_rows()).max().unwrap_or(0) * BATCH;
        let gdns = || self.layers.iter().filter_map(|l| l.gdn.as_ref());
        let mut x = vec![0i16; widest_in];
        let mut next = vec![0i16; widest_in];
        let mut acc = vec![0i32; widest_acc];
        let mut h = vec![0i32; widest_acc];
        let mut q = vec![0i16; gdns().map(|g| g.m.pairs * 2 * BATCH).max().unwrap_or(0)];
        let mut sums = vec![0i32; gdns().map(|g| g.m.padded_rows() * BATCH).max().unwrap_or(0)];
        let mut out = vec![0i32; n * out_dim];
        for t0 in (0..n).step_by(BATCH) {
            let m = BATCH.min(n - t0);
            // Tiles past n get zero inputs; their results are dropped.
            for (i, row) in x[..z * BATCH].chunks_exact_mut(BATCH).enumerate() {
                for (b, v) in row.iter_mut().enumerate() {
                    *v = if b < m { clamp_activation(latents[(t0 + b) * z + i]) as i16 } else { 0 };
                }
            }
            for (li, l) in self.layers.iter().enumerate() {
                k.mul(&l.m, &x, &mut acc);
                if li == last {
                    k.transpose(&acc, out_dim, &mut out[t0 * out_dim..(t0 + m) * out_dim]);
                    break;
                }
                let rows = acc[..l.out * BATCH].chunks_exact(BATCH).zip(&l.shifts);
                match &l.gdn {
                    None => {
                        for ((a, &s), y) in rows.zip(next.chunks_exact_mut(BATCH)) {
                            let a = batch_row(a);
                            let v: [i16; BATCH] = std::array::from_fn(|b| {
                                let v = clamp_activation(round_shift(a[b], s));
                                (if v < 0 { (v * self.leaky_num) >> LEAKY_SHIFT } else { v }) as i16
                            });
                            y.copy_from_slice(&v);
                        }
                    }
                    Some(g) => {
                        for ((a, &s), y) in rows.zip(h.chunks_exact_mut(BATCH)) {
                            let a = batch_row(a);
                            let v: [i32; BATCH] =
                                std::array::from_fn(|b| clamp_activation(round_shift(a[b], s)));
                            y.copy_from_slice(&v);
                        }
                        gdn_batch(k, g, &h, &mut q, &mut sums, &mut next);
                    }
                }
                std::mem::swap(&mut x, &mut next);
            }
        }
        out
    }
}

/// Inverse GDN of a batch: `h` holds the requantized layer outputs (feature-major, channels
/// first), the result goes to `next`. The integers of [`IntGdn::apply`].
#[inline(always)]
fn gdn_batch<K: Kernels>(k: K, g: &GdnPlan, h: &[i32], q: &mut [i16], sums: &mut [i32], next: &mut [i16]) {
    let (c, p) = (g.channels, g.positions);
    for pos in 0..p {
        // q' of this position's channels, and their sum per tile.
        let mut colsum = [0i32; BATCH];
        for (ch, qr) in q[..c * BATCH].chunks_exact_mut(BATCH).enumerate() {
            let v = batch_row(&h[(ch * p + pos) * BATCH..]);
            let d: [i32; BATCH] = std::array::from_fn(|b| ((v[b] * v[b]) >> GDN_SQ_SHIFT) - (1 << 14));
            colsum = std::array::from_fn(|b| colsum[b].wrapping_add(d[b]));
            qr.copy_from_slice(&d.map(|d| d as i16));
        }
        let colsum = colsum.map(|s| s.wrapping_shl(GDN_SQ_SHIFT));
        k.mul(&g.m, q, sums);
        for (ch, (sr, &shift)) in sums.chunks_exact(BATCH).zip(&g.shifts).enumerate() {
            let sr = batch_row(sr);
            let mut s: [i32; BATCH] = std::array::from_fn(|b| sr[b].wrapping_add(colsum[b]));
            k.isqrt(&mut s);
            let f = ch * p + pos;
            let v = batch_row(&h[f * BATCH..]);
            let y: [i16; BATCH] =
                std::array::from_fn(|b| clamp_activation(round_shift(v[b] * s[b], shift)) as i16);
            next[f * BATCH..][..BATCH].copy_from_slice(&y);
        }
    }
}

/// One feature's values over a batch, copied out: arithmetic on a local array vectorizes where
/// the compiler could not tell slices of the working buffers apart.
#[inline(always)]
fn batch_row(s: &[i32]) -> [i32; BATCH] {
    s[..BATCH].try_into().expect("a batch row")
}

/// Network inputs and hidden activations live in the int16 range.
pub fn clamp_activation(v: i32) -> i32 {
    v.clamp(ACT_MIN, ACT_MAX)
}

/// `a / 2^s` rounded half up; cannot overflow for |a| ≤ 2^30, s ≤ 30. Branch-free (the rounding
/// term `2^s >> 1` is 0 for s = 0), so that loops over a batch vectorize.
fn round_shift(a: i32, s: u8) -> i32 {
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
        // Each op is bounded on its own; the sum bounds what a hostile model makes us allocate.
        let entries = self.layers.iter().map(|l| l.op.in_dim() as u64 * l.op.out_dim() as u64).sum::<u64>();
        if entries > MAX_EXPANDED_ENTRIES {
            return Err(CodecError::InvalidModel(format!("{entries} weights once expanded: too large")));
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut norms = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            if let Err(m) = l.op.check() {
                return bad(i, m);
            }
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

    /// xorshift64*: reproducible integers.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }
    }

    /// Weights as large as validation allows for this input width (the full int8 range when
    /// narrow), biases and shifts that make rounding, clamping and LeakyReLU all happen.
    fn random_weights(rng: &mut Rng, n: usize, rows: usize) -> (Vec<i8>, Vec<i32>) {
        let w = (32000 / n as i64).min(127);
        let weights = (0..n * rows)
            .map(|_| if rng.range(0, 9) == 0 { 0 } else { rng.range(-w - 1, w) as i8 })
            .collect();
        (weights, (0..rows).map(|_| rng.range(-1 << 20, 1 << 20) as i32).collect())
    }

    /// A random valid inverse GDN: sums over all of [0, 2^31), zero rows, β = 0 (isqrt(0)).
    fn random_gdn(rng: &mut Rng, c: usize) -> IntGdn {
        let limit = (1i64 << 31) - 1;
        let mut beta = Vec::new();
        let mut gamma = Vec::new();
        for ch in 0..c {
            let budget = limit >> 15;
            let row: Vec<u16> = match rng.range(0, 3) {
                0 => vec![0; c],
                1 => {
                    let mut row = vec![0u16; c];
                    row[rng.range(0, c as i64 - 1) as usize] = rng.range(0, budget.min(65535)) as u16;
                    row
                }
                _ => (0..c).map(|_| rng.range(0, (budget / c as i64).min(65535)) as u16).collect(),
            };
            let used = row.iter().map(|&g| g as i64).sum::<i64>() << 15;
            let b = match (ch, rng.range(0, 2)) {
                (0, _) if used == 0 => 0,
                (_, 0) => rng.range(0, 1 << 16),
                (_, 1) => limit - used,
                _ => rng.range(0, limit - used),
            };
            beta.push(b as i32);
            gamma.extend(row);
        }
        let shifts =
            (0..c).map(|_| [0, 30, rng.range(8, 24) as u8][rng.range(0, 5).min(2) as usize]).collect();
        IntGdn { channels: c as u32, beta, gamma, shifts }
    }

    /// A dense decoder of widths `dims`; `norms[i]`: the channels of an inverse GDN after layer i.
    fn random_dense(rng: &mut Rng, dims: &[usize], norms: &[Option<usize>]) -> IntDecoder {
        let layers = dims
            .windows(2)
            .map(|d| {
                let (weights, bias) = random_weights(rng, d[0], d[1]);
                let shifts = (0..d[1]).map(|_| rng.range(0, 12) as u8).collect();
                IntLayer { in_dim: d[0] as u32, out_dim: d[1] as u32, weights, shifts, bias }
            })
            .collect();
        let norms = norms.iter().map(|c| c.map(|c| random_gdn(rng, c))).collect();
        let dec = IntDecoder { latent_frac_bits: 8, leaky_num: rng.range(0, 4096) as i32, layers, norms };
        dec.validate().expect("a valid random model");
        dec
    }

    /// A decoder of (transposed) convolutions, 2-D and 3-D, expanded to sparse matrices.
    fn random_conv(rng: &mut Rng, ops: &[LinearOp], gdn: &[bool]) -> IntDecoder {
        let layers = ops
            .iter()
            .zip(gdn)
            .map(|(&op, &g)| {
                let c = op.out_channels();
                let w = (4000 / op.weight_len() as i64).clamp(3, 127);
                StoredLayer {
                    op,
                    weights: (0..op.weight_len()).map(|_| rng.range(-w, w) as i8).collect(),
                    shifts: (0..c).map(|_| rng.range(0, 10) as u8).collect(),
                    bias: (0..c).map(|_| rng.range(-1 << 16, 1 << 16) as i32).collect(),
                    gdn: g.then(|| random_gdn(rng, c)),
                }
            })
            .collect();
        let dec = StoredDecoder { latent_frac_bits: 8, leaky_num: rng.range(0, 4096) as i32, layers };
        dec.expand().expect("a valid random conv model")
    }

    /// Latents over (beyond) the int16 range, extremes and zero among them.
    fn random_latents(rng: &mut Rng, n: usize) -> Vec<i32> {
        (0..n)
            .map(|i| match i % 5 {
                0 => [32767, -32767, -32768, 0, 40_000, -40_000][rng.range(0, 5) as usize],
                _ => rng.range(-40_000, 40_000) as i32,
            })
            .collect()
    }

    /// [`Plan::run`] compiled for AVX2, as [`IntDecoder::predict_acc`] runs it.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_avx2(plan: &Plan, k: Avx2, latents: &[i32], n: usize) -> Vec<i32> {
        plan.run(k, latents, n)
    }

    /// The accumulators of every batched kernel set this CPU has, and of the public entry point.
    fn every_path(dec: &IntDecoder, latents: &[i32], n: usize) -> Vec<(&'static str, Vec<i32>)> {
        let plan = Plan::new(dec);
        let mut paths =
            vec![("predict_acc", dec.predict_acc(latents, n)), ("portable", plan.run(Portable, latents, n))];
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        paths.push(("sse2", plan.run(Sse2, latents, n)));
        #[cfg(target_arch = "x86_64")]
        match Avx2::detect() {
            // SAFETY: the CPU has AVX2.
            Some(k) => paths.push(("avx2", unsafe { run_avx2(&plan, k, latents, n) })),
            None => eprintln!("no AVX2 here: its kernels are not tested"),
        }
        paths.push(("portable, plain remainder", dec.predict_acc_with(Portable, latents, n)));
        paths
    }

    fn check_batched(dec: &IntDecoder, rng: &mut Rng, what: &str) {
        for n in [0, 1, 4, 5, 15, 16, 17, 40] {
            let latents = random_latents(rng, n * dec.latent_dim());
            let want = dec.predict_acc_plain(&latents, n);
            assert_eq!(want.len(), n * dec.output_dim());
            for (path, got) in every_path(dec, &latents, n) {
                if let Some(i) = got.iter().zip(&want).position(|(g, w)| g != w) {
                    panic!(
                        "{what}, {path}, n = {n}: tile {} output {}: {} ≠ {}",
                        i / dec.output_dim(),
                        i % dec.output_dim(),
                        got[i],
                        want[i]
                    );
                }
                assert_eq!(got.len(), want.len(), "{what}, {path}, n = {n}");
            }
        }
    }

    /// Batched inference (every kernel set, tile counts around the batch size) gives the
    /// accumulators of the plain per-tile definition, on dense, inverse-GDN and conv models.
    #[test]
    fn batched_inference_equals_the_plain_definition() {
        let mut rng = Rng(0x243f_6a88_85a3_08d3);
        let dense: [(&[usize], &[Option<usize>]); 6] = [
            (&[16, 64, 64, 256], &[Some(64), Some(64), None]),
            (&[5, 64, 48, 256], &[Some(4), Some(3), None]),
            (&[3, 24, 40, 10], &[Some(24), Some(40), None]),
            (&[4, 33, 30, 21, 7], &[Some(3), None, Some(1), None]),
            (&[7, 9, 130, 1], &[None, None, None]),
            (&[1, 1], &[]),
        ];
        for (dims, norms) in dense {
            for _ in 0..3 {
                let dec = random_dense(&mut rng, dims, norms);
                check_batched(&dec, &mut rng, &format!("dense {dims:?} norms {norms:?}"));
            }
        }
        use crate::conv::ConvGeom;
        let geom = |ci: u32, co: u32, n: [u32; 3], k: [u32; 3], s: [u32; 3], p: [u32; 3]| ConvGeom {
            in_channels: ci,
            out_channels: co,
            in_size: n,
            kernel: k,
            stride: s,
            padding: p,
        };
        let up2 =
            |ci, co, n| LinearOp::ConvTranspose(geom(ci, co, [1, n, n], [1, 4, 4], [1, 2, 2], [0, 1, 1]));
        let up3 =
            |ci, co, n| LinearOp::ConvTranspose(geom(ci, co, [n, n, n], [3, 3, 3], [2, 2, 2], [1, 1, 1]));
        let conv = |ci, co, n| LinearOp::Conv(geom(ci, co, [1, n, n], [1, 3, 3], [1, 1, 1], [0, 1, 1]));
        let cases: [(Vec<LinearOp>, &[bool]); 3] = [
            (
                vec![LinearOp::Dense { in_dim: 4, out_dim: 8 * 16 }, up2(8, 4, 4), up2(4, 1, 8)],
                &[true, true, false],
            ),
            (
                vec![LinearOp::Dense { in_dim: 5, out_dim: 3 * 27 }, up3(3, 2, 3), up3(2, 1, 5)],
                &[true, true, false],
            ),
            (
                vec![LinearOp::Dense { in_dim: 6, out_dim: 3 * 36 }, conv(3, 5, 6), up2(5, 1, 6)],
                &[false, true, false],
            ),
        ];
        for (ops, gdn) in cases {
            let dec = random_conv(&mut rng, &ops, gdn);
            check_batched(&dec, &mut rng, &format!("conv {ops:?}"));
        }
    }

    /// The batched GDN's offsets (γ − 2^15, q − 2^14) at their extremes: x = −32768 (q = 2^15),
    /// γ = 0 and 65535, sums at 2^31 − 1.
    #[test]
    fn batched_gdn_is_exact_at_the_extremes() {
        let c = 4;
        let layer = IntLayer {
            in_dim: 1,
            out_dim: c as u32,
            weights: vec![1, -1, 1, -1],
            shifts: vec![0; c],
            bias: vec![0; c],
        };
        let last = IntLayer {
            in_dim: c as u32,
            out_dim: 2,
            weights: vec![1, 2, 3, 4, -4, -3, -2, -1],
            shifts: vec![0; 2],
            bias: vec![0; 2],
        };
        // Channels 0 and 1: sums up to 2^31 − 1 (γ summing to 65534, or one γ of 65535).
        let gamma = [[16384, 16383, 16384, 16383], [65535, 0, 0, 0], [0; 4], [1, 65532, 1, 1]];
        let gdn = IntGdn {
            channels: c as u32,
            beta: vec![i32::MAX - (65534 << 15), i32::MAX - (65535 << 15), 0, 12345],
            gamma: gamma.concat(),
            shifts: vec![16, 30, 0, 8],
        };
        let dec = IntDecoder {
            latent_frac_bits: 0,
            leaky_num: 0,
            layers: vec![layer, last],
            norms: vec![Some(gdn), None],
        };
        dec.validate().unwrap();
        let latents: Vec<i32> = [-32768, 32767, -32767, 0, 1, -1, 181, -181, 40000, -40000]
            .iter()
            .copied()
            .cycle()
            .take(37)
            .collect();
        let want = dec.predict_acc_plain(&latents, latents.len());
        for (path, got) in every_path(&dec, &latents, latents.len()) {
            assert_eq!(got, want, "{path}");
        }
    }

    /// `isqrt` is ⌊√s⌋ for every u32: perfect squares, their neighbours, the extremes and a
    /// sample; the AVX2 form too on [0, 2^31). (The exhaustive check is `isqrt_is_exact_everywhere`.)
    #[test]
    fn isqrt_is_exact() {
        let exact = |s: u32| {
            let r = s.isqrt();
            assert!(r as u64 * r as u64 <= s as u64 && (r as u64 + 1).pow(2) > s as u64);
            r
        };
        let mut samples: Vec<u32> = vec![0, 1, 2, 3, u32::MAX, u32::MAX - 1, 1 << 31, (1 << 31) - 1];
        for k in 1..=65535u32 {
            samples.extend([k * k - 1, k * k, k * k + 1]);
        }
        samples.extend((0..1u64 << 32).step_by(65_521).map(|s| s as u32));
        for &s in &samples {
            assert_eq!(isqrt(s), exact(s), "isqrt({s})");
        }
        let below: Vec<i32> = samples.iter().filter(|&&s| s < 1 << 31).map(|&s| s as i32).collect();
        let check = |k: &dyn Fn(&mut [i32; BATCH])| {
            for c in below.chunks(BATCH) {
                let mut s = [0i32; BATCH];
                s[..c.len()].copy_from_slice(c);
                k(&mut s);
                for (&v, &r) in c.iter().zip(&s) {
                    assert_eq!(r as u32, exact(v as u32), "isqrt({v})");
                }
            }
        };
        check(&|s| Portable.isqrt(s));
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = Avx2::detect() {
            check(&|s| k.isqrt(s));
        }
    }

    /// Every input, exhaustively (half a minute; `cargo test --release -- --ignored isqrt`).
    #[test]
    #[ignore]
    fn isqrt_is_exact_everywhere() {
        for s in 0..=u32::MAX {
            let r = isqrt(s) as u64;
            assert!(r * r <= s as u64 && (r + 1) * (r + 1) > s as u64, "isqrt({s})");
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = Avx2::detect() {
            for base in (0..1u32 << 31).step_by(BATCH) {
                let mut s: [i32; BATCH] = std::array::from_fn(|i| (base + i as u32) as i32);
                k.isqrt(&mut s);
                for (i, &r) in s.iter().enumerate() {
                    assert_eq!(r as u32, isqrt(base + i as u32), "AVX2 isqrt({})", base + i as u32);
                }
            }
        }
    }
}
