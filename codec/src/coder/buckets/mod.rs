//! Coder 2: quantization codes as bucket symbols, Huffman-coded with one table per stream, plus
//! raw extra bits. A code's zigzag value z < 16 is its own symbol; a larger z is named by its bit
//! length and the 3 bits after its leading one (8 buckets per octave), the bits below follow raw.
//! (16 or 32 exact symbols measured the same on the HZZ table; 64 was worse.)
//! Wide code distributions (fine bounds, tables whose rows do not predict each other) then cost
//! close to their entropy with 249-symbol tables, where one byte per code plus escapes does not;
//! and a table's columns, which have very different distributions, each get their own table.

use crate::bytes::{Reader, unzigzag, zigzag};
use crate::coder::bits::BitReader;
#[cfg(feature = "encode")]
use crate::coder::bits::BitWriter;
use crate::coder::huffman;
use crate::coder::{ChunkShape, SymbolCoder};
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

// A bucket's extra bits are those below its leading one and K more, so z < EXACT has none.
const _: () = assert!(EXACT_BITS == K + 1);

/// (symbol, number of extra bits, extra bits). Without a branch but for the rare wide z (a branch
/// on z < EXACT is a coin toss at fine bounds): with e = max(bit length − EXACT_BITS, 0) extra bits,
/// z's symbol is 8·e + (z >> e), which is z itself below EXACT, and for a bucket EXACT + 8·(its
/// bit length − EXACT_BITS − 1) + the K bits after the leading one (z >> e is 8 + those bits).
#[inline(always)]
fn split(z: u64) -> (u8, u32, u64) {
    let bits = 64 - z.leading_zeros();
    if bits > MAX_BUCKET_BITS {
        return (WIDE, 64, z);
    }
    let extra = bits.saturating_sub(EXACT_BITS);
    (((extra << K) as u64 + (z >> extra)) as u8, extra, z & ((1u64 << extra) - 1))
}

/// A zigzag code's bucket symbol and number of extra bits (what lengths are counted from).
#[cfg(feature = "encode")]
pub(crate) fn bucket_of(z: u64) -> (u8, u32) {
    let (symbol, extra, _) = split(z);
    (symbol, extra)
}

/// Bytes coder 2 would take for one stream's codes, estimated: the order-0 entropy of their bucket
/// symbols plus their extra bits (the Huffman table's own bytes left out).
pub fn estimated_bytes(codes: &[i64]) -> f64 {
    let mut tally = BucketTally::default();
    codes.iter().for_each(|&c| tally.add(c));
    tally.bits() / 8.0
}

/// The tally behind [`estimated_bytes`], one code at a time (several streams in one pass).
#[derive(Clone)]
pub struct BucketTally {
    hist: [u64; 256],
    extra_bits: u64,
    /// Codes added.
    pub count: usize,
}

impl Default for BucketTally {
    fn default() -> Self {
        Self { hist: [0; 256], extra_bits: 0, count: 0 }
    }
}

impl BucketTally {
    pub fn add(&mut self, code: i64) {
        let (symbol, extra, _) = split(zigzag(code));
        self.hist[symbol as usize] += 1;
        self.extra_bits += extra as u64;
        self.count += 1;
    }

    /// The codes' bucket-symbol entropy plus their extra bits.
    pub fn bits(&self) -> f64 {
        let total = self.count as f64;
        let symbols: f64 =
            self.hist.iter().filter(|&&h| h > 0).map(|&h| -(h as f64) * (h as f64 / total).log2()).sum();
        symbols + self.extra_bits as f64
    }
}

/// Coder 2: bucket symbols with a Huffman table per stream (a table's columns get one each).
pub struct Buckets;

impl SymbolCoder for Buckets {
    fn id(&self) -> u8 {
        2
    }

