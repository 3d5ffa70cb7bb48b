//! One chunk's bytes (docs/format.md §5.1–5.2), the writer next to the reader: a header (start
//! row, rows, predictor id, inflated length) and one zstd frame (from format 7, or the bytes
//! themselves where the frame would be no smaller) holding the exceptions, the autoencoder's
//! tiles (archives with a model), the escape stream, the symbol coder's id and its data. The
//! predictor and the coder are named by their ids only: what they mean is theirs (`predictor/`,
//! `coder/`).

use crate::bytes::Reader;
#[cfg(feature = "encode")]
use crate::bytes::{put_varint, zigzag};
#[cfg(feature = "encode")]
use crate::coder::counts::CodeCounts;
use crate::coder::{ChunkShape, SymbolCoder};
use crate::error::{CodecError, Result, corrupt};
use crate::network::MAX_LATENT_SHIFT;

/// Exception kinds: the value follows in the stream's width, or it is the metadata's fill value.
pub const EXC_RAW: u8 = 0;
pub const EXC_FILL: u8 = 1;
/// Most elements one chunk may hold (the writer uses far fewer): bounds every per-chunk allocation.
pub const MAX_CHUNK_ELEMENTS: usize = 1 << 26;
/// Most bytes one chunk's zstd frame may inflate to.
pub const MAX_CHUNK_RAW_BYTES: usize = 1 << 30;

/// An exception as the decoder reads it: (position in the chunk, kind, the stored bits: f32 or
/// f64 bits, or an integer stream's i64; 0 for a fill value).
pub type Exception = (usize, u8, u64);

/// The autoencoder's part of a chunk: the latent shift, which tiles use the network, and their
/// stored latents (latent_dim per used tile, in tile order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TileSection {
    pub shift: u8,
    pub modes: Vec<u8>,
    pub latents: Vec<i32>,
}

