//! The one bit reader and writer of the symbol coders: MSB first, as the Huffman bitstreams and
//! the bucket coders' extra bits are stored (docs/format.md §4).

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

/// MSB-first bit writer: the Huffman bitstreams and the extra bits of the bucket coders.
#[derive(Default)]
pub(crate) struct BitWriter {
    /// Whole 32-bit words written so far.
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self { out: Vec::with_capacity(bytes), acc: 0, n: 0 }
    }

    #[cfg(any(test, feature = "encode"))]
    /// Appends the low `count` ≤ 64 bits of `value`, most significant first.
    #[inline(always)]
    pub(crate) fn put(&mut self, count: u32, value: u64) {
        if count > 32 {
            return self.put_wide(count, value);
        }
        self.put32(count, value);
    }

    /// Appends `count` ≤ 32 bits whose value is below 2^count: what [`Self::put_codes`] does
    /// symbol by symbol (its test's reference).
    #[cfg(test)]
    pub(crate) fn put_exact(&mut self, count: u32, value: u64) {
        debug_assert!(count <= 32 && value >> count == 0);
        self.acc = (self.acc << count) | value;
        self.n += count;
        if self.n >= 32 {
            self.n -= 32;
            self.out.extend_from_slice(&((self.acc >> self.n) as u32).to_be_bytes());
        }
    }

    /// Appends each symbol's code from `table` (entries `code << 8 | length`, lengths ≤ 15): the
    /// same bits as [`Self::put_exact`] of each, without a branch a symbol: the pending word is
    /// written at the output's end every time, and kept (the end moves on) once it is complete.
    pub(crate) fn put_codes(&mut self, symbols: &[u8], table: &[u64; 256]) {
        let start = self.out.len();
        // At most 15 bits a symbol, and room for the word written ahead.
        self.out.resize(start + 2 * symbols.len() + 4, 0);
        let (mut acc, mut n, mut end) = (self.acc, self.n, start);
        let out = &mut self.out[..];
        // Two symbols a step, their codes joined first (≤ 30 bits; with ≤ 31 pending, ≤ 61 in
        // all): half as many steps in the chain of shifts each waits on.
        let mut put = |len: u64, code: u64| {
            acc = (acc << len) | code;
            n += len as u32;
            let full = (n >= 32) as u32;
            n -= 32 * full;
            out[end..end + 4].copy_from_slice(&((acc >> n) as u32).to_be_bytes());
            end += 4 * full as usize;
        };
        let mut pairs = symbols.chunks_exact(2);
        for pair in &mut pairs {
            let (a, b) = (table[pair[0] as usize], table[pair[1] as usize]);
            put((a & 0xff) + (b & 0xff), (a >> 8) << (b & 0xff) | (b >> 8));
        }
        for &s in pairs.remainder() {
            put(table[s as usize] & 0xff, table[s as usize] >> 8);
        }
        self.out.truncate(end);
        (self.acc, self.n) = (acc, n);
    }

    #[cfg(any(test, feature = "encode"))]
    /// More than 32 bits (rare: extra bits of huge codes), out of the hot loops.
    #[cold]
    #[inline(never)]
    fn put_wide(&mut self, count: u32, value: u64) {
        self.put32(count - 32, value >> 32);
        self.put32(32, value & 0xffff_ffff);
    }

    #[cfg(any(test, feature = "encode"))]
    /// At most 32 bits. `acc` holds `n` < 32 pending bits (its higher bits are stale); whole
    /// 32-bit words go out at once.
    #[inline(always)]
    fn put32(&mut self, count: u32, value: u64) {
        self.acc = (self.acc << count) | (value & ((1u64 << count) - 1));
        self.n += count;
        if self.n >= 32 {
            self.n -= 32;
            self.out.extend_from_slice(&((self.acc >> self.n) as u32).to_be_bytes());
        }
    }

    /// The bytes, the last one padded with zero bits.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        while self.n >= 8 {
            self.n -= 8;
            self.out.push((self.acc >> self.n) as u8);
        }
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_codes_are_the_bits_put_one_by_one() {
        // Lengths 1..=15 with codes below 2^length, symbols in runs and at random.
        let table: [u64; 256] = std::array::from_fn(|s| {
            let len = 1 + (s as u64 * 7) % 15;
            ((s as u64 * 0x9e37) & ((1 << len) - 1)) << 8 | len
        });
        for n in [0usize, 1, 7, 31, 1000, 4097] {
            let symbols: Vec<u8> = (0..n)
                .map(|i| if i % 97 < 40 { 0 } else { (i.wrapping_mul(2_654_435_761) >> 7) as u8 })
                .collect();
            let (mut one, mut all) = (BitWriter::default(), BitWriter::default());
            // A few pending bits first, as after a table.
            one.put_exact(5, 0b10110);
            all.put_exact(5, 0b10110);
            for &s in &symbols {
                one.put_exact((table[s as usize] & 0xff) as u32, table[s as usize] >> 8);
            }
            all.put_codes(&symbols, &table);
            all.put_exact(3, 0b101);
            one.put_exact(3, 0b101);
            assert_eq!(one.finish(), all.finish(), "{n} symbols");
        }
    }

    #[test]
    fn writer_and_reader_agree_on_every_width() {
        let mut w = BitWriter::default();
        let items: Vec<(u32, u64)> =
            (0..2000u64).map(|i| ((i * 7 % 65) as u32, i.wrapping_mul(0x9e37_79b9_7f4a_7c15))).collect();
        for &(count, value) in &items {
            w.put(count, value);
        }
        let bytes = w.finish();
        let total: u64 = items.iter().map(|&(c, _)| c as u64).sum();
        assert_eq!(bytes.len() as u64, total.div_ceil(8));
        let mut r = BitReader::new(&bytes);
        for &(count, value) in &items {
            let mut got = 0u64;
            let mut left = count;
            while left > 0 {
                let take = left.min(32);
                r.refill();
                got = got << take | (r.buf >> (64 - take));
                r.consume(take);
                left -= take;
            }
            let want = if count == 64 { value } else { value & ((1u64 << count) - 1) };
            assert_eq!(got, want, "{count} bits");
        }
        assert!(r.consumed() <= bytes.len() as u64 * 8);
    }
}
