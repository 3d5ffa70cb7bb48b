//! Canonical, length-limited Huffman coding of byte symbols (the quantization codes).
//!
//! Error-bounded codes are few distinct small values with a skewed histogram: order-0 Huffman gets
//! close to their entropy at hundreds of MB/s, and a fast zstd pass on top then removes what is
//! left (runs of zeros in flat regions). Measured on CFD_animation this packs tighter than zstd -15
//! on the raw code bytes at about a hundred times the speed (see the closing notes of issue 2).
//!
//! Table: 256 code lengths, 4 bits each (two per byte, even symbol in the low nibble; 0 = unused).
//! Codes are canonical (by length, then symbol) and written MSB first.

use crate::bytes::Reader;
use crate::coder::bits::{BitReader, BitWriter};
use crate::coder::raw::unpack_codes;
use crate::coder::{ChunkShape, SymbolCoder};
use crate::error::{Result, corrupt};

/// Longest code.
pub const MAX_LEN: u8 = 15;
pub const TABLE_BYTES: usize = 128;

/// Code lengths for `counts` (Huffman, then flattened until no code exceeds MAX_LEN).
pub fn code_lengths(counts: &[u64; 256]) -> [u8; 256] {
    let mut counts = *counts;
    loop {
        let lengths = huffman_lengths(&counts);
        if lengths.iter().all(|&l| l <= MAX_LEN) {
            return lengths;
        }
        // Flatten the distribution and try again (rare: needs a very skewed histogram).
        for c in counts.iter_mut().filter(|c| **c > 0) {
            *c = (*c >> 1).max(1);
        }
    }
}

/// Huffman code lengths of the used symbols of `counts`: the two least nodes merged until one is
/// left, the least by (count, node), leaves numbered by symbol and merged nodes 256 on in the
/// order they are made (the order of a binary heap of (count, node) pairs; a heap was 3 % of
/// CFD's compression at 1e-4, which builds tables for every coder it counts).
///
/// Two queues instead of a heap: the leaves sorted, and the merged nodes in the order they are
/// made, whose counts never decrease. The least of the two fronts is the least node, and on
/// equal counts a leaf goes first, as its number is smaller.
fn huffman_lengths(counts: &[u64; 256]) -> [u8; 256] {
    let mut lengths = [0u8; 256];
    let mut leaves: Vec<(u64, usize)> = (0..256).filter(|&s| counts[s] > 0).map(|s| (counts[s], s)).collect();
    match leaves.len() {
        0 => return lengths,
        1 => {
            lengths[leaves[0].1] = 1;
            return lengths;
        }
        _ => {}
    }
    leaves.sort_unstable();
    // Nodes: leaves 0..256, merged nodes after; each node's parent, and each merged node's count.
    let mut parent = [0usize; 512];
    let mut merged: Vec<u64> = Vec::with_capacity(leaves.len());
    let (mut leaf, mut first_merged) = (0, 0);
    let mut least = |merged: &[u64]| -> (u64, usize) {
        let from_leaves = leaves.get(leaf).copied();
        let from_merged = merged.get(first_merged).map(|&c| (c, 256 + first_merged));
        match (from_leaves, from_merged) {
            (Some(l), Some(m)) if m < l => {
                first_merged += 1;
                m
            }
            (Some(l), _) => {
                leaf += 1;
                l
            }
            (None, Some(m)) => {
                first_merged += 1;
                m
            }
            (None, None) => unreachable!("two nodes are left while merging"),
        }
    };
    for _ in 1..leaves.len() {
        let (c1, a) = least(&merged);
        let (c2, b) = least(&merged);
        let node = 256 + merged.len();
        (parent[a], parent[b]) = (node, node);
        merged.push(c1 + c2);
    }
    // A node's depth is its parent's plus one; parents are made after their children, so the
    // merged nodes from the root down, then the leaves.
    let root = 256 + merged.len() - 1;
    let mut depth = [0u32; 512];
    for n in (256..root).rev() {
        depth[n] = depth[parent[n]] + 1;
    }
    for &(_, s) in &leaves {
        lengths[s] = (depth[parent[s]] + 1).min(255) as u8;
    }
    lengths
}