impl TileSection {
    /// The tiles with mode 1, in order.
    pub fn used(&self) -> Vec<usize> {
        (0..self.modes.len()).filter(|&t| self.modes[t] == 1).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Writer

/// An exception as the encoder writes it: (position, kind, the value's bytes for kind raw).
#[cfg(feature = "encode")]
pub type ExceptionBytes = (usize, u8, Vec<u8>);

/// What the inflated chunk holds before its codes: the exceptions (sorted by position), the
/// predictor's parameters (empty for most) and, in archives with a model, the tile section.
#[cfg(feature = "encode")]
pub fn write_prefix(
    exceptions: &[ExceptionBytes],
    params: &[u8],
    tiles: Option<&TileSection>,
    capacity: usize,
) -> Vec<u8> {
    let mut raw = Vec::with_capacity(capacity + 64);
    put_varint(&mut raw, exceptions.len() as u64);
    let mut prev = 0usize;
    for (k, (pos, kind, bytes)) in exceptions.iter().enumerate() {
        put_varint(&mut raw, if k == 0 { *pos } else { pos - prev - 1 } as u64);
        raw.push(*kind);
        raw.extend_from_slice(bytes);
        prev = *pos;
    }
    raw.extend_from_slice(params);
    if let Some(t) = tiles {
        raw.push(t.shift);
        raw.extend_from_slice(&t.modes);
        for &l in &t.latents {
            put_varint(&mut raw, zigzag(l as i64));
        }
    }
    raw
}

/// The prefix followed by the codes in the symbol coder that stores them smallest, zstd'd:
/// (inflated length, frame). Above [`PACK_ALL_UP_TO`] elements, coders whose output length can be
/// counted without encoding ([`SymbolCoder::encoded_len`]) are ranked by that count: the smallest
/// (the first of equal counts) and those not counted are packed, and the others too where zstd
/// gained more than [`ZSTD_FOUND`] on the counted one. The smallest frame is kept, the first of
/// equal sizes in [`crate::coder::CODERS`] order.
#[cfg(feature = "encode")]
pub fn pack(prefix: Vec<u8>, codes: &[i64], shape: &ChunkShape, zstd_level: i32) -> (usize, Vec<u8>) {
    pack_counted(prefix, codes, None, shape, zstd_level)
}

/// [`pack`] with the codes' tallies where they are at hand already (`CodeCounts::new(codes,
/// shape)`: made once for a candidate's estimate, its count and its packing).
#[cfg(feature = "encode")]
pub fn pack_counted(
    prefix: Vec<u8>,
    codes: &[i64],
    counts: Option<&CodeCounts>,
    shape: &ChunkShape,
    zstd_level: i32,
) -> (usize, Vec<u8>) {
    pack_counting_above(prefix, codes, counts, shape, zstd_level, PACK_ALL_UP_TO)
}

/// [`pack`] with coders ranked by their counted lengths whatever the codes' number: a box's
/// frames, which only rank candidate predictors.
#[cfg(feature = "encode")]
pub fn pack_to_rank(prefix: Vec<u8>, codes: &[i64], shape: &ChunkShape, zstd_level: i32) -> (usize, Vec<u8>) {
    pack_counting_above(prefix, codes, None, shape, zstd_level, 0)
}

/// [`pack_counted`], packing every coder where there are at most `pack_all_up_to` codes.
#[cfg(feature = "encode")]
fn pack_counting_above(
    prefix: Vec<u8>,
    codes: &[i64],
    counts: Option<&CodeCounts>,
    shape: &ChunkShape,
    zstd_level: i32,
    pack_all_up_to: usize,
) -> (usize, Vec<u8>) {
    use rayon::prelude::*;
    let coders: Vec<&dyn SymbolCoder> =
        crate::coder::CODERS.iter().copied().filter(|c| c.tried_on(shape)).collect();
    // Coder 1's bytes, made only if coder 1 is packed, and its escapes, made where it is packed
    // or might win (below).
    let (symbols, escapes) = (std::sync::OnceLock::new(), std::sync::OnceLock::new());
    let symbols = || {
        symbols.get_or_init(|| {
            let mut symbols = Vec::new();
            crate::coder::raw::symbol_stream(codes, &mut symbols);
            symbols
        })
    };
    let escapes = || {
        escapes.get_or_init(|| {
            let mut escapes = Vec::new();
            crate::coder::raw::escape_stream(codes, &mut escapes);
            escapes
        })
    };
    let (counted, escape_bytes) = if codes.len() <= pack_all_up_to {
        (vec![None; coders.len()], 0)
    } else {
        let made;
        let counts = match counts {
            Some(c) => c,
            None => {
                made = CodeCounts::new(codes, shape);
                &made
            }
        };
        (count_coders(&coders, counts), counts.escape_bytes())
    };
    let pack_in = |i: usize| {
        let c = coders[i];
        let mut raw = prefix.clone();
        let (symbols, esc): (&[u8], &[u8]) = match c.uses_escapes() {
            true => (symbols(), escapes()),
            false => (&[], &[]),
        };
        put_varint(&mut raw, esc.len() as u64);
        raw.extend_from_slice(esc);
        raw.push(c.id());
        c.encode(codes, symbols, shape, &mut raw);
        (i, (raw.len(), crate::coder::lossless::pack_bytes(raw, zstd_level)))
    };
    let smallest = counted.iter().flatten().min();
    let first_smallest = counted.iter().position(|c| c.is_some() && c.as_ref() == smallest);
    let counted_best = |i: &usize| Some(*i) == first_smallest;
    // A coder with an escape stream that would be the smallest were its escapes free: zstd can
    // all but remove an escape stream of repeats (copies of the same rows), which counting cannot
    // see, so it is packed too, where zstd (at its fastest) takes at least the difference off
    // the escapes alone (at fine bounds escapes are many and as random as the field: packing
    // coder 1 as well cost more than half the time of a chunk).
    let escapes_shrink = std::sync::OnceLock::new();
    let escapes_shrink = || {
        *escapes_shrink.get_or_init(|| {
            let escapes = escapes();
            escapes.len().saturating_sub(crate::coder::lossless::zstd_compress(escapes, 1).len())
        })
    };
    let might_win = |i: &usize| {
        coders[*i].uses_escapes()
            && counted[*i]
                .zip(smallest.copied())
                .is_some_and(|(c, best)| c.saturating_sub(escape_bytes) < best && c - escapes_shrink() < best)
    };
    let mut packed: Vec<(usize, (usize, Vec<u8>))> = (0..coders.len())
        .into_par_iter()
        .filter(|i| counted[*i].is_none() || counted_best(i) || might_win(i))
        .map(pack_in)
        .collect();
    // Where zstd found structure counting cannot see (runs of zero codes at loose bounds,
    // repeated rows) the coders rank differently once zstd'd: then the others are packed too,
    // those that zstd would make smaller with a gain [`ZSTD_SLACK`] above the counted one's (on
    // the bench fields at 1e-2 and 1e-3 the counted coder was the smallest but once, by 0.35 %,
    // and packing every coder took half a chunk's time).
    let found = packed.iter().find(|(i, (raw, z))| counted_best(i) && zstd_found(*raw, z));
    if let Some((_, (raw, z))) = found {
        let kept = z.len() as f64 / *raw as f64;
        let best = z.len() as f64;
        // Where zstd took much off (long runs of zero codes at loose bounds) the per-level coder
        // is the one that can overtake the counted one, not coders 1 and 2 (see
        // [`ZSTD_PACK_ALL_BELOW`]).
        let large_gain = kept < 1.0 - ZSTD_PACK_ALL_BELOW;
        let rest = (0..coders.len()).into_par_iter().filter(|i| {
            counted[*i].is_some_and(|c| c as f64 * kept * (1.0 - ZSTD_SLACK) < best)
                && !counted_best(i)
                && !might_win(i)
                && (!large_gain || coders[*i].id() == crate::coder::levels::Levels.id())
        });
        packed.extend(rest.map(pack_in).collect::<Vec<_>>());
    }
    // The first of the smallest, in `CODERS` order.
    let best = packed.into_iter().min_by_key(|(i, (_, z))| (z.len(), *i));
    best.expect("coder 1 is tried on every chunk").1
}

/// The smallest counted length of the codes' part of a chunk over the coders tried on it (before
/// zstd), or None for chunks packed in every coder (see [`pack`]).
#[cfg(feature = "encode")]
pub fn counted_len(codes: &[i64], shape: &ChunkShape) -> Option<usize> {
    if codes.len() <= PACK_ALL_UP_TO {
        return None;
    }
    counted_len_of(&CodeCounts::new(codes, shape), shape)
}

/// [`counted_len`] from the codes' tallies (`CodeCounts::new(codes, shape)`).
#[cfg(feature = "encode")]
pub fn counted_len_of(counts: &CodeCounts, shape: &ChunkShape) -> Option<usize> {
    if shape.len() <= PACK_ALL_UP_TO {
        return None;
    }
    let coders: Vec<&dyn SymbolCoder> =
        crate::coder::CODERS.iter().copied().filter(|c| c.tried_on(shape)).collect();
    count_coders(&coders, counts).into_iter().flatten().min()
}

/// Whether zstd found structure in a packed frame (inflated length, frame) that counting cannot
/// see: then frames rank differently from counted lengths.
#[cfg(feature = "encode")]
pub fn zstd_found(raw_len: usize, frame: &[u8]) -> bool {
    (frame.len() as f64) < raw_len as f64 * (1.0 - ZSTD_FOUND)
}

/// Each coder's counted length of the codes' part of a chunk (escape stream included).
#[cfg(feature = "encode")]
fn count_coders(coders: &[&dyn SymbolCoder], counts: &CodeCounts) -> Vec<Option<usize>> {
    let escapes = counts.escape_bytes();
    let with_escapes = crate::bytes::varint_len(escapes as u64) + escapes;
    coders
        .iter()
        .map(|c| Some(c.encoded_len(counts)? + if c.uses_escapes() { with_escapes } else { 1 }))
        .collect()
}

/// zstd's gain on the counted coder's data (relative) from which every coder is packed: below it
/// (fine bounds: the bitstreams are near their entropy) counting ranks the coders as packing does.
#[cfg(feature = "encode")]
const ZSTD_FOUND: f64 = 0.03;

/// How much more than the counted coder's another coder's data must gain from zstd to be packed
/// once zstd found structure (relative).
#[cfg(feature = "encode")]
const ZSTD_SLACK: f64 = 0.02;

/// zstd's gain on the counted coder's data below which every coder within [`ZSTD_SLACK`] is
/// packed; above it only the per-level coder (3) besides the counted one. Measured on 18 fields
/// × 3 bounds (every chunk zstd found structure in, 450 packs): above 10 % coders 1 and 2 won
/// no whole chunk (on sample boxes, 15 of 450 by at most 0.45 %), and packing them took a
/// quarter of the time at 1e-2; below it coder 1 won some by 0.1–0.36 % (CFD × 12 at 1e-3).
#[cfg(feature = "encode")]
const ZSTD_PACK_ALL_BELOW: f64 = 0.10;

/// Chunks of at most this many elements are packed in every coder. Above it, counted lengths rank
/// the coders as their frames do: on the bench fields at 1e-2…1e-4 every larger chunk kept the
/// coder that packing them all kept, at a third of the work (zstd's gain, which counting cannot
/// see, reordered one chunk of 19 125 elements by 3 %).
#[cfg(feature = "encode")]
pub(crate) const PACK_ALL_UP_TO: usize = 1 << 16;

/// The chunk section's payload.
#[cfg(feature = "encode")]
pub fn write_chunk(start: usize, rows: usize, predictor: u8, raw_len: usize, frame: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(frame.len() + 24);
    put_varint(&mut payload, start as u64);
    put_varint(&mut payload, rows as u64);
    payload.push(predictor);
    put_varint(&mut payload, raw_len as u64);
    payload.extend_from_slice(frame);
    payload
}

// ---------------------------------------------------------------------------------------------
// Reader

/// A chunk payload read up to its predictor id; [`ChunkHeader::inflate`] gives the rest.
pub struct ChunkHeader<'a> {
    pub start: u64,
    pub rows: u64,
    r: Reader<'a>,
}

impl<'a> ChunkHeader<'a> {
    pub fn read(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let start = r.varint("chunk start")?;
        let rows = r.varint("chunk rows")?;
        Ok(Self { start, rows, r })
    }

