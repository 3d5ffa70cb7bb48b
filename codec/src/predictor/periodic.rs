//! Predictor 20 (fields, format ≥ 6): interpolation on reconstructed values against the same
//! frame one period earlier, for fields whose frames repeat (vortex shedding, tides, the daily
//! cycle).
//!
//! The chunk is cut along axis 0 into blocks of `period` frames. Block 0 is coded as a feedback
//! interpolation variant (predictors 10–17) of its own. Each later block may instead code its
//! residual against a reference: the reconstruction `period` frames earlier — the block before
//! it, already decoded — times a weight. Interpolation then predicts the residual, so a point is
//! predicted as its reference plus the interpolated residual of its neighbours: where a flow
//! repeats, that is its own value a period ago corrected by how its neighbourhood changed. Each
//! block has its variant and its weight (0: no reference), chosen by the encoder on the block's
//! codes. Pure IEEE f64 in a fixed order, as predictors 10–17: every platform decodes the same
//! bits.
//!
//! Measured on CFD_animation (60 frames, period 12) with `examples/periodic_probe.rs` before it
//! was built: 3–9 % smaller than the best single predictor; frames after the flow settles into its
//! cycle code 35 % smaller.

use crate::bytes::Reader;
#[cfg(feature = "encode")]
use crate::bytes::put_varint;
use crate::error::{Result, corrupt};
use crate::format::chunk::MAX_CHUNK_ELEMENTS;
use crate::predictor::feedback::Feedback;
#[cfg(feature = "encode")]
use crate::predictor::feedback::{FeedbackDraft, quantize_from};
#[cfg(feature = "encode")]
use crate::predictor::{ChunkInput, Draft, FloatValues};
use crate::predictor::{DecodeInput, Family, Predictor, Reconstruction, StreamInfo};

/// The predictor id.
pub const PERIODIC_ID: u8 = 20;
/// The block variant that is Lorenzo on reconstructed values instead of a feedback interpolation
/// variant (0–7).
pub const LORENZO: u8 = 8;
/// Blocks decode 0–16 % slower than one whole chunk (CFD, one thread: shorter runs, a pass to add
/// the reference): predictor 20 is chosen only where it makes a chunk at least this much smaller.
pub const SIZE_MARGIN: f64 = 1.02;
/// A block's reference weight is stored in sixteenths of the reference: 16 is the reference
/// itself.
pub const WEIGHT_ONE: u8 = 16;

/// Predictor 20.
pub struct PeriodicFamily;

impl Family for PeriodicFamily {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        PERIODIC_ID..=PERIODIC_ID
    }

    /// Format 6 added it.
    fn since_version(&self) -> u16 {
        6
    }

    fn build(&self, _id: u8, _streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        corrupt("predictor 20 needs its period and blocks")
    }

    fn build_with(
        &self,
        _id: u8,
        streams: &StreamInfo,
        params: &mut Reader<'_>,
    ) -> Result<Box<dyn Predictor>> {
        let Some(f) = streams.float_field else {
            return corrupt("predictor 20 on a table or an integer stream");
        };
        let period = params.len(MAX_CHUNK_ELEMENTS, "predictor 20's period")?;
        let count = params.len(MAX_CHUNK_ELEMENTS, "predictor 20's block count")?;
        if period == 0 || count == 0 {
            return corrupt("predictor 20 with no period or no block");
        }
        // Two bytes a block: the count reserves nothing the parameters do not hold.
        let mut blocks = Vec::new();
        for b in 0..count {
            let variant = params.u8("predictor 20's block variant")?;
            let weight = params.u8("predictor 20's block weight")?;
            if variant > LORENZO || weight > WEIGHT_ONE || (b == 0 && weight != 0) {
                return corrupt(format!("predictor 20: block {b} has variant {variant}, weight {weight}"));
            }
            blocks.push(Block { variant, weight });
        }
        Ok(Box::new(Periodic { period, blocks, center: f.center, step: f.step }))
    }
}

/// How one block of frames is coded: its variant (0–7: as predictor 10 + variant; 8: Lorenzo on
/// reconstructed values) and the weight of its reference in sixteenths (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub variant: u8,
    pub weight: u8,
}

/// Predictor 20 for one chunk: the period in frames along axis 0 and each block's coding.
#[derive(Clone, Debug, PartialEq)]
pub struct Periodic {
    pub period: usize,
    pub blocks: Vec<Block>,
    /// The stream's centre and step (as for predictors 10–17).
    pub center: f64,
    pub step: f64,
}

impl Periodic {
    /// What predicts a block's first value (or anchor): its residual is predicted as 0 in a
    /// block with a reference, its value as the stream's centre in one without.
    fn center_of(&self, block: Block) -> f64 {
        if block.weight == 0 { self.center } else { 0.0 }
    }

