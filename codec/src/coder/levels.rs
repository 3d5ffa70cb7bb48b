//! Coder 3: coder 2's bucket symbols and extra bits, with one Huffman table per interpolation
//! level instead of one per stream (single-stream fields, chunks of at least
//! [`MIN_ELEMENTS`]). The level of an element is known from its coordinates alone.

use crate::bytes::Reader;
use crate::coder::buckets::{Extra, read_streams};
use crate::coder::{ChunkShape, SymbolCoder};
use crate::error::Result;

/// Smallest chunk worth trying per-level tables on (eight tables cost up to ~200 bytes).
pub const MIN_ELEMENTS: usize = 4096;

/// Coder 3.
pub struct Levels;

impl SymbolCoder for Levels {
    fn id(&self) -> u8 {
        3
    }

    fn name(&self) -> &'static str {
        "buckets + Huffman per level"
    }

    fn uses_escapes(&self) -> bool {
        false
    }

    fn valid_for(&self, chunk: &ChunkShape) -> bool {
        chunk.streams == 1
    }

    #[cfg(feature = "encode")]
    fn tried_on(&self, chunk: &ChunkShape) -> bool {
        chunk.streams == 1 && chunk.len() >= MIN_ELEMENTS
    }

    #[cfg(feature = "encode")]
    fn encoded_len(&self, counts: &crate::coder::counts::CodeCounts) -> Option<usize> {
        // Tallied per level wherever this coder is tried.
        counts.by_level.then(|| crate::coder::buckets::encoded_len(&counts.contexts))
    }

    #[cfg(feature = "encode")]
    fn encode(&self, codes: &[i64], _symbols: &[u8], chunk: &ChunkShape, out: &mut Vec<u8>) {
        crate::coder::buckets::encode_levels(codes, chunk.dims, out);
    }

    fn decode(
        &self,
        r: &mut Reader<'_>,
        _escapes: &mut Reader<'_>,
        chunk: &ChunkShape,
        out: &mut Vec<i64>,
    ) -> Result<()> {
        decode_levels(r, chunk.dims, out)
    }
}

/// Tables of coder 3: one per interpolation level (the last one takes every coarser level).
pub const LEVEL_TABLES: usize = 8;

/// Coder 3's context of every element of a chunk of `dims`, in raster order: the number of
/// trailing zero bits common to its coordinates, capped at `LEVEL_TABLES − 1` — the level of the
/// multilevel interpolation that predicts it. Codes of coarse levels are larger than fine ones:
/// a table each costs a few bytes and saves 3–5 % there.
#[cfg(any(test, feature = "encode"))]
pub fn level_contexts(dims: [usize; 3]) -> Vec<u8> {
    let [d0, d1, d2] = squeeze(dims);
    let row: Vec<u8> = (0..d2).map(level).collect();
    let mut out = Vec::with_capacity(d0 * d1 * d2);
    for i in 0..d0 {
        for j in 0..d1 {
            // Three rows in four (i or j odd) are all level 0.
            match level(i).min(level(j)) {
                0 => out.resize(out.len() + d2, 0),
                lij => out.extend(row.iter().map(|&l| l.min(lij))),
            }
        }
    }
    out
}

/// How many elements of a chunk of `dims` each level's table codes.
pub(crate) fn level_sizes(dims: [usize; 3]) -> Vec<usize> {
    let dims = squeeze(dims);
    // Coordinates of level ≥ l along an axis of d: the multiples of 2^l (0 has every level).
    let at_least = |l: usize| dims.iter().map(|&d| d.div_ceil(1 << l)).product::<usize>();
    (0..LEVEL_TABLES).map(|l| at_least(l) - if l + 1 < LEVEL_TABLES { at_least(l + 1) } else { 0 }).collect()
}

/// The interpolation level of a coordinate (see [`level_contexts`]).
pub(crate) fn level(x: usize) -> u8 {
    let cap = LEVEL_TABLES as u32 - 1;
    if x == 0 { cap as u8 } else { x.trailing_zeros().min(cap) as u8 }
}

/// `dims` without its axes of length 1, padded in front: the same raster order and levels (a
/// length-1 axis only has coordinate 0, of the top level), with the longest possible rows.
pub(crate) fn squeeze(dims: [usize; 3]) -> [usize; 3] {
    let mut out = [1; 3];
    for (o, &d) in out.iter_mut().rev().zip(dims.iter().rev().filter(|&&d| d != 1)) {
        *o = d;
    }
    out
}

/// [`super::buckets::decode`] for coder 3 on a chunk of `dims`: element e in stream `level_contexts(dims)[e]`,
/// without building the contexts.
pub fn decode_levels(r: &mut Reader<'_>, dims: [usize; 3], out: &mut Vec<i64>) -> Result<()> {
    let [d0, d1, d2] = squeeze(dims);
    let (symbols, mut next) = read_streams(r, &level_sizes(dims))?;
    let row: Vec<u8> = (0..d2).map(level).collect();
    let mut ordered = vec![0u8; symbols.len()];
    // Level 0's cursor in a register, as in `buckets::decode_with`.
    let mut zero = next[0];
    if d2 > 0 {
        let row_levels = (0..d0).flat_map(|i| (0..d1).map(move |j| level(i).min(level(j))));
        for (dst, lij) in ordered.chunks_exact_mut(d2).zip(row_levels) {
            if lij == 0 {
                dst.copy_from_slice(&symbols[zero..zero + d2]);
                zero += d2;
                continue;
            }
            for (o, &l) in dst.iter_mut().zip(&row) {
                let at = match l.min(lij) as usize {
                    0 => {
                        zero += 1;
                        zero - 1
                    }
                    c => {
                        next[c] += 1;
                        next[c] - 1
                    }
                };
                *o = symbols[at];
            }
        }
    }
    Extra::new(r)?.codes(&ordered, out)
}
