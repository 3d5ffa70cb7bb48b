use super::*;
use crate::coder::levels::{LEVEL_TABLES, decode_levels, level_contexts};
use crate::testing::Rng;

/// Mostly small codes, some of every magnitude up to the full i64 range.
fn random_code(rng: &mut Rng, zeros: u64) -> i64 {
    if rng.below(100) < zeros {
        return 0;
    }
    let bits = match rng.below(10) {
        0 => 1 + rng.below(64),
        1..=3 => 1 + rng.below(20),
        _ => 1 + rng.below(5),
    };
    (rng.next() >> (64 - bits)) as i64 * if rng.below(2) == 0 { 1 } else { -1 }
}

fn round_trip(codes: &[i64], streams: usize) -> usize {
    let of = |e: usize| e % streams;
    let mut out = Vec::new();
    encode(codes, streams, (0..codes.len()).map(of), &mut out);
    let mut r = Reader::new(&out);
    let mut back = Vec::new();
    decode(&mut r, codes.len(), streams, of, &mut back).unwrap();
    r.finish("coder 2").unwrap();
    assert_eq!(back, codes);
    out.len()
}

#[test]
fn every_magnitude_round_trips() {
    let mut codes: Vec<i64> = (-300..300).collect();
    for b in 0..64 {
        let v = 1i64.wrapping_shl(b);
        codes.extend([v, v.wrapping_sub(1), v.wrapping_add(1), v.wrapping_neg()]);
    }
    codes.extend([i64::MAX, i64::MIN, i64::MIN + 1, (1 << 33) - 1, 1 << 33, -(1 << 32), 15, 16, -8, -9]);
    for streams in [1, 3, 5] {
        round_trip(&codes, streams);
    }
    round_trip(&[], 2);
}

#[test]
fn level_contexts_are_the_interpolation_levels() {
    let dims = [3, 8, 12];
    let ctx = level_contexts(dims);
    assert_eq!(ctx.len(), 3 * 8 * 12);
    let at = |i: usize, j: usize, k: usize| ctx[(i * 8 + j) * 12 + k];
    assert_eq!(at(0, 0, 0), 7, "the origin is on every level");
    assert_eq!(at(0, 0, 8), 3);
    assert_eq!(at(2, 4, 8), 1);
    assert_eq!(at(0, 4, 4), 2);
    assert_eq!(at(1, 0, 0), 0);
    assert_eq!(at(2, 6, 4), 1);
    // Codes that grow with the level: per-level tables round-trip and beat one table.
    let codes: Vec<i64> =
        ctx.iter().enumerate().map(|(e, &l)| ((e as i64 * 7919) % 5 - 2) * (1 << (2 * l.min(5)))).collect();
    let of = |e: usize| ctx[e] as usize;
    let mut out = Vec::new();
    encode(&codes, LEVEL_TABLES, (0..codes.len()).map(of), &mut out);
    let mut back = Vec::new();
    decode(&mut Reader::new(&out), codes.len(), LEVEL_TABLES, of, &mut back).unwrap();
    assert_eq!(back, codes);
}

#[test]
fn buckets_are_contiguous_and_ordered() {
    let mut last = 0u8;
    for z in (0..(1u64 << 20)).step_by(7) {
        let (s, _, _) = split(z);
        assert!(s >= last && s < WIDE);
        last = s;
    }
    assert_eq!(split(15).0, 15);
    assert_eq!(split(16).0, 16);
    assert_eq!(split((1 << 33) - 1).0, WIDE - 1);
    assert_eq!(split(1 << 33).0, WIDE);
}

