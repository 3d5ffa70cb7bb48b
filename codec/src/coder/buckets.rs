//! Coder 2: quantization codes as bucket symbols, Huffman-coded with one table per stream, plus
//! raw extra bits. A code's zigzag value z < 16 is its own symbol; a larger z is named by its bit
//! length and the 3 bits after its leading one (8 buckets per octave), the bits below follow raw.
//! (16 or 32 exact symbols measured the same on the HZZ table; 64 was worse.)
//! Wide code distributions (fine bounds, tables whose rows do not predict each other) then cost
//! close to their entropy with 249-symbol tables, where one byte per code plus escapes does not;
//! and a table's columns, which have very different distributions, each get their own table.

#[cfg(feature = "encode")]
use crate::bytes::zigzag;
use crate::bytes::{Reader, unzigzag};
use crate::coder::huffman;
use crate::error::{CodecError, Result, corrupt};

/// z below EXACT = 2^EXACT_BITS is a symbol by itself.
const EXACT_BITS: u32 = 4;
const EXACT: u64 = 1 << EXACT_BITS;
/// Mantissa bits in the bucket symbol.
const K: u32 = 3;
/// Largest bit length with a bucket: symbols 16..=247.
const MAX_BUCKET_BITS: u32 = 33;
/// z of more than 33 bits: this symbol, then z as 64 raw bits.
const WIDE: u8 = 248;

/// (symbol, number of extra bits, extra bits).
#[cfg(feature = "encode")]
fn split(z: u64) -> (u8, u32, u64) {
    if z < EXACT {
        return (z as u8, 0, 0);
    }
    let bits = 64 - z.leading_zeros();
    if bits > MAX_BUCKET_BITS {
        return (WIDE, 64, z);
    }
    let extra = bits - 1 - K;
    let top = (z >> extra) & ((1 << K) - 1);
    ((EXACT as u32 + (bits - EXACT_BITS - 1) * (1 << K) + top as u32) as u8, extra, z & ((1u64 << extra) - 1))
}

/// MSB-first bit packing of the extra bits.
#[cfg(feature = "encode")]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

