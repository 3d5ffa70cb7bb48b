//! Predictors: how a chunk's values are predicted, so that only small codes are stored.
//!
//! Values are first pre-quantized to integers q (cuSZ's "dual quantization"). A grid predictor
//! ([`GridPredictor`]) predicts q in exact wrapping integer arithmetic, so the encoder and every
//! decoder compute the same predictions and any i64 is lossless; the feedback interpolation
//! predicts reconstructed f64 values instead. Each chunk names its predictor by one id byte.
//!
//! Adding a predictor: one file here implementing [`Family`] and [`Predictor`] (or
//! [`GridPredictor`], which gives [`Predictor`]), and its line in [`REGISTRY`]. The chunk format and
//! the chunk loops (`format::chunk`, `encode`, `archive`) know predictors only through these traits.
//!
//! The autoencoder ([`autoencoder`]) is not a chunk predictor: it overrides the chunk predictor
//! tile by tile in archives with a model, and its bytes are the chunk's tile section.

use crate::bytes::Reader;
#[cfg(feature = "encode")]
use crate::data::DType;
use crate::error::{Result, corrupt};
use crate::format::metadata::{Quantizer, StreamMeta};

pub mod autoencoder;
pub mod columns;
#[cfg(feature = "encode")]
pub mod columns_fit;
pub mod constant;
pub mod feedback;
pub mod interp;
pub mod interp_order;
pub mod learned_pass;
#[cfg(feature = "encode")]
mod linear;
pub mod lorenzo;
#[cfg(test)]
mod period2;
pub mod periodic;

/// Every chunk predictor family, in the order the encoder tries their candidates: where two
/// estimates tie the first is kept, so archive bytes depend on this order.
pub static REGISTRY: &[&dyn Family] = &[
    &constant::Constant,
    &lorenzo::LorenzoFamily,
    &interp::GridInterpFamily,
    &feedback::FeedbackFamily,
    &columns::ColumnsFamily,
    &learned_pass::LearnedPassFamily,
    &periodic::PeriodicFamily,
    #[cfg(test)]
    &period2::Period2,
];

/// The family that owns predictor id `id` (decoding).
pub fn family(id: u8) -> Result<&'static dyn Family> {
    match REGISTRY.iter().find(|f| f.ids().contains(&id)) {
        Some(f) => Ok(*f),
        None => corrupt(format!("unknown predictor {id}")),
    }
}

/// The predictor of id `id` for chunks of an archive with these streams, for predictors without
/// parameters.
pub fn predictor(id: u8, streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
    family(id)?.build(id, streams)
}

/// The predictors worth trying on a chunk of `dims`, in registry order (encoding).
#[cfg(feature = "encode")]
pub fn candidates(dims: [usize; 3], streams: &StreamInfo) -> Vec<Box<dyn Predictor>> {
    REGISTRY.iter().flat_map(|f| f.candidates(dims, streams)).collect()
}

/// What predictors may depend on besides a chunk's own values: the archive's streams.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    pub table: bool,
    /// Each stream's centre on its grid: `grid(min + (max − min)/2)`.
    pub centers: Vec<i64>,
    /// A field of one Float stream: its centre value `min + (max − min)/2` and quantization step.
    pub float_field: Option<FloatField>,
    /// Each stream's (step, offset), None for integer streams.
    pub grids: Vec<Option<(f64, f64)>>,
    /// Each stream's name (a table's column names).
    pub names: Vec<String>,
    /// The archive's format version: what its predictors' parameters may hold.
    pub version: u16,
}

