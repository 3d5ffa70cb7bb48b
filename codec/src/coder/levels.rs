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
    let rows = LevelRows::new(dims);
    let mut out = Vec::with_capacity(dims.iter().product());
    for cap in rows.caps() {
        match cap {
            0 => out.resize(out.len() + rows.row.len(), 0),
            cap => out.extend(rows.row.iter().map(|&l| l.min(cap))),
        }
    }
    out
}

/// A chunk's elements row by row as [`level_contexts`] gives their levels, without a context
/// per element: the chunk's rows ([`squeeze`]d) are `row.len()` long, and the element at k of a
/// row of cap c has level `min(row[k], c)`. Three rows in four (i or j odd) have cap 0: all
/// level 0.
pub(crate) struct LevelRows {
    pub row: Vec<u8>,
    planes: usize,
    rows: usize,
}

impl LevelRows {
    pub(crate) fn new(dims: [usize; 3]) -> Self {
        let [d0, d1, d2] = squeeze(dims);
        Self { row: (0..d2).map(level).collect(), planes: d0, rows: d1 }
    }

    /// Each row's cap, in raster order.
    pub(crate) fn caps(&self) -> impl Iterator<Item = u8> + use<> {
        let rows = self.rows;
        (0..self.planes).flat_map(move |i| (0..rows).map(move |j| level(i).min(level(j))))
    }
}

/// How many elements of a chunk of `dims` each level's table codes.
pub(crate) fn level_sizes(dims: [usize; 3]) -> Vec<usize> {
    let dims = squeeze(dims);
    // Coordinates of level ≥ l along an axis of d: the multiples of 2^l (0 has every level).
    let at_least = |l: usize| dims.iter().map(|&d| d.div_ceil(1 << l)).product::<usize>();
    (0..LEVEL_TABLES).map(|l| at_least(l) - if l + 1 < LEVEL_TABLES { at_least(l + 1) } else { 0 }).collect()
}

/// The interpolation level of a coordinate (see [`level_contexts`]).
fn level(x: usize) -> u8 {
    let cap = LEVEL_TABLES as u32 - 1;
    if x == 0 { cap as u8 } else { x.trailing_zeros().min(cap) as u8 }
}

/// `dims` without its axes of length 1, padded in front: the same raster order and levels (a
/// length-1 axis only has coordinate 0, of the top level), with the longest possible rows.
fn squeeze(dims: [usize; 3]) -> [usize; 3] {
    let mut out = [1; 3];
    for (o, &d) in out.iter_mut().rev().zip(dims.iter().rev().filter(|&&d| d != 1)) {
        *o = d;
    }
    out
}

/// [`super::buckets::decode`] for coder 3 on a chunk of `dims`: element e in stream `level_contexts(dims)[e]`,
/// without building the contexts.
pub fn decode_levels(r: &mut Reader<'_>, dims: [usize; 3], out: &mut Vec<i64>) -> Result<()> {
    let (symbols, mut next) = read_streams(r, &level_sizes(dims))?;
    let rows = LevelRows::new(dims);
    let (row, d2) = (&rows.row, rows.row.len());
    let mut ordered = vec![0u8; symbols.len()];
    // Level 0's cursor in a register, as in `buckets::decode_with`.
    let mut zero = next[0];
    if d2 > 0 {
        for (dst, lij) in ordered.chunks_exact_mut(d2).zip(rows.caps()) {
            if lij == 0 {
                dst.copy_from_slice(&symbols[zero..zero + d2]);
                zero += d2;
                continue;
            }
            for (o, &l) in dst.iter_mut().zip(row) {
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
