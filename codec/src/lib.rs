//! baler-codec: the `.baler` archive format and everything needed to decode it.
//!
//! Stages (SZ3's composition): pre-quantization under the bound (`quant`) → a predictor per chunk
//! (`predictor/`, behind the `Predictor` trait and its registry; the autoencoder overrides it tile by
//! tile) → integer codes → a symbol coder (`coder/`, behind `SymbolCoder`) → zstd. `format/` holds
//! every stored structure's reader and writer; `encode/` assembles the stages into the compressor and
//! `archive/` into the decoder. Decoding needs no floating-point network: the decoder half runs in
//! integer arithmetic (`network/`), so every platform reproduces the same predictions and so the
//! same bits.

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
#[cfg(feature = "encode")]
mod simd;
#[cfg(test)]
mod testing;

pub use archive::{
    Archive, DecodedChunk, HeadLen, ModelSummary, NetworkRunner, ParsedChunk, StreamCheck, head_len,
    model_hash, parse_model,
};
pub use data::{Array, Column, DType, Dataset, Values};
pub use error::{CodecError, Result};
pub use format::metadata::{BoundSpec, Metadata, ModelUse};

/// Decodes a whole archive (online-mode archives need the model's decoder payload).
pub fn decode(bytes: &[u8], external_model: Option<&[u8]>) -> Result<Dataset> {
    Archive::open(bytes, external_model)?.decode()
}