#[test]
fn branch_free_split_is_the_bucket_definition() {
    // The format's words (docs/format.md): z below 16 is its symbol; else 16 + 8·(bit length − 5)
    // + the 3 bits after the leading one, the bits below them extra; wide beyond 33 bits.
    let by_definition = |z: u64| {
        if z < 16 {
            return (z as u8, 0, 0);
        }
        let bits = 64 - z.leading_zeros();
        if bits > 33 {
            return (WIDE, 64, z);
        }
        let extra = bits - 4;
        ((16 + (bits - 5) * 8 + ((z >> extra) & 7) as u32) as u8, extra, z & ((1 << extra) - 1))
    };
    let edges = (0..64).flat_map(|b| [(1u64 << b) - 1, 1 << b, (1 << b) + 1, (3 << b) >> 1]);
    for z in (0..5000).chain(edges).chain([u64::MAX, u64::MAX - 1]) {
        assert_eq!(split(z), by_definition(z), "z = {z}");
    }
}

#[test]
fn wide_gaussian_codes_cost_near_their_entropy() {
    // Codes ~ N(0, 1000): entropy ≈ log2(1000·√(2πe)) ≈ 12.0 bits a code.
    let mut state = 1u64;
    let mut uniform = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let codes: Vec<i64> = (0..20_000)
        .map(|_| {
            let g = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
            (g * 1000.0).round() as i64
        })
        .collect();
    let bytes = round_trip(&codes, 1);
    let bits_per_code = bytes as f64 * 8.0 / codes.len() as f64;
    assert!(bits_per_code < 12.3, "{bits_per_code} bits a code");
}

#[test]
fn damaged_data_is_an_error() {
    let codes: Vec<i64> = (0..1000).map(|i| (i * i) % 5000 - 2500).collect();
    let mut out = Vec::new();
    encode(&codes, 1, std::iter::repeat(0), &mut out);
    for cut in [10, out.len() / 2, out.len() - 1] {
        let mut r = Reader::new(&out[..cut]);
        assert!(decode(&mut r, codes.len(), 1, |_| 0, &mut Vec::new()).is_err());
    }
}

/// The decoder this module had before the fast paths: per-element closure calls, a bounds
/// check per extra-bit read, errors raised where they occur. The fast decoders must agree
/// with it on every input, errors included.
fn reference_decode(
    r: &mut Reader<'_>,
    n: usize,
    streams: usize,
    stream_of: impl Fn(usize) -> usize,
    out: &mut Vec<i64>,
) -> Result<()> {
    struct Bits<'a> {
        bytes: &'a [u8],
        pos: u64,
    }
    impl Bits<'_> {
        fn get(&mut self, count: u32) -> Result<u64> {
            if count > 32 {
                let hi = self.get(count - 32)?;
                return Ok(hi << 32 | self.get(32)?);
            }
            if count == 0 {
                return Ok(0);
            }
            if self.pos + count as u64 > self.bytes.len() as u64 * 8 {
                return corrupt("extra bits are truncated");
            }
            let at = (self.pos / 8) as usize;
            let mut window = [0u8; 8];
            let avail = (self.bytes.len() - at).min(8);
            window[..avail].copy_from_slice(&self.bytes[at..at + avail]);
            let v = (u64::from_be_bytes(window) << (self.pos % 8)) >> (64 - count);
            self.pos += count as u64;
            Ok(v)
        }
    }
    let mut counts = vec![0usize; streams];
    for e in 0..n {
        counts[stream_of(e)] += 1;
    }
    let mut symbols = Vec::with_capacity(streams);
    for &count in &counts {
        let used = r.u8("Huffman table size")? as usize;
        if used > huffman::TABLE_BYTES {
            return corrupt(format!("Huffman table of {used} bytes"));
        }
        let mut table = [0u8; huffman::TABLE_BYTES];
        table[..used].copy_from_slice(r.take(used, "Huffman table")?);
        let len = r.len(r.remaining(), "Huffman bitstream length")?;
        let mut s = Vec::new();
        huffman::decode(&table, r.take(len, "Huffman bitstream")?, count, &mut s)?;
        symbols.push(s.into_iter());
    }
    let len = r.len(r.remaining(), "extra bits length")?;
    let mut bits = Bits { bytes: r.take(len, "extra bits")?, pos: 0 };
    for e in 0..n {
        let s = symbols[stream_of(e)].next().expect("counted per stream");
        let z = match s {
            _ if (s as u64) < EXACT => s as u64,
            WIDE => bits.get(64)?,
            s if s < WIDE => {
                let b = (s as u32) - EXACT as u32;
                let width = b / (1 << K) + EXACT_BITS + 1;
                let extra = width - 1 - K;
                (1u64 << (width - 1)) | ((b as u64 % (1 << K)) << extra) | bits.get(extra)?
            }
            _ => return corrupt(format!("unknown code bucket {s}")),
        };
        out.push(unzigzag(z));
    }
    if len as u64 * 8 - bits.pos >= 8 {
        return corrupt("extra bits have trailing bytes");
    }
    Ok(())
}