impl StreamInfo {
    /// From the stream descriptions of an archive of format `version` and each stream's centre on
    /// its grid.
    pub fn new(table: bool, streams: &[StreamMeta], centers: Vec<i64>, version: u16) -> Self {
        let float_field = match (table, streams) {
            (false, [s]) => match s.quantizer {
                Quantizer::Float { step, .. } => {
                    Some(FloatField { center: s.min + (s.max - s.min) / 2.0, step })
                }
                Quantizer::Int => None,
            },
            _ => None,
        };
        let grids = streams
            .iter()
            .map(|s| match s.quantizer {
                Quantizer::Float { step, offset, .. } => Some((step, offset)),
                Quantizer::Int => None,
            })
            .collect();
        let names = streams.iter().map(|s| s.name.clone()).collect();
        Self { table, centers, float_field, grids, names, version }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloatField {
    pub center: f64,
    pub step: f64,
}

/// A kind of predictor: the ids it owns and how to make one.
pub trait Family: Sync {
    /// The predictor ids it owns (disjoint from every other family's).
    fn ids(&self) -> std::ops::RangeInclusive<u8>;

    /// The predictor of id `id` (one of [`Self::ids`]), or why an archive with these streams
    /// cannot use it.
    fn build(&self, id: u8, streams: &StreamInfo) -> Result<Box<dyn Predictor>>;

    /// The first container format version with these ids (an archive of an older version that
    /// names one is corrupt).
    fn since_version(&self) -> u16 {
        1
    }

    /// As [`Self::build`] for a chunk whose parameters `params` reads (only predictors that have
    /// them read anything).
    fn build_with(
        &self,
        id: u8,
        streams: &StreamInfo,
        _params: &mut Reader<'_>,
    ) -> Result<Box<dyn Predictor>> {
        self.build(id, streams)
    }

    /// Those worth trying on a chunk of `dims`, in id order. None by default: families whose
    /// predictors are fitted on the chunk (18, 19) are built by their fits instead.
    #[cfg(feature = "encode")]
    fn candidates(&self, _dims: [usize; 3], _streams: &StreamInfo) -> Vec<Box<dyn Predictor>> {
        Vec::new()
    }
}

/// A chunk's predictor: encodes the chunk's values as codes and decodes them back. Called once
/// per chunk, so implementations keep their loops monomorphic.
pub trait Predictor: Send + Sync {
    /// The id byte stored in the chunk header.
    fn id(&self) -> u8;

    /// In words, for `info` and the compressor's report.
    fn name(&self) -> String;

    /// Whether the reconstruction is the integer grid q, so that the autoencoder may override
    /// tiles of it.
    fn on_grid(&self) -> bool {
        true
    }

    /// The encoder picks it only where its size × this beats the others' (a predictor that
    /// decodes slower must win by more than a hair).
    fn size_margin(&self) -> f64 {
        1.0
    }

    /// Parameters stored in each chunk that uses it (docs/format.md §5.2); empty for most.
    #[cfg(feature = "encode")]
    fn params(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Codes for a chunk (or a box of one, to estimate): [`Draft::codes`] is 0 at exceptions.
    #[cfg(feature = "encode")]
    fn encode(&self, chunk: &ChunkInput<'_>) -> Draft;

    /// The reconstruction from `codes`.
    fn decode(&self, chunk: &DecodeInput<'_>, codes: Vec<i64>) -> Result<Reconstruction>;

    /// Its codes' estimated bytes ([`estimated_bytes`]) over a whole chunk of `dims`, from a
    /// sample of the chunk, where each code depends on grid values only (None otherwise, or
    /// where the field has values the grid does not hold: see [`GridReader`]). Lets the encoder
    /// rule a candidate out without a sweep over the whole chunk.
    #[cfg(feature = "encode")]
    fn sampled_estimate(&self, _dims: [usize; 3], _grid: &GridReader<'_>) -> Option<f64> {
        None
    }
}

/// A field chunk's grid values computed where read, for estimates on a sample: the grid point
/// nearest each value, unchecked (a value a hair past the bound from it, which the grid stores
/// exactly, changes an estimate by a hair); None for fill values and values out of reach.
#[cfg(feature = "encode")]
pub struct GridReader<'a> {
    pub values: &'a [f64],
    pub offset: f64,
    pub inverse_step: f64,
    pub fill: Option<f64>,
    pub dtype: DType,
}

/// Whether any element is marked stored exactly: an OR over all the marks, with no early exit
/// (it vectorizes, where `contains(&true)` goes a byte a step), so that the loops of a chunk
/// without such elements (most) need not look at the marks.
#[inline]
pub(crate) fn any_stored(marks: &[bool]) -> bool {
    marks.iter().fold(false, |any, &m| any | m)
}

/// Whether a sampled estimate codes row (i, j) (planes along axis 0, rows along axis 1): every
/// `every`-th row of each plane, from an offset that a hash of the plane picks, so that each
/// plane is sampled evenly and the rows sampled differ from plane to plane.
#[cfg(feature = "encode")]
pub(crate) fn sampled_row(i: usize, j: usize, every: usize) -> bool {
    let offset = ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
    (j + offset).is_multiple_of(every)
}

#[cfg(feature = "encode")]
impl GridReader<'_> {
    #[inline(always)]
    pub fn at(&self, e: usize) -> Option<i64> {
        let x = self.values[e];
        let y = (x - self.offset) * self.inverse_step;
        (y.abs() <= crate::quant::MAX_Q && !crate::preprocess::is_fill(x, self.fill, self.dtype))
            .then(|| crate::quant::round_to_i64(y))
    }

    /// [`Self::at`] of the `n` elements from `from` on, appended to `out` (0 where there is none):
    /// whether every one had a grid value. One loop with no exit, unlike a call of `at` each.
    pub fn row(&self, from: usize, n: usize, out: &mut Vec<i64>) -> bool {
        // `is_fill`'s value, once (NaN where there is none: it equals no value).
        let fill = self.fill.map_or(f64::NAN, |f| crate::quant::to_dtype(f, self.dtype));
        let mut held = true;
        out.extend(self.values[from..from + n].iter().map(|&x| {
            let y = (x - self.offset) * self.inverse_step;
            let on_grid = y.abs() <= crate::quant::MAX_Q && x != fill;
            held &= on_grid;
            if on_grid { crate::quant::round_to_i64(y) } else { 0 }
        }));
        held
    }

    /// [`Self::at`] as a plain grid value, 0 where there is none, which sets `failed`: an
    /// estimate reads on, and gives none if `failed` is set (such a value would take its
    /// prediction, which a sample cannot follow).
    pub fn or_flag<'b>(&'b self, failed: &'b std::cell::Cell<bool>) -> impl Fn(usize) -> i64 + Copy + 'b {
        move |e| {
            self.at(e).unwrap_or_else(|| {
                failed.set(true);
                0
            })
        }
    }
}

/// A chunk (or a box of one) to encode.
#[cfg(feature = "encode")]
pub struct ChunkInput<'a> {
    pub dims: [usize; 3],
    /// Each element's pre-quantized grid value (anything at exceptions).
    pub q: &'a [i64],
    /// Elements stored exactly: predicted, but their prediction stands in for them.
    pub exceptions: &'a [bool],
    /// A field of floats: the values themselves, for predictors that work on them.
    pub values: Option<FloatValues<'a>>,
}

#[cfg(feature = "encode")]
#[derive(Clone, Copy)]
pub struct FloatValues<'a> {
    pub values: &'a [f64],
    pub bound: f64,
    pub dtype: DType,
    /// The chunk's own values, whose reconstruction the compressor's check takes from the
    /// sweep that made it (`Draft::reconstruction`); false on boxes and slabs, which only rank
    /// candidates (making the bytes there was 4 % of CFD's compression).
    pub whole: bool,
}

/// A predictor's codes for a chunk, and the elements it could not code within the bound (they
/// become exceptions).
#[cfg(feature = "encode")]
pub struct Draft {
    pub codes: Vec<i64>,
    pub new_exceptions: Vec<usize>,
    /// The values the decoder reconstructs from `codes` before rounding to the field's dtype
    /// (exceptions not put in yet), where encoding made them already (feedback interpolation):
    /// the compressor's check takes them, as the field stores them ([`crate::data::float_bytes`],
    /// made for the chosen candidate only), instead of a second sweep.
    pub reconstruction: Option<Vec<f64>>,
}

/// A chunk to decode: `codes` hold 0 at exceptions.
pub struct DecodeInput<'a> {
    pub dims: [usize; 3],
    pub exceptions: &'a [bool],
    /// Elements whose final grid value is already in `codes` (the autoencoder's tiles); None
    /// when there are none.
    pub fixed: Option<&'a [bool]>,
}