    /// Block b's feedback predictor (variants 0–7).
    fn feedback(&self, block: Block) -> Feedback {
        Feedback::variant(block.variant, self.center_of(block), self.step)
    }

    /// Block b's reconstruction (of its residuals where it has a reference) from its codes, into
    /// `recon` (the block's length).
    fn decode_block(
        &self,
        block: Block,
        dims: [usize; 3],
        (codes, exceptions): (&[i64], &[bool]),
        recon: &mut [f64],
    ) {
        if block.variant != LORENZO {
            return self.feedback(block).decode_into(dims, codes, exceptions, recon);
        }
        let step = self.step;
        let any = exceptions.contains(&true);
        lorenzo_sweep(dims, self.center_of(block), recon, |e, t, before| {
            if any && exceptions[e] { before + t } else { before + (t + codes[e] as f64 * step) }
        });
    }

    /// Block b's frames (start, end) in a chunk of `frames` frames.
    fn frames(&self, b: usize, frames: usize) -> (usize, usize) {
        (b * self.period, ((b + 1) * self.period).min(frames))
    }
}

/// The multiplier of a stored weight (exact: sixteenths).
fn weight_of(w: u8) -> f64 {
    w as f64 / WEIGHT_ONE as f64
}

impl Predictor for Periodic {
    fn id(&self) -> u8 {
        PERIODIC_ID
    }

    fn name(&self) -> String {
        let blocks: Vec<String> = self
            .blocks
            .iter()
            .map(|b| {
                let kind = match b.variant {
                    LORENZO => "Lorenzo",
                    v if v & 1 == 1 => "cubic",
                    _ => "linear",
                };
                match b.weight {
                    0 => kind.to_string(),
                    WEIGHT_ONE => format!("{kind} + ref"),
                    w => format!("{kind} + {}·ref", weight_of(w)),
                }
            })
            .collect();
        format!("period of {} frames on reconstructed values [{}]", self.period, blocks.join(", "))
    }

    fn on_grid(&self) -> bool {
        false
    }

    fn size_margin(&self) -> f64 {
        SIZE_MARGIN
    }

    /// The period, the block count, then each block's variant and weight (docs/format.md §5.3).
    #[cfg(feature = "encode")]
    fn params(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, self.period as u64);
        put_varint(&mut out, self.blocks.len() as u64);
        for b in &self.blocks {
            out.extend_from_slice(&[b.variant, b.weight]);
        }
        out
    }

    #[cfg(feature = "encode")]
    fn encode(&self, chunk: &ChunkInput<'_>) -> Draft {
        let v = chunk.values.expect("predictor 20 only on fields of floats");
        let mut coder = BlockCoder::new(chunk.dims, self.period, v, chunk.exceptions);
        for (b, &block) in self.blocks.iter().enumerate() {
            let coded = coder.code(self, b, block);
            coder.keep(b, coded);
        }
        coder.into_draft()
    }

    fn decode(&self, chunk: &DecodeInput<'_>, codes: Vec<i64>) -> Result<Reconstruction> {
        if chunk.fixed.is_some() {
            return corrupt("autoencoder tiles in a chunk with predictor 20");
        }
        let [frames, n1, n2] = chunk.dims;
        if self.blocks.len() != frames.div_ceil(self.period) {
            return corrupt(format!(
                "predictor 20: {} blocks of {} frames for a chunk of {frames}",
                self.blocks.len(),
                self.period
            ));
        }
        let plane = n1 * n2;
        let mut out = vec![0f64; codes.len()];
        for (b, &block) in self.blocks.iter().enumerate() {
            let (first, end) = self.frames(b, frames);
            let (a, z) = (first * plane, end * plane);
            let dims = [end - first, n1, n2];
            // The residuals in place, then the reference added to them.
            self.decode_block(block, dims, (&codes[a..z], &chunk.exceptions[a..z]), &mut out[a..z]);
            if block.weight == 0 {
                continue;
            }
            // A block with a reference is not block 0 (checked when read): one period of frames,
            // all within the chunk, lies before it.
            let lag = self.period * plane;
            let (before, this) = out.split_at_mut(a);
            let reference = &before[a - lag..z - lag];
            // 1.0·x is x: the common weight needs no product.
            if block.weight == WEIGHT_ONE {
                for (v, &x) in this[..z - a].iter_mut().zip(reference) {
                    *v += x;
                }
            } else {
                let w = weight_of(block.weight);
                for (v, &x) in this[..z - a].iter_mut().zip(reference) {
                    *v += w * x;
                }
            }
        }
        Ok(Reconstruction::Values(out))
    }
}