/// The elements' streams for a decoder under test.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// `e % streams`, through [`decode`].
    Modulo(usize),
    /// `e % streams` as u32 contexts, through [`decode_with`].
    ModuloU32(usize),
    /// Coder 3, through [`decode_levels`].
    Levels([usize; 3]),
    /// A table's columns, through [`decode_columns`].
    Columns([usize; 3]),
}

impl Layout {
    fn n(self, n: usize) -> usize {
        match self {
            Layout::Levels(d) | Layout::Columns(d) => d.iter().product(),
            _ => n,
        }
    }

    fn streams(self) -> usize {
        match self {
            Layout::Modulo(s) | Layout::ModuloU32(s) => s,
            Layout::Levels(_) => LEVEL_TABLES,
            Layout::Columns(d) => d[1],
        }
    }

    fn stream_of(self) -> impl Fn(usize) -> usize {
        let levels = match self {
            Layout::Levels(d) => level_contexts(d),
            _ => Vec::new(),
        };
        move |e| match self {
            Layout::Modulo(s) | Layout::ModuloU32(s) => e % s,
            Layout::Levels(_) => levels[e] as usize,
            Layout::Columns(d) => (e / d[2]) % d[1],
        }
    }

    fn decode(self, r: &mut Reader<'_>, n: usize, out: &mut Vec<i64>) -> Result<()> {
        match self {
            Layout::Modulo(s) => decode(r, n, s, |e| e % s, out),
            Layout::ModuloU32(s) => {
                let contexts: Vec<u32> = (0..n).map(|e| (e % s) as u32).collect();
                decode_with(r, s, &contexts, out)
            }
            Layout::Levels(d) => decode_levels(r, d, out),
            Layout::Columns(d) => decode_columns(r, d, out),
        }
    }
}

/// The fast decoder and the reference on `bytes`: the same codes and position, or the same
/// error.
fn agree(layout: Layout, bytes: &[u8], n: usize) -> bool {
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    let (mut rf, mut rs) = (Reader::new(bytes), Reader::new(bytes));
    let a = layout.decode(&mut rf, n, &mut fast);
    let b = reference_decode(&mut rs, n, layout.streams(), layout.stream_of(), &mut slow);
    match (a, b) {
        (Ok(()), Ok(())) => {
            assert_eq!(fast, slow, "{layout:?}");
            assert_eq!(rf.remaining(), rs.remaining(), "{layout:?}");
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "{layout:?}");
            false
        }
        (a, b) => panic!("fast {a:?}, reference {b:?}, {layout:?}"),
    }
}