/// A decoded chunk before dequantization.
pub enum Reconstruction {
    /// Grid values q (exceptions hold their prediction).
    Grid(Vec<i64>),
    /// Reconstructed values, to be rounded to the stream's dtype.
    Values(Vec<f64>),
}

/// A predictor on the integer grid, defined by the order it visits a chunk in and the prediction
/// of each element from those before it. Gets [`Predictor`] from its sweep.
pub trait GridPredictor: Send + Sync {
    fn id(&self) -> u8;

    fn name(&self) -> String;

    /// Visits every element of a chunk of `dims` once: `visit(e, prediction, q_before)` returns
    /// e's final q (`q_before` is what `q` held there, so a decoder can pass its codes in as `q`
    /// and have them replaced in place). Within an independent pass the order is free: `visit`
    /// must not depend on it.
    fn sweep(&self, dims: [usize; 3], q: &mut [i64], visit: impl FnMut(usize, i64, i64) -> i64);

    /// The decoder's [`Self::sweep`] where every element is its prediction plus its code (no
    /// autoencoder tile), in place on the codes `q`, where the predictor has a faster way to it:
    /// false where it has none (`q` is then untouched).
    fn invert_in_place(&self, _dims: [usize; 3], _q: &mut [i64]) -> bool {
        false
    }

    /// As [`Predictor::params`].
    #[cfg(feature = "encode")]
    fn params(&self) -> Vec<u8> {
        Vec::new()
    }

    /// The codes the encoder's sweep gives a chunk (every `visit` returning `q_before`, or the
    /// prediction where `stored`), where the predictor has a faster way to them than the sweep.
    #[cfg(feature = "encode")]
    fn codes_of(&self, _dims: [usize; 3], _q: &[i64], _stored: &[bool]) -> Option<Vec<i64>> {
        None
    }

