//! The decoder network: integer inference that gives the same bits on every decoder.
//!
//! - [`int_decoder`]: the integer network (dense / expanded conv layers, inverse GDN), its
//!   validation and the per-tile reference.
//! - [`kernels`]: the same integers computed fast (batches of tiles; AVX2 / SSE2 / portable).
//! - [`stored`]: the stored model formats (model section payloads) and their expansion.
//! - [`quantize`]: float decoder → integer decoder, and latents (encode side), plus the float
//!   reference forward pass.
//! - [`conv`]: convolutions as the dense operators they expand to.
//! - `gpu`: the same integers in WGSL through wgpu.
//!
//! [`NetworkRunner`] is what the chunk decoder calls; the CPU decoder and the GPU kernel are two.

pub mod conv;
pub mod float_ref;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod int_decoder;
mod kernels;
pub mod quantize;
pub mod stored;

use crate::error::Result;
pub use int_decoder::IntDecoder;

/// Runs the decoder network: the last layer's i32 accumulators for `n` tiles' latents (row-major
/// n × latent_dim), exactly as [`IntDecoder::predict_acc`] computes them. The CPU decoder is one;
/// the codec's wgpu kernel (`gpu`) another.
pub trait NetworkRunner: Sync {
    fn predict_acc(&self, latents: &[i32], n: usize) -> Result<Vec<i32>>;
}

impl NetworkRunner for IntDecoder {
    fn predict_acc(&self, latents: &[i32], n: usize) -> Result<Vec<i32>> {
        Ok(IntDecoder::predict_acc(self, latents, n))
    }
}

pub use float_ref::{FloatGdn, FloatLayer, float_forward};
pub use int_decoder::{IntGdn, IntLayer, MAX_LATENT_SHIFT, clamp_activation, shift_up};
pub use quantize::{quantize_decoder, quantize_latents};
pub use stored::{StoredDecoder, StoredLayer, to_bytes};
