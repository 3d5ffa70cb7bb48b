//! The autoencoder's preprocessor: min-max normalization per stream, and tiling of the lattice into
//! normalized f32 samples. Training and compression share it, so a network sees at compression
//! exactly the input it was trained on.
//!
//! A stream is a field (one) or a table column (one each). Its range [lo, hi] covers its finite
//! values that are not the fill value; a value maps to (x − lo) / (hi − lo), and a value the network
//! cannot see (an exception, NaN, ±Inf, a fill value, or any value of a stream with hi ≤ lo) to 0.5,
//! the middle of the range.

use crate::Result;
use crate::data::{DType, Dataset, Values};
use crate::layout::{ChunkDims, lattice};
use crate::quant::to_dtype;

/// Whether x is the fill value as stored in the stream's dtype (−1e34 is another number in f32).
pub fn is_fill(x: f64, fill: Option<f64>, dtype: DType) -> bool {
    fill.is_some_and(|f| x == to_dtype(f, dtype))
}

/// Range of the finite values that are not the fill value; None when there are none.
pub fn finite_range(values: &Values, fill: Option<f64>, dtype: DType) -> Option<(f64, f64)> {
    let mut scan = RangeScan::new(fill, dtype);
    match values {
        Values::Float(v) => scan.add(v),
        Values::Int(v) => scan.add_from(v.iter().map(|&x| x as f64)),
    }
    scan.range()
}

/// [`finite_range`] of values that arrive in parts (a file read a block at a time). The running
/// minimum and maximum are kept in lanes by plain comparisons, so that the loop carries no
/// dependency from one value to the next and vectorizes; which zeros were seen is kept beside
/// them, so that −0 counts as below +0 and the range does not depend on how the values were split,
/// in which order they came or which lane saw them. float32 values are scanned as float32 (twice
/// the lanes a vector register holds); widening is exact and keeps the order.
pub struct RangeScan {
    wide: Lanes<f64, 8>,
    narrow: Lanes<f32, 16>,
    /// `fill` in the stream's dtype (NaN: none, which no value equals).
    fill: f64,
}

impl RangeScan {
    pub fn new(fill: Option<f64>, dtype: DType) -> Self {
        let fill = fill.map_or(f64::NAN, |f| crate::quant::to_dtype(f, dtype));
        Self { wide: Lanes::default(), narrow: Lanes::default(), fill }
    }

    /// The next values.
    pub fn add(&mut self, values: &[f64]) {
        self.wide.add_fastest(values, self.fill);
    }

    /// The next float32 values. Where the stream is float64, a float32 fill value is compared
    /// after widening, as [`Self::add`] would.
    pub fn add_f32(&mut self, values: &[f32]) {
        // A fill that is no float32 equals no float32 value.
        let fill = if self.fill as f32 as f64 == self.fill { self.fill as f32 } else { f32::NAN };
        self.narrow.add_fastest(values, fill);
    }

    /// The next values as they are converted (read from bytes, widened from integers): through
    /// a buffer on the stack, so that the scan's loop stays the one of [`Self::add`].
    pub fn add_from(&mut self, values: impl IntoIterator<Item = f64>) {
        through_buffer(values, |part| self.add(part));
    }

    /// [`Self::add_from`] for float32 values (read from bytes): scanned by [`Self::add_f32`].
    pub fn add_from_f32(&mut self, values: impl IntoIterator<Item = f32>) {
        through_buffer(values, |part| self.add_f32(part));
    }

    /// (min, max), or None where no value was counted.
    pub fn range(&self) -> Option<(f64, f64)> {
        merge_ranges(self.wide.range(), self.narrow.range())
    }
}

/// `values` handed to `take` in parts of at most 1024, from a buffer on the stack.
fn through_buffer<T: Copy + Default>(values: impl IntoIterator<Item = T>, mut take: impl FnMut(&[T])) {
    let mut buffer = [T::default(); 1024];
    let mut values = values.into_iter();
    loop {
        let mut n = 0;
        for (slot, x) in buffer.iter_mut().zip(&mut values) {
            *slot = x;
            n += 1;
        }
        take(&buffer[..n]);
        if n < buffer.len() {
            return;
        }
    }
}