    fn name(&self) -> &'static str {
        "buckets + Huffman per stream"
    }

    fn uses_escapes(&self) -> bool {
        false
    }

    #[cfg(feature = "encode")]
    fn tried_on(&self, _chunk: &ChunkShape) -> bool {
        true
    }

    #[cfg(feature = "encode")]
    fn encoded_len(&self, counts: &crate::coder::counts::CodeCounts) -> Option<usize> {
        Some(encoded_len(&counts.streams()))
    }

    #[cfg(feature = "encode")]
    fn encode(&self, codes: &[i64], _symbols: &[u8], chunk: &ChunkShape, out: &mut Vec<u8>) {
        if chunk.table {
            let [_, columns, w] = chunk.dims;
            encode_columns(codes, columns, w, out)
        } else {
            let mut symbols = Vec::with_capacity(codes.len());
            let mut extra = BitWriter::with_capacity(codes.len() / 2 + 8);
            push_codes(codes, &mut symbols, &mut extra);
            finish(&[symbols], extra, out);
        }
    }

    fn decode(
        &self,
        r: &mut Reader<'_>,
        _escapes: &mut Reader<'_>,
        chunk: &ChunkShape,
        out: &mut Vec<i64>,
    ) -> Result<()> {
        // A table's stream is its column (the archive checks there are dims[1] of them).
        if chunk.table { decode_columns(r, chunk.dims, out) } else { decode(r, chunk.len(), 1, |_| 0, out) }
    }
}

/// Appends the coder-2 data for `codes`; `stream_of` gives each element's stream (< `streams`)
/// in order: one code at a time, the reference the coders' own loops are tested against.
#[cfg(all(test, feature = "encode"))]
pub fn encode(codes: &[i64], streams: usize, stream_of: impl Iterator<Item = usize>, out: &mut Vec<u8>) {
    // Sized for the common case (one stream, a few extra bits a code): no regrowth copies.
    let per_stream = if streams == 1 { codes.len() } else { 0 };
    let mut symbols: Vec<Vec<u8>> = vec![Vec::with_capacity(per_stream); streams];
    let mut extra = BitWriter::with_capacity(codes.len() / 2 + 8);
    for (&c, stream) in codes.iter().zip(stream_of) {
        let (s, count, bits) = split(zigzag(c));
        symbols[stream].push(s);
        extra.put(count, bits);
    }
    finish(&symbols, extra, out);
}

#[cfg(feature = "encode")]
/// [`encode`] for coder 3: element e in stream `level_contexts(dims)[e]`, row by row (three rows
/// in four are all level 0) and each stream sized for its level's elements up front.
pub fn encode_levels(codes: &[i64], dims: [usize; 3], out: &mut Vec<u8>) {
    use crate::coder::levels::{LevelRows, level_sizes};
    let mut symbols: Vec<Vec<u8>> = level_sizes(dims).into_iter().map(Vec::with_capacity).collect();
    let mut extra = BitWriter::with_capacity(codes.len() / 2 + 8);
    let rows = LevelRows::new(dims);
    let row = &rows.row;
    for (part, lij) in codes.chunks_exact(row.len().max(1)).zip(rows.caps()) {
        if lij == 0 {
            push_codes(part, &mut symbols[0], &mut extra);
            continue;
        }
        let mut pairs = part.chunks_exact(2);
        for (pair, l) in (&mut pairs).zip(row.chunks_exact(2)) {
            let (a, b) = (split(zigzag(pair[0])), split(zigzag(pair[1])));
            symbols[l[0].min(lij) as usize].push(a.0);
            symbols[l[1].min(lij) as usize].push(b.0);
            put_pair(&mut extra, a, b);
        }
        if let (&[c], Some(&l)) = (pairs.remainder(), row.last()) {
            let (s, count, bits) = split(zigzag(c));
            symbols[l.min(lij) as usize].push(s);
            extra.put(count, bits);
        }
    }
    finish(&symbols, extra, out);
}

/// Appends the symbols of `codes`, all of one stream, to `symbols` and their extra bits to
/// `extra`, eight codes at a time.
#[cfg(feature = "encode")]
fn push_codes(codes: &[i64], symbols: &mut Vec<u8>, extra: &mut BitWriter) {
    let mut eights = codes.chunks_exact(8);
    for eight in &mut eights {
        // Eight codes below EXACT (the bulk at coarse bounds) are their own symbols, with no
        // extra bits: no split, no bit writer.
        let z: [u64; 8] = std::array::from_fn(|k| zigzag(eight[k]));
        if z.iter().all(|&z| z < EXACT) {
            symbols.extend(z.map(|z| z as u8));
            continue;
        }
        // Two codes' extra bits joined first where they fit one 32-bit put.
        let mut eight_symbols = [0u8; 8];
        for (k, pair) in z.chunks_exact(2).enumerate() {
            let (a, b) = (split(pair[0]), split(pair[1]));
            (eight_symbols[2 * k], eight_symbols[2 * k + 1]) = (a.0, b.0);
            put_pair(extra, a, b);
        }
        symbols.extend_from_slice(&eight_symbols);
    }
    for &c in eights.remainder() {
        let (s, count, bits) = split(zigzag(c));
        symbols.push(s);
        extra.put(count, bits);
    }
}

