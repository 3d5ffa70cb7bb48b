//! Batched inference of an [`IntDecoder`]: the engine behind [`IntDecoder::predict_acc`]. It runs
//! the network on [`BATCH`] tiles per pass over the weights, with kernels chosen at run time
//! ([`Kernels`]: [`Portable`] for WASM and other targets, SSE2 on every x86_64, AVX2 where the CPU
//! has it), and returns exactly the accumulators of the plain per-tile definition,
//! [`predict_acc_plain`] (which also runs a last batch of only a few tiles).
//!
//! [`Plan`] lays the decoder out once per call: each layer becomes a [`PairMatrix`] (weights in
//! column pairs, the operands of pmaddwd, with all-zero pairs dropped) and each inverse GDN a
//! [`GdnPlan`] (its norm's sums as one more such product). Activations are int16, feature-major
//! (`x[c·BATCH + b]`).
//!
//! Why the bits are those of the definition: every sum is of i32 products added modulo 2^32
//! (wrapping), so its result does not depend on order, pairing or lanes. Validation
//! ([`IntDecoder::validate`], [`IntGdn::validate`]) bounds every true sum inside i32 (a layer's
//! |Σ w·x| + |b| ≤ 2^30, a norm's sum in [0, 2^31)), so the result modulo 2^32 is that sum, even
//! where the batched GDN's offsets (γ − 2^15, q − 2^14) wrap on the way. The element-wise steps are
//! the model's own integer functions ([`round_shift`], [`clamp_activation`], LeakyReLU by
//! [`LEAKY_SHIFT`], [`isqrt`]); the AVX2 square root equals [`isqrt`] on all of [0, 2^31) (proof
//! at `x86::avx2::isqrt`, exhaustive test `isqrt_is_exact_everywhere`).

use crate::network::int_decoder::{
    GDN_SQ_SHIFT, IntDecoder, IntGdn, LEAKY_SHIFT, clamp_activation, isqrt, round_shift,
};

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
use x86::Avx2;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use x86::Sse2;

impl IntDecoder {
    /// The integer part of inference: the last layer's i32 accumulators (n × output_dim). This is
    /// what every backend (CPU here, WGSL on wgpu / WebGPU) computes; [`Self::outputs`] finishes.
    ///
    /// Runs 16 tiles at a time (see this module), with SIMD kernels where the CPU has them;
    /// integer sums are exact in any order, so the bits are those of the plain per-tile definition
    /// (`predict_acc_plain`, also what runs for a few tiles).
    pub fn predict_acc(&self, latents: &[i32], n: usize) -> Vec<i32> {
        assert_eq!(latents.len(), n * self.latent_dim(), "latent buffer size");
        predict_acc(self, latents, n)
    }
}

/// [`IntDecoder::predict_acc`] once the latents' size is checked (`n × latent_dim`): runs the best
/// kernels this CPU has.
fn predict_acc(dec: &IntDecoder, latents: &[i32], n: usize) -> Vec<i32> {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = Avx2::detect() {
        // SAFETY: `k` exists, so the CPU has AVX2.
        return unsafe { predict_acc_avx2(dec, k, latents, n) };
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    let k = Sse2;
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    let k = Portable;
    predict_acc_with(dec, k, latents, n)
}

/// [`predict_acc_with`] compiled for AVX2: the element-wise steps vectorize too.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn predict_acc_avx2(dec: &IntDecoder, k: Avx2, latents: &[i32], n: usize) -> Vec<i32> {
    predict_acc_with(dec, k, latents, n)
}

#[inline(always)]
fn predict_acc_with<K: Kernels>(dec: &IntDecoder, k: K, latents: &[i32], n: usize) -> Vec<i32> {
    // A last, partial batch costs a whole one (and the first needs a `Plan`): a few tiles are
    // faster the plain way.
    let batched = if n % BATCH < K::PLAIN_BELOW { n / BATCH * BATCH } else { n };
    let z = dec.latent_dim();
    let mut out =
        if batched > 0 { Plan::new(dec).run(k, &latents[..batched * z], batched) } else { Vec::new() };
    if batched < n {
        out.extend(predict_acc_plain(dec, &latents[batched * z..], n - batched));
    }
    out
}

/// [`IntDecoder::predict_acc`] the plain way, one tile after the other: the definition the batched
/// form must match, and faster for a few tiles of a large model (no [`Plan`] to build).
fn predict_acc_plain(dec: &IntDecoder, latents: &[i32], n: usize) -> Vec<i32> {
    let z = dec.latent_dim();
    let widest = dec.layers.iter().map(|l| l.out_dim as usize).max().unwrap_or(0).max(z);
    let mut cur = vec![0i32; widest];
    let mut next = vec![0i32; widest];
    let mut normed = vec![0i32; widest];
    let mut squares = Vec::new();
    let mut input16 = vec![0i16; widest];
    let mut out = Vec::with_capacity(n * dec.output_dim());
    let last = dec.layers.len() - 1;
    for t in 0..n {
        for (c, &l) in cur.iter_mut().zip(&latents[t * z..(t + 1) * z]) {
            *c = clamp_activation(l);
        }
        for (li, layer) in dec.layers.iter().enumerate() {
            let n_in = layer.in_dim as usize;
            for (d, &x) in input16.iter_mut().zip(&cur[..n_in]) {
                *d = x as i16;
            }
            let input = &input16[..n_in];
            let leaky = dec.norm(li).is_none();
            for (j, row) in layer.weights.chunks_exact(n_in).enumerate() {
                let acc = layer.bias[j].wrapping_add(dot(row, input));
                if li == last {
                    out.push(acc);
                } else {
                    let y = clamp_activation(round_shift(acc, layer.shifts[j]));
                    next[j] = if y < 0 && leaky { (y * dec.leaky_num) >> LEAKY_SHIFT } else { y };
                }
            }
            if let Some(norm) = dec.norm(li) {
                let width = layer.out_dim as usize;
                norm.apply_with(&next[..width], &mut normed[..width], &mut squares);
                std::mem::swap(&mut next, &mut normed);
            }
            std::mem::swap(&mut cur, &mut next);
        }
    }
    out
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
            // `from_fn`, here and below, rather than `array::map`: LLVM does not always inline `map`
            // here (inference was 10 % slower when it did not).
            qr.copy_from_slice(&std::array::from_fn::<i16, BATCH, _>(|b| d[b] as i16));
        }
        let colsum: [i32; BATCH] = std::array::from_fn(|b| colsum[b].wrapping_shl(GDN_SQ_SHIFT));
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

#[cfg(test)]
mod tests;