/// What [`Lanes`] needs of f32 and f64.
trait ScanFloat: Copy + PartialOrd + Into<f64> {
    const INFINITY: Self;
    const NEG_INFINITY: Self;
    fn abs(self) -> Self;
    /// +0 (bits all zero) and −0.
    fn zero_signs(self) -> (bool, bool);
}

/// [`ScanFloat`] for a float type and the bits of its −0.
macro_rules! scan_float {
    ($t:ty, $negative_zero:expr) => {
        impl ScanFloat for $t {
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn zero_signs(self) -> (bool, bool) {
                let b = self.to_bits();
                (b == 0, b == $negative_zero)
            }
        }
    };
}
scan_float!(f64, 1 << 63);
scan_float!(f32, 1 << 31);

/// The running range of N lanes: minimum and maximum by value, and whether a counted +0 or −0 was
/// seen (a range that ends at zero takes its sign from these).
struct Lanes<T, const N: usize> {
    lo: [T; N],
    hi: [T; N],
    pos_zero: [bool; N],
    neg_zero: [bool; N],
}

impl<T: ScanFloat, const N: usize> Default for Lanes<T, N> {
    fn default() -> Self {
        Self { lo: [T::INFINITY; N], hi: [T::NEG_INFINITY; N], pos_zero: [false; N], neg_zero: [false; N] }
    }
}

impl<T: ScanFloat, const N: usize> Lanes<T, N> {
    /// [`Self::add`] compiled for AVX2 where the CPU has it (twice the values a vector): the same
    /// selects, so the same range.
    fn add_fastest(&mut self, values: &[T], fill: T) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.add_avx2(values, fill) };
        }
        self.add(values, fill)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn add_avx2(&mut self, values: &[T], fill: T) {
        self.add(values, fill)
    }

    #[inline(always)]
    fn add(&mut self, values: &[T], fill: T) {
        let mut blocks = values.chunks_exact(N);
        for block in &mut blocks {
            for (lane, &x) in block.iter().enumerate() {
                self.see(lane, x, fill);
            }
        }
        for (lane, &x) in blocks.remainder().iter().enumerate() {
            self.see(lane, x, fill);
        }
    }

    /// Selects, not branches: `a < b ? a : b` is one vector instruction.
    #[inline(always)]
    fn see(&mut self, lane: usize, x: T, fill: T) {
        // NaN fails `<`, and equals no fill.
        let counted = x.abs() < T::INFINITY && x != fill;
        let low = if counted { x } else { T::INFINITY };
        let high = if counted { x } else { T::NEG_INFINITY };
        self.lo[lane] = if low < self.lo[lane] { low } else { self.lo[lane] };
        self.hi[lane] = if self.hi[lane] < high { high } else { self.hi[lane] };
        let (pos, neg) = x.zero_signs();
        self.pos_zero[lane] |= pos & counted;
        self.neg_zero[lane] |= neg & counted;
    }

    fn range(&self) -> Option<(f64, f64)> {
        let lo: f64 = self.lo.iter().fold(f64::INFINITY, |a, &b| a.min(b.into()));
        let hi: f64 = self.hi.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b.into()));
        if lo > hi {
            return None;
        }
        // A zero end is −0 at the bottom where a −0 was counted, +0 at the top where a +0 was.
        let (pos, neg) = (self.pos_zero.contains(&true), self.neg_zero.contains(&true));
        let lo = if lo == 0.0 && !neg {
            0.0
        } else if lo == 0.0 {
            -0.0
        } else {
            lo
        };
        let hi = if hi == 0.0 && !pos {
            -0.0
        } else if hi == 0.0 {
            0.0
        } else {
            hi
        };
        Some((lo, hi))
    }
}