/// The encoder's state over a chunk's blocks, coded in order: each block's codes, exceptions and
/// final reconstruction (what the decoder makes before exceptions take their stored values), which
/// the next block's reference reads.
#[cfg(feature = "encode")]
struct BlockCoder<'a> {
    dims: [usize; 3],
    period: usize,
    values: FloatValues<'a>,
    exceptions: &'a [bool],
    codes: Vec<i64>,
    new_exceptions: Vec<usize>,
    finals: Vec<f64>,
}

/// One block coded one way: its codes, its new exceptions (positions in the chunk) and its final
/// reconstruction.
#[cfg(feature = "encode")]
struct CodedBlock {
    codes: Vec<i64>,
    new_exceptions: Vec<usize>,
    finals: Vec<f64>,
}

#[cfg(feature = "encode")]
impl<'a> BlockCoder<'a> {
    fn new(dims: [usize; 3], period: usize, values: FloatValues<'a>, exceptions: &'a [bool]) -> Self {
        let n = exceptions.len();
        Self {
            dims,
            period,
            values,
            exceptions,
            codes: vec![0; n],
            new_exceptions: Vec::new(),
            finals: vec![0.0; n],
        }
    }

    /// Block b coded as `block` says, on the blocks kept before it.
    fn code(&self, p: &Periodic, b: usize, block: Block) -> CodedBlock {
        let [frames, n1, n2] = self.dims;
        let plane = n1 * n2;
        let (first, end) = p.frames(b, frames);
        let (a, z) = (first * plane, end * plane);
        let dims = [end - first, n1, n2];
        let x = &self.values.values[a..z];
        let exceptions = &self.exceptions[a..z];
        let mut recon = vec![0f64; z - a];
        let fb = p.feedback(block);
        let at = (self.values.bound, self.values.dtype);
        let (draft, finals) = match (block.weight, block.variant) {
            (0, LORENZO) => (
                lorenzo_encode(dims, p.center_of(block), (p.step, at), x, |_| 0.0, exceptions, &mut recon),
                recon,
            ),
            (0, _) => {
                let d = fb.encode_into(dims, at.0, at.1, |e| x[e], exceptions, &mut recon);
                (d, recon)
            }
            (weight, variant) => {
                let w = weight_of(weight);
                let before = &self.finals[a - p.period * plane..z - p.period * plane];
                let reference = |e: usize| w * before[e];
                let d = match variant {
                    LORENZO => lorenzo_encode(dims, 0.0, (p.step, at), x, reference, exceptions, &mut recon),
                    _ => fb.encode_residuals_into(dims, at, (|e| x[e], reference), exceptions, &mut recon),
                };
                let finals = recon.iter().enumerate().map(|(e, r)| reference(e) + r).collect();
                (d, finals)
            }
        };
        CodedBlock {
            codes: draft.codes,
            new_exceptions: draft.new_exceptions.into_iter().map(|e| e + a).collect(),
            finals,
        }
    }

    fn keep(&mut self, b: usize, coded: CodedBlock) {
        let plane = self.dims[1] * self.dims[2];
        let a = b * self.period * plane;
        let z = a + coded.codes.len();
        self.codes[a..z].copy_from_slice(&coded.codes);
        self.finals[a..z].copy_from_slice(&coded.finals);
        self.new_exceptions.extend(coded.new_exceptions);
    }

    fn into_draft(self) -> Draft {
        Draft { codes: self.codes, new_exceptions: self.new_exceptions, reconstruction: None }
    }
}

/// Lorenzo on reconstructed values over a block of `dims` in raster order. Element (i, j, k) is
/// predicted from its seven reconstructed neighbours before it (0.0 outside the block): with
/// `t = ((((r[i−1,j,k] + r[i,j−1,k]) − r[i−1,j−1,k]) − r[i−1,j,k−1]) − r[i,j−1,k−1]) +
/// r[i−1,j−1,k−1]` in IEEE f64 (for the first element, t is `center`), as `r[i,j,k−1] + t`.
/// `set(e, t, r[i,j,k−1])` gives e's reconstruction, `r[i,j,k−1] + (t + code·step)`. The
/// neighbour along the row is added last so that a value waits on the value before it for one
/// addition only: a row's t are computed first, from earlier rows alone.
fn lorenzo_sweep(
    dims: [usize; 3],
    center: f64,
    recon: &mut [f64],
    mut set: impl FnMut(usize, f64, f64) -> f64,
) {
    let [n0, n1, n2] = dims;
    let (s0, s1) = (n1 * n2, n2);
    let zeros = vec![0f64; n2];
    let mut t = vec![0f64; n2];
    for i in 0..n0 {
        for j in 0..n1 {
            let row = i * s0 + j * s1;
            {
                let r = &*recon;
                let at = |yes: bool, start: usize| if yes { &r[start..start + n2] } else { &zeros[..] };
                let up = at(i > 0, row.wrapping_sub(s0));
                let left = at(j > 0, row.wrapping_sub(s1));
                let corner = at(i > 0 && j > 0, row.wrapping_sub(s0 + s1));
                for k in 0..n2 {
                    let back = |v: &[f64]| if k > 0 { v[k - 1] } else { 0.0 };
                    t[k] = ((((up[k] + left[k]) - corner[k]) - back(up)) - back(left)) + back(corner);
                }
            }
            if row == 0 && n2 > 0 {
                t[0] = center;
            }
            let mut before = 0.0f64;
            for (k, &tk) in t.iter().enumerate() {
                before = set(row + k, tk, before);
                recon[row + k] = before;
            }
        }
    }
}

