//! Symbol coders: how a chunk's integer codes become bytes (before the lossless stage, zstd).
//!
//! Every coder implements [`SymbolCoder`] and has one line in [`CODERS`]; the chunk format
//! (`format::chunk`) stores its id and calls it, and knows nothing else about it.
//! - [`raw`]: coder 0, one byte per code (plus escapes), and the byte symbols coder 1 shares.
//! - [`huffman`]: coder 1, canonical Huffman over those bytes; also the tables of coders 2–3.
//! - [`buckets`]: coder 2, bucket symbols + extra bits with a Huffman table per stream.
//! - [`levels`]: coder 3, coder 2 with a table per interpolation level.
//! - [`bits`]: the bit reader and writer they share; [`lossless`]: zstd; [`counts`]: the tallies
//!   their lengths are counted from.

pub mod bits;
pub mod buckets;
#[cfg(feature = "encode")]
pub mod counts;
pub mod huffman;
pub mod levels;
pub mod lossless;
pub mod raw;

use crate::bytes::Reader;
use crate::error::Result;

/// What a coder knows of the chunk it codes: its lattice dims and how its elements fall into
/// streams (a table's columns; a field is one stream).
#[derive(Clone, Copy, Debug)]
pub struct ChunkShape {
    pub dims: [usize; 3],
    /// Streams of the archive: a table's column count, 1 for a field.
    pub streams: usize,
    pub table: bool,
}

impl ChunkShape {
    /// Elements in the chunk.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stream of element e (raster order): a table's column, or 0.
    #[inline]
    pub fn stream_of(&self, e: usize) -> usize {
        if self.table { (e / self.dims[2]) % self.dims[1] } else { 0 }
    }
}

/// One way of storing a chunk's codes. The chunk layout around it is fixed (docs/format.md §4):
/// the escape stream (empty unless [`SymbolCoder::uses_escapes`]), the coder's id byte, then what
/// [`SymbolCoder::encode`] wrote.
pub trait SymbolCoder: Sync {
    /// The id byte stored in the chunk.
    fn id(&self) -> u8;

    /// In words, for `info`.
    fn name(&self) -> &'static str;

    /// Whether it codes the byte symbols of [`raw::pack_codes`], whose large codes go to the escape
    /// stream (else it codes the integer codes itself and the escape stream is empty).
    fn uses_escapes(&self) -> bool;

    /// Whether a decoder accepts this coder for a chunk of this shape.
    fn valid_for(&self, _chunk: &ChunkShape) -> bool {
        true
    }

    /// Whether the encoder tries it on a chunk of this shape.
    #[cfg(feature = "encode")]
    fn tried_on(&self, chunk: &ChunkShape) -> bool;

    /// The length of what [`Self::encode`] would append (escapes aside), counted from the codes'
    /// tallies without writing it; None where only encoding tells.
    #[cfg(feature = "encode")]
    fn encoded_len(&self, counts: &counts::CodeCounts) -> Option<usize>;

    /// Appends the coded `codes` (`symbols`: their byte symbols, when [`Self::uses_escapes`]).
    #[cfg(feature = "encode")]
    fn encode(&self, codes: &[i64], symbols: &[u8], chunk: &ChunkShape, out: &mut Vec<u8>);

    /// Reads what [`Self::encode`] wrote and appends the chunk's codes to `out`.
    fn decode(
        &self,
        r: &mut Reader<'_>,
        escapes: &mut Reader<'_>,
        chunk: &ChunkShape,
        out: &mut Vec<i64>,
    ) -> Result<()>;
}

/// Every symbol coder, in the order the encoder tries them: where two give frames of the same
/// size the first is kept, so archive bytes depend on this order.
pub static CODERS: &[&dyn SymbolCoder] =
    &[&huffman::HuffmanCoder, &buckets::Buckets, &levels::Levels, &raw::Raw];

/// The coder with id `id`, if a decoder accepts it for this chunk.
pub fn coder(id: u8, chunk: &ChunkShape) -> Option<&'static dyn SymbolCoder> {
    CODERS.iter().copied().find(|c| c.id() == id && c.valid_for(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<u8> = CODERS.iter().map(|c| c.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CODERS.len());
    }
}
