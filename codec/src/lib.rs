//! baler-codec: the `.baler` archive format and everything needed to decode it.
//!
//! Pipeline (SZ3's composition of stages): pre-quantization under the bound → prediction (classic
//! Lorenzo / constant, or an autoencoder tile by tile) → integer codes → bytes → zstd. Decoding needs
//! no floating-point network: the decoder half runs in integer arithmetic ([`model`]), so every
//! platform reproduces the same predictions and so the same bits.

pub mod archive;
pub mod bytes;
pub mod coder;
pub mod colormap;
pub mod data;
pub mod describe;
#[cfg(feature = "encode")]
pub mod encode;
pub mod error;
pub mod format;
pub mod hash;
pub mod layout;
pub mod network;
pub mod npy;
pub mod predictor;
pub mod preprocess;
pub mod quant;
#[cfg(test)]
mod testing;

pub use archive::{
    Archive, DecodedChunk, ModelSummary, NetworkRunner, ParsedChunk, StreamCheck, model_hash, parse_model,
};
pub use data::{Array, Column, DType, Dataset, Values};
pub use error::{CodecError, Result};
pub use format::metadata::{BoundSpec, Metadata, ModelUse};

/// Decodes a whole archive (online-mode archives need the model's decoder payload).
pub fn decode(bytes: &[u8], external_model: Option<&[u8]>) -> Result<Dataset> {
    Archive::open(bytes, external_model)?.decode()
}