/// A block's codes under [`lorenzo_sweep`], of the residuals `x − reference` (0: none), each
/// checked on the value the decoder makes; `recon` gets the (residuals') reconstruction.
#[cfg(feature = "encode")]
fn lorenzo_encode(
    dims: [usize; 3],
    center: f64,
    (step, (bound, dtype)): (f64, (f64, crate::data::DType)),
    x: &[f64],
    reference: impl Fn(usize) -> f64,
    exceptions: &[bool],
    recon: &mut [f64],
) -> FeedbackDraft {
    let mut codes = vec![0i64; x.len()];
    let mut new_exceptions = Vec::new();
    let inverse = 1.0 / step;
    lorenzo_sweep(dims, center, recon, |e, t, before| {
        if exceptions[e] {
            return before + t;
        }
        let recon = |c: i64| before + (t + c as f64 * step);
        match quantize_from(x[e], reference(e), before + t, inverse, recon, (bound, dtype)) {
            Some((c, r)) => {
                codes[e] = c;
                r
            }
            None => {
                new_exceptions.push(e);
                before + t
            }
        }
    });
    FeedbackDraft { codes, new_exceptions }
}

/// Most frames a period may span.
#[cfg(feature = "encode")]
pub const MAX_PERIOD: usize = 64;
/// A lag is taken for a period where frames differ from the frame that far back by at most this
/// share of the largest difference at any shorter lag: the difference grows with the lag, then
/// dips where the flow comes round again.
#[cfg(feature = "encode")]
const PERIOD_DIP: f64 = 0.6;
/// Lags whose dip is within this of the deepest count as ties: the shortest wins (multiples of a
/// period dip about as deep).
#[cfg(feature = "encode")]
const PERIOD_TIE: f64 = 0.05;
/// Values read per frame to find the period.
#[cfg(feature = "encode")]
const PERIOD_SAMPLE: usize = 512;

/// The period of a chunk of `dims` whose frames (along axis 0) repeat, if any: of the lags L ≥ 2
/// that leave at least two blocks, the one where the typical difference between frames L apart
/// dips deepest below its largest at shorter lags, where it dips below [`PERIOD_DIP`] of it and is
/// a local minimum. The typical difference is the median over a sample of each frame, so that an
/// outlier cannot decide; values stored exactly and differences that are not finite are left out.
#[cfg(feature = "encode")]
pub fn detect_period(dims: [usize; 3], values: &[f64], exceptions: &[bool]) -> Option<usize> {
    let [frames, n1, n2] = dims;
    let plane = n1 * n2;
    let max_lag = (frames / 2).min(MAX_PERIOD);
    if max_lag < 2 || plane == 0 {
        return None;
    }
    let stride = (plane / PERIOD_SAMPLE).max(1);
    let mut differences = Vec::new();
    let mut typical = |lag: usize| {
        differences.clear();
        for k in lag..frames {
            for j in (0..plane).step_by(stride) {
                let (e, back) = (k * plane + j, (k - lag) * plane + j);
                let d = (values[e] - values[back]).abs();
                if !exceptions[e] && !exceptions[back] && d.is_finite() {
                    differences.push(d);
                }
            }
        }
        if differences.is_empty() {
            return f64::NAN;
        }
        let middle = differences.len() / 2;
        *differences.select_nth_unstable_by(middle, f64::total_cmp).1
    };
    // One past the longest lag: a dip at the longest lag must rise again after it.
    let d: Vec<f64> =
        (0..=max_lag + 1).map(|l| if l == 0 { 0.0 } else { typical(l.min(frames - 1)) }).collect();
    let mut peak = d[1];
    let mut dips = Vec::new();
    for lag in 2..=max_lag {
        if peak > 0.0 && d[lag] <= d[lag - 1] && d[lag] < d[lag + 1] {
            dips.push((lag, d[lag] / peak));
        }
        peak = peak.max(d[lag]);
    }
    let deepest = dips.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let &(lag, dip) = dips.iter().find(|x| x.1 <= deepest + PERIOD_TIE)?;
    (dip <= PERIOD_DIP).then_some(lag)
}

