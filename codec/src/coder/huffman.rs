//! Canonical, length-limited Huffman coding of byte symbols (the quantization codes).
//!
//! Error-bounded codes are few distinct small values with a skewed histogram: order-0 Huffman gets
//! close to their entropy at hundreds of MB/s, and a fast zstd pass on top then removes what is
//! left (runs of zeros in flat regions). Measured on CFD_animation this packs tighter than zstd -15
//! on the raw code bytes at about a hundred times the speed (see the closing notes of issue 2).
//!
//! Table: 256 code lengths, 4 bits each (two per byte, even symbol in the low nibble; 0 = unused).
//! Codes are canonical (by length, then symbol) and written MSB first.

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

fn huffman_lengths(counts: &[u64; 256]) -> [u8; 256] {
    let mut lengths = [0u8; 256];
    let used: Vec<usize> = (0..256).filter(|&s| counts[s] > 0).collect();
    match used.len() {
        0 => return lengths,
        1 => {
            lengths[used[0]] = 1;
            return lengths;
        }
        _ => {}
    }
    // Nodes: leaves 0..256, internal nodes after; parent links give the depths.
    let mut parent = vec![usize::MAX; 512];
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>> =
        used.iter().map(|&s| std::cmp::Reverse((counts[s], s))).collect();
    let mut next = 256;
    while heap.len() > 1 {
        let std::cmp::Reverse((c1, a)) = heap.pop().expect("two nodes");
        let std::cmp::Reverse((c2, b)) = heap.pop().expect("two nodes");
        parent[a] = next;
        parent[b] = next;
        heap.push(std::cmp::Reverse((c1 + c2, next)));
        next += 1;
    }
    for &s in &used {
        let mut depth = 0u32;
        let mut n = s;
        while parent[n] != usize::MAX {
            n = parent[n];
            depth += 1;
        }
        lengths[s] = depth.min(255) as u8;
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

/// Appends the table and the bitstream (varint byte length, then the bytes) for `symbols`.
pub fn encode(symbols: &[u8], out: &mut Vec<u8>) {
    let mut counts = [0u64; 256];
    for &s in symbols {
        counts[s as usize] += 1;
    }
    let lengths = code_lengths(&counts);
    for pair in lengths.chunks_exact(2) {
        out.push(pair[0] | (pair[1] << 4));
    }
    let codes = canonical_codes(&lengths);
    let mut bits = Vec::with_capacity(symbols.len() / 2 + 8);
    let mut acc = 0u64;
    let mut n = 0u32;
    for &s in symbols {
        let len = lengths[s as usize] as u32;
        acc = (acc << len) | codes[s as usize] as u64;
        n += len;
        while n >= 8 {
            n -= 8;
            bits.push((acc >> n) as u8);
        }
    }
    if n > 0 {
        bits.push((acc << (8 - n)) as u8);
    }
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

/// MSB-first bit reader over untrusted bytes, for the Huffman and the extra-bit streams. Past the
/// end it reads zeros; callers compare [`BitReader::consumed`] with the length at the end.
#[derive(Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Bytes already loaded into `buf` (may pass the end: those were zeros).
    pos: usize,
    /// The next bits, left-aligned; the `have` top bits are valid, the rest are zero or the
    /// stream's following bits.
    pub(crate) buf: u64,
    pub(crate) have: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0, buf: 0, have: 0 }
    }

    /// Tops `buf` up to at least 56 valid bits; needs `have` < 64.
    #[inline(always)]
    pub(crate) fn refill(&mut self) {
        if let Some(word) = self.bytes.get(self.pos..self.pos + 8) {
            // Branch-free: load 8 bytes, keep the whole bytes that fit (the bits below `have` are
            // the same stream bits again, so OR-ing them is harmless).
            self.buf |= u64::from_be_bytes(word.try_into().expect("8 bytes")) >> self.have;
            self.pos += (63 - self.have as usize) >> 3;
            self.have |= 56;
        } else {
            // By value, so that callers' readers need no address and can live in registers.
            *self = self.clone().refill_tail();
        }
    }

    #[cold]
    fn refill_tail(mut self) -> Self {
        while self.have < 56 {
            let byte = self.bytes.get(self.pos).copied().unwrap_or(0);
            self.buf |= (byte as u64) << (56 - self.have);
            self.pos += 1;
            self.have += 8;
        }
        self
    }

    /// Drops `count` ≤ `have` bits.
    #[inline(always)]
    pub(crate) fn consume(&mut self, count: u32) {
        self.buf <<= count;
        self.have -= count;
    }

    /// Bits read so far, zero padding past the end included.
    pub(crate) fn consumed(&self) -> u64 {
        self.pos as u64 * 8 - self.have as u64
    }
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
mod tests {
    use super::*;
    use crate::bytes::Reader;
    use crate::testing::Rng;

    fn round_trip(symbols: &[u8]) -> usize {
        let mut out = Vec::new();
        encode(symbols, &mut out);
        let table = &out[..TABLE_BYTES];
        let mut r = Reader::new(&out[TABLE_BYTES..]);
        let len = r.varint("bits").unwrap() as usize;
        let bits = r.take(len, "bits").unwrap();
        let mut back = Vec::new();
        decode(table, bits, symbols.len(), &mut back).unwrap();
        assert_eq!(back, symbols);
        out.len()
    }

    #[test]
    fn round_trips_skewed_uniform_single_and_empty() {
        let skewed: Vec<u8> = (0..10_000u32)
            .map(|i| match i % 100 {
                0..=69 => 0,
                70..=89 => 1,
                90..=97 => 2,
                98 => 7,
                _ => (i % 256) as u8,
            })
            .collect();
        let size = round_trip(&skewed);
        assert!(size < 10_000 / 4, "skewed data should take well under 2 bits a symbol: {size}");
        let uniform: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 256) as u8).collect();
        round_trip(&uniform);
        round_trip(&[42; 1000]);
        round_trip(&[]);
        round_trip(&[3]);
    }

    #[test]
    fn lengths_are_limited_on_fibonacci_counts() {
        let mut counts = [0u64; 256];
        let (mut a, mut b) = (1u64, 1u64);
        for c in counts.iter_mut().take(40) {
            *c = a;
            (a, b) = (b, a + b);
        }
        let l = code_lengths(&counts);
        assert!(l.iter().all(|&x| x <= MAX_LEN));
        let kraft: u64 = l.iter().filter(|&&x| x > 0).map(|&x| 1u64 << (MAX_LEN - x)).sum();
        assert!(kraft <= 1 << MAX_LEN);
        let symbols: Vec<u8> =
            (0..40u8).flat_map(|s| std::iter::repeat_n(s, (counts[s as usize] % 50 + 1) as usize)).collect();
        round_trip(&symbols);
    }

    #[test]
    fn hostile_tables_and_streams_are_errors() {
        let mut out = Vec::new();
        decode(&[0x11; TABLE_BYTES], &[0xff], 4, &mut out)
            .expect_err("every symbol length 1: over-subscribed");
        decode(&[0; TABLE_BYTES], &[], 1, &mut out).expect_err("empty table");
        let mut t = [0u8; TABLE_BYTES];
        t[0] = 0x01; // symbol 0: code "0"; "1" is no code
        decode(&t, &[0b1000_0000], 1, &mut out).expect_err("unused pattern");
        decode(&t, &[], 9, &mut out).expect_err("truncated");
        decode(&t, &[0, 0, 0], 3, &mut out).expect_err("trailing bytes");
    }

    /// The straightforward decoder this module had before the table-driven one: a 2^15-entry
    /// table, one symbol per lookup, byte-wise refills. The fast decoder must agree with it on
    /// every input, errors included.
    fn reference_decode(table: &[u8], bits: &[u8], n: usize, out: &mut Vec<u8>) -> Result<()> {
        let mut lengths = [0u8; 256];
        for (i, &b) in table.iter().enumerate().take(TABLE_BYTES) {
            lengths[2 * i] = b & 0x0f;
            lengths[2 * i + 1] = b >> 4;
        }
        let kraft: u64 = lengths.iter().filter(|&&l| l > 0).map(|&l| 1u64 << (MAX_LEN - l)).sum();
        if kraft > 1 << MAX_LEN {
            return corrupt("Huffman table is not a prefix code");
        }
        if n > 0 && kraft == 0 {
            return corrupt("Huffman table is empty");
        }
        let codes = canonical_codes(&lengths);
        let mut lut = vec![0u16; 1 << MAX_LEN];
        for s in 0..256 {
            let l = lengths[s];
            if l > 0 {
                let first = (codes[s] as usize) << (MAX_LEN - l);
                lut[first..first + (1 << (MAX_LEN - l))].fill(s as u16 | (l as u16) << 8);
            }
        }
        let total_bits = bits.len() as u64 * 8;
        let (mut used_bits, mut buf, mut have, mut pos) = (0u64, 0u64, 0u32, 0usize);
        for _ in 0..n {
            while have <= 56 {
                buf |= (bits.get(pos).copied().unwrap_or(0) as u64) << (56 - have);
                pos += 1;
                have += 8;
            }
            let entry = lut[(buf >> (64 - MAX_LEN as u32)) as usize];
            let len = (entry >> 8) as u32;
            if len == 0 {
                return corrupt("invalid Huffman code");
            }
            out.push(entry as u8);
            buf <<= len;
            have -= len;
            used_bits += len as u64;
        }
        if used_bits > total_bits {
            return corrupt("Huffman bitstream is truncated");
        }
        if total_bits - used_bits >= 8 {
            return corrupt("Huffman bitstream has trailing bytes");
        }
        Ok(())
    }

    /// Both decoders on one input: the same symbols or the same error.
    fn agree(table: &[u8], bits: &[u8], n: usize) -> bool {
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        match (decode(table, bits, n, &mut fast), reference_decode(table, bits, n, &mut slow)) {
            (Ok(()), Ok(())) => {
                assert_eq!(fast, slow, "n {n}");
                true
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "n {n}");
                false
            }
            (a, b) => panic!("fast {a:?}, reference {b:?}, n {n}"),
        }
    }

    fn pack(lengths: &[u8; 256]) -> [u8; TABLE_BYTES] {
        std::array::from_fn(|i| lengths[2 * i] | lengths[2 * i + 1] << 4)
    }

    /// Random code lengths: complete or not, some up to MAX_LEN, sometimes over-subscribed.
    fn random_lengths(rng: &mut Rng) -> [u8; 256] {
        let mut lengths = [0u8; 256];
        let symbols = 1 + rng.below(256) as usize;
        let top = 1 + rng.below(MAX_LEN as u64) as u8;
        let mut kraft = 0u64;
        for _ in 0..symbols {
            let s = rng.below(256) as usize;
            let l = 1 + rng.below(top as u64) as u8;
            // Mostly keep Kraft's inequality; now and then break it.
            if lengths[s] == 0 && (kraft + (1 << (MAX_LEN - l)) <= 1 << MAX_LEN || rng.below(50) == 0) {
                lengths[s] = l;
                kraft += 1 << (MAX_LEN - l);
            }
        }
        lengths
    }

    /// The bitstream of `symbols` under the canonical code of `lengths` (any prefix code).
    fn pack_bits(lengths: &[u8; 256], symbols: &[u8]) -> Vec<u8> {
        let codes = canonical_codes(lengths);
        let (mut bits, mut acc, mut n) = (Vec::new(), 0u64, 0u32);
        for &s in symbols {
            acc = (acc << lengths[s as usize]) | codes[s as usize] as u64;
            n += lengths[s as usize] as u32;
            while n >= 8 {
                n -= 8;
                bits.push((acc >> n) as u8);
            }
        }
        if n > 0 {
            bits.push((acc << (8 - n)) as u8);
        }
        bits
    }

    #[test]
    fn fast_decoder_matches_reference_on_random_tables_and_bits() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let sizes = [0, 1, 2, 7, 27, 28, 29, 30, 64, 200, 1000, 3000, 20_000];
        let (mut ok, mut failed) = (0, 0);
        for round in 0..3000 {
            let lengths = random_lengths(&mut rng);
            let table = pack(&lengths);
            let n = sizes[round % sizes.len()] + rng.below(3) as usize;
            let used: Vec<u8> = (0..=255).filter(|&s| lengths[s as usize] > 0).collect();
            let kraft: u64 = lengths.iter().filter(|&&l| l > 0).map(|&l| 1 << (MAX_LEN - l)).sum();
            let bits: Vec<u8> = if kraft <= 1 << MAX_LEN && rng.below(2) == 0 {
                // A valid stream, short codes favoured (as Huffman codes would be).
                let symbols: Vec<u8> = (0..n)
                    .map(|_| {
                        let a = used[rng.below(used.len() as u64) as usize];
                        let b = used[rng.below(used.len() as u64) as usize];
                        if lengths[a as usize] <= lengths[b as usize] { a } else { b }
                    })
                    .collect();
                let mut bits = pack_bits(&lengths, &symbols);
                assert!(agree(&table, &bits, n));
                match rng.below(6) {
                    0 => bits.truncate(rng.below(bits.len() as u64 + 1) as usize),
                    1 if !bits.is_empty() => {
                        let at = rng.below(bits.len() as u64) as usize;
                        bits[at] ^= 1 << rng.below(8);
                    }
                    2 => bits.push(rng.next() as u8),
                    _ => {}
                }
                bits
            } else {
                // Random bits: mostly the wrong length, or patterns no code starts with.
                let len = match rng.below(3) {
                    0 => rng.below(8 + n as u64 / 2) as usize,
                    _ => (n * (1 + rng.below(8) as usize)).div_ceil(8),
                };
                (0..len).map(|_| rng.next() as u8).collect()
            };
            if agree(&table, &bits, n) {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        assert!(ok > 200 && failed > 200, "{ok} decoded, {failed} errors");
    }

    #[test]
    fn fast_decoder_matches_reference_on_encoded_streams() {
        let mut rng = Rng(42);
        for round in 0..400 {
            // Geometric-like histograms of varied skew, some with a long Fibonacci-like tail so
            // that codes reach MAX_LEN.
            let alphabet = 1 + rng.below(256) as usize;
            let skew = 1 + rng.below(8);
            let n = [1, 5, 31, 100, 1000, 5000, 60_000][round % 7] + rng.below(7) as usize;
            let symbols: Vec<u8> = (0..n)
                .map(|_| {
                    let mut s = 0;
                    while s + 1 < alphabet && rng.below(8) < skew {
                        s += 1;
                    }
                    s as u8
                })
                .collect();
            let mut enc = Vec::new();
            encode(&symbols, &mut enc);
            let table = &enc[..TABLE_BYTES];
            let mut r = Reader::new(&enc[TABLE_BYTES..]);
            let len = r.varint("bits").unwrap() as usize;
            let bits = r.take(len, "bits").unwrap();
            let mut out = Vec::new();
            decode(table, bits, n, &mut out).unwrap();
            assert_eq!(out, symbols);
            // Damage: a cut, a flipped bit, a wrong count.
            agree(table, &bits[..rng.below(len as u64 + 1) as usize], n);
            let mut flipped = bits.to_vec();
            if !flipped.is_empty() {
                let at = rng.below(len as u64) as usize;
                flipped[at] ^= 1 << rng.below(8);
            }
            agree(table, &flipped, n);
            agree(table, bits, n + 1 + rng.below(40) as usize);
            agree(table, bits, n.saturating_sub(1 + rng.below(40) as usize));
        }
    }

    /// A random stream for `lengths`: valid (mostly short codes favoured, as Huffman's), then damaged
    /// with probability about 1/`rare`, or random bits.
    fn random_stream(rng: &mut Rng, lengths: &[u8; 256], n: usize, rare: u64) -> Vec<u8> {
        let used: Vec<u8> = (0..=255).filter(|&s| lengths[s as usize] > 0).collect();
        let kraft: u64 = lengths.iter().filter(|&&l| l > 0).map(|&l| 1 << (MAX_LEN - l)).sum();
        if kraft > 1 << MAX_LEN || rng.below(4 * rare) == 0 {
            return (0..rng.below(8 + n as u64)).map(|_| rng.next() as u8).collect();
        }
        // Now and then long codes favoured: several escapes to the slow search in a lookup group.
        let long = rng.below(4) == 0;
        let symbols: Vec<u8> = (0..n)
            .map(|_| {
                let a = used[rng.below(used.len() as u64) as usize];
                let b = used[rng.below(used.len() as u64) as usize];
                if (lengths[a as usize] <= lengths[b as usize]) != long { a } else { b }
            })
            .collect();
        let mut bits = pack_bits(lengths, &symbols);
        match rng.below(3 * rare) {
            0 => bits.truncate(rng.below(bits.len() as u64 + 1) as usize),
            1 if !bits.is_empty() => {
                let at = rng.below(bits.len() as u64) as usize;
                bits[at] ^= 1 << rng.below(8);
            }
            2 => bits.push(rng.next() as u8),
            _ => {}
        }
        bits
    }

    #[test]
    fn lockstep_decoder_matches_reference_on_several_streams() {
        let mut rng = Rng(0x5eed_f00d_57e9);
        let (mut ok, mut failed) = (0, 0);
        for round in 0..2000 {
            let k = [1, 2, 3, 5, 7][round % 5];
            let n = [0, 1, 30, 31, 64, 300, 3000][rng.below(7) as usize];
            // Each stream its own table (narrow or wide, some with long codes), and now and then
            // a different count.
            let streams: Vec<([u8; TABLE_BYTES], Vec<u8>, usize)> = (0..k)
                .map(|_| {
                    // Mostly prefix codes: a damaged stream among k fails them all.
                    let mut lengths = random_lengths(&mut rng);
                    let kraft = |l: &[u8; 256]| {
                        l.iter().filter(|&&l| l > 0).map(|&l| 1 << (MAX_LEN - l)).sum::<u64>()
                    };
                    while kraft(&lengths) > 1 << MAX_LEN && rng.below(8 * k as u64) != 0 {
                        lengths = random_lengths(&mut rng);
                    }
                    let count = if rng.below(10) == 0 { rng.below(2 * n as u64 + 2) as usize } else { n };
                    let bits = random_stream(&mut rng, &lengths, count, 2 * k as u64);
                    let count = if rng.below(16 * k as u64) == 0 { count + 1 } else { count };
                    (pack(&lengths), bits, count)
                })
                .collect();
            let args: Vec<(&[u8], &[u8], usize)> =
                streams.iter().map(|(t, b, c)| (&t[..], &b[..], *c)).collect();
            let mut slow = vec![9u8];
            let mut starts = Vec::new();
            let reference = args.iter().try_for_each(|&(t, b, c)| {
                starts.push(slow.len());
                reference_decode(t, b, c, &mut slow)
            });
            let mut fast = vec![9u8];
            let lockstep = decode_lockstep(&args, &mut fast);
            let mut fast2 = vec![9u8];
            match (decode_streams(&args, &mut fast2), reference) {
                (Ok(s), Ok(())) => {
                    assert_eq!((&fast2, &s), (&slow, &starts), "round {round}");
                    assert_eq!((&fast, lockstep.unwrap()), (&slow, starts), "round {round}");
                    ok += 1;
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "round {round}");
                    assert!(lockstep.is_err(), "round {round}");
                    failed += 1;
                }
                (a, b) => panic!("fast {a:?}, reference {b:?}, round {round}"),
            }
        }
        assert!(ok > 300 && failed > 300, "{ok} decoded, {failed} errors");
    }

    #[test]
    fn long_codes_single_symbols_and_hostile_counts() {
        // Lengths 1, 2, …, 15, 15: complete, with codes longer than any lookup window.
        let mut lengths = [0u8; 256];
        for (s, l) in (1..=15).chain([15]).enumerate() {
            lengths[s * 13] = l;
        }
        let table = pack(&lengths);
        let mut rng = Rng(7);
        for n in [1, 10, 100, 1000, 10_000] {
            let bits: Vec<u8> = (0..n / 4 + 2).map(|_| rng.next() as u8 | 0x80).collect();
            agree(&table, &bits, n);
            let bits: Vec<u8> = (0..n * 2).map(|_| rng.next() as u8).collect();
            agree(&table, &bits, n);
        }
        // An incomplete table: the all-ones patterns are no code.
        lengths[15 * 13] = 0;
        let table = pack(&lengths);
        for n in [1, 10, 100, 1000] {
            agree(&table, &vec![0xff; n * 2], n);
            agree(&table, &vec![0xfe; n * 2], n);
        }
        // One symbol: code "0"; a 1 bit is no code.
        let mut single = [0u8; TABLE_BYTES];
        single[100] = 0x10; // symbol 201
        for n in [0usize, 1, 8, 9, 100, 1000] {
            assert!(agree(&single, &vec![0; n.div_ceil(8)], n));
            agree(&single, &[0, 0, 0x01], n);
        }
        let mut out = Vec::new();
        decode(&single, &[0; 125], 1000, &mut out).unwrap();
        assert!(out.iter().all(|&s| s == 201) && out.len() == 1000);
        // n far beyond the bits: an error, without decoding (or allocating) n symbols.
        let e = decode(&single, &[0; 4], usize::MAX, &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "archive is corrupt: Huffman bitstream is truncated");
        // n = 0: only an empty stream is valid; an over-subscribed table is still an error.
        assert!(agree(&single, &[], 0));
        assert!(!agree(&single, &[0], 0));
        assert!(!agree(&[0x11; TABLE_BYTES], &[], 0));
        assert!(agree(&[0; TABLE_BYTES], &[], 0));
        // A short table: missing bytes are unused symbols.
        assert!(agree(&[0x21, 0x02], &[0b1011_0000], 3));
    }
}