/// Canonical codes for the lengths.
fn canonical_codes(lengths: &[u8; 256]) -> [u32; 256] {
    let mut codes = [0u32; 256];
    let mut order: Vec<usize> = (0..256).filter(|&s| lengths[s] > 0).collect();
    order.sort_by_key(|&s| (lengths[s], s));
    let mut code = 0u32;
    let mut prev = 0u8;
    for s in order {
        code <<= lengths[s] - prev;
        codes[s] = code;
        code += 1;
        prev = lengths[s];
    }
    codes
}

/// Coder 1: the byte symbols of [`crate::coder::raw`] with one Huffman table.
pub struct HuffmanCoder;

impl SymbolCoder for HuffmanCoder {
    fn id(&self) -> u8 {
        1
    }

    fn name(&self) -> &'static str {
        "Huffman"
    }

    fn uses_escapes(&self) -> bool {
        true
    }

    #[cfg(feature = "encode")]
    fn tried_on(&self, _chunk: &ChunkShape) -> bool {
        true
    }

    #[cfg(feature = "encode")]
    fn encoded_len(&self, counts: &crate::coder::counts::CodeCounts) -> Option<usize> {
        // The byte symbols: small codes themselves, the rest the escape symbol.
        let mut bytes = [0u64; 256];
        for c in counts.contexts.iter() {
            for (b, &n) in bytes.iter_mut().zip(&c.small) {
                *b += n;
            }
            bytes[255] += c.large;
        }
        Some(encoded_len(&bytes))
    }

    #[cfg(feature = "encode")]
    fn encode(&self, _codes: &[i64], symbols: &[u8], _chunk: &ChunkShape, out: &mut Vec<u8>) {
        encode(symbols, out);
    }

    fn decode(
        &self,
        r: &mut Reader<'_>,
        escapes: &mut Reader<'_>,
        chunk: &ChunkShape,
        out: &mut Vec<i64>,
    ) -> Result<()> {
        let table = r.take(TABLE_BYTES, "Huffman table")?;
        let len = r.len(r.remaining(), "Huffman bitstream length")?;
        let mut symbols = Vec::new();
        decode(table, r.take(len, "Huffman bitstream")?, chunk.len(), &mut symbols)?;
        unpack_codes(&symbols, escapes, out)
    }
}

/// How often each byte occurs in `symbols`. Four interleaved histograms: runs of one symbol (the
/// bulk of codes at loose bounds) do not wait on each other's increments.
fn byte_counts(symbols: &[u8]) -> [u64; 256] {
    let mut lanes = [[0u64; 256]; 4];
    let mut quads = symbols.chunks_exact(4);
    for q in &mut quads {
        for (lane, &s) in lanes.iter_mut().zip(q) {
            lane[s as usize] += 1;
        }
    }
    for &s in quads.remainder() {
        lanes[0][s as usize] += 1;
    }
    std::array::from_fn(|s| lanes.iter().map(|l| l[s]).sum())
}

/// Bits of the bitstream for symbols of histogram `counts` coded with `lengths`, in bytes.
fn bitstream_bytes(counts: &[u64; 256], lengths: &[u8; 256]) -> usize {
    let bits: u64 = counts.iter().zip(lengths).map(|(&c, &l)| c * l as u64).sum();
    bits.div_ceil(8) as usize
}

/// Bytes [`encode`] appends for symbols of histogram `counts`: table, length, bitstream.
#[cfg(feature = "encode")]
pub fn encoded_len(counts: &[u64; 256]) -> usize {
    let bytes = bitstream_bytes(counts, &code_lengths(counts));
    TABLE_BYTES + crate::bytes::varint_len(bytes as u64) + bytes
}