#[cfg(feature = "encode")]
impl BitWriter {
    fn put(&mut self, count: u32, value: u64) {
        if count > 32 {
            self.put(count - 32, value >> 32);
            self.put(32, value & 0xffff_ffff);
            return;
        }
        if count == 0 {
            return;
        }
        self.acc = (self.acc << count) | (value & ((1u64 << count) - 1));
        self.n += count;
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
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

#[cfg(feature = "encode")]
/// Appends the coder-2 data for `codes`; element e belongs to stream `stream_of(e)` < `streams`.
pub fn encode(codes: &[i64], streams: usize, stream_of: impl Fn(usize) -> usize, out: &mut Vec<u8>) {
    let mut symbols: Vec<Vec<u8>> = vec![Vec::new(); streams];
    let mut extra = BitWriter { out: Vec::new(), acc: 0, n: 0 };
    for (e, &c) in codes.iter().enumerate() {
        let (s, count, bits) = split(zigzag(c));
        symbols[stream_of(e)].push(s);
        extra.put(count, bits);
    }
    for s in &symbols {
        // The table trimmed after its last used symbol: byte count, then those bytes.
        let mut coded = Vec::new();
        huffman::encode(s, &mut coded);
        let (table, rest) = coded.split_at(huffman::TABLE_BYTES);
        let used = table.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        out.push(used as u8);
        out.extend_from_slice(&table[..used]);
        out.extend_from_slice(rest);
    }
    let extra = extra.finish();
    crate::bytes::put_varint(out, extra.len() as u64);
    out.extend_from_slice(&extra);
}

/// Decodes `n` codes written by [`encode`].
pub fn decode(
    r: &mut Reader<'_>,
    n: usize,
    streams: usize,
    stream_of: impl Fn(usize) -> usize,
    out: &mut Vec<i64>,
) -> Result<()> {
    if streams == 1 {
        // Every element is in stream 0: no contexts to compute.
        let (symbols, _) = read_streams(r, &[n])?;
        return Extra::new(r)?.codes(&symbols, out);
    }
    let of = |e| {
        let s = stream_of(e);
        debug_assert!(s < streams, "stream {s} of {streams}");
        s
    };
    if streams <= 256 {
        decode_with(r, streams, &(0..n).map(|e| of(e) as u8).collect::<Vec<_>>(), out)
    } else {
        decode_with(r, streams, &(0..n).map(|e| of(e) as u32).collect::<Vec<_>>(), out)
    }
}

/// A stream index per element.
pub trait Context: Copy {
    fn index(self) -> usize;
}

impl Context for u8 {
    fn index(self) -> usize {
        self as usize
    }
}

impl Context for u32 {
    fn index(self) -> usize {
        self as usize
    }
}

/// [`decode`] with element e in stream `contexts[e]` < `streams` (n = `contexts.len()`).
pub fn decode_with<C: Context>(
    r: &mut Reader<'_>,
    streams: usize,
    contexts: &[C],
    out: &mut Vec<i64>,
) -> Result<()> {
    // Four interleaved histograms: consecutive elements of one stream do not wait on each other.
    let mut lanes = vec![0usize; 4 * streams];
    let mut quads = contexts.chunks_exact(4);
    for q in &mut quads {
        for (lane, &c) in q.iter().enumerate() {
            lanes[4 * c.index() + lane] += 1;
        }
    }
    for &c in quads.remainder() {
        lanes[4 * c.index()] += 1;
    }
    let counts: Vec<usize> = lanes.chunks_exact(4).map(|l| l.iter().sum()).collect();
    let (symbols, mut next) = read_streams(r, &counts)?;
    // The symbols in element order. The most common stream's cursor stays in a register: through
    // memory, each of its elements would wait for the previous one's store.
    let top = (0..streams).max_by_key(|&s| counts[s]).unwrap_or(0);
    let mut k = next.get(top).copied().unwrap_or(0);
    let mut ordered = vec![0u8; contexts.len()];
    for (o, &c) in ordered.iter_mut().zip(contexts) {
        let c = c.index();
        let i = if c == top {
            k += 1;
            k - 1
        } else {
            next[c] += 1;
            next[c] - 1
        };
        *o = symbols[i];
    }
    Extra::new(r)?.codes(&ordered, out)
}

/// [`decode`] for coder 3 on a chunk of `dims`: element e in stream `level_contexts(dims)[e]`,
/// without building the contexts.
pub fn decode_levels(r: &mut Reader<'_>, dims: [usize; 3], out: &mut Vec<i64>) -> Result<()> {
    let [d0, d1, d2] = squeeze(dims);
    // Coordinates of level ≥ l along an axis of d: the multiples of 2^l (0 has every level).
    let at_least = |l: usize| [d0, d1, d2].iter().map(|&d| d.div_ceil(1 << l)).product::<usize>();
    let counts: Vec<usize> = (0..LEVEL_TABLES)
        .map(|l| at_least(l) - if l + 1 < LEVEL_TABLES { at_least(l + 1) } else { 0 })
        .collect();
    let (symbols, mut next) = read_streams(r, &counts)?;
    let row: Vec<u8> = (0..d2).map(level).collect();
    let mut ordered = vec![0u8; symbols.len()];
    // Level 0's cursor in a register, as in `decode_with`.
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

/// [`decode`] for a table's chunk of `dims` = [rows, columns, w]: element e in stream
/// (e / w) % columns, without a division per element.
pub fn decode_columns(r: &mut Reader<'_>, dims: [usize; 3], out: &mut Vec<i64>) -> Result<()> {
    let [rows, columns, w] = dims;
    let (symbols, _) = read_streams(r, &vec![rows * w; columns])?;
    // Every stream decoded all its rows * w symbols (fewer is a truncated bitstream, an error), so
    // column c starts at c * rows * w: a transpose of w-wide blocks, one column at a time.
    debug_assert_eq!(symbols.len(), rows * w * columns);
    let mut ordered = vec![0u8; symbols.len()];
    if w > 0 && rows > 0 {
        for (c, column) in symbols.chunks_exact(rows * w).enumerate() {
            if w == 1 {
                for (o, &s) in ordered.iter_mut().skip(c).step_by(columns).zip(column) {
                    *o = s;
                }
            } else {
                let dst = ordered.chunks_exact_mut(w).skip(c).step_by(columns);
                for (o, s) in dst.zip(column.chunks_exact(w)) {
                    o.copy_from_slice(s);
                }
            }
        }
    }
    Extra::new(r)?.codes(&ordered, out)
}

/// Reads one trimmed table and bitstream per stream: all their symbols, and where each stream's
/// begin. The errors are those of reading and decoding the streams one after the other.
fn read_streams(r: &mut Reader<'_>, counts: &[usize]) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut streams = Vec::with_capacity(counts.len());
    let mut symbols = Vec::new();
    for &count in counts {
        match read_stream(r) {
            Ok((table, bits)) => streams.push((table, bits, count)),
            Err(e) => {
                // The streams before this one are decoded first: their errors come first.
                huffman::decode_streams(&streams, &mut symbols)?;
                return Err(e);
            }
        }
    }
    let starts = huffman::decode_streams(&streams, &mut symbols)?;
    Ok((symbols, starts))
}

/// One stream's trimmed table (a missing tail reads as unused symbols) and bitstream.
fn read_stream<'a>(r: &mut Reader<'a>) -> Result<(&'a [u8], &'a [u8])> {
    let used = r.u8("Huffman table size")? as usize;
    if used > huffman::TABLE_BYTES {
        return corrupt(format!("Huffman table of {used} bytes"));
    }
    let table = r.take(used, "Huffman table")?;
    let len = r.len(r.remaining(), "Huffman bitstream length")?;
    Ok((table, r.take(len, "Huffman bitstream")?))
}

/// Most extra bits of a bucket symbol.
const MAX_EXTRA: u32 = MAX_BUCKET_BITS - 1 - K;
/// Per symbol: the value of z before its extra bits | extra bit count << 56, a table lookup in
/// place of arithmetic per element. Counts above MAX_EXTRA mark WIDE (64) and symbols no encoder
/// writes (255).
const BUCKET: [u64; 256] = {
    let mut t = [255u64 << 56; 256];
    let mut s = 0;
    while s < WIDE as usize {
        t[s] = if (s as u64) < EXACT {
            s as u64
        } else {
            let b = (s as u32) - EXACT as u32;
            let width = b / (1 << K) + EXACT_BITS + 1;
            let extra = width - 1 - K;
            (1u64 << (width - 1)) | ((b as u64 % (1 << K)) << extra) | (extra as u64) << 56
        };
        s += 1;
    }
    t[WIDE as usize] = 64 << 56;
    t
};

/// The extra-bit stream, and the first error met in element order.
struct Extra<'a> {
    bits: huffman::BitReader<'a>,
    total_bits: u64,
    error: Option<CodecError>,
}

impl<'a> Extra<'a> {
    fn new(r: &mut Reader<'a>) -> Result<Self> {
        let len = r.len(r.remaining(), "extra bits length")?;
        let bytes = r.take(len, "extra bits")?;
        Ok(Self { bits: huffman::BitReader::new(bytes), total_bits: len as u64 * 8, error: None })
    }