/// The variants each block is tried with: linear interpolation, cubic in both axis orders, cubic
/// in axis order 2-1-0 with level-wise steps (the whole chunk's best on CFD at 1e-2) and Lorenzo. On
/// CFD's blocks only 0, 1, 3 and Lorenzo ever won; trying all nine variants gave the same bytes at
/// twice the time.
#[cfg(feature = "encode")]
const VARIANTS: [u8; 5] = [0, 1, 3, 7, LORENZO];
/// Each block after the first is tried with every variant without its reference and with all of
/// it; then the best variant with the reference also with these parts of it (on CFD at 1e-2 half
/// and three quarters of it won blocks where the flow had not settled into its cycle yet).
#[cfg(feature = "encode")]
const PARTIAL_WEIGHTS: [u8; 2] = [8, 12];

/// A period is searched for only where a probe — every block by cubic interpolation, each after
/// the first with and without its reference — finds the references save this share, and its
/// estimate is within [`PROBE_SLACK`] of the estimate to beat (the search's other variants gained
/// up to 9 % on the probe on CFD). Chunks with
/// frames of more than [`BOX_PLANE`] values are probed and searched on a central box of frames
/// that size first (all the chunk's frames, cropped across them), and the chunk is then coded
/// block by block only as the box's search chose and as its best without a reference.
#[cfg(feature = "encode")]
const PROBE_SAVING: f64 = 0.03;
#[cfg(feature = "encode")]
const PROBE_SLACK: f64 = 1.05;
#[cfg(feature = "encode")]
const BOX_PLANE: usize = 64 * 64;

/// A search's outcome: the blocks chosen, their codes, and for each block its best coding without
/// a reference, with the estimated bytes of each.
#[cfg(feature = "encode")]
struct Search {
    blocks: Vec<Block>,
    draft: Draft,
    plain: Vec<Block>,
    bytes: f64,
    plain_bytes: f64,
}

/// Codes each block of a chunk in turn, as the one of `tries(b)` whose codes have the smallest
/// estimate (coder 2's entropy, plus the values stored exactly).
#[cfg(feature = "encode")]
fn search(
    dims: [usize; 3],
    p: &mut Periodic,
    values: FloatValues<'_>,
    exceptions: &[bool],
    tries: impl Fn(usize) -> Vec<Block>,
    partial_weights: &[u8],
) -> Option<Search> {
    use rayon::prelude::*;
    let mut coder = BlockCoder::new(dims, p.period, values, exceptions);
    let stored = (values.dtype.size_bytes() + 2) as f64;
    let (mut plain, mut bytes, mut plain_bytes) = (Vec::new(), 0.0, 0.0);
    p.blocks.clear();
    for b in 0..dims[0].div_ceil(p.period) {
        let price = |blocks: Vec<Block>| -> Vec<(f64, Block, Option<CodedBlock>)> {
            blocks
                .into_par_iter()
                .map(|block| {
                    let coded = coder.code(p, b, block);
                    let bytes = crate::coder::buckets::estimated_bytes(&coded.codes)
                        + coded.new_exceptions.len() as f64 * stored;
                    (bytes, block, Some(coded))
                })
                .collect()
        };
        let mut priced = price(tries(b));
        // The best variant with the whole reference, tried with part of it too.
        let referenced =
            priced.iter().filter(|x| x.1.weight > 0).min_by(|x, y| x.0.total_cmp(&y.0)).map(|x| x.1);
        if let Some(r) = referenced {
            priced.extend(price(partial_weights.iter().map(|&weight| Block { weight, ..r }).collect()));
        }
        let best = |of: &dyn Fn(&Block) -> bool| {
            (0..priced.len()).filter(|&i| of(&priced[i].1)).min_by(|&i, &j| {
                let (x, y) = (&priced[i], &priced[j]);
                x.0.total_cmp(&y.0).then(x.1.weight.cmp(&y.1.weight)).then(x.1.variant.cmp(&y.1.variant))
            })
        };
        let chosen = best(&|_| true)?;
        let without = best(&|b| b.weight == 0)?;
        plain.push(priced[without].1);
        plain_bytes += priced[without].0;
        bytes += priced[chosen].0;
        let (_, block, coded) = &mut priced[chosen];
        p.blocks.push(*block);
        coder.keep(b, coded.take().expect("coded"));
    }
    let mut draft = coder.into_draft();
    draft.new_exceptions.sort_unstable();
    Some(Search { blocks: p.blocks.clone(), draft, plain, bytes, plain_bytes })
}

