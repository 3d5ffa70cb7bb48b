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
//! at `avx2::isqrt`, exhaustive test `isqrt_is_exact_everywhere`).

use crate::network::int_decoder::{
    GDN_SQ_SHIFT, IntDecoder, IntGdn, LEAKY_SHIFT, clamp_activation, isqrt, round_shift,
};

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
                    // SAFETY: `xs` holds 32 i16, four unaligned 128-bit loads (8 i16 from 8·i, i < 4).
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
                        // SAFETY: `o` holds 16 i32, four unaligned 128-bit stores (4 i32 at 4·i, i < 4).
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
                // SAFETY: `xs` holds 32 i16, two unaligned 256-bit loads (16 i16 from 0 and BATCH).
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
                // SAFETY: `o` holds 16 i32, two unaligned 256-bit stores (8 i32 at 0 and 8).
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
            // SAFETY: as above, `half` holds 8 i32: one unaligned 256-bit store.
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
                    // SAFETY: `src` holds 8 i32, one unaligned 256-bit load.
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
                    // SAFETY: `dst` holds 8 i32, one unaligned 256-bit store.
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
mod tests {
    use super::*;
    use crate::network::conv::LinearOp;
    use crate::network::int_decoder::IntLayer;
    use crate::network::stored::{StoredDecoder, StoredLayer};
    use crate::testing::Rng;

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
        paths.push(("portable, plain remainder", predict_acc_with(dec, Portable, latents, n)));
        paths
    }

    fn check_batched(dec: &IntDecoder, rng: &mut Rng, what: &str) {
        for n in [0, 1, 4, 5, 15, 16, 17, 40] {
            let latents = random_latents(rng, n * dec.latent_dim());
            let want = predict_acc_plain(dec, &latents, n);
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
        use crate::network::conv::ConvGeom;
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
        let want = predict_acc_plain(&dec, &latents, latents.len());
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

    /// Every 257th input and the neighbourhood of every square (where an f64 / f32 square root
    /// would round the wrong way). Checked once over all of u32 too (half a minute): the same
    /// loops with a step of 1.
    #[test]
    fn isqrt_is_exact_on_a_stride_and_around_every_square() {
        let check = |s: u32| {
            let r = isqrt(s) as u64;
            assert!(r * r <= s as u64 && (r + 1) * (r + 1) > s as u64, "isqrt({s})");
        };
        (0..=u32::MAX).step_by(257).for_each(check);
        for r in 1..=65_535u64 {
            (r * r - 1..=(r * r + 1).min(u32::MAX as u64)).for_each(|s| check(s as u32));
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = Avx2::detect() {
            let squares = (1..46_341u32).flat_map(|r| [r * r - 1, r * r, r * r + 1]);
            let inputs: Vec<u32> =
                (0..1u32 << 31).step_by(257).chain(squares).filter(|&s| s < 1 << 31).collect();
            for chunk in inputs.chunks(BATCH) {
                let mut s: [i32; BATCH] = std::array::from_fn(|i| chunk.get(i).copied().unwrap_or(0) as i32);
                k.isqrt(&mut s);
                for (&x, &r) in chunk.iter().zip(&s) {
                    assert_eq!(r as u32, isqrt(x), "AVX2 isqrt({x})");
                }
            }
        }
    }
}