/// Bytes of [`encode`]'s output for histogram `counts` with the table trimmed after its last
/// used byte and led by that byte count, as coders 2–3 store it.
#[cfg(feature = "encode")]
pub fn trimmed_len(counts: &[u64; 256]) -> usize {
    let lengths = code_lengths(counts);
    let used = lengths.iter().rposition(|&l| l != 0).map_or(0, |s| s / 2 + 1);
    let bytes = bitstream_bytes(counts, &lengths);
    1 + used + crate::bytes::varint_len(bytes as u64) + bytes
}

/// Appends the table and the bitstream (varint byte length, then the bytes) for `symbols`.
pub fn encode(symbols: &[u8], out: &mut Vec<u8>) {
    let counts = byte_counts(symbols);
    let lengths = code_lengths(&counts);
    for pair in lengths.chunks_exact(2) {
        out.push(pair[0] | (pair[1] << 4));
    }
    let codes = canonical_codes(&lengths);
    // One lookup a symbol: its code above its length.
    let table: [u64; 256] = std::array::from_fn(|s| (codes[s] as u64) << 8 | lengths[s] as u64);
    // Its length is known: no regrowth copies (8 more for the writer's last word).
    let mut w = BitWriter::with_capacity(bitstream_bytes(&counts, &lengths) + 8);
    w.put_codes(symbols, &table);
    let bits = w.finish();
    crate::bytes::put_varint(out, bits.len() as u64);
    out.extend_from_slice(&bits);
}

/// Decodes exactly `n` symbols; the table must be a valid prefix code and the bitstream must hold
/// enough bits.
pub fn decode(table: &[u8], bits: &[u8], n: usize, out: &mut Vec<u8>) -> Result<()> {
    let mut s = Stream::open(table, bits, n)?;
    let start = out.len();
    out.resize(start + s.count, 0);
    s.run(&mut out[start..])?;
    s.close()
}

/// Decodes several (table, bitstream, symbol count) streams one after the other into `out`, as
/// [`decode`] on each in turn would (the same symbols, the same first error), and returns where
/// each stream's symbols begin. Pairs of streams are decoded in lockstep: each lookup waits on the
/// previous one's shift, and two independent chains keep the CPU busy where one leaves it idle.
/// A damaged stream makes that fail somewhere; the streams are then decoded again one after the
/// other, for the error [`decode`] would meet first.
pub fn decode_streams(streams: &[(&[u8], &[u8], usize)], out: &mut Vec<u8>) -> Result<Vec<usize>> {
    let base = out.len();
    if let Ok(starts) = decode_lockstep(streams, out) {
        return Ok(starts);
    }
    // Some stream is damaged: decode them in order to report the first error.
    out.truncate(base);
    let mut starts = Vec::with_capacity(streams.len());
    for &(table, bits, n) in streams {
        starts.push(out.len());
        decode(table, bits, n, out)?;
    }
    Ok(starts)
}

fn decode_lockstep(streams: &[(&[u8], &[u8], usize)], out: &mut Vec<u8>) -> Result<Vec<usize>> {
    let base = out.len();
    let mut open = Vec::with_capacity(streams.len());
    let mut starts = Vec::with_capacity(streams.len());
    let mut end = base;
    for &(table, bits, n) in streams {
        let s = Stream::open(table, bits, n)?;
        starts.push(end);
        end += s.count;
        open.push(s);
    }
    out.resize(end, 0);
    let mut rest = &mut out[base..];
    let mut outs: Vec<&mut [u8]> = Vec::with_capacity(open.len());
    for s in &open {
        let (o, tail) = rest.split_at_mut(s.count);
        outs.push(o);
        rest = tail;
    }
    // The streams with symbols to decode, two at a time (three measured slower on x86-64: their
    // state no longer fits in registers).
    let mut busy: Vec<(&mut Stream<'_>, &mut [u8])> =
        open.iter_mut().zip(outs).filter(|(s, _)| s.decoder.is_some()).collect();
    let mut pairs = busy.chunks_exact_mut(2);
    for pair in &mut pairs {
        let [(a, oa), (b, ob)] = pair else { unreachable!("pairs") };
        run_lockstep([a, b], [oa, ob])?;
    }
    if let [(a, oa)] = pairs.into_remainder() {
        a.run(oa)?;
    }
    for s in &open {
        s.close()?;
    }
    Ok(starts)
}

/// One stream being decoded: its checked table, reader and symbol count.
struct Stream<'a> {
    /// None when there is nothing to decode.
    decoder: Option<Decoder>,
    reader: BitReader<'a>,
    total_bits: u64,
    count: usize,
}