    /// The predictor id.
    pub fn predictor(&mut self) -> Result<u8> {
        self.r.u8("chunk predictor")
    }

    /// The inflated data of a chunk of `n` elements in an archive of format `version`. Its claimed
    /// length is checked against the elements (and 1 GiB); the inflater grows its buffer with
    /// what the frame really yields, not with this claim.
    pub fn inflate(mut self, n: usize, version: u16, what: &str) -> Result<Vec<u8>> {
        use crate::coder::lossless::{UNPACKED_SINCE_VERSION, unpack_bytes};
        let raw_len = self.r.len((n * 16 + (1 << 20)).min(MAX_CHUNK_RAW_BYTES), "chunk raw length")?;
        let stored = self.r.take(self.r.remaining(), "chunk data")?;
        unpack_bytes(stored, raw_len, version >= UNPACKED_SINCE_VERSION, what)
    }
}

/// Reads the inflated data of a chunk of `n` elements, part by part in stored order.
pub struct ChunkReader<'a> {
    r: Reader<'a>,
    n: usize,
    /// Bytes of inflated data: bounds the escape stream's length.
    len: usize,
}

impl<'a> ChunkReader<'a> {
    pub fn new(raw: &'a [u8], n: usize) -> Self {
        Self { r: Reader::new(raw), n, len: raw.len() }
    }