    /// As [`Predictor::sampled_estimate`].
    #[cfg(feature = "encode")]
    fn sampled_estimate(&self, _dims: [usize; 3], _grid: &GridReader<'_>) -> Option<f64> {
        None
    }
}

impl<P: GridPredictor> Predictor for P {
    fn id(&self) -> u8 {
        GridPredictor::id(self)
    }

    fn name(&self) -> String {
        GridPredictor::name(self)
    }

    #[cfg(feature = "encode")]
    fn params(&self) -> Vec<u8> {
        GridPredictor::params(self)
    }

    #[cfg(feature = "encode")]
    fn encode(&self, chunk: &ChunkInput<'_>) -> Draft {
        if let Some(codes) = self.codes_of(chunk.dims, chunk.q, chunk.exceptions) {
            return Draft { codes, new_exceptions: Vec::new(), reconstruction: None };
        }
        let mut q = chunk.q.to_vec();
        let mut codes = vec![0i64; q.len()];
        let exceptions = chunk.exceptions;
        self.sweep(chunk.dims, &mut q, |e, p, x| {
            if exceptions[e] {
                p
            } else {
                codes[e] = x.wrapping_sub(p);
                x
            }
        });
        Draft { codes, new_exceptions: Vec::new(), reconstruction: None }
    }

    #[cfg(feature = "encode")]
    fn sampled_estimate(&self, dims: [usize; 3], grid: &GridReader<'_>) -> Option<f64> {
        GridPredictor::sampled_estimate(self, dims, grid)
    }

    fn decode(&self, chunk: &DecodeInput<'_>, mut q: Vec<i64>) -> Result<Reconstruction> {
        match chunk.fixed {
            None if self.invert_in_place(chunk.dims, &mut q) => {}
            None => self.sweep(chunk.dims, &mut q, |_, p, code| p.wrapping_add(code)),
            Some(fixed) => self.sweep(
                chunk.dims,
                &mut q,
                |e, p, code| if fixed[e] { code } else { p.wrapping_add(code) },
            ),
        }
        Ok(Reconstruction::Grid(q))
    }
}

/// [`estimated_bytes`] of a stream made of `parts`, each code of a part standing for `weight`
/// codes (a sample's): with whole weights, the sum `estimated_bytes` gives the stream with every
/// code repeated.
#[cfg(feature = "encode")]
pub fn estimated_bytes_weighted(parts: &[(&[i64], f64)]) -> f64 {
    let (hist, escape_bytes) = weighted_histogram(parts);
    let n: f64 = hist.iter().sum();
    let bits: f64 = hist.iter().filter(|&&h| h > 0.0).map(|&h| -h * (h / n).log2()).sum();
    bits / 8.0 + escape_bytes
}

/// What a Huffman code of the symbols of [`estimated_bytes_weighted`] makes of `parts` (coder
/// 1's symbols and escapes, its table left out): never below their order-0 estimate, and so
/// comparable with a length as counted (a Huffman code's redundancy over the entropy, 0.4 % on
/// the sea-state field's Lorenzo codes, decided between Lorenzo and interpolation there).
#[cfg(feature = "encode")]
pub fn huffman_bytes_weighted(parts: &[(&[i64], f64)]) -> f64 {
    let (hist, escape_bytes) = weighted_histogram(parts);
    let counts: [u64; 256] = hist.map(|h| if h > 0.0 { (h.round() as u64).max(1) } else { 0 });
    let lengths = crate::coder::huffman::code_lengths(&counts);
    let bits: f64 = hist.iter().zip(lengths).map(|(&h, l)| h * l as f64).sum();
    bits / 8.0 + escape_bytes
}

/// The weighted histogram of `parts`' zigzag codes (255 for 255 and above) and the escape bytes
/// of those from 255 on.
#[cfg(feature = "encode")]
fn weighted_histogram(parts: &[(&[i64], f64)]) -> ([f64; 256], f64) {
    let mut hist = [0f64; 256];
    let mut escape_bytes = 0f64;
    for &(codes, weight) in parts {
        for &c in codes {
            let z = crate::bytes::zigzag(c);
            hist[z.min(255) as usize] += weight;
            if z >= 255 {
                escape_bytes += weight * (64 - (z - 255).leading_zeros() as u64).div_ceil(7).max(1) as f64;
            }
        }
    }
    (hist, escape_bytes)
}

/// Bytes a code stream would take, estimated by its order-0 entropy over the escape-coded symbols.
pub fn estimated_bytes(codes: &[i64]) -> f64 {
    let (hist, escape_bytes) = symbol_histogram(codes);
    entropy_bytes(&hist, codes.len() as f64, escape_bytes)
}

