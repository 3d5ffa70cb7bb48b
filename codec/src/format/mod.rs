//! The archive's bytes: each stored structure's reader and writer side by side, with its ids.
//!
//! - [`container`]: magic, version, sections with their CRCs, the trailer.
//! - [`metadata`]: shape, streams, quantizers, bound, model use, notes (postcard).
//! - [`chunk_index`]: where each chunk is and which rows it holds.
//! - [`chunk`]: one chunk: header, exceptions, autoencoder tiles, the symbol coder's data.
//! - [`model_file`]: the `.bmodel` file around a decoder payload.

pub mod chunk;
pub mod chunk_index;
pub mod container;
pub mod metadata;
pub mod model_file;
