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

/// Longest code; the decoder's lookup table has 2^MAX_LEN entries.
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
    let codes = canonical_codes(&lengths);
    // entry = symbol | len << 8; len 0 marks a bit pattern no code starts with.
    let mut lut = vec![0u16; 1 << MAX_LEN];
    for s in 0..256 {
        let l = lengths[s];
        if l == 0 {
            continue;
        }
        let first = (codes[s] as usize) << (MAX_LEN - l);
        let entry = s as u16 | (l as u16) << 8;
        lut[first..first + (1 << (MAX_LEN - l))].fill(entry);
    }
    let total_bits = bits.len() as u64 * 8;
    let mut used_bits = 0u64;
    let mut buf = 0u64; // left-aligned
    let mut have = 0u32;
    let mut pos = 0usize;
    out.reserve(n);
    for _ in 0..n {
        while have <= 56 {
            let byte = bits.get(pos).copied().unwrap_or(0);
            pos += 1;
            buf |= (byte as u64) << (56 - have);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Reader;

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
}