/// Every variant, without a reference and (after block 0) with all of it.
#[cfg(feature = "encode")]
fn every_try(b: usize) -> Vec<Block> {
    let weights: &[u8] = if b > 0 { &[0, WEIGHT_ONE] } else { &[0] };
    weights.iter().flat_map(|&weight| VARIANTS.map(|variant| Block { variant, weight })).collect()
}

/// The probe's tries: cubic interpolation, with and without the reference after block 0.
#[cfg(feature = "encode")]
fn probe_try(b: usize) -> Vec<Block> {
    let plain = Block { variant: 1, weight: 0 };
    if b == 0 { vec![plain] } else { vec![plain, Block { variant: 1, weight: WEIGHT_ONE }] }
}

/// Predictor 20 fitted on a chunk of a field whose frames repeat with a period: each block in
/// turn as the variant and weight whose codes have the smallest estimate, with those codes. None
/// where the chunk has no period, where the probe finds the references save too little or its
/// estimate is far above `to_beat` (the estimated bytes of the chunk's best predictor so far), or
/// where no block gains from its reference.
#[cfg(feature = "encode")]
pub fn fit(
    dims: [usize; 3],
    (center, step): (f64, f64),
    values: FloatValues<'_>,
    exceptions: &[bool],
    to_beat: f64,
) -> Option<(Periodic, Draft)> {
    let period = detect_period(dims, values.values, exceptions)?;
    let mut p = Periodic { period, blocks: Vec::new(), center, step };
    // On a box, its share of the estimate to beat.
    let pays = |s: &Search, share: f64| {
        s.bytes <= s.plain_bytes * (1.0 - PROBE_SAVING) && s.bytes <= to_beat * share * PROBE_SLACK
    };
    let [frames, n1, n2] = dims;
    let found = if n1 * n2 <= BOX_PLANE {
        if !pays(&search(dims, &mut p, values, exceptions, probe_try, &[])?, 1.0) {
            return None;
        }
        search(dims, &mut p, values, exceptions, every_try, &PARTIAL_WEIGHTS)?
    } else {
        let c2 = n2.min(64);
        let c1 = n1.min((BOX_PLANE / c2).max(64));
        let m = frames * c1 * c2;
        let box_values = crate::layout::on_central_box(values.values, dims, [frames, c1, c2]);
        let box_exceptions = crate::layout::on_central_box(exceptions, dims, [frames, c1, c2]);
        let boxed = FloatValues { values: &box_values, whole: false, ..values };
        let box_dims = [frames, c1, c2];
        if !pays(
            &search(box_dims, &mut p, boxed, &box_exceptions, probe_try, &[])?,
            m as f64 / values.values.len() as f64,
        ) {
            return None;
        }
        let on_box = search(box_dims, &mut p, boxed, &box_exceptions, every_try, &PARTIAL_WEIGHTS)?;
        let tries = |b: usize| {
            let mut t = vec![on_box.plain[b]];
            if on_box.blocks[b] != on_box.plain[b] {
                t.push(on_box.blocks[b]);
            }
            t
        };
        search(dims, &mut p, values, exceptions, tries, &[])?
    };
    if found.blocks.iter().all(|b| b.weight == 0) {
        return None;
    }
    Some((p, found.draft))
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
    use crate::data::DType;

    /// Frames of a travelling wave that repeats every 7 frames, with noise and a drift.
    fn periodic_field(dims: [usize; 3]) -> Vec<f64> {
        let [f, n1, n2] = dims;
        (0..f * n1 * n2)
            .map(|e| {
                let (k, i, j) = (e / (n1 * n2), (e / n2) % n1, e % n2);
                let phase = (k % 7) as f64 * std::f64::consts::TAU / 7.0;
                let noise =
                    ((e as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / (1u64 << 24) as f64;
                (i as f64 * 0.3 + phase).sin() * (j as f64 * 0.2 - phase).cos()
                    + k as f64 * 1e-3
                    + noise * 1e-3
            })
            .collect()
    }

    fn decode(p: &Periodic, dims: [usize; 3], d: &Draft, exceptions: &[bool]) -> Vec<f64> {
        let mut exc = exceptions.to_vec();
        d.new_exceptions.iter().for_each(|&e| exc[e] = true);
        match p.decode(&DecodeInput { dims, exceptions: &exc, fixed: None }, d.codes.clone()).unwrap() {
            Reconstruction::Values(v) => v,
            Reconstruction::Grid(_) => panic!("values"),
        }
    }

    #[test]
    fn finds_the_period_and_not_one_where_there_is_none() {
        let dims = [30, 16, 20];
        let x = periodic_field(dims);
        assert_eq!(detect_period(dims, &x, &vec![false; x.len()]), Some(7));
        // A slow drift with no cycle: consecutive frames are the closest.
        let drift: Vec<f64> =
            (0..x.len()).map(|e| (e / 320) as f64 * 0.01 + ((e % 320) as f64).sin()).collect();
        assert_eq!(detect_period(dims, &drift, &vec![false; x.len()]), None);
        // Too few frames for two blocks.
        assert_eq!(detect_period([3, 16, 20], &x[..960], &[false; 960]), None);
    }

    #[test]
    fn bound_holds_and_decode_reproduces_the_encoder() {
        let dims = [30, 16, 20];
        let mut x = periodic_field(dims);
        let n = x.len();
        let mut exceptions = vec![false; n];
        // A value stored exactly (a fill) and values the grid cannot reach.
        exceptions[5000] = true;
        x[5000] = 1e30;
        x[7001] = f64::NAN;
        x[8000] = 1e300;
        for (dtype, bound) in [(DType::F64, 1e-3), (DType::F32, 1e-3), (DType::F64, 1e-6), (DType::F32, 2e-7)]
        {
            let step = 2.0 * bound;
            let values = FloatValues { values: &x, bound, dtype, whole: true };
            let (p, d) =
                fit(dims, (0.0, step), values, &exceptions, f64::INFINITY).expect("a period that pays");
            assert_eq!(p.period, 7);
            assert!(p.blocks.iter().skip(1).any(|b| b.weight > 0), "{:?}", p.blocks);
            assert!(d.new_exceptions.contains(&7001) && d.new_exceptions.contains(&8000));
            // The fit's codes are the predictor's, and its parameters read back.
            let again = p.encode(&ChunkInput { dims, q: &[], exceptions: &exceptions, values: Some(values) });
            assert_eq!((&again.codes, &again.new_exceptions), (&d.codes, &d.new_exceptions));
            let info = crate::predictor::tests::float_field(step);
            let read = PeriodicFamily.build_with(PERIODIC_ID, &info, &mut Reader::new(&p.params())).unwrap();
            assert_eq!(read.params(), p.params());
            let r = decode(&p, dims, &d, &exceptions);
            for e in (0..n).filter(|&e| !exceptions[e] && !d.new_exceptions.contains(&e)) {
                let out = crate::quant::to_dtype(r[e], dtype);
                assert!((out - x[e]).abs() <= bound, "{dtype:?} {bound}: {e}: {out} vs {}", x[e]);
            }
        }
    }

    #[test]
    fn every_block_coding_decodes_to_the_encoders_reconstruction() {
        let dims = [13, 9, 11];
        let mut x = periodic_field(dims);
        let n = x.len();
        let mut exceptions = vec![false; n];
        exceptions[400] = true;
        x[400] = -9e33;
        x[777] = f64::NAN;
        x[1200] = 3e200;
        for (dtype, bound) in [(DType::F64, 1e-3), (DType::F32, 1e-3), (DType::F32, 3e-8)] {
            let values = FloatValues { values: &x, bound, dtype, whole: true };
            for variant in 0..=LORENZO {
                for weight in [0, 5, WEIGHT_ONE] {
                    let block = Block { variant, weight };
                    let blocks = vec![Block { variant, weight: 0 }, block, block];
                    let p = Periodic { period: 5, blocks, center: 0.25, step: 2.0 * bound };
                    let mut coder = BlockCoder::new(dims, p.period, values, &exceptions);
                    for (b, &block) in p.blocks.iter().enumerate() {
                        let coded = coder.code(&p, b, block);
                        coder.keep(b, coded);
                    }
                    let finals = coder.finals.clone();
                    let d = coder.into_draft();
                    assert!(d.new_exceptions.contains(&777) && d.new_exceptions.contains(&1200));
                    let r = decode(&p, dims, &d, &exceptions);
                    let case = format!("{dtype:?} {bound} variant {variant} weight {weight}");
                    for e in 0..n {
                        assert_eq!(r[e].to_bits(), finals[e].to_bits(), "{case}: element {e}");
                        if !exceptions[e] && !d.new_exceptions.contains(&e) {
                            let out = crate::quant::to_dtype(r[e], dtype);
                            assert!((out - x[e]).abs() <= bound, "{case}: {e}: {out} vs {}", x[e]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn large_frames_are_searched_on_a_box_first() {
        // Frames of 72 × 80 values, more than the box's 64 × 64.
        let dims = [21, 72, 80];
        let x = periodic_field(dims);
        let exceptions = vec![false; x.len()];
        let bound = 1e-3;
        let values = FloatValues { values: &x, bound, dtype: DType::F32, whole: true };
        let (p, d) =
            fit(dims, (0.0, 2.0 * bound), values, &exceptions, f64::INFINITY).expect("a period that pays");
        assert_eq!((p.period, p.blocks.len()), (7, 3));
        assert!(p.blocks[1].weight > 0 && p.blocks[2].weight > 0, "{:?}", p.blocks);
        let r = decode(&p, dims, &d, &exceptions);
        for (e, v) in r.iter().enumerate() {
            assert!((crate::quant::to_dtype(*v, DType::F32) - x[e]).abs() <= bound, "{e}");
        }
        // Noise in time: no period is taken, however the frames are cut.
        let noisy: Vec<f64> = (0..x.len() as u64)
            .map(|e| {
                // splitmix64's finaliser: independent-looking values (a Weyl sequence is not).
                let mut z = e.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) as f64 / u64::MAX as f64
            })
            .collect();
        let values = FloatValues { values: &noisy, bound, dtype: DType::F32, whole: true };
        assert_eq!(detect_period(dims, &noisy, &exceptions), None);
        assert!(fit(dims, (0.5, 2.0 * bound), values, &exceptions, f64::INFINITY).is_none());
    }

    #[test]
    fn lorenzo_sweep_computes_its_documented_formula() {
        // The formula of docs/format.md element by element, against the row-wise sweep.
        let dims = [4, 5, 6];
        let codes: Vec<f64> = (0..120).map(|e| ((e * 37 % 11) as f64 - 5.0) * 0.3).collect();
        let mut fast = vec![0f64; 120];
        lorenzo_sweep(dims, 0.7, &mut fast, |e, t, before| before + (t + codes[e]));
        let mut r = vec![0f64; 120];
        for e in 0..120 {
            let (i, j, k) = (e / 30, (e / 6) % 5, e % 6);
            let at = |di: usize, dj: usize, dk: usize| {
                if i < di || j < dj || k < dk { 0.0 } else { r[e - di * 30 - dj * 6 - dk] }
            };
            let t = ((((at(1, 0, 0) + at(0, 1, 0)) - at(1, 1, 0)) - at(1, 0, 1)) - at(0, 1, 1)) + at(1, 1, 1);
            r[e] = at(0, 0, 1) + ((if e == 0 { 0.7 } else { t }) + codes[e]);
        }
        assert_eq!(
            fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            r.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_reference_makes_a_periodic_chunk_smaller() {
        let dims = [42, 24, 24];
        let x = periodic_field(dims);
        let exceptions = vec![false; x.len()];
        let bound = 1e-3;
        let values = FloatValues { values: &x, bound, dtype: DType::F64, whole: true };
        let (_, d) = fit(dims, (0.0, 2.0 * bound), values, &exceptions, f64::INFINITY).expect("a period");
        let best_plain = (0..8)
            .map(|v| {
                let fb = Feedback::variant(v, 0.0, 2.0 * bound);
                let plain = fb.encode_values(dims, bound, DType::F64, |e| x[e], &exceptions);
                crate::coder::buckets::estimated_bytes(&plain.codes)
            })
            .fold(f64::INFINITY, f64::min);
        let periodic = crate::coder::buckets::estimated_bytes(&d.codes);
        assert!(periodic < 0.8 * best_plain, "{periodic} vs {best_plain}");
    }

    #[test]
    fn hostile_parameters_are_refused() {
        let info = crate::predictor::tests::float_field(1.0);
        let build =
            |bytes: &[u8]| PeriodicFamily.build_with(PERIODIC_ID, &info, &mut Reader::new(bytes)).err();
        // No period; a huge block count with two blocks' bytes; a weight on block 0; a variant 9; a weight over 16.
        assert!(build(&[0, 1, 1, 0]).is_some());
        assert!(build(&[3, 0xff, 0xff, 0xff, 0x0f, 1, 0, 1, 16]).is_some());
        assert!(build(&[3, 1, 1, 16]).is_some());
        assert!(build(&[3, 2, 1, 0, 9, 16]).is_some());
        assert!(build(&[3, 2, 1, 0, 1, 17]).is_some());
        // A block count that disagrees with the chunk.
        let p =
            PeriodicFamily.build_with(PERIODIC_ID, &info, &mut Reader::new(&[3, 2, 1, 0, 1, 16])).unwrap();
        let dims = [9, 2, 2];
        let input = DecodeInput { dims, exceptions: &[false; 36], fixed: None };
        assert!(p.decode(&input, vec![0; 36]).is_err());
        assert!(p.decode(&DecodeInput { dims: [6, 2, 2], ..input }, vec![0; 24]).is_ok());
        // Not on tables.
        assert!(
            PeriodicFamily
                .build_with(
                    PERIODIC_ID,
                    &crate::predictor::tests::field(&[0]),
                    &mut Reader::new(&[3, 1, 1, 0])
                )
                .is_err()
        );
    }
}
