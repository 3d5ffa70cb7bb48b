//! What the coders' output lengths are counted from ([`super::SymbolCoder::encoded_len`]): the
//! chunk's zigzag codes tallied once per context, so that ranking the coders costs one pass over
//! the codes instead of one encoding each.

use crate::bytes::zigzag;
use crate::coder::levels::{LEVEL_TABLES, LevelRows, Levels};
use crate::coder::{ChunkShape, SymbolCoder};

/// Zigzag codes below this are tallied by value; larger ones by what the coders store of them.
pub const SMALL: usize = 255;

/// One context's codes: how often each small zigzag value occurs, and of the large ones (codes
/// 1 and 4 escape them, coders 2 and 3 bucket them) how many there are, their bytes in the escape
/// stream, their bucket symbols and their extra bits — all that the coders' lengths depend on,
/// so a fine bound's many large codes are not kept one by one.
#[derive(Clone)]
pub struct ZCounts {
    pub small: [u64; SMALL],
    pub large: u64,
    pub escape_bytes: u64,
    pub large_buckets: [u64; 256],
    pub large_extra_bits: u64,
}

impl Default for ZCounts {
    fn default() -> Self {
        Self { small: [0; SMALL], large: 0, escape_bytes: 0, large_buckets: [0; 256], large_extra_bits: 0 }
    }
}

impl ZCounts {
    fn add(&mut self, other: &ZCounts) {
        for (a, b) in self.small.iter_mut().zip(&other.small) {
            *a += b;
        }
        for (a, b) in self.large_buckets.iter_mut().zip(&other.large_buckets) {
            *a += b;
        }
        self.large += other.large;
        self.escape_bytes += other.escape_bytes;
        self.large_extra_bits += other.large_extra_bits;
    }

    /// Tallies a large zigzag code (≥ [`SMALL`]).
    #[inline]
    fn add_large(&mut self, z: u64) {
        self.large += 1;
        self.escape_bytes += crate::bytes::varint_len(z - SMALL as u64) as u64;
        let (symbol, extra) = crate::coder::buckets::bucket_of(z);
        self.large_buckets[symbol as usize] += 1;
        self.large_extra_bits += extra as u64;
    }
}

/// A chunk's codes tallied per context.
pub struct CodeCounts {
    /// A table's columns; a field's interpolation levels ([`level_contexts`]) where coder 3 is
    /// tried; else one context.
    pub contexts: Vec<ZCounts>,
    pub by_level: bool,
}

impl CodeCounts {
    pub fn new(codes: &[i64], shape: &ChunkShape) -> Self {
        if shape.table {
            let [_, columns, w] = shape.dims;
            let mut contexts = vec![ZCounts::default(); shape.streams];
            for row in codes.chunks_exact((columns * w).max(1)) {
                for (context, part) in contexts.iter_mut().zip(row.chunks_exact(w.max(1))) {
                    part.iter().for_each(|&c| tally(context, zigzag(c)));
                }
            }
            return Self { contexts, by_level: false };
        }
        if Levels.tried_on(shape) {
            // Row by row (three rows in four are all level 0).
            let rows = LevelRows::new(shape.dims);
            let mut contexts = vec![ZCounts::default(); LEVEL_TABLES];
            let mut level0 = Lanes::new();
            for (codes, lij) in codes.chunks_exact(rows.row.len().max(1)).zip(rows.caps()) {
                match lij {
                    0 => level0.tally(codes, &mut contexts[0]),
                    _ => {
                        for (&c, &l) in codes.iter().zip(&rows.row) {
                            tally(&mut contexts[l.min(lij) as usize], zigzag(c));
                        }
                    }
                }
            }
            level0.add_into(&mut contexts[0]);
            return Self { contexts, by_level: true };
        }
        let mut all = ZCounts::default();
        let mut lanes = Lanes::new();
        lanes.tally(codes, &mut all);
        lanes.add_into(&mut all);
        Self { contexts: vec![all], by_level: false }
    }

    /// [`crate::predictor::estimated_bytes`] of the codes tallied: the same sum, in the same
    /// order, from the tallies (their order-0 entropy over `min(z, 255)`, plus the escapes).
    pub fn estimated_bytes(&self) -> f64 {
        let count = |z: usize| -> u64 {
            self.contexts.iter().map(|c| if z < SMALL { c.small[z] } else { c.large }).sum()
        };
        let n: u64 = (0..=SMALL).map(count).sum();
        if n == 0 {
            return 0.0;
        }
        let n = n as f64;
        let bits: f64 =
            (0..=SMALL).map(count).filter(|&h| h > 0).map(|h| -(h as f64) * (h as f64 / n).log2()).sum();
        bits / 8.0 + self.escape_bytes() as f64
    }