#[test]
fn fast_decoders_match_reference_on_valid_and_damaged_data() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let layouts = [
        Layout::Modulo(1),
        Layout::Modulo(2),
        Layout::Modulo(5),
        Layout::Modulo(300),
        Layout::ModuloU32(3),
        Layout::Levels([9, 17, 33]),
        Layout::Levels([40, 1, 70]),
        Layout::Levels([1, 1, 300]),
        Layout::Levels([300, 1, 1]),
        Layout::Levels([1, 2, 1]),
        Layout::Levels([0, 4, 4]),
        Layout::Levels([3, 4, 0]),
        Layout::Levels([5, 0, 1]),
        Layout::Columns([60, 5, 1]),
        Layout::Columns([7, 3, 4]),
        Layout::Columns([5, 1, 1]),
        Layout::Columns([5, 2, 0]),
        Layout::Columns([0, 3, 1]),
        Layout::Columns([300, 1, 1]),
        Layout::Columns([300, 2, 1]),
        Layout::Columns([200, 5, 1]),
        Layout::Columns([150, 7, 1]),
        Layout::Columns([40, 7, 2]),
        Layout::Columns([30, 6, 3]),
    ];
    let (mut ok, mut failed) = (0, 0);
    for round in 0..1500 {
        let layout = layouts[round % layouts.len()];
        let n = layout.n([0, 1, 7, 8, 9, 100, 1000, 5000][rng.below(8) as usize]);
        // Streams of unequal difficulty: each its own share of zeros.
        let zeros: Vec<u64> = (0..layout.streams()).map(|_| rng.below(100)).collect();
        let stream_of = layout.stream_of();
        let codes: Vec<i64> = (0..n).map(|e| random_code(&mut rng, zeros[stream_of(e)])).collect();
        let mut bytes = Vec::new();
        encode(&codes, layout.streams(), (0..codes.len()).map(layout.stream_of()), &mut bytes);
        let mut back = Vec::new();
        layout.decode(&mut Reader::new(&bytes), n, &mut back).unwrap();
        assert_eq!(back, codes, "{layout:?}");
        // Damage: a cut, flipped bits, a trailing byte, or a wrong count.
        let mut n = n;
        match rng.below(5) {
            0 => bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize),
            1 => {
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            2 => bytes.push(rng.next() as u8),
            3 if matches!(layout, Layout::Modulo(_) | Layout::ModuloU32(_)) => {
                n = (n + rng.below(5) as usize).saturating_sub(2)
            }
            _ => {}
        }
        if agree(layout, &bytes, n) {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    assert!(ok > 300 && failed > 300, "{ok} decoded, {failed} errors");
}

/// One stream of `symbols` (any bytes, as a hostile encoder may write), then `extra`.
fn raw(symbols: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut coded = Vec::new();
    huffman::encode(symbols, &mut coded);
    let mut out = vec![huffman::TABLE_BYTES as u8];
    out.extend_from_slice(&coded);
    crate::bytes::put_varint(&mut out, extra.len() as u64);
    out.extend_from_slice(extra);
    out
}

#[test]
fn unknown_buckets_and_short_extra_bits_fail_in_element_order() {
    let one = Layout::Modulo(1);
    // Symbol 24: a bucket with 2 extra bits; 250: no bucket; 248: 64 raw bits.
    let cases: [(&[u8], &[u8], &str); 8] = [
        (&[24, 250], &[], "extra bits are truncated"),
        (&[250, 24], &[], "unknown code bucket 250"),
        (&[24, 250], &[0x40], "unknown code bucket 250"),
        (&[1, 2, 255, 3], &[], "unknown code bucket 255"),
        (&[WIDE], &[0; 7], "extra bits are truncated"),
        (&[WIDE, 249], &[0; 8], "unknown code bucket 249"),
        (&[24; 9], &[0xff; 2], "extra bits are truncated"),
        (&[24, 24], &[0, 0], "extra bits have trailing bytes"),
    ];
    for (symbols, extra, want) in cases {
        let bytes = raw(symbols, extra);
        assert!(!agree(one, &bytes, symbols.len()));
        let e = one.decode(&mut Reader::new(&bytes), symbols.len(), &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), format!("archive is corrupt: {want}"), "{symbols:?}");
    }
    // 8 symbols below EXACT take the block path; one of each other kind after them.
    let symbols = [0, 1, 2, 3, 4, 5, 6, 7, 24, WIDE, 15];
    let mut w = crate::coder::bits::BitWriter::default();
    w.put(2, 0b11);
    w.put(64, zigzag(i64::MIN + 5));
    let bytes = raw(&symbols, &w.finish());
    assert!(agree(one, &bytes, symbols.len()));
    let mut codes = Vec::new();
    one.decode(&mut Reader::new(&bytes), symbols.len(), &mut codes).unwrap();
    assert_eq!(codes, [0, -1, 1, -2, 2, -3, 3, -4, unzigzag(32 | 0b11), i64::MIN + 5, -8]);
}