/// The histogram of codes' zigzag symbols (255 for 255 and above) and the escapes' bytes.
fn symbol_histogram(codes: &[i64]) -> ([u64; 256], u64) {
    // Four interleaved histograms: runs of one code (most codes are 0) do not wait on each
    // other's increments. Where escapes are rare (most codes), a branch skips their bytes; where
    // they are frequent (fine bounds) and so unpredictable, every code also counts, branch-free,
    // under the bit length of what an escape stores, z − 255 (1 for codes that are no escapes),
    // and an escape takes one varint byte per 7 of those bits. The same sum either way.
    let mut lanes = [[0u64; 256]; 4];
    let mut widths = [[0u64; 65]; 4];
    let sample = codes.iter().step_by((codes.len() / 4096).max(1));
    let frequent = sample.map(|&c| (crate::bytes::zigzag(c) >= 255) as usize).sum::<usize>() * 64 > 4096;
    /// The histograms (`FREQUENT`: with bit lengths) and the rare escapes' bytes.
    fn tally<const FREQUENT: bool>(
        codes: &[i64],
        lanes: &mut [[u64; 256]; 4],
        widths: &mut [[u64; 65]; 4],
    ) -> u64 {
        let mut escape_bytes = 0u64;
        let mut count = |hist: &mut [u64; 256], width: &mut [u64; 65], c: i64| {
            let z = crate::bytes::zigzag(c);
            hist[z.min(255) as usize] += 1;
            if FREQUENT {
                width[64 - (z.saturating_sub(255) | 1).leading_zeros() as usize] += 1;
            } else if z >= 255 {
                escape_bytes += (64 - (z - 255).leading_zeros() as u64).div_ceil(7).max(1);
            }
        };
        let mut quads = codes.chunks_exact(4);
        for q in &mut quads {
            for ((hist, width), &c) in lanes.iter_mut().zip(widths.iter_mut()).zip(q) {
                count(hist, width, c);
            }
        }
        for &c in quads.remainder() {
            count(&mut lanes[0], &mut widths[0], c);
        }
        escape_bytes
    }
    let mut escape_bytes = match frequent {
        true => tally::<true>(codes, &mut lanes, &mut widths),
        false => tally::<false>(codes, &mut lanes, &mut widths),
    };
    if frequent {
        let width = |b: usize| widths.iter().map(|w| w[b]).sum::<u64>();
        // Escapes of 8 bits and more take ceil(bits / 7) bytes, the others one.
        let escapes = lanes.iter().map(|l| l[255]).sum::<u64>();
        let wide: u64 = (8..=64).map(width).sum();
        escape_bytes = escapes - wide + (8..=64).map(|b| width(b) * b.div_ceil(7) as u64).sum::<u64>();
    }
    (std::array::from_fn(|z| lanes.iter().map(|l| l[z]).sum::<u64>()), escape_bytes)
}

/// The order-0 estimate from a histogram of `n` codes' symbols and their escapes' bytes (0 for
/// no codes).
fn entropy_bytes(hist: &[u64; 256], n: f64, escape_bytes: u64) -> f64 {
    if n == 0.0 {
        return 0.0;
    }
    let bits: f64 = hist.iter().filter(|&&h| h > 0).map(|&h| -(h as f64) * (h as f64 / n).log2()).sum();
    bits / 8.0 + escape_bytes as f64
}

/// [`estimated_bytes`] with runs of at least [`ZERO_RUN_MIN`] zero codes priced as zstd prices
/// them: a match of [`ZERO_RUN_BYTES`], whatever its length (a run of zero codes is a run of one
/// Huffman bit pattern), the other codes by their own order-0 entropy. At loose bounds zstd takes
/// 10–22 % off some candidates' frames and nothing off others': order-0 estimates then ranked
/// CFD's best candidate 3rd on the whole chunk and 6th on a quarter of it, this 1st on both.
#[cfg(feature = "encode")]
pub fn estimated_bytes_with_runs(codes: &[i64]) -> f64 {
    // Every code's histogram, less the zeros of long runs; the runs found without a branch per
    // code (zeros and others alternate unpredictably at loose bounds).
    let (mut hist, escape_bytes) = symbol_histogram(codes);
    let (runs, in_runs) = long_zero_runs(codes);
    hist[0] -= in_runs as u64;
    let kept = (codes.len() - in_runs) as f64;
    entropy_bytes(&hist, kept, escape_bytes) + runs as f64 * ZERO_RUN_BYTES
}