    /// Bytes of the escape stream of [`crate::coder::raw::pack_codes`]: a varint per large code.
    pub fn escape_bytes(&self) -> usize {
        self.contexts.iter().map(|c| c.escape_bytes as usize).sum()
    }

    /// Per stream: a table's columns, or the whole chunk.
    pub fn streams(&self) -> std::borrow::Cow<'_, [ZCounts]> {
        if self.by_level {
            let mut all = ZCounts::default();
            for c in &self.contexts {
                all.add(c);
            }
            std::borrow::Cow::Owned(vec![all])
        } else {
            std::borrow::Cow::Borrowed(&self.contexts)
        }
    }
}

/// Four interleaved tallies of one context's small codes: in runs of one code (most codes are 0
/// at loose bounds) an increment does not wait on the one before (counting a CFD chunk's
/// candidates at 1e-2 one increment at a time took 13 % of its compression).
struct Lanes(Box<[[u64; SMALL]; 4]>);

impl Lanes {
    fn new() -> Self {
        Self(Box::new([[0; SMALL]; 4]))
    }

    /// Tallies `codes`: the small ones here, the large ones into `counts`.
    fn tally(&mut self, codes: &[i64], counts: &mut ZCounts) {
        let mut quads = codes.chunks_exact(4);
        for q in &mut quads {
            for (lane, &c) in self.0.iter_mut().zip(q) {
                let z = zigzag(c);
                if z < SMALL as u64 {
                    lane[z as usize] += 1;
                } else {
                    counts.add_large(z);
                }
            }
        }
        for &c in quads.remainder() {
            tally(counts, zigzag(c));
        }
    }

    /// Adds the small codes' tallies into `counts`.
    fn add_into(&self, counts: &mut ZCounts) {
        for (z, count) in counts.small.iter_mut().enumerate() {
            *count += self.0.iter().map(|l| l[z]).sum::<u64>();
        }
    }
}

#[inline(always)]
fn tally(counts: &mut ZCounts, z: u64) {
    if z < SMALL as u64 {
        counts.small[z as usize] += 1;
    } else {
        counts.add_large(z);
    }
}

#[cfg(test)]
mod tests {
    use crate::coder::{CODERS, ChunkShape};

    /// Codes with every kind of value a coder meets: runs of zeros, small codes, codes past the
    /// byte symbols (escapes), past the buckets (64 raw bits).
    fn codes(n: usize, seed: u64) -> Vec<i64> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                match (x >> 60) % 8 {
                    0..=3 => 0,
                    4 | 5 => ((x >> 20) % 9) as i64 - 4,
                    6 => ((x >> 8) % 4000) as i64 - 2000,
                    _ if i % 97 == 0 => (x >> 1) as i64 - (1 << 62),
                    _ => ((x >> 30) % 300) as i64,
                }
            })
            .collect()
    }

    #[test]
    fn the_tallies_give_the_estimate_of_the_codes() {
        for (k, shape) in [
            ChunkShape { dims: [9, 70, 130], streams: 1, table: false },
            ChunkShape { dims: [1, 1, 100_000], streams: 1, table: false },
            ChunkShape { dims: [300, 3, 4], streams: 3, table: true },
        ]
        .iter()
        .enumerate()
        {
            let codes = codes(shape.len(), 7 + k as u64);
            let from_counts = super::CodeCounts::new(&codes, shape).estimated_bytes();
            assert_eq!(from_counts, crate::predictor::estimated_bytes(&codes), "{shape:?}");
        }
    }

    #[test]
    fn every_counted_length_is_the_encoded_length() {
        let shapes = [
            ChunkShape { dims: [1, 1, 100_000], streams: 1, table: false },
            ChunkShape { dims: [9, 70, 130], streams: 1, table: false },
            ChunkShape { dims: [3, 2, 2], streams: 1, table: false },
            ChunkShape { dims: [5000, 7, 1], streams: 7, table: true },
            ChunkShape { dims: [300, 3, 4], streams: 3, table: true },
        ];
        for (k, shape) in shapes.iter().enumerate() {
            for seed in 0..3 {
                let codes = codes(shape.len(), seed * 31 + k as u64);
                let (mut symbols, mut escapes) = (Vec::new(), Vec::new());
                crate::coder::raw::pack_codes(&codes, &mut symbols, &mut escapes);
                let counts = super::CodeCounts::new(&codes, shape);
                assert_eq!(counts.escape_bytes(), escapes.len(), "{shape:?}");
                for c in CODERS.iter().filter(|c| c.tried_on(shape)) {
                    let mut out = Vec::new();
                    c.encode(&codes, &symbols, shape, &mut out);
                    match c.encoded_len(&counts) {
                        Some(len) => assert_eq!(len, out.len(), "{} on {shape:?} seed {seed}", c.name()),
                        None => assert_eq!(c.id(), 0, "only coder 0 is left to packing"),
                    }
                }
            }
        }
    }
}
