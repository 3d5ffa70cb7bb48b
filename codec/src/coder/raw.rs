//! Coder 0, and the byte symbols coders 0 and 1 share. A code's zigzag value below 255 is one
//! byte; a larger one is the escape byte 255 here and a varint in the chunk's escape stream.
//! Coder 0 stores the symbol bytes as they are and leaves the rest to zstd: small chunks, where a
//! Huffman table would not pay.

use crate::bytes::{Reader, unzigzag};
#[cfg(feature = "encode")]
use crate::bytes::{put_varint, zigzag};
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

#[cfg(feature = "encode")]
/// Splits codes into the one-byte symbol stream and the escape stream.
pub fn pack_codes(codes: &[i64], symbols: &mut Vec<u8>, escapes: &mut Vec<u8>) {
    symbol_stream(codes, symbols);
    escape_stream(codes, escapes);
}

#[cfg(feature = "encode")]
/// The symbol stream of [`pack_codes`]: a code's zigzag value, 255 from 255 on (one loop
/// without a branch, which vectorizes).
pub fn symbol_stream(codes: &[i64], symbols: &mut Vec<u8>) {
    crate::simd::fastest(
        #[inline(always)]
        || symbols.extend(codes.iter().map(|&c| zigzag(c).min(ESCAPE as u64) as u8)),
    )
}

#[cfg(feature = "encode")]
/// The escape stream of [`pack_codes`]: a varint of z − 255 for each code whose zigzag value z
/// is 255 or more, in order. Few codes escape (about 1 % of CFD's at 1e-4): blocks of eight
/// without one are passed over after one test, which vectorizes. (Packing coder 1's symbols and
/// escapes together, a push per code, where only the escapes were needed to weigh coder 1 was 9 %
/// of a 105 MB field's compression at 1e-4, by `perf`.)
pub fn escape_stream(codes: &[i64], escapes: &mut Vec<u8>) {
    const BLOCK: usize = 8;
    // zigzag(c) ≥ 255 exactly where c + 127, as unsigned, is above 254.
    let escapes_in =
        |block: &[i64]| block.iter().fold(false, |any, &c| any | (c.wrapping_add(127) as u64 > 254));
    crate::simd::fastest(
        #[inline(always)]
        || {
            for block in codes.chunks(BLOCK) {
                if !escapes_in(block) {
                    continue;
                }
                for &c in block {
                    let z = zigzag(c);
                    if z >= ESCAPE as u64 {
                        put_varint(escapes, z - ESCAPE as u64);
                    }
                }
            }
        },
    )
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

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;

    /// The escape stream as a push per escape makes it: random codes of every width, escapes
    /// dense and sparse, values at each varint length's edges, i64's extremes.
    #[test]
    fn escape_stream_is_a_varint_per_escape_in_order() {
        let mut rng = crate::testing::Rng(9);
        let edges = [0i64, 127, 128, 129, 254, 255, 8191, 8192, 1 << 20, (1 << 20) + 200, i64::MAX, i64::MIN];
        for case in 0..40 {
            let width = 1 + case % 40;
            let n = rng.below(5000) as usize;
            let codes: Vec<i64> = (0..n)
                .map(|_| match rng.below(8) {
                    0 => match rng.below(2) {
                        0 => edges[rng.below(edges.len() as u64) as usize],
                        _ => edges[rng.below(edges.len() as u64) as usize].wrapping_neg(),
                    },
                    _ => rng.range(-(1i64 << width.min(61)), 1i64 << width.min(61)),
                })
                .collect();
            let mut expected = Vec::new();
            for &c in &codes {
                let z = zigzag(c);
                if z >= ESCAPE as u64 {
                    put_varint(&mut expected, z - ESCAPE as u64);
                }
            }
            let (mut symbols, mut escapes) = (vec![7u8], vec![9u8]);
            pack_codes(&codes, &mut symbols, &mut escapes);
            assert_eq!(escapes[1..], expected[..], "case {case}");
            assert_eq!(symbols.len(), n + 1);
            assert!(symbols[1..].iter().zip(&codes).all(|(&s, &c)| s as u64 == zigzag(c).min(255)));
        }
    }

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
