//! Coder 0, and the byte symbols coders 0 and 1 share. A code's zigzag value below 255 is one
//! byte; a larger one is the escape byte 255 here and a varint in the chunk's escape stream.
//! Coder 0 stores the symbol bytes as they are and leaves the rest to zstd: small chunks, where a
//! Huffman table would not pay.

use crate::bytes::{Reader, put_varint, unzigzag, zigzag};
use crate::coder::{ChunkShape, SymbolCoder};
use crate::error::Result;

/// Coder 0: the symbol bytes, one per element.
pub struct Raw;

/// Largest chunk the encoder tries coder 0 on.
#[cfg(feature = "encode")]
const MAX_ELEMENTS: usize = 1 << 16;

impl SymbolCoder for Raw {
    fn id(&self) -> u8 {
        0
    }

    fn name(&self) -> &'static str {
        "bytes"
    }

    fn uses_escapes(&self) -> bool {
        true
    }

    #[cfg(feature = "encode")]
    fn tried_on(&self, chunk: &ChunkShape) -> bool {
        chunk.len() <= MAX_ELEMENTS
    }

    /// Its size is what zstd makes of the bytes: only packing tells.
    #[cfg(feature = "encode")]
    fn encoded_len(&self, _counts: &crate::coder::counts::CodeCounts) -> Option<usize> {
        None
    }

    #[cfg(feature = "encode")]
    fn encode(&self, _codes: &[i64], symbols: &[u8], _chunk: &ChunkShape, out: &mut Vec<u8>) {
        out.extend_from_slice(symbols);
    }

    fn decode(
        &self,
        r: &mut Reader<'_>,
        escapes: &mut Reader<'_>,
        chunk: &ChunkShape,
        out: &mut Vec<i64>,
    ) -> Result<()> {
        unpack_codes(r.take(chunk.len(), "code symbols")?, escapes, out)
    }
}

const ESCAPE: u8 = 255;

/// Splits codes into the one-byte symbol stream and the escape stream.
pub fn pack_codes(codes: &[i64], symbols: &mut Vec<u8>, escapes: &mut Vec<u8>) {
    symbols.reserve(codes.len());
    for &c in codes {
        let z = zigzag(c);
        if z < ESCAPE as u64 {
            symbols.push(z as u8);
        } else {
            symbols.push(ESCAPE);
            put_varint(escapes, z - ESCAPE as u64);
        }
    }
}

/// Inverse of [`pack_codes`]; `escapes` must be consumed exactly.
pub fn unpack_codes(symbols: &[u8], escapes: &mut Reader<'_>, out: &mut Vec<i64>) -> Result<()> {
    out.reserve(symbols.len());
    for &s in symbols {
        let z = if s == ESCAPE {
            escapes
                .varint("escaped code")?
                .checked_add(ESCAPE as u64)
                .ok_or_else(|| crate::error::CodecError::Corrupt("escaped code overflows".into()))?
        } else {
            s as u64
        };
        out.push(unzigzag(z));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_with_escapes() {
        let codes = vec![0, 1, -1, 126, 127, -128, 1000, -100000, i64::MAX, i64::MIN, 5];
        let (mut s, mut e) = (Vec::new(), Vec::new());
        pack_codes(&codes, &mut s, &mut e);
        assert_eq!(s.len(), codes.len());
        let mut r = Reader::new(&e);
        let mut back = Vec::new();
        unpack_codes(&s, &mut r, &mut back).unwrap();
        r.finish("escapes").unwrap();
        assert_eq!(back, codes);
    }
}