/// Two parts' [`finite_range`]s as one: the same whichever part comes first.
pub fn merge_ranges(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> Option<(f64, f64)> {
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => {
            Some((if below(b0, a0) { b0 } else { a0 }, if below(a1, b1) { b1 } else { a1 }))
        }
        (x, None) => x,
        (None, y) => y,
    }
}

/// x before y in the order the ranges use: by value, and −0 before +0, so that which zero a
/// range ends in does not depend on the order the values came in.
#[inline(always)]
fn below(x: f64, y: f64) -> bool {
    x < y || (x == y && x.is_sign_negative() && !y.is_sign_negative())
}

/// The exponent e of the largest power of two 2^e that every finite, non-fill, nonzero value of a
/// float stream is a multiple of (counts and flags stored as floats lie on 2^0), or None where it
/// has no such value. A finite f64 is m·2^e with m odd, read from its bits; every finite f64 is a
/// multiple of 2^−1074, so any stream has one.
pub fn lattice_exponent(values: &Values, fill: Option<f64>, dtype: DType) -> Option<i32> {
    lattice_exponent_down_to(values, fill, dtype, i32::MIN)
}

/// [`lattice_exponent`], or where a block of values takes it to `enough` or below, the exponent
/// reached there: for a caller to whom every lattice that fine is the same (one finer than the
/// bound's grid), the scan stops at the first measured value instead of reading the whole stream.
pub fn lattice_exponent_down_to(
    values: &Values,
    fill: Option<f64>,
    dtype: DType,
    enough: i32,
) -> Option<i32> {
    let Values::Float(v) = values else { return None };
    // Without a branch per value, in lanes: the minimum is the same in any order.
    const LANES: usize = 8;
    const BLOCK: usize = 32 * LANES;
    let fill = fill.map_or(f64::NAN, |f| to_dtype(f, dtype));
    let mut lowest = [i32::MAX; LANES];
    for block in v.chunks(BLOCK) {
        let lanes = block.chunks_exact(LANES);
        for &x in lanes.remainder() {
            lowest[0] = lowest[0].min(lowest_bit_exponent(x, fill));
        }
        for part in lanes {
            for (l, &x) in lowest.iter_mut().zip(part) {
                *l = (*l).min(lowest_bit_exponent(x, fill));
            }
        }
        if lowest.iter().any(|&l| l <= enough) {
            break;
        }
    }
    let lowest = lowest.into_iter().min().unwrap_or(i32::MAX);
    (lowest != i32::MAX).then_some(lowest)
}

/// The exponent of x's lowest set bit (x = odd · 2^e), or `i32::MAX` where x says nothing about a
/// lattice: zero, not finite, or the fill value (`fill`, already in the dtype; NaN for none).
#[inline(always)]
fn lowest_bit_exponent(x: f64, fill: f64) -> i32 {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    // Subnormals (biased 0) have no implicit bit and the exponent of biased 1.
    let mantissa = fraction | (((biased != 0) as u64) << 52);
    let e = biased.max(1) - 1075 + mantissa.trailing_zeros() as i32;
    if x == 0.0 || biased == 0x7ff || x == fill { i32::MAX } else { e }
}

/// [`lattice_exponent`] of two parts of one stream together.
pub fn merge_lattice(a: Option<i32>, b: Option<i32>) -> Option<i32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The normalization of one stream: its finite, non-fill range ([0, 1] when it has none).
pub fn stream_range(values: &Values, fill: Option<f64>, dtype: DType) -> [f64; 2] {
    finite_range(values, fill, dtype).map_or([0.0, 1.0], |(lo, hi)| [lo, hi])
}

/// Min-max normalization per stream (a field has one stream, a table one per column).
pub fn normalization(ds: &Dataset, fill: Option<f64>) -> Vec<[f64; 2]> {
    match ds {
        Dataset::Field(a) => vec![stream_range(&a.values, fill, a.dtype)],
        Dataset::Table { columns, .. } => {
            columns.iter().map(|c| stream_range(&c.values, fill, c.dtype)).collect()
        }
    }
}