/// The maximal runs of at least [`ZERO_RUN_MIN`] zero codes: how many, and how many codes they
/// hold. 64 codes at a time as a mask of their zeros: a bit of `long` is set where it ends 16
/// zeros (the mask and 15 shifted copies of it, in four steps, with the 64 codes before in the
/// upper half of the window), a run of L ≥ 16 zeros sets L − 15 such bits, and its first is one
/// without a set bit before it. (A run counter per code was a chain of dependent operations:
/// 7 % of CFD's compression at 1e-2.)
#[cfg(feature = "encode")]
fn long_zero_runs(codes: &[i64]) -> (usize, usize) {
    const _: () = assert!(ZERO_RUN_MIN == 16, "four doubling steps make 16");
    let (mut runs, mut ends, mut before) = (0usize, 0usize, 0u64);
    for block in codes.chunks(64) {
        let zeros = block.iter().enumerate().fold(0u64, |m, (i, &c)| m | ((c == 0) as u64) << i);
        // Bit i of the window's upper half is code i of this block; its lower half the block before.
        let window = (zeros as u128) << 64 | before as u128;
        let two = window & window << 1;
        let four = two & two << 2;
        let eight = four & four << 4;
        let long = eight & eight << 8;
        let first = long & !(long << 1);
        runs += ((first >> 64) as u64).count_ones() as usize;
        ends += ((long >> 64) as u64).count_ones() as usize;
        before = zeros;
    }
    (runs, ends + runs * (ZERO_RUN_MIN - 1))
}

/// The shortest run of zero codes [`estimated_bytes_with_runs`] prices as one zstd match.
#[cfg(feature = "encode")]
const ZERO_RUN_MIN: usize = 16;
/// What such a match costs (literal and match lengths and an offset, about).
#[cfg(feature = "encode")]
const ZERO_RUN_BYTES: f64 = 3.0;

