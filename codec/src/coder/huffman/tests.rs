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
    decode(&[0x11; TABLE_BYTES], &[0xff], 4, &mut out).expect_err("every symbol length 1: over-subscribed");
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
                let kraft =
                    |l: &[u8; 256]| l.iter().filter(|&&l| l > 0).map(|&l| 1 << (MAX_LEN - l)).sum::<u64>();
                while kraft(&lengths) > 1 << MAX_LEN && rng.below(8 * k as u64) != 0 {
                    lengths = random_lengths(&mut rng);
                }
                let count = if rng.below(10) == 0 { rng.below(2 * n as u64 + 2) as usize } else { n };
                let bits = random_stream(&mut rng, &lengths, count, 2 * k as u64);
                let count = if rng.below(16 * k as u64) == 0 { count + 1 } else { count };
                (pack(&lengths), bits, count)
            })
            .collect();
        let args: Vec<(&[u8], &[u8], usize)> = streams.iter().map(|(t, b, c)| (&t[..], &b[..], *c)).collect();
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

/// The lengths a binary heap of (count, node) pairs makes, merged nodes numbered 256 on: what
/// [`huffman_lengths`] must reproduce bit for bit (archives written before keep their bytes).
fn heap_lengths(counts: &[u64; 256]) -> [u8; 256] {
    let mut lengths = [0u8; 256];
    let used: Vec<usize> = (0..256).filter(|&s| counts[s] > 0).collect();
    if used.len() == 1 {
        lengths[used[0]] = 1;
    }
    if used.len() < 2 {
        return lengths;
    }
    let mut parent = vec![usize::MAX; 512];
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>> =
        used.iter().map(|&s| std::cmp::Reverse((counts[s], s))).collect();
    let mut next = 256;
    while heap.len() > 1 {
        let std::cmp::Reverse((c1, a)) = heap.pop().expect("two nodes");
        let std::cmp::Reverse((c2, b)) = heap.pop().expect("two nodes");
        (parent[a], parent[b]) = (next, next);
        heap.push(std::cmp::Reverse((c1 + c2, next)));
        next += 1;
    }
    for &s in &used {
        let (mut depth, mut n) = (0u8, s);
        while parent[n] != usize::MAX {
            (n, depth) = (parent[n], depth + 1);
        }
        lengths[s] = depth;
    }
    lengths
}

/// Two queues make the heap's lengths on histograms with many equal counts (ties between leaves,
/// between merged nodes, and between the two), skewed ones, flat ones and every size of alphabet.
#[test]
fn lengths_are_the_heaps() {
    let mut rng = Rng(23);
    for case in 0..3000 {
        let used = 2 + rng.below(255) as usize;
        let mut counts = [0u64; 256];
        for _ in 0..used {
            let s = rng.below(256) as usize;
            counts[s] = match case % 4 {
                0 => 1 + rng.below(4),
                1 => 1 + rng.below(1000),
                2 => 1 << rng.below(40),
                _ => [1, 2, 3, 5, 8][rng.below(5) as usize] * (1 + rng.below(3)),
            };
        }
        assert_eq!(huffman_lengths(&counts), heap_lengths(&counts), "case {case}");
    }
    let mut one = [0u64; 256];
    one[7] = 5;
    assert_eq!(huffman_lengths(&one), heap_lengths(&one));
    assert_eq!(huffman_lengths(&[0; 256]), [0; 256]);
}