    /// The exceptions; `width(e)` is the byte width of a raw value at position e.
    pub fn exceptions(&mut self, width: impl Fn(usize) -> usize) -> Result<Vec<Exception>> {
        let (r, n) = (&mut self.r, self.n);
        // Each exception takes at least 2 bytes (position, kind).
        let count = r.len(n.min(r.remaining() / 2), "exception count")?;
        let mut exceptions = Vec::with_capacity(count);
        let mut pos = 0usize;
        for e in 0..count {
            let gap = r.len(n, "exception position")?;
            pos = if e == 0 { gap } else { pos + 1 + gap };
            if pos >= n {
                return corrupt("exception position outside the chunk");
            }
            let kind = r.u8("exception kind")?;
            let bits = match kind {
                EXC_RAW => {
                    let w = width(pos);
                    let b = r.take(w, "exception value")?;
                    let mut a = [0u8; 8];
                    a[..w].copy_from_slice(b);
                    u64::from_le_bytes(a)
                }
                EXC_FILL => 0,
                k => return corrupt(format!("unknown exception kind {k}")),
            };
            exceptions.push((pos, kind, bits));
        }
        Ok(exceptions)
    }

    /// Where the predictor's parameters follow the exceptions (predictors that have them read
    /// them from here).
    pub fn params(&mut self) -> &mut Reader<'a> {
        &mut self.r
    }

    /// The tile section of a chunk of `tiles` tiles, `latent_dim` latents per used tile.
    pub fn tiles(&mut self, tiles: usize, latent_dim: usize) -> Result<TileSection> {
        let r = &mut self.r;
        let shift = r.u8("latent step")?;
        if shift > MAX_LATENT_SHIFT {
            return corrupt(format!("latent step 2^{shift} out of range"));
        }
        let modes = r.take(tiles, "tile modes")?.to_vec();
        if modes.iter().any(|&m| m > 1) {
            return corrupt("unknown tile mode");
        }
        let used = modes.iter().filter(|&&m| m == 1).count();
        // Each latent takes at least a byte: a count the data cannot hold reserves nothing.
        if used * latent_dim > r.remaining() {
            return corrupt("latents are truncated");
        }
        let mut latents = Vec::with_capacity(used * latent_dim);
        for _ in 0..used * latent_dim {
            let v = crate::bytes::unzigzag(r.varint("latent")?);
            latents.push(v.clamp(i32::MIN as i64, i32::MAX as i64) as i32);
        }
        Ok(TileSection { shift, modes, latents })
    }

    /// The codes (escape stream, coder id, coder data), which must end the data exactly; and
    /// the coder that stored them.
    pub fn codes(mut self, shape: &ChunkShape) -> Result<(&'static dyn SymbolCoder, Vec<i64>)> {
        let r = &mut self.r;
        let esc_len = r.len(self.len, "escape stream length")?;
        let mut escapes = Reader::new(r.take(esc_len, "escape stream")?);
        let id = r.u8("symbol coder")?;
        let coder = crate::coder::coder(id, shape)
            .ok_or_else(|| CodecError::Corrupt(format!("unknown symbol coder {id}")))?;
        let mut codes = Vec::new();
        coder.decode(r, &mut escapes, shape, &mut codes)?;
        r.finish("chunk data")?;
        escapes.finish("escape stream")?;
        Ok((coder, codes))
    }
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
    use crate::coder::CODERS;

    /// The smallest frame of `codes` over every coder tried, packed the long way.
    fn smallest_frame(codes: &[i64], shape: &ChunkShape) -> usize {
        let (mut symbols, mut escapes) = (Vec::new(), Vec::new());
        crate::coder::raw::pack_codes(codes, &mut symbols, &mut escapes);
        let sizes = CODERS.iter().filter(|c| c.tried_on(shape)).map(|c| {
            let mut raw = vec![0u8];
            let esc: &[u8] = if c.uses_escapes() { &escapes } else { &[] };
            put_varint(&mut raw, esc.len() as u64);
            raw.extend_from_slice(esc);
            raw.push(c.id());
            c.encode(codes, &symbols, shape, &mut raw);
            crate::coder::lossless::pack_bytes(raw, 3).len()
        });
        sizes.min().unwrap()
    }

    /// Counting picks the coder; where zstd finds what counting cannot (repeated rows, runs), every
    /// coder is packed, so the frame is the smallest any coder gives.
    #[test]
    fn packing_keeps_the_smallest_frame_where_zstd_finds_structure() {
        let shape = ChunkShape { dims: [64, 64, 64], streams: 1, table: false };
        let mut rng = crate::testing::Rng(7);
        // Wide codes with a fixed pattern repeated every 4096 elements: zstd finds the repeats.
        let tile: Vec<i64> = (0..4096).map(|_| rng.range(-3000, 3000)).collect();
        let repeated: Vec<i64> = tile.iter().cycle().take(shape.len()).copied().collect();
        // Mostly zeros with rare small codes: runs for zstd.
        let sparse: Vec<i64> =
            (0..shape.len()).map(|_| if rng.below(50) == 0 { rng.range(-2, 2) } else { 0 }).collect();
        // Noise near its entropy with every 8th code large, the large ones repeating every 4096:
        // the escape stream of repeats that zstd all but removes (copies of the same rows).
        let big: Vec<i64> = (0..4096).map(|_| rng.range(-2_000_000, 2_000_000)).collect();
        let escapes: Vec<i64> = (0..shape.len())
            .map(|i| if i % 8 == 0 { big[(i / 8) % 4096] } else { rng.range(-40, 40) })
            .collect();
        for codes in [repeated, sparse, escapes] {
            let (_, frame) = pack(vec![0u8], &codes, &shape, 3);
            assert_eq!(frame.len(), smallest_frame(&codes, &shape));
        }
        // Noise near its entropy: zstd gains nothing, counting alone decides, and the frame stays
        // within a hair of the smallest.
        let noise: Vec<i64> = (0..shape.len()).map(|_| rng.range(-40, 40)).collect();
        let (_, frame) = pack(vec![0u8], &noise, &shape, 3);
        assert!(frame.len() as f64 <= smallest_frame(&noise, &shape) as f64 * 1.01);
    }

    /// A box's frame (what ranks candidate predictors, below PACK_ALL_UP_TO codes) is packed as a
    /// large chunk's is: it decodes to its codes, and its size is the smallest any coder gives or
    /// within a hair of it where zstd gains nothing.
    #[test]
    fn box_frames_are_packed_in_the_counted_coder() {
        let shape = ChunkShape { dims: [16, 32, 32], streams: 1, table: false };
        assert!(shape.len() <= PACK_ALL_UP_TO);
        let mut rng = crate::testing::Rng(11);
        let tile: Vec<i64> = (0..1024).map(|_| rng.range(-3000, 3000)).collect();
        let repeated: Vec<i64> = tile.iter().cycle().take(shape.len()).copied().collect();
        let sparse: Vec<i64> =
            (0..shape.len()).map(|_| if rng.below(50) == 0 { rng.range(-2, 2) } else { 0 }).collect();
        let noise: Vec<i64> = (0..shape.len()).map(|_| rng.range(-40, 40)).collect();
        for (codes, slack) in [(repeated, 1.0), (sparse, 1.0), (noise, 1.01)] {
            let (raw_len, frame) = pack_to_rank(vec![0u8], &codes, &shape, 3);
            let raw = crate::coder::lossless::unpack_bytes(&frame, raw_len, true, "box").expect("its data");
            let mut reader = ChunkReader::new(&raw, shape.len());
            assert!(reader.exceptions(|_| 4).expect("no exceptions").is_empty());
            assert_eq!(reader.codes(&shape).expect("the codes").1, codes);
            assert!(frame.len() as f64 <= smallest_frame(&codes, &shape) as f64 * slack);
        }
    }
}