#[cfg(all(test, feature = "encode"))]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn field(centers: &[i64]) -> StreamInfo {
        StreamInfo {
            table: false,
            centers: centers.to_vec(),
            float_field: None,
            grids: vec![None; centers.len()],
            names: vec![String::new(); centers.len()],
            version: crate::format::container::FORMAT_VERSION,
        }
    }

    /// Runs of at least ZERO_RUN_MIN zero codes cost one match each, wherever they are; shorter
    /// runs are codes like any other.
    #[test]
    fn long_zero_runs_cost_a_match_and_short_ones_their_entropy() {
        // Small codes, and every 97th one an escape (from 1 to 4 varint bytes).
        let noise: Vec<i64> = (0..4000i64)
            .map(|i| {
                let small = i * 7919 % 13 + 1;
                let code = if i % 97 == 0 { small << (7 * (i % 4) + 8) } else { small };
                code * if i % 3 == 0 { -1 } else { 1 }
            })
            .collect();
        // No zero run as long as ZERO_RUN_MIN: the order-0 estimate.
        let mut short = noise.clone();
        for at in (0..4000).step_by(40) {
            short.splice(at..at, std::iter::repeat_n(0, ZERO_RUN_MIN - 1));
        }
        assert_eq!(estimated_bytes_with_runs(&short), estimated_bytes(&short));
        // Long runs at the start, inside and at the end: the noise alone plus a match each.
        let mut long = vec![0; 5000];
        long.extend(&noise[..2000]);
        long.extend(std::iter::repeat_n(0, ZERO_RUN_MIN));
        long.extend(&noise[2000..]);
        long.extend(std::iter::repeat_n(0, 300));
        let expected = estimated_bytes(&noise) + 3.0 * ZERO_RUN_BYTES;
        assert!(
            (estimated_bytes_with_runs(&long) - expected).abs() < 1e-9,
            "{}",
            estimated_bytes_with_runs(&long)
        );
        assert!(estimated_bytes_with_runs(&long) < estimated_bytes(&long));
        assert_eq!(estimated_bytes_with_runs(&[]), 0.0);
        assert_eq!(estimated_bytes_with_runs(&[0; 40]), ZERO_RUN_BYTES);
    }

    /// The runs found 64 codes at a time are those a counter per code finds: runs across blocks,
    /// at the start and the end, of every length around 16 and 64, and blocks cut short.
    #[test]
    fn long_zero_runs_are_those_a_run_counter_finds() {
        let counted = |codes: &[i64]| {
            let (mut run, mut runs, mut in_runs) = (0usize, 0usize, 0usize);
            for &c in codes {
                run = (run + 1) * (c == 0) as usize;
                runs += (run == ZERO_RUN_MIN) as usize;
                in_runs += (run == ZERO_RUN_MIN) as usize * ZERO_RUN_MIN + (run > ZERO_RUN_MIN) as usize;
            }
            (runs, in_runs)
        };
        let mut state = 5u64;
        for case in 0..3000 {
            let mut codes = Vec::new();
            let len = case % 700;
            while codes.len() < len {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let zeros = match (state >> 33) % 4 {
                    0 => (state >> 40) % 4,
                    1 => 12 + (state >> 40) % 8,
                    2 => 60 + (state >> 40) % 10,
                    _ => (state >> 40) % 200,
                } as usize;
                codes.extend(std::iter::repeat_n(0, zeros));
                codes.extend(std::iter::repeat_n(1 + (state % 3) as i64, 1 + (state >> 50) as usize % 3));
            }
            codes.truncate(len);
            assert_eq!(long_zero_runs(&codes), counted(&codes), "case {case}");
        }
    }

    /// A field of one Float stream centred at 0 with quantization step `step`.
    pub(crate) fn float_field(step: f64) -> StreamInfo {
        StreamInfo { float_field: Some(FloatField { center: 0.0, step }), ..field(&[0]) }
    }

    /// Codes of `values` (no exceptions) under `p`.
    pub(crate) fn codes_of(p: &dyn Predictor, dims: [usize; 3], values: &[i64]) -> Vec<i64> {
        let exceptions = vec![false; values.len()];
        p.encode(&ChunkInput { dims, q: values, exceptions: &exceptions, values: None }).codes
    }

    pub(crate) fn decode(p: &dyn Predictor, dims: [usize; 3], codes: &[i64]) -> Vec<i64> {
        let exceptions = vec![false; codes.len()];
        match p.decode(&DecodeInput { dims, exceptions: &exceptions, fixed: None }, codes.to_vec()).unwrap() {
            Reconstruction::Grid(q) => q,
            Reconstruction::Values(_) => panic!("a grid predictor"),
        }
    }

    #[test]
    fn a_grid_row_is_its_values_read_one_by_one() {
        let values = [0.5, -1.25, f64::NAN, -999.0, 1e300, 3.0005, -2.4995, f64::INFINITY, 7.0];
        for fill in [None, Some(-999.0)] {
            let grid =
                GridReader { values: &values, offset: -3.0, inverse_step: 1e3, fill, dtype: DType::F32 };
            for (from, n) in [(0, 9), (0, 2), (5, 2), (8, 1), (4, 0)] {
                let mut row = Vec::new();
                let held = grid.row(from, n, &mut row);
                let one_by_one: Vec<Option<i64>> = (from..from + n).map(|e| grid.at(e)).collect();
                assert_eq!(row, one_by_one.iter().map(|q| q.unwrap_or(0)).collect::<Vec<_>>());
                assert_eq!(held, one_by_one.iter().all(Option::is_some), "{fill:?} {from} {n}");
            }
        }
    }

    /// A Huffman code's length of a stream: its bitstream's exactly (weights of 1), between the
    /// order-0 estimate and a bit a code more.
    #[test]
    fn huffman_bytes_are_the_bitstreams() {
        for spread in [1u64, 3, 40, 120] {
            let codes: Vec<i64> = (0..20_000u64)
                .map(|e| {
                    let r = e.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                    (r % (2 * spread + 1)) as i64 - spread as i64 + (r % 7 == 0) as i64
                })
                .collect();
            let huffman = huffman_bytes_weighted(&[(&codes, 1.0)]);
            let entropy = estimated_bytes_weighted(&[(&codes, 1.0)]);
            assert!(
                entropy <= huffman && huffman <= entropy + codes.len() as f64 / 8.0,
                "{entropy} {huffman}"
            );
            let symbols: Vec<u8> = codes.iter().map(|&c| crate::bytes::zigzag(c) as u8).collect();
            let mut coded = Vec::new();
            crate::coder::huffman::encode(&symbols, &mut coded);
            let mut r = crate::bytes::Reader::new(&coded[crate::coder::huffman::TABLE_BYTES..]);
            let bitstream = r.len(usize::MAX, "length").unwrap();
            assert_eq!(huffman.ceil() as usize, bitstream, "spread {spread}");
            // Half the codes standing for all of them: about the same.
            let half = huffman_bytes_weighted(&[(&codes[..10_000], 2.0)]);
            assert!((half / huffman - 1.0).abs() < 0.02, "{half} {huffman}");
        }
    }

    #[test]
    fn sampled_estimates_are_close_to_the_whole_chunks() {
        let dims = [40, 64, 96];
        let n = dims.iter().product::<usize>();
        // A smooth wave plus noise of ±10 grid steps, on a grid of step 1e-3.
        let values: Vec<f64> = (0..n)
            .map(|e| {
                let (i, j, k) = ((e / (64 * 96)) as f64, (e / 96 % 64) as f64, (e % 96) as f64);
                let noise =
                    ((e as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / (1u64 << 24) as f64;
                (i * 0.11 + k * 0.05).sin() * (j * 0.07).cos() + (noise - 0.5) * 2e-2
            })
            .collect();
        let grid =
            GridReader { values: &values, offset: -3.0, inverse_step: 1e3, fill: None, dtype: DType::F64 };
        let q: Vec<i64> = (0..n).map(|e| grid.at(e).expect("on the grid")).collect();
        let mut sampled_ids = Vec::new();
        for p in candidates(dims, &field(&[3000])) {
            let Some(sampled) = p.sampled_estimate(dims, &grid) else { continue };
            sampled_ids.push(p.id());
            // Lorenzo's is what a Huffman code makes of its codes, grid interpolation's their
            // order-0 estimate.
            let codes = codes_of(p.as_ref(), dims, &q);
            let whole = if lorenzo::LorenzoFamily.ids().contains(&p.id()) {
                huffman_bytes_weighted(&[(&codes, 1.0)])
            } else {
                estimated_bytes(&codes)
            };
            assert!((sampled / whole - 1.0).abs() < 0.01, "{}: sampled {sampled} whole {whole}", p.name());
            // A value the grid cannot read (NaN) where the sample reads: no estimate.
            let mut holed = values.clone();
            holed[0] = f64::NAN;
            assert_eq!(
                p.sampled_estimate(dims, &GridReader { values: &holed, ..grid }),
                None,
                "{}",
                p.name()
            );
        }
        assert_eq!(sampled_ids, (1..=9).collect::<Vec<u8>>(), "Lorenzo and grid interpolation");
    }

    #[test]
    fn weighted_estimate_is_the_estimate_of_the_repeated_stream() {
        // Mostly small codes with runs of zeros, some escapes of every width.
        let codes: Vec<i64> = (0..20_000i64)
            .map(|i| match i % 13 {
                0 => (i * 7919) << (i % 50),
                1..=5 => 0,
                _ => (i * 31) % 41 - 20,
            })
            .collect();
        let (a, b) = codes.split_at(7000);
        let once = estimated_bytes(&codes);
        assert!((estimated_bytes_weighted(&[(a, 1.0), (b, 1.0)]) / once - 1.0).abs() < 1e-12);
        let twice: Vec<i64> = a.iter().chain(a).chain(b).copied().collect();
        let weighted = estimated_bytes_weighted(&[(a, 2.0), (b, 1.0)]);
        assert!((weighted / estimated_bytes(&twice) - 1.0).abs() < 1e-12, "{weighted}");
    }

    /// The decoder gives back the encoder's grid from its codes, whatever the grid values (the
    /// compressor's check relies on it: `archive::EncoderValues::Grid`): every grid candidate,
    /// shapes with axes of 1 and chunks large enough for the encoder's runs on all threads.
    #[test]
    fn every_grid_candidate_is_lossless_on_anything() {
        for dims in [[3, 4, 5], [1, 9, 4], [7, 1, 1], [5, 1, 11], [40, 30, 30]] {
            let n: usize = dims.iter().product();
            let wild: Vec<i64> = (0..n as i64)
                .map(|i| match i % 5 {
                    0 => i64::MAX - i,
                    1 => i64::MIN + i * 17,
                    _ => (i * 7919) % 1001 - 500,
                })
                .collect();
            let candidates = candidates(dims, &field(&[0]));
            if !dims.contains(&1) {
                assert_eq!(candidates.len(), 10, "constant, 7 Lorenzo masks, 2 interpolations");
            }
            for p in &candidates {
                let codes = codes_of(p.as_ref(), dims, &wild);
                assert_eq!(decode(p.as_ref(), dims, &codes), wild, "{} {dims:?}", p.name());
            }
        }
    }

    #[test]
    fn ids_are_unique_and_in_registry_order() {
        let info = StreamInfo { float_field: Some(FloatField { center: 0.0, step: 1.0 }), ..field(&[0]) };
        let ids: Vec<u8> = candidates([10, 10, 10], &info).iter().map(|p| p.id()).collect();
        assert_eq!(ids, (0..=17).collect::<Vec<u8>>());
        for id in 0..=17 {
            assert_eq!(predictor(id, &info).unwrap().id(), id);
        }
        assert!(predictor(18, &info).is_err());
        // The feedback predictors need a field of floats.
        assert!(predictor(12, &field(&[0])).is_err());
        for (i, f) in REGISTRY.iter().enumerate() {
            for g in &REGISTRY[i + 1..] {
                assert!(f.ids().end() < g.ids().start(), "disjoint, in id order");
            }
        }
    }

    #[test]
    fn table_candidates_never_mix_columns() {
        let table = StreamInfo { table: true, ..field(&[0; 5]) };
        let names: Vec<String> = candidates([100, 5, 1], &table).iter().map(|p| p.name()).collect();
        assert_eq!(names, ["constant", "lorenzo1d(axes 0)"]);
    }
}