    /// Appends the codes of elements with `symbols`, then checks the extra bits' length. Reads
    /// past the end see zeros: truncation is found at the end from the bit count.
    fn codes(mut self, symbols: &[u8], out: &mut Vec<i64>) -> Result<()> {
        out.reserve(symbols.len());
        let mut blocks = symbols.chunks_exact(8);
        for b in &mut blocks {
            // Eight symbols below EXACT (the bulk at coarse bounds) are their own zigzag values.
            if u64::from_le_bytes(b.try_into().expect("8 bytes")) & 0xf0f0_f0f0_f0f0_f0f0 == 0 {
                out.extend(b.iter().map(|&s| unzigzag(s as u64)));
            } else {
                out.extend(b.iter().map(|&s| self.code(s)));
            }
        }
        out.extend(blocks.remainder().iter().map(|&s| self.code(s)));
        if let Some(e) = self.error {
            return Err(e);
        }
        let used = self.bits.consumed();
        if used > self.total_bits {
            return corrupt("extra bits are truncated");
        }
        if self.total_bits - used >= 8 {
            return corrupt("extra bits have trailing bytes");
        }
        Ok(())
    }

    /// The code of the next element, whose symbol is `s`.
    #[inline(always)]
    fn code(&mut self, s: u8) -> i64 {
        let entry = BUCKET[s as usize];
        let count = (entry >> 56) as u32;
        if count > MAX_EXTRA {
            // By value: the reader never has its address taken, so it stays in registers.
            let (bits, z) = rare(self.bits.clone(), s, self.total_bits);
            self.bits = bits;
            return z.unwrap_or_else(|e| {
                self.error.get_or_insert(e);
                0
            });
        }
        if self.bits.have < count {
            self.bits.refill();
        }
        // Two shifts: a count of 0 reads nothing.
        let v = (self.bits.buf >> 1) >> (63 - count);
        self.bits.consume(count);
        unzigzag((entry & ((1 << 56) - 1)) | v)
    }
}

/// Symbol `s` of WIDE (z in 64 raw bits) or of no bucket (an error).
#[cold]
fn rare(mut bits: huffman::BitReader<'_>, s: u8, total_bits: u64) -> (huffman::BitReader<'_>, Result<i64>) {
    if s == WIDE {
        let mut z = 0;
        for _ in 0..2 {
            bits.refill();
            z = z << 32 | bits.buf >> 32;
            bits.consume(32);
        }
        return (bits, Ok(unzigzag(z)));
    }
    // An earlier element's extra bits already ran past the end: that error comes first.
    let e = if bits.consumed() > total_bits {
        corrupt("extra bits are truncated")
    } else {
        corrupt(format!("unknown code bucket {s}"))
    };
    (bits, e)
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
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
        encode(codes, streams, of, &mut out);
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
        let codes: Vec<i64> = ctx
            .iter()
            .enumerate()
            .map(|(e, &l)| ((e as i64 * 7919) % 5 - 2) * (1 << (2 * l.min(5))))
            .collect();
        let of = |e: usize| ctx[e] as usize;
        let mut out = Vec::new();
        encode(&codes, LEVEL_TABLES, of, &mut out);
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
        encode(&codes, 1, |_| 0, &mut out);
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
            encode(&codes, layout.streams(), layout.stream_of(), &mut bytes);
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
        let mut w = BitWriter { out: Vec::new(), acc: 0, n: 0 };
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
}
