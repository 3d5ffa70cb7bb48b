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
use crate::error::{Result, corrupt};
use crate::huffman;

/// z below EXACT = 2^EXACT_BITS is a symbol by itself.
const EXACT_BITS: u32 = 4;
const EXACT: u64 = 1 << EXACT_BITS;
/// Mantissa bits in the bucket symbol.
const K: u32 = 3;
/// Largest bit length with a bucket: symbols 16..=247.
#[cfg(feature = "encode")]
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

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: u64,
}

impl BitReader<'_> {
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
        // A big-endian window of 8 bytes from the current byte: bit offset ≤ 7 plus ≤ 32 bits fit.
        let at = (self.pos / 8) as usize;
        let mut window = [0u8; 8];
        let avail = (self.bytes.len() - at).min(8);
        window[..avail].copy_from_slice(&self.bytes[at..at + avail]);
        let v = (u64::from_be_bytes(window) << (self.pos % 8)) >> (64 - count);
        self.pos += count as u64;
        Ok(v)
    }
}

/// Tables of coder 3: one per interpolation level (the last one takes every coarser level).
pub const LEVEL_TABLES: usize = 8;

/// Coder 3's context of every element of a chunk of `dims`, in raster order: the number of
/// trailing zero bits common to its coordinates, capped at `LEVEL_TABLES − 1` — the level of the
/// multilevel interpolation that predicts it. Codes of coarse levels are larger than fine ones:
/// a table each costs a few bytes and saves 3–5 % there.
pub fn level_contexts(dims: [usize; 3]) -> Vec<u8> {
    let cap = LEVEL_TABLES as u32 - 1;
    let level = |x: usize| if x == 0 { cap } else { x.trailing_zeros().min(cap) };
    let mut out = Vec::with_capacity(dims.iter().product());
    for i in 0..dims[0] {
        let li = level(i);
        for j in 0..dims[1] {
            let lij = li.min(level(j));
            out.extend((0..dims[2]).map(|k| lij.min(level(k)) as u8));
        }
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
    let mut bits = BitReader { bytes: r.take(len, "extra bits")?, pos: 0 };
    out.reserve(n);
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

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;

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
}