impl<'a> Stream<'a> {
    fn open(table: &[u8], bits: &'a [u8], n: usize) -> Result<Self> {
        let mut lengths = [0u8; 256];
        for (i, &b) in table.iter().enumerate().take(TABLE_BYTES) {
            lengths[2 * i] = b & 0x0f;
            lengths[2 * i + 1] = b >> 4;
        }
        // Kraft: an over-subscribed table is not a prefix code.
        let kraft: u64 = lengths.iter().filter(|&&l| l > 0).map(|&l| 1u64 << (MAX_LEN - l)).sum();
        if kraft > 1 << MAX_LEN {
            return corrupt("Huffman table is not a prefix code");
        }
        if n > 0 && kraft == 0 {
            return corrupt("Huffman table is empty");
        }
        let total_bits = bits.len() as u64 * 8;
        // Every code takes at least one bit, so once total_bits + 1 symbols are decoded the stream
        // is known to be truncated: what follows reads only the zero padding, whose all-zero
        // window is the first canonical code, so no "invalid code" can come later. This bounds the
        // work (and memory) on a hostile `n`.
        let count = n.min(usize::try_from(total_bits + 1).unwrap_or(usize::MAX));
        let decoder = (count > 0).then(|| Decoder::new(&lengths, count));
        Ok(Self { decoder, reader: BitReader::new(bits), total_bits, count })
    }

    /// Decodes `count` = `out.len()` symbols.
    fn run(&mut self, out: &mut [u8]) -> Result<()> {
        match &self.decoder {
            Some(d) => d.run(&mut self.reader, out),
            None => Ok(()),
        }
    }

    /// Checks the bits used against the stream's length.
    fn close(&self) -> Result<()> {
        let used_bits = self.reader.consumed();
        if used_bits > self.total_bits {
            return corrupt("Huffman bitstream is truncated");
        }
        if self.total_bits - used_bits >= 8 {
            return corrupt("Huffman bitstream has trailing bytes");
        }
        Ok(())
    }
}