#[test]
fn level_contexts_match_the_per_element_definition() {
    let cap = LEVEL_TABLES as u32 - 1;
    let level = |x: usize| if x == 0 { cap } else { x.trailing_zeros().min(cap) };
    for dims in
        [[3, 8, 12], [1, 1, 1], [0, 3, 3], [5, 0, 1], [1, 130, 1], [130, 1, 1], [1, 1, 130], [2, 1, 65]]
    {
        let mut want = Vec::new();
        for i in 0..dims[0] {
            for j in 0..dims[1] {
                for k in 0..dims[2] {
                    want.push(level(i).min(level(j)).min(level(k)) as u8);
                }
            }
        }
        assert_eq!(level_contexts(dims), want, "{dims:?}");
    }
}

#[test]
fn coder_3_writes_what_per_element_level_streams_give() {
    // encode_levels (rows, eight small codes at a time) against `encode` with each element's
    // level: runs of small codes, of large ones and mixes, rows of every length mod 8.
    let mut rng = Rng(0x005e_ed1e_7e15);
    for dims in [[9, 17, 33], [4, 8, 16], [1, 1, 300], [3, 5, 7], [2, 64, 64], [40, 1, 70]] {
        for zeros in [0, 50, 95, 100] {
            let n: usize = dims.iter().product();
            let mut codes: Vec<i64> = (0..n).map(|_| random_code(&mut rng, zeros)).collect();
            // Some rows of small codes only.
            for (k, c) in codes.iter_mut().enumerate() {
                if (k / 24) % 3 == 0 {
                    *c = (*c).clamp(-7, 7);
                }
            }
            let (mut fast, mut reference) = (Vec::new(), Vec::new());
            encode_levels(&codes, dims, &mut fast);
            let levels = level_contexts(dims);
            encode(&codes, LEVEL_TABLES, levels.iter().map(|&l| l as usize), &mut reference);
            assert_eq!(fast, reference, "{dims:?} zeros {zeros}");
        }
    }
}

/// The coders' own loops (eight codes at a time for one stream, two columns' extra bits joined
/// for a table) write exactly the bytes of the one-code-at-a-time reference [`encode`].
#[test]
fn fast_loops_write_the_reference_bytes() {
    let mut rng = Rng(23);
    for (len, zeros) in [(0, 0), (1, 0), (7, 50), (8, 100), (1003, 90), (4096, 99), (5000, 20), (777, 0)] {
        let codes: Vec<i64> = (0..len).map(|_| random_code(&mut rng, zeros)).collect();
        let reference = |streams: usize, of: &dyn Fn(usize) -> usize| {
            let mut out = Vec::new();
            encode(&codes, streams, (0..codes.len()).map(of), &mut out);
            out
        };
        let field = ChunkShape { dims: [1, 1, len], streams: 1, table: false };
        let mut out = Vec::new();
        Buckets.encode(&codes, &[], &field, &mut out);
        assert_eq!(out, reference(1, &|_| 0), "one stream of {len}");
        for (columns, w) in [(1, 1), (2, 1), (3, 1), (5, 1), (2, 2), (3, 4)] {
            let rows = len / (columns * w);
            let part = &codes[..rows * columns * w];
            let mut out = Vec::new();
            encode_columns(part, columns, w, &mut out);
            let mut want = Vec::new();
            encode(part, columns, (0..part.len()).map(|e| (e % (columns * w)) / w), &mut want);
            assert_eq!(out, want, "{rows} rows of {columns} columns {w} wide");
        }
    }
}
