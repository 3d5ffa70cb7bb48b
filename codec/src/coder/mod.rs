//! Symbol coders (how a chunk's integer codes become bytes) and the lossless stage.
//!
//! - [`lossless`]: code ↔ byte-symbol + escape packing (coder 0) and zstd, the last stage.
//! - [`huffman`]: canonical Huffman over byte symbols (coder 1) and its bit reader.
//! - [`buckets`]: bucket symbols + extra bits with a table per stream (coder 2) or per
//!   interpolation level (coder 3).

pub mod buckets;
pub mod huffman;
pub mod lossless;