/// [`Decoder::run`] on N streams at once, while all have whole groups left; then each alone.
#[inline(always)]
fn run_lockstep<const N: usize>(streams: [&mut Stream<'_>; N], outs: [&mut [u8]; N]) -> Result<()> {
    let parts = streams.map(|s| (s.decoder.as_ref().expect("symbols to decode"), &mut s.reader));
    let decoders = parts.each_ref().map(|p| p.0);
    let mut readers = parts.each_ref().map(|p| p.1.clone());
    let luts = decoders.map(|d| &d.lut[1 << d.lut_bits..]);
    let shifts = decoders.map(|d| 64 - d.lut_bits);
    let mut at = [0usize; N];
    let room = (GROUP - 1) * RUN + 8;
    while (0..N).all(|k| outs[k].len() - at[k] >= room) {
        for r in &mut readers {
            r.refill();
        }
        for _ in 0..GROUP {
            // As in `Decoder::run`, but a long code refills instead of ending the group: before
            // it at most GROUP − 1 lookups of ≤ MAX_LUT_BITS bits were used, so it has its
            // MAX_LEN bits, and the refill leaves enough for the lookups after it.
            for k in 0..N {
                let (r, o) = (&mut readers[k], &mut at[k]);
                let entry = luts[k][(r.buf >> shifts[k]) as usize];
                outs[k][*o..*o + 8].copy_from_slice(&(entry >> 8).to_le_bytes());
                let count = (entry >> 61) as usize;
                if count == 0 {
                    outs[k][*o] = decoders[k].long_code(r)?;
                    *o += 1;
                    r.refill();
                } else {
                    r.consume(entry as u32 & 63);
                    *o += count;
                }
            }
        }
    }
    for (k, (d, reader)) in parts.into_iter().enumerate() {
        d.run(&mut readers[k], &mut outs[k][at[k]..])?;
        *reader = readers[k].clone();
    }
    Ok(())
}

/// Most symbols one lookup can decode.
const RUN: usize = 6;
/// Lookups per refill: 3 entries of at most MAX_LUT_BITS bits and a 15-bit long code fit in 56 bits.
const GROUP: usize = 4;
const MIN_LUT_BITS: u32 = 6;
const MAX_LUT_BITS: u32 = 11;

/// Table-driven decoder. `lut` maps the next `lut_bits` bits to as many whole codes as they hold
/// (up to RUN): entry = bits used | symbols << 8 (byte i + 1 = i-th symbol) | symbol count << 61.
/// The bit count in the low byte keeps the lookup → shift dependency chain short; one 8-byte store
/// writes all the symbols. A count of 0 means no code of ≤ lut_bits bits starts there: a longer
/// code or an invalid pattern, both resolved by a canonical search.
struct Decoder {
    lengths: [u8; 256],
    lut_bits: u32,
    /// Tables for windows of 0..=lut_bits bits, the one of b bits at [2^b, 2^(b+1)).
    lut: Vec<u64>,
    /// Per code length l: the end of its codes left-aligned to MAX_LEN bits, its first canonical
    /// code, and the index of its first symbol in `sorted`.
    limit: [u32; 16],
    first: [u32; 16],
    offset: [u16; 16],
    sorted: [u8; 256],
    max_len: u32,
}

impl Decoder {
    /// `lengths` must satisfy Kraft and not be all zero.
    fn new(lengths: &[u8; 256], n: usize) -> Self {
        let mut per_len = [0u32; 16];
        for &l in lengths {
            per_len[l as usize] += 1;
        }
        per_len[0] = 0;
        let max_len = (1..16).rev().find(|&l| per_len[l] > 0).unwrap_or(0) as u32;
        let (mut limit, mut first, mut offset) = ([0u32; 16], [0u32; 16], [0u16; 16]);
        let (mut code, mut index) = (0u32, 0u16);
        for l in 1..16 {
            code <<= 1;
            first[l] = code;
            offset[l] = index;
            code += per_len[l];
            index += per_len[l] as u16;
            limit[l] = code << (MAX_LEN as usize - l);
        }
        // Symbols by (length, symbol): the canonical order.
        let mut sorted = [0u8; 256];
        let mut next = offset;
        for (s, &l) in lengths.iter().enumerate() {
            if l > 0 {
                sorted[next[l as usize] as usize] = s as u8;
                next[l as usize] += 1;
            }
        }

        // Table size: building costs about as much per entry as decoding a symbol, so small
        // streams get small tables, but wide enough that codes longer than the window (decoded by
        // a slower search) stay rare: they weigh 2^-len each, at most 1/32 in all.
        let log_n = usize::BITS - n.leading_zeros();
        let escapes = |b: usize| (b + 1..16).map(|l| per_len[l] << (MAX_LEN as usize - l)).sum::<u32>();
        let rare = (1..16).find(|&b| escapes(b) <= 1 << (MAX_LEN - 5)).unwrap_or(15) as u32;
        let lut_bits = log_n.saturating_sub(4).max(rare).clamp(MIN_LUT_BITS, MAX_LUT_BITS);
        // lut[2^b + v]: window v of b bits = its first code, then the entry of the b − len bits left.
        let mut lut = vec![0u64; 2 << lut_bits];
        for b in 1..=lut_bits as usize {
            let (done, todo) = lut.split_at_mut(1 << b);
            for l in 1..=b.min(max_len as usize) {
                let rest = b - l;
                let tails = &done[1 << rest..2 << rest];
                for (i, &s) in sorted[offset[l] as usize..][..per_len[l] as usize].iter().enumerate() {
                    let at = (first[l] as usize + i) << rest;
                    for (e, &tail) in todo[at..at + tails.len()].iter_mut().zip(tails) {
                        *e = prepend(tail, s, l as u32, lengths);
                    }
                }
            }
            // Windows past the last code of ≤ b bits stay 0: nothing decodable.
        }
        Self { lengths: *lengths, lut_bits, lut, limit, first, offset, sorted, max_len }
    }

    /// Fills `out` with decoded symbols.
    fn run(&self, reader: &mut BitReader<'_>, out: &mut [u8]) -> Result<()> {
        // A local copy: nothing else can see it, so its fields stay in registers.
        let mut r = reader.clone();
        let lut = &self.lut[1 << self.lut_bits..];
        let shift = 64 - self.lut_bits;
        let n = out.len();
        let mut o = 0;
        // Whole groups while an entry's 8-byte store stays inside `out`.
        while n - o >= (GROUP - 1) * RUN + 8 {
            r.refill();
            for _ in 0..GROUP {
                let entry = lut[(r.buf >> shift) as usize];
                out[o..o + 8].copy_from_slice(&(entry >> 8).to_le_bytes());
                let count = (entry >> 61) as usize;
                if count == 0 {
                    out[o] = self.long_code(&mut r)?;
                    o += 1;
                    break;
                }
                r.consume(entry as u32 & 63);
                o += count;
            }
        }
        // The last few one at a time, so that no bits past the n-th symbol are consumed.
        while o < n {
            r.refill();
            let entry = lut[(r.buf >> shift) as usize];
            out[o] = if entry >> 61 == 0 {
                self.long_code(&mut r)?
            } else {
                let s = (entry >> 8) as u8;
                r.consume(self.lengths[s as usize] as u32);
                s
            };
            o += 1;
        }
        *reader = r;
        Ok(())
    }

    /// Decodes a code longer than `lut_bits` (needs `have` ≥ MAX_LEN) or fails on a pattern no code
    /// starts with. Canonical codes of each length are consecutive and the lengths' ranges follow
    /// each other, so the length is the first whose left-aligned limit lies above the window.
    #[inline(always)]
    fn long_code(&self, r: &mut BitReader<'_>) -> Result<u8> {
        match self.long_code_at(r.buf) {
            Some((s, len)) => {
                r.consume(len);
                Ok(s)
            }
            None => corrupt("invalid Huffman code"),
        }
    }

    /// (symbol, length) of the long code at the top of `buf`.
    #[cold]
    fn long_code_at(&self, buf: u64) -> Option<(u8, u32)> {
        let window = (buf >> (64 - MAX_LEN as u32)) as u32;
        let l = (self.lut_bits as usize + 1..=self.max_len as usize).find(|&l| window < self.limit[l])?;
        let code = window >> (MAX_LEN as usize - l);
        Some((self.sorted[self.offset[l] as usize + (code - self.first[l]) as usize], l as u32))
    }
}

/// The entry for symbol `s` (a code of `len` bits) followed by the codes of entry `tail`, keeping
/// at most RUN symbols.
fn prepend(tail: u64, s: u8, len: u32, lengths: &[u8; 256]) -> u64 {
    let mut syms = (tail >> 8) & ((1 << (8 * RUN)) - 1);
    let mut bits = tail as u32 & 63;
    let mut count = tail >> 61;
    if count == RUN as u64 {
        bits -= lengths[(syms >> (8 * RUN - 8)) as usize] as u32;
        syms &= (1 << (8 * RUN - 8)) - 1;
        count -= 1;
    }
    (bits + len) as u64 | (syms << 8 | s as u64) << 8 | (count + 1) << 61
}

#[cfg(test)]
mod tests;
