//! Loops compiled for the widest vectors the CPU has, chosen at run time: AVX2 on x86_64 where it
//! is there (the build targets the x86_64 baseline, SSE2), as built elsewhere. The same Rust
//! operations either way (IEEE arithmetic, no fused multiply-add), so the same results. (The
//! network's integer kernels choose theirs in `network/kernels`.)

/// `f()`, compiled for AVX2 where the CPU has it: `f`, marked `#[inline(always)]` (as the loops it
/// runs), is inlined into a frame compiled for AVX2 and vectorized for it (4 f64 a vector instead
/// of 2). Check that it was (`ymm` registers in `with_avx2`): the range scan's lanes, updated
/// through a closure's capture, were not, and keep a method of their own
/// (`preprocess::Lanes::add_fastest`).
#[inline]
pub(crate) fn fastest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
