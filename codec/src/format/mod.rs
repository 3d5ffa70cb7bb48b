//! The archive's bytes: each stored structure's reader and writer side by side, with its ids.
//!
//! - [`container`]: magic, version, sections with their CRCs, the trailer.
//! - [`metadata`]: shape, streams, quantizers, bound, model use, notes (postcard).
//! - [`model_file`]: the `.bmodel` file around a decoder payload.
//!
//! The chunk index and the chunk layout are still read in `archive.rs` and written in `encode/`
//! (issue 16 moves them here).

pub mod container;
pub mod metadata;
pub mod model_file;
