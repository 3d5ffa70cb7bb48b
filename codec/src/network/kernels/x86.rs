//! The x86_64 kernels: SSE2 (every x86_64 CPU) and AVX2 (chosen at run time where the CPU has
//! it). Each computes exactly what [`super::Portable`] does.

use super::{BATCH, Kernels, PairMatrix, Portable, ROWS};

/// SSE2, which every x86_64 CPU has: 8 multiply-adds per pmaddwd.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[derive(Clone, Copy)]
pub(super) struct Sse2;

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
pub(super) struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// The kernels, if this CPU has AVX2 (only then can the value exist).
    pub(super) fn detect() -> Option<Self> {
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
pub(super) mod avx2 {
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