/// Two codes' extra bits (their [`split`]s), joined into one put where they fit 32 bits (codes
/// below 2^20): half as many steps in the bit writer's chain.
#[cfg(feature = "encode")]
#[inline(always)]
fn put_pair(extra: &mut BitWriter, (_, c1, v1): (u8, u32, u64), (_, c2, v2): (u8, u32, u64)) {
    if c1 + c2 <= 32 {
        extra.put(c1 + c2, (v1 << c2) | v2);
    } else {
        extra.put(c1, v1);
        extra.put(c2, v2);
    }
}

#[cfg(feature = "encode")]
/// [`encode`] for a table's chunk, rows of `columns` streams of `w` elements each: loops over
/// rows and columns instead of a stream per element.
pub fn encode_columns(codes: &[i64], columns: usize, w: usize, out: &mut Vec<u8>) {
    let rows = codes.len() / (columns * w).max(1);
    let mut symbols: Vec<Vec<u8>> = vec![Vec::with_capacity(rows * w); columns];
    let mut extra = BitWriter::with_capacity(codes.len() / 2 + 8);
    for row in codes.chunks_exact((columns * w).max(1)) {
        if w == 1 {
            // One code a column: two columns' extra bits joined in one put where they fit.
            let mut pairs = row.chunks_exact(2);
            for (k, pair) in (&mut pairs).enumerate() {
                let (a, b) = (split(zigzag(pair[0])), split(zigzag(pair[1])));
                symbols[2 * k].push(a.0);
                symbols[2 * k + 1].push(b.0);
                put_pair(&mut extra, a, b);
            }
            if let [c] = pairs.remainder() {
                let (s, count, bits) = split(zigzag(*c));
                symbols[columns - 1].push(s);
                extra.put(count, bits);
            }
            continue;
        }
        for (column, part) in symbols.iter_mut().zip(row.chunks_exact(w.max(1))) {
            for &c in part {
                let (s, count, bits) = split(zigzag(c));
                column.push(s);
                extra.put(count, bits);
            }
        }
    }
    finish(&symbols, extra, out);
}

#[cfg(feature = "encode")]
/// Each stream's trimmed table and bitstream, then the extra bits.
fn finish(symbols: &[Vec<u8>], extra: BitWriter, out: &mut Vec<u8>) {
    for s in symbols {
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

/// Bytes [`encode`] appends for streams whose codes are tallied in `streams`: each stream's
/// trimmed table and bitstream, then the extra bits.
#[cfg(feature = "encode")]
pub fn encoded_len(streams: &[crate::coder::counts::ZCounts]) -> usize {
    let mut extra_bits = 0u64;
    let mut tables = 0;
    for z in streams {
        let mut symbols = [0u64; 256];
        for (v, &n) in z.small.iter().enumerate() {
            let (s, count, _) = split(v as u64);
            symbols[s as usize] += n;
            extra_bits += n * count as u64;
        }
        for (s, &n) in symbols.iter_mut().zip(&z.large_buckets) {
            *s += n;
        }
        extra_bits += z.large_extra_bits;
        tables += huffman::trimmed_len(&symbols);
    }
    let extra = extra_bits.div_ceil(8);
    tables + crate::bytes::varint_len(extra) + extra as usize
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
pub(super) fn read_streams(r: &mut Reader<'_>, counts: &[usize]) -> Result<(Vec<u8>, Vec<usize>)> {
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
pub(super) struct Extra<'a> {
    bits: BitReader<'a>,
    total_bits: u64,
    error: Option<CodecError>,
}

impl<'a> Extra<'a> {
    pub(super) fn new(r: &mut Reader<'a>) -> Result<Self> {
        let len = r.len(r.remaining(), "extra bits length")?;
        let bytes = r.take(len, "extra bits")?;
        Ok(Self { bits: BitReader::new(bytes), total_bits: len as u64 * 8, error: None })
    }

    /// Appends the codes of elements with `symbols`, then checks the extra bits' length. Reads
    /// past the end see zeros: truncation is found at the end from the bit count.
    pub(super) fn codes(mut self, symbols: &[u8], out: &mut Vec<i64>) -> Result<()> {
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
fn rare(mut bits: BitReader<'_>, s: u8, total_bits: u64) -> (BitReader<'_>, Result<i64>) {
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
mod tests;