/// One value as the network sees it: (x − lo) / (hi − lo) in f32; 0.5 for an `exception`, a
/// non-finite x, or a stream with hi ≤ lo.
#[inline]
pub fn normalize(x: f64, [lo, hi]: [f64; 2], exception: bool) -> f32 {
    let v = if exception || !x.is_finite() || hi <= lo { 0.5 } else { (x - lo) / (hi - lo) };
    v as f32
}

/// Appends one tile's sample to `out`: for each element of `elements` (a tile's elements, e.g.
/// [`ChunkDims::tile_elements`]), `value(e)` gives (stream, value, exception) and the normalized
/// value is pushed (see [`normalize`]). This is the compressor's tile input.
pub fn push_tile(
    elements: &[usize],
    norm: &[[f64; 2]],
    value: impl Fn(usize) -> (usize, f64, bool),
    out: &mut Vec<f32>,
) {
    out.extend(elements.iter().map(|&e| {
        let (stream, x, exception) = value(e);
        normalize(x, norm[stream], exception)
    }));
}

fn value_at(values: &Values, i: usize) -> f64 {
    match values {
        Values::Float(v) => v[i],
        Values::Int(v) => v[i] as f64,
    }
}

/// Normalized tiles of the whole dataset (n × ∏tile, f32) and their number n: at most `max` tiles
/// (0 = all), evenly spaced over the lattice in raster order. Fill values count as exceptions.
pub fn dataset_tiles(
    ds: &Dataset,
    tile: [usize; 3],
    norm: &[[f64; 2]],
    fill: Option<f64>,
    max: usize,
) -> Result<(Vec<f32>, usize)> {
    let shape: Vec<u64> = ds.shape().iter().map(|&d| d as u64).collect();
    let table = matches!(ds, Dataset::Table { .. });
    let lat = lattice(&shape, table)?;
    let all = ChunkDims { start: 0, dims: lat };
    let tiles = all.tile_count(tile);
    let take = if max == 0 { tiles } else { tiles.min(max) };
    let dim: usize = tile.iter().product();
    let value = |e: usize| {
        let (stream, x, dtype) = match ds {
            Dataset::Field(a) => (0, value_at(&a.values, e), a.dtype),
            Dataset::Table { columns, .. } => {
                let c = (e / lat[2]) % lat[1];
                (c, value_at(&columns[c].values, e / (lat[1] * lat[2])), columns[c].dtype)
            }
        };
        (stream, x, is_fill(x, fill, dtype))
    };
    let mut out = Vec::with_capacity(take * dim);
    for s in 0..take {
        push_tile(&all.tile_elements(tile, s * tiles / take), norm, value, &mut out);
    }
    Ok((out, take))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Array, Column};

    #[test]
    fn ranges_do_not_depend_on_order_or_split() {
        let bits = |r: Option<(f64, f64)>| r.map(|(a, b)| (a.to_bits(), b.to_bits()));
        // Zeros of both signs at both ends; NaN, infinities and the fill value left out.
        let mut v: Vec<f64> = vec![0.0, -0.0, f64::NAN, f64::INFINITY, 3.0, -5.0, 0.0, -0.0, 7.0];
        for shift in 0..v.len() {
            v.rotate_left(1);
            let whole = finite_range(&Values::Float(v.clone()), Some(7.0), DType::F64);
            assert_eq!(bits(whole), bits(Some((-5.0, 3.0))));
            for cut in 0..=v.len() {
                let part = |p: &[f64]| finite_range(&Values::Float(p.to_vec()), Some(7.0), DType::F64);
                let merged = merge_ranges(part(&v[cut..]), part(&v[..cut]));
                assert_eq!(bits(merged), bits(whole), "shift {shift} cut {cut}");
            }
        }
        // Only zeros: −0 is the minimum and +0 the maximum, in any order.
        for z in [[0.0, -0.0], [-0.0, 0.0]] {
            let r = finite_range(&Values::Float(z.to_vec()), None, DType::F32);
            assert_eq!(bits(r), bits(Some((-0.0, 0.0))));
        }
        // Nothing counted; integers as f64; a long run through the lanes and a remainder.
        assert_eq!(finite_range(&Values::Float(vec![f64::NAN, 2.0]), Some(2.0), DType::F32), None);
        assert_eq!(finite_range(&Values::Int(vec![4, -9, 12]), None, DType::I32), Some((-9.0, 12.0)));
        let long: Vec<f64> = (0..1003).map(|i| ((i * 37) % 1001) as f64 - 500.0).collect();
        let mut scan = RangeScan::new(None, DType::F64);
        long.chunks(13).for_each(|c| scan.add(c));
        assert_eq!(scan.range(), Some((-500.0, 500.0)));
    }

    /// The scan compiled for AVX2 (where this CPU has it) and the baseline loop find the same
    /// range, zero signs included, of values with every special and of every length mod the lanes.
    #[test]
    fn the_dispatched_scan_is_the_baseline_scan() {
        let bits = |r: Option<(f64, f64)>| r.map(|(a, b)| (a.to_bits(), b.to_bits()));
        let specials = [0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -7.0, 1e300];
        for len in [0, 1, 7, 16, 17, 100, 1027] {
            for seed in 0..8usize {
                let v: Vec<f64> = (0..len)
                    .map(|i| match (i * 7919 + seed * 104_729) % 11 {
                        k @ 0..=6 if (i + seed) % 3 == 0 => specials[k],
                        k => (k as f64 - 5.0) * (i as f64 * 0.37 + seed as f64).sin(),
                    })
                    .collect();
                for fill in [f64::NAN, -7.0] {
                    let (mut base, mut fast) = (Lanes::<f64, 8>::default(), Lanes::<f64, 8>::default());
                    base.add(&v, fill);
                    fast.add_fastest(&v, fill);
                    assert_eq!(bits(base.range()), bits(fast.range()), "{len} {seed}");
                    let w: Vec<f32> = v.iter().map(|&x| x as f32).collect();
                    let (mut base, mut fast) = (Lanes::<f32, 16>::default(), Lanes::<f32, 16>::default());
                    base.add(&w, fill as f32);
                    fast.add_fastest(&w, fill as f32);
                    assert_eq!(bits(base.range()), bits(fast.range()), "f32 {len} {seed}");
                }
            }
        }
    }

    #[test]
    fn float32_scans_give_the_widened_values_range() {
        let bits = |r: Option<(f64, f64)>| r.map(|(a, b)| (a.to_bits(), b.to_bits()));
        // Zeros of both signs, NaN, infinities and a float32 fill among values long enough for
        // every lane and a remainder, in many rotations and splits.
        let mut v: Vec<f32> = (0..100).map(|i| ((i * 37) % 101) as f32 * 0.25 - 12.0).collect();
        v.extend([0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1e34, 40.0, -30.0]);
        for (fill, dtype) in [(Some(-1e34), DType::F32), (Some(40.0), DType::F64), (None, DType::F32)] {
            for shift in [0, 3, 17, 50] {
                let mut w = v.clone();
                w.rotate_left(shift);
                let wide: Vec<f64> = w.iter().map(|&x| x as f64).collect();
                let expect = finite_range(&Values::Float(wide), fill, dtype);
                for cut in [0, 1, 15, 16, 33, w.len()] {
                    let mut scan = RangeScan::new(fill, dtype);
                    scan.add_f32(&w[cut..]);
                    scan.add_from_f32(w[..cut].iter().copied());
                    assert_eq!(bits(scan.range()), bits(expect), "{fill:?} shift {shift} cut {cut}");
                }
            }
        }
        // The fill left out, and the ends at zero take the sign of the zeros counted.
        let only = |v: &[f32], fill| {
            let mut scan = RangeScan::new(fill, DType::F32);
            scan.add_f32(v);
            bits(scan.range())
        };
        assert_eq!(only(&[-1e34, 3.0, 5.0], Some(-1e34)), bits(Some((3.0, 5.0))));
        assert_eq!(only(&[0.0, 2.0], None), bits(Some((0.0, 2.0))));
        assert_eq!(only(&[-0.0, 0.0, 2.0], None), bits(Some((-0.0, 2.0))));
        assert_eq!(only(&[-0.0, -2.0], None), bits(Some((-2.0, -0.0))));
        assert_eq!(only(&[-0.0, 0.0, -2.0], None), bits(Some((-2.0, 0.0))));
        // A zero fill leaves out both zeros.
        assert_eq!(only(&[-0.0, 0.0, 2.0, 3.0], Some(0.0)), bits(Some((2.0, 3.0))));
        assert_eq!(only(&[f32::NAN, f32::INFINITY], None), None);
        // float32 and float64 parts of one stream merge.
        let mut scan = RangeScan::new(None, DType::F64);
        scan.add(&[-7.5, 1.0]);
        scan.add_f32(&[9.0, 0.5]);
        assert_eq!(scan.range(), Some((-7.5, 9.0)));
    }

    #[test]
    fn lattice_exponent_is_the_largest_power_of_two_every_value_is_a_multiple_of() {
        let of = |v: &[f64]| lattice_exponent(&Values::Float(v.to_vec()), Some(-999.0), DType::F32);
        assert_eq!(of(&[0.0, 3.0, 5.0, -2.0, 33.0]), Some(0));
        assert_eq!(of(&[4.0, -8.0, 12.0]), Some(2));
        assert_eq!(of(&[0.5, 1.5, 2.0]), Some(-1));
        // NaN, infinities, zeros and the fill value say nothing.
        assert_eq!(of(&[f64::NAN, f64::INFINITY, 0.0, -999.0, 6.0]), Some(1));
        assert_eq!(of(&[0.0, f64::NAN]), None);
        // 0.1 rounds to m·2^e with m odd and e = −55; a subnormal reaches the bottom.
        assert_eq!(of(&[0.1, 1.0]), Some(-55));
        assert_eq!(of(&[f64::from_bits(1)]), Some(-1074));
        assert_eq!(lattice_exponent(&Values::Int(vec![2, 4]), None, DType::I64), None);
        assert_eq!(merge_lattice(Some(0), Some(-3)), Some(-3));
        assert_eq!(merge_lattice(None, Some(2)), Some(2));
        assert_eq!(merge_lattice(Some(1), None), Some(1));
    }

    proptest::proptest! {
        /// The scan in lanes finds what one value at a time does, at any length (the lanes'
        /// remainder) and wherever the value setting the minimum lies.
        #[test]
        fn lattice_exponent_in_lanes_is_the_minimum_over_values(
            bits in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..40),
            scale in 0u32..60,
            fill_at in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            // Raw bit patterns (NaNs, infinities, subnormals, zeros) and multiples of 2^scale.
            let mut v: Vec<f64> = bits.iter().map(|&b| f64::from_bits(b)).collect();
            v.extend(bits.iter().map(|&b| ((b % 1000) as f64 - 500.0) * (2f64).powi(scale as i32)));
            let fill = v.get(fill_at.index(v.len().max(1))).copied().filter(|x| x.is_finite());
            let one_by_one = v
                .iter()
                .filter(|&&x| x != 0.0 && x.is_finite() && !is_fill(x, fill, DType::F64))
                .map(|&x| {
                    let (m, e) = if x.abs() < f64::MIN_POSITIVE {
                        (x.to_bits() & ((1 << 52) - 1), -1074)
                    } else {
                        ((x.to_bits() & ((1 << 52) - 1)) | (1 << 52), ((x.to_bits() >> 52) & 0x7ff) as i32 - 1075)
                    };
                    e + m.trailing_zeros() as i32
                })
                .min();
            proptest::prop_assert_eq!(lattice_exponent(&Values::Float(v), fill, DType::F64), one_by_one);
        }
    }

    #[test]
    fn normalize_maps_the_range_and_hides_what_the_network_cannot_see() {
        assert_eq!(normalize(2.0, [1.0, 5.0], false), 0.25);
        assert_eq!(normalize(1.0, [1.0, 5.0], false), 0.0);
        assert_eq!(normalize(5.0, [1.0, 5.0], false), 1.0);
        assert_eq!(normalize(0.1, [0.0, 0.3], false), (0.1f64 / 0.3) as f32);
        for (x, range, exception) in [
            (2.0, [1.0, 5.0], true),
            (f64::NAN, [1.0, 5.0], false),
            (f64::INFINITY, [1.0, 5.0], false),
            (3.0, [3.0, 3.0], false),
            (3.0, [4.0, 2.0], false),
        ] {
            assert_eq!(normalize(x, range, exception), 0.5, "{x} {range:?} {exception}");
        }
    }

    #[test]
    fn tiles_of_a_chunk_as_the_compressor_builds_them() {
        // A 3 × 4 chunk of one stream, 2 × 2 tiles (edge tiles replicate the last row).
        let chunk = ChunkDims { start: 0, dims: [1, 3, 4] };
        let values: Vec<f64> = (0..12).map(|v| v as f64).collect();
        let exceptions = [5usize];
        let mut out = Vec::new();
        for t in 0..chunk.tile_count([1, 2, 2]) {
            let els = chunk.tile_elements([1, 2, 2], t);
            push_tile(&els, &[[0.0, 10.0]], |e| (0, values[e], exceptions.contains(&e)), &mut out);
        }
        let elements = [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 8, 9, 10, 11, 10, 11];
        // (x − 0) / 10 computed in f64, rounded to f32 once; the exception (element 5) is 0.5.
        let want: Vec<f32> =
            elements.iter().map(|&e| if e == 5 { 0.5 } else { (e as f64 / 10.0) as f32 }).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn normalization_and_dataset_tiles() {
        let field = Dataset::Field(Array {
            dtype: DType::F32,
            shape: vec![2, 4],
            values: Values::Float(vec![0.0, 1.0, 2.0, f64::NAN, -1e34f32 as f64, 4.0, 3.0, 2.0]),
        });
        assert_eq!(normalization(&field, Some(-1e34)), vec![[0.0, 4.0]]);
        assert_eq!(normalization(&field, None), vec![[-1e34f32 as f64, 4.0]]);
        let (tiles, n) = dataset_tiles(&field, [2, 2, 1], &[[0.0, 4.0]], Some(-1e34), 0).unwrap();
        assert_eq!(n, 2);
        assert_eq!(tiles, vec![0.0, 0.25, 0.5, 1.0, 0.5, 0.5, 0.75, 0.5]);
        // At most `max` tiles, evenly spaced.
        let (one, n) = dataset_tiles(&field, [2, 2, 1], &[[0.0, 4.0]], Some(-1e34), 1).unwrap();
        assert_eq!((n, one.as_slice()), (1, &tiles[..4]));
        // A table: one stream per column, one row per sample.
        let col =
            |name: &str, v: Vec<i64>| Column { name: name.into(), dtype: DType::I64, values: Values::Int(v) };
        let table = Dataset::Table { rows: 2, columns: vec![col("a", vec![0, 10]), col("b", vec![5, 5])] };
        let norm = normalization(&table, None);
        assert_eq!(norm, vec![[0.0, 10.0], [5.0, 5.0]]);
        let (rows, n) = dataset_tiles(&table, [1, 2, 1], &norm, None, 0).unwrap();
        assert_eq!((n, rows), (2, vec![0.0, 0.5, 1.0, 0.5]));
    }
}
