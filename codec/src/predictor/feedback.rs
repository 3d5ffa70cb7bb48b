//! Predictors 10–17: multilevel interpolation on *reconstructed* values (SZ's error feedback)
//! instead of on the fixed integer grid. A value is coded as `recon = prediction + code·step`, so
//! noise smaller than the bound is absorbed into the error instead of surviving as ±1 codes: at
//! loose bounds this halves the code entropy of noisy fields (measured 0.98 → 0.50 bits a value on
//! a 1 %-noise wave field at 1e-2). Pure IEEE f64 in a fixed order: every platform decodes the
//! same bits. Fields of floats only.

#[cfg(feature = "encode")]
use crate::data::DType;
use crate::error::{Result, corrupt};
#[cfg(feature = "encode")]
use crate::predictor::interp_order::predict_run;
use crate::predictor::interp_order::{
    Run, Stencil, anchors, decode_run_f64, decode_run_f64_stored, runs, runs_by_plane,
};
#[cfg(feature = "encode")]
use crate::predictor::{ChunkInput, Draft};
use crate::predictor::{DecodeInput, Family, Predictor, Reconstruction, StreamInfo};
#[cfg(feature = "encode")]
use crate::quant::{nearest_integer, to_dtype};

/// Predictors 10–17.
pub struct FeedbackFamily;

impl Family for FeedbackFamily {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        10..=17
    }

    fn build(&self, id: u8, streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        let Some(f) = streams.float_field else {
            return corrupt("feedback predictor on a table or an integer stream");
        };
        Ok(Box::new(Feedback::variant(id - 10, f.center, f.step)))
    }

    /// The eight variants, on fields of one Float stream where grid interpolation is tried too.
    #[cfg(feature = "encode")]
    fn candidates(&self, dims: [usize; 3], streams: &StreamInfo) -> Vec<Box<dyn Predictor>> {
        match streams.float_field {
            Some(f) if !streams.table && dims.iter().any(|&d| d > 2) => (0..8)
                .map(|v| Box::new(Feedback::variant(v, f.center, f.step)) as Box<dyn Predictor>)
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Predictor for Feedback {
    fn id(&self) -> u8 {
        match self.learned {
            Some(_) => crate::predictor::learned_pass::LEARNED_ID,
            None => 10 + self.variant_byte(),
        }
    }

    fn name(&self) -> String {
        format!(
            "{} interpolation on reconstructed values{}{}{}",
            if self.cubic { "cubic" } else { "linear" },
            if self.reversed { ", axes 2-1-0" } else { "" },
            if self.levelwise { ", level-wise steps" } else { "" },
            if self.learned.is_some() { ", learned last pass" } else { "" }
        )
    }

    fn size_margin(&self) -> f64 {
        if self.learned.is_some() { crate::predictor::learned_pass::SIZE_MARGIN } else { 1.0 }
    }

    /// A learned last pass: the base variant's byte and the weights (docs/format.md §5.3).
    #[cfg(feature = "encode")]
    fn params(&self) -> Vec<u8> {
        let Some(w) = &self.learned else { return Vec::new() };
        let mut out = vec![self.variant_byte()];
        for x in w {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    fn on_grid(&self) -> bool {
        false
    }

    #[cfg(feature = "encode")]
    fn encode(&self, chunk: &ChunkInput<'_>) -> Draft {
        let v = chunk.values.expect("feedback candidates only on fields of floats");
        let mut recon = vec![0f64; chunk.exceptions.len()];
        let d = self.sweep::<false>(
            chunk.dims,
            (v.bound, v.dtype),
            ((&|e| v.values[e], Some(v.values)), &|_| 0.0),
            chunk.exceptions,
            &mut recon,
        );
        // A learned last pass is checked by the decoder's own sweep (it is fitted apart, rarely).
        let reconstruction = (v.whole && self.learned.is_none()).then_some(recon);
        Draft { codes: d.codes, new_exceptions: d.new_exceptions, reconstruction }
    }

    fn decode(&self, chunk: &DecodeInput<'_>, codes: Vec<i64>) -> Result<Reconstruction> {
        if chunk.fixed.is_some() {
            return corrupt("autoencoder tiles in a chunk with the feedback predictor");
        }
        Ok(Reconstruction::Values(self.decode_values(chunk.dims, &codes, chunk.exceptions)))
    }
}

/// One feedback predictor: its variant (predictor bytes 10–17) and the stream's constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Feedback {
    pub cubic: bool,
    pub reversed: bool,
    pub levelwise: bool,
    /// Prediction of the first anchor: the middle of the stream's range.
    pub center: f64,
    /// The stream's quantization step (2 × bound).
    pub step: f64,
    /// Weights of a learned last pass (predictor 19, `learned_pass.rs`): the [`TAPS`] taps of
    /// [`Feedback::taps`] in order. None for predictors 10–17.
    pub learned: Option<[f64; TAPS]>,
}

/// Taps of a learned last pass: along its axis at −3, −1, +1, +3, at each of the 3 × 3 offsets
/// (−1, 0, +1) across it.
pub const TAPS: usize = 36;

impl TapLayout {
    /// Whether element e is away from the chunk's edges across the axis (its taps need no clamp).
    #[inline]
    pub(crate) fn interior(&self, e: usize) -> bool {
        self.across.iter().all(|&(stride, n)| {
            let x = (e / stride) % n;
            x >= 1 && x + 1 < n
        })
    }

    /// Element e's taps: by offset inside, clamped at the edges ([`Feedback::taps`]).
    #[cfg(feature = "encode")]
    pub(crate) fn taps(&self, fb: &Feedback, dims: [usize; 3], e: usize) -> [usize; TAPS] {
        if self.interior(e) { self.offsets.map(|o| (e as isize + o) as usize) } else { fb.taps(dims, e) }
    }
}

/// Where a learned pass's taps are: (stride, length) of the two axes across it, and each tap's
/// element offset away from the chunk's edges.
pub(crate) struct TapLayout {
    across: [(usize, usize); 2],
    offsets: [isize; TAPS],
}

/// The level the anchors' step is taken at (coarser than any pass).
const ANCHOR_LEVEL: usize = 1 << 20;

#[cfg(feature = "encode")]
/// Codes larger than this are not attempted (the value is stored exactly instead).
const MAX_CODE: f64 = (1u64 << 50) as f64;

/// Value x predicted as p: its code (`nearest_integer`, ties to even: a code's rounding is the
/// encoder's choice, as any code that keeps the bound decodes), its reconstruction `p + code·step`
/// as the decoder computes it, and whether that keeps the bound in the output dtype (`F32`: float32,
/// else float64); without a branch, so that loops of it vectorize.
#[cfg(feature = "encode")]
#[inline(always)]
fn code_point<const F32: bool>(x: f64, p: f64, (step, inverse, bound): (f64, f64, f64)) -> (i64, f64, bool) {
    let y = (x - p) * inverse;
    let (c, code) = nearest_integer(y);
    let r = p + c * step;
    let back = if F32 { r as f32 as f64 } else { r };
    // NaN and |y| ≥ MAX_CODE fail the first comparison.
    (code, r, (y.abs() < MAX_CODE) & ((back - x).abs() <= bound))
}

/// [`quantize`] of consecutive points, `values` predicted as `predictions`, into their `codes`
/// and reconstructions (0 and the prediction where a point fails): whether any failed. One loop
/// of [`code_point`], compiled for AVX2 where the CPU has it (4 values a vector). Reversed
/// variants' sweeps run most of their finest level's points this way (the passes along axes 1
/// and 0).
#[cfg(feature = "encode")]
fn code_consecutive<const F32: bool>(
    values: &[f64],
    predictions: &[f64],
    (codes, recon): (&mut [i64], &mut [f64]),
    constants: (f64, f64, f64),
) -> bool {
    let points = values.iter().zip(predictions).zip(codes.iter_mut().zip(recon.iter_mut()));
    crate::simd::fastest(
        #[inline(always)]
        || {
            let mut failed = false;
            for ((&x, &p), (code, r_out)) in points {
                let (c, r, ok) = code_point::<F32>(x, p, constants);
                *code = if ok { c } else { 0 };
                *r_out = if ok { r } else { p };
                failed |= !ok;
            }
            failed
        },
    )
}

/// The code of value x predicted as p, and x's reconstruction `p + code·step` as the decoder
/// computes it, or None where no code reaches x within the bound (non-finite x, a code too large).
/// Any code that keeps the bound is valid: `(x − p)·(1/step)` rounded may differ from
/// `(x − p)/step` rounded in the last place, and the reconstruction is checked either way.
#[cfg(feature = "encode")]
#[inline(always)]
fn quantize(x: f64, p: f64, step: f64, inverse: f64, bound: f64, dtype: DType) -> Option<(i64, f64)> {
    let y = (x - p) * inverse;
    // NaN and |y| ≥ MAX_CODE fail the comparison.
    if y.abs() < MAX_CODE {
        let (c, code) = nearest_integer(y);
        let r = p + c * step;
        let out = to_dtype(r, dtype);
        if (out - x).abs() <= bound {
            return Some((code, r));
        }
    }
    None
}

/// [`quantize`] of the residual `x − base` (a reference the decoder adds back, predictor 20)
/// predicted as p: the residual's code and reconstruction `recon(code)`, where the value the
/// decoder makes, `base + recon(code)` rounded to the dtype, keeps the bound on x itself.
#[cfg(feature = "encode")]
#[inline(always)]
pub(crate) fn quantize_from(
    x: f64,
    base: f64,
    p: f64,
    inverse: f64,
    recon: impl Fn(i64) -> f64,
    (bound, dtype): (f64, DType),
) -> Option<(i64, f64)> {
    let y = ((x - base) - p) * inverse;
    if y.abs() < MAX_CODE {
        let c = nearest_integer(y).1;
        let r = recon(c);
        let out = to_dtype(base + r, dtype);
        if (out - x).abs() <= bound {
            return Some((c, r));
        }
    }
    None
}

/// The feedback encoder's output as it is made: a code per element, and the elements that must
/// be stored exactly.
#[cfg(feature = "encode")]
struct PointCoder {
    codes: Vec<i64>,
    new_exceptions: Vec<usize>,
    bound: f64,
    dtype: DType,
}

#[cfg(feature = "encode")]
impl PointCoder {
    /// Codes element e predicted as p: its reconstruction (p itself where it is stored exactly).
    /// `F32`: the output dtype is known to be float32 (the common case gets its own loop).
    /// `reference`: with `REF`, the base the decoder adds to the reconstruction (predictor 20),
    /// which is then a residual's.
    /// `EXC`: some element may be stored exactly already (else `exception` is not read).
    #[inline(always)]
    fn point<const F32: bool, const REF: bool, const EXC: bool>(
        &mut self,
        e: usize,
        p: f64,
        (step, inverse): (f64, f64),
        (value, reference): (&impl Fn(usize) -> f64, &impl Fn(usize) -> f64),
        exception: &[bool],
    ) -> f64 {
        if EXC && exception[e] {
            return p;
        }
        let dtype = if F32 { DType::F32 } else { self.dtype };
        let coded = match REF {
            true => {
                let recon = |c: i64| p + c as f64 * step;
                quantize_from(value(e), reference(e), p, inverse, recon, (self.bound, dtype))
            }
            false => quantize(value(e), p, step, inverse, self.bound, dtype),
        };
        match coded {
            Some((c, r)) => {
                self.codes[e] = c;
                r
            }
            None => {
                self.new_exceptions.push(e);
                p
            }
        }
    }

    /// [`Self::point`] (without a reference or stored values) for each point of `run`, predicted
    /// as `predictions`, into `recon`: one loop that selects each point's code and reconstruction
    /// by whether it keeps the bound, then the points that failed, if any, pushed in order. The
    /// codes of [`quantize`]; CFD's sweep at 1e-2 took 6.8 ns a value with a `point` per point
    /// and `round_to_i64`, 5.5 with this loop and [`nearest`].
    #[inline(always)]
    fn plain_run<const F32: bool>(
        &mut self,
        run: &Run,
        predictions: &[f64],
        (step, inverse): (f64, f64),
        (value, values): (&impl Fn(usize) -> f64, Option<&[f64]>),
        recon: &mut [f64],
    ) {
        let constants = (step, inverse, self.bound);
        let (first, s, n) = (run.first, run.step, predictions.len());
        let failed = match (s, values) {
            (1, Some(values)) => {
                let span = first..first + n;
                let out = (&mut self.codes[span.clone()], &mut recon[span.clone()]);
                code_consecutive::<F32>(&values[span], predictions, out, constants)
            }
            _ => {
                let mut failed = false;
                for (m, &p) in predictions.iter().enumerate() {
                    let e = first + m * s;
                    let (c, r, ok) = code_point::<F32>(value(e), p, constants);
                    self.codes[e] = if ok { c } else { 0 };
                    recon[e] = if ok { r } else { p };
                    failed |= !ok;
                }
                failed
            }
        };
        if failed {
            let failing =
                (0..n).filter(|&m| !code_point::<F32>(value(first + m * s), predictions[m], constants).2);
            self.new_exceptions.extend(failing.map(|m| first + m * s));
        }
    }
}

#[cfg(feature = "encode")]
/// The encoder's result: a code per element (0 for exceptions) and the elements that must be
/// stored exactly besides those already in `exceptions`.
pub struct FeedbackDraft {
    pub codes: Vec<i64>,
    pub new_exceptions: Vec<usize>,
}

impl Feedback {
    /// Variant `v` (predictor byte 10 + v) for a stream.
    pub fn variant(v: u8, center: f64, step: f64) -> Self {
        Self { cubic: v & 1 != 0, reversed: v & 2 != 0, levelwise: v & 4 != 0, center, step, learned: None }
    }

    /// The variant predictor byte `id` names (None for other predictors).
    #[cfg(feature = "encode")]
    fn of_id(id: u8) -> Option<Self> {
        FeedbackFamily.ids().contains(&id).then(|| Self::variant(id - 10, 0.0, 1.0))
    }

    /// Whether predictor byte `id` is a variant with level-wise steps.
    #[cfg(feature = "encode")]
    pub(crate) fn has_levelwise_steps(id: u8) -> bool {
        Self::of_id(id).is_some_and(|f| f.levelwise)
    }

    /// The grid interpolation (predictor 8 or 9) with the same stencil, axis order and steps as
    /// predictor byte `id`, where `id` is such a variant (axes 0-1-2, one step).
    #[cfg(feature = "encode")]
    pub(crate) fn grid_twin(id: u8) -> Option<u8> {
        Self::of_id(id).filter(|f| !f.reversed && !f.levelwise).map(|f| 8 + f.cubic as u8)
    }

    /// Its variant: bit 0 cubic, bit 1 axes 2-1-0, bit 2 level-wise steps.
    fn variant_byte(&self) -> u8 {
        self.cubic as u8 + 2 * self.reversed as u8 + 4 * self.levelwise as u8
    }

    /// The axis of the last pass of the finest level: the last axis in this variant's order
    /// that is longer than 1.
    fn last_axis(&self, dims: [usize; 3]) -> Option<usize> {
        let order = if self.reversed { [2, 1, 0] } else { [0, 1, 2] };
        order.into_iter().rev().find(|&a| dims[a] > 1)
    }

    /// Whether `run` is predicted by the learned weights: a run of the last pass whose points all
    /// have their four taps along the axis (the cubic stencil's runs).
    fn learned_run(&self, dims: [usize; 3], run: &Run) -> bool {
        self.learned.is_some()
            && run.h == 1
            && run.stencil == Stencil::Cubic
            && Some(run.axis) == self.last_axis(dims)
    }

    /// Element e's taps (see [`TAPS`]): coordinates across the axis clamped to the chunk.
    pub(crate) fn taps(&self, dims: [usize; 3], e: usize) -> [usize; TAPS] {
        let a = self.last_axis(dims).unwrap_or(2);
        let mut x = [e / (dims[1] * dims[2]), (e / dims[2]) % dims[1], e % dims[2]];
        let across: [usize; 2] = match a {
            0 => [1, 2],
            1 => [0, 2],
            _ => [0, 1],
        };
        let (b0, c0, k0) = (x[across[0]], x[across[1]], x[a]);
        let clamp = |v: usize, d: isize, n: usize| (v as isize + d).clamp(0, n as isize - 1) as usize;
        let mut out = [0usize; TAPS];
        let mut t = 0;
        for db in -1isize..=1 {
            for dc in -1isize..=1 {
                for dk in [-3isize, -1, 1, 3] {
                    x[across[0]] = clamp(b0, db, dims[across[0]]);
                    x[across[1]] = clamp(c0, dc, dims[across[1]]);
                    x[a] = (k0 as isize + dk) as usize;
                    out[t] = (x[0] * dims[1] + x[1]) * dims[2] + x[2];
                    t += 1;
                }
            }
        }
        out
    }

    /// How the learned pass finds the taps of a chunk of `dims`.
    pub(crate) fn tap_layout(&self, dims: [usize; 3]) -> TapLayout {
        let a = self.last_axis(dims).unwrap_or(2);
        let strides = [dims[1] * dims[2], dims[2], 1];
        let across = match a {
            0 => [1, 2],
            1 => [0, 2],
            _ => [0, 1],
        };
        let mut offsets = [0isize; TAPS];
        let mut t = 0;
        for db in -1isize..=1 {
            for dc in -1isize..=1 {
                for dk in [-3isize, -1, 1, 3] {
                    offsets[t] = db * strides[across[0]] as isize
                        + dc * strides[across[1]] as isize
                        + dk * strides[a] as isize;
                    t += 1;
                }
            }
        }
        TapLayout { across: across.map(|b| (strides[b], dims[b])), offsets }
    }

    /// The learned prediction of element e: for each tap along the axis (−3, −1, +1, +3) the sum
    /// of weight·tap over the 3 × 3 offsets across it in order, then `(s−3 + s−1) + (s+1 + s+3)`
    /// (four independent sums, so that consecutive additions need not wait on each other).
    #[inline]
    pub(crate) fn learned_prediction(
        &self,
        w: &[f64; TAPS],
        layout: &TapLayout,
        dims: [usize; 3],
        recon: &[f64],
        e: usize,
    ) -> f64 {
        let mut s = [0.0f64; 4];
        if layout.interior(e) {
            for cross in 0..9 {
                for (j, sum) in s.iter_mut().enumerate() {
                    let t = cross * 4 + j;
                    *sum += w[t] * recon[(e as isize + layout.offsets[t]) as usize];
                }
            }
        } else {
            let taps = self.taps(dims, e);
            for cross in 0..9 {
                for (j, sum) in s.iter_mut().enumerate() {
                    let t = cross * 4 + j;
                    *sum += w[t] * recon[taps[t]];
                }
            }
        }
        (s[0] + s[1]) + (s[2] + s[3])
    }

    /// Runs the learned `run` over `recon`: each point gets `set(e, prediction)`.
    #[inline]
    fn refine_learned(
        &self,
        w: &[f64; TAPS],
        layout: &TapLayout,
        dims: [usize; 3],
        recon: &mut [f64],
        run: Run,
        mut set: impl FnMut(usize, f64) -> f64,
    ) {
        for e in (0..run.count).map(|m| run.first + m * run.step) {
            let p = self.learned_prediction(w, layout, dims, recon, e);
            recon[e] = set(e, p);
        }
    }

    /// The points of the learned pass, in order (encoder: what the weights are fitted on).
    #[cfg(feature = "encode")]
    pub(crate) fn last_pass_points(&self, dims: [usize; 3], mut visit: impl FnMut(usize)) {
        let probe = Feedback { learned: Some([0.0; TAPS]), ..*self };
        runs(dims, self.reversed, self.cubic, |run| {
            if probe.learned_run(dims, &run) {
                (0..run.count).for_each(|m| visit(run.first + m * run.step));
            }
        });
    }

    /// The step of the pass of spacing `h` (anchors: `ANCHOR_LEVEL`). With level-wise steps,
    /// coarse points, which predict everything finer, are coded more finely: the step shrinks by
    /// 1/1.5 a level above the finest, down to 1/4 (QoZ's level-wise bounds; anchors at 1/4).
    /// Repeated multiplication, not `powi`, so every platform gets the same f64.
    pub(crate) fn step_for(&self, h: usize) -> f64 {
        if !self.levelwise {
            return self.step;
        }
        let mut level = h;
        let mut f = 1.0f64;
        while level > 1 && f < 4.0 {
            f *= 1.5;
            level /= 2;
        }
        self.step * (1.0 / f.min(4.0))
    }

    /// Its runs in the order that computes them fastest: the finest level plane by plane
    /// ([`runs_by_plane`]), but pass by pass with a learned last pass (its taps reach into the
    /// neighbouring planes, which then must have had their other passes).
    fn each_run(&self, dims: [usize; 3], visit: impl FnMut(Run)) {
        match self.learned {
            Some(_) => runs(dims, self.reversed, self.cubic, visit),
            None => runs_by_plane(dims, self.reversed, self.cubic, visit),
        }
    }

    /// The anchors of the interpolation order, each predicted by the one before (the first by
    /// the centre): `set(e, prediction, step)` returns anchor e's reconstructed value.
    fn sweep_anchors(
        &self,
        dims: [usize; 3],
        recon: &mut [f64],
        set: &mut impl FnMut(usize, f64, f64) -> f64,
    ) {
        let anchor_step = self.step_for(ANCHOR_LEVEL);
        let mut prev = self.center;
        anchors(dims, |e| {
            prev = set(e, prev, anchor_step);
            recon[e] = prev;
        });
    }

    /// Codes for the field chunk `dims` whose element e has value `value(e)`; `exception[e]`
    /// marks values stored exactly already (they are predicted, and the prediction stands in).
    #[cfg(feature = "encode")]
    pub fn encode_values(
        &self,
        dims: [usize; 3],
        bound: f64,
        dtype: DType,
        value: impl Fn(usize) -> f64,
        exception: &[bool],
    ) -> FeedbackDraft {
        let mut recon = vec![0f64; exception.len()];
        self.encode_into(dims, bound, dtype, value, exception, &mut recon)
    }

    /// [`Self::encode_values`], reconstructing into `recon` (the chunk's length).
    #[cfg(feature = "encode")]
    pub fn encode_into(
        &self,
        dims: [usize; 3],
        bound: f64,
        dtype: DType,
        value: impl Fn(usize) -> f64,
        exception: &[bool],
        recon: &mut [f64],
    ) -> FeedbackDraft {
        self.sweep::<false>(dims, (bound, dtype), ((&value, None), &|_| 0.0), exception, recon)
    }

    /// [`Self::encode_into`] of the residuals `value(e) − reference(e)`, each checked on the value
    /// the decoder makes from it, `reference(e) + recon[e]` rounded to the dtype (predictor 20):
    /// `recon` gets the residuals' reconstruction.
    #[cfg(feature = "encode")]
    pub fn encode_residuals_into(
        &self,
        dims: [usize; 3],
        (bound, dtype): (f64, DType),
        (value, reference): (impl Fn(usize) -> f64, impl Fn(usize) -> f64),
        exception: &[bool],
        recon: &mut [f64],
    ) -> FeedbackDraft {
        self.sweep::<true>(dims, (bound, dtype), ((&value, None), &reference), exception, recon)
    }

    /// The encoder's sweep: with `REF`, of residuals against `reference`. `values`, where given,
    /// is what `value` reads (`value(e) == values[e]`): runs of consecutive points are then coded
    /// from slices.
    #[cfg(feature = "encode")]
    fn sweep<const REF: bool>(
        &self,
        dims: [usize; 3],
        (bound, dtype): (f64, DType),
        ((value, values), reference): ((&impl Fn(usize) -> f64, Option<&[f64]>), &impl Fn(usize) -> f64),
        exception: &[bool],
        recon: &mut [f64],
    ) -> FeedbackDraft {
        let at = (value, reference);
        let mut out =
            PointCoder { codes: vec![0i64; exception.len()], new_exceptions: Vec::new(), bound, dtype };
        self.sweep_anchors(dims, recon, &mut |e, p, step| {
            out.point::<false, REF, true>(e, p, (step, 1.0 / step), at, exception)
        });
        let layout = self.tap_layout(dims);
        let mut predictions = Vec::new();
        let stored = crate::predictor::any_stored(exception);
        self.each_run(dims, |run| {
            let step = self.step_for(run.h);
            let steps = (step, 1.0 / step);
            match &self.learned {
                Some(w) if self.learned_run(dims, &run) => {
                    self.refine_learned(w, &layout, dims, recon, run, |e, p| {
                        out.point::<false, REF, true>(e, p, steps, at, exception)
                    })
                }
                // A run reads only points of earlier passes: its predictions first, in one tight
                // loop, then each point coded against its own.
                _ => {
                    predict_run(recon, run, &mut predictions);
                    // Most chunks store no value exactly: their loop need not look, nor branch.
                    match (dtype == DType::F32, stored || REF) {
                        (true, false) => {
                            out.plain_run::<true>(&run, &predictions, steps, (value, values), recon)
                        }
                        (false, false) => {
                            out.plain_run::<false>(&run, &predictions, steps, (value, values), recon)
                        }
                        (f32, true) => {
                            let points =
                                predictions.iter().enumerate().map(|(m, &p)| (run.first + m * run.step, p));
                            match f32 {
                                true => points.for_each(|(e, p)| {
                                    recon[e] = out.point::<true, REF, true>(e, p, steps, at, exception)
                                }),
                                false => points.for_each(|(e, p)| {
                                    recon[e] = out.point::<false, REF, true>(e, p, steps, at, exception)
                                }),
                            }
                        }
                    }
                }
            }
        });
        let PointCoder { codes, mut new_exceptions, .. } = out;
        new_exceptions.sort_unstable();
        FeedbackDraft { codes, new_exceptions }
    }

    /// [`Self::encode_values`] of this variant with its learned last pass, from the base
    /// variant's draft and reconstruction (`encode_into` without the weights): only the learned
    /// pass's points code differently, and their taps are points of earlier passes, which the
    /// base reconstructs the same way (no later point reads them). One pass over those points
    /// instead of a sweep.
    #[cfg(feature = "encode")]
    pub(crate) fn learned_from_base(
        &self,
        dims: [usize; 3],
        (bound, dtype): (f64, DType),
        value: impl Fn(usize) -> f64,
        exception: &[bool],
        mut base: FeedbackDraft,
        recon: &[f64],
    ) -> FeedbackDraft {
        let Some(w) = &self.learned else { return base };
        let layout = self.tap_layout(dims);
        let step = self.step_for(1);
        let mut in_pass = vec![false; exception.len()];
        let mut out = PointCoder { codes: base.codes, new_exceptions: Vec::new(), bound, dtype };
        self.last_pass_points(dims, |e| {
            in_pass[e] = true;
            // The base's code goes: an exception, or one that fails, keeps code 0 as in a sweep.
            out.codes[e] = 0;
            let p = self.learned_prediction(w, &layout, dims, recon, e);
            out.point::<false, false, true>(e, p, (step, 1.0 / step), (&value, &|_| 0.0), exception);
        });
        base.new_exceptions.retain(|&e| !in_pass[e]);
        base.new_exceptions.extend(out.new_exceptions);
        base.new_exceptions.sort_unstable();
        FeedbackDraft { codes: out.codes, new_exceptions: base.new_exceptions }
    }

    /// The reconstructed values (before rounding to the stream's dtype) of a chunk coded by
    /// [`Self::encode_values`].
    pub fn decode_values(&self, dims: [usize; 3], codes: &[i64], exception: &[bool]) -> Vec<f64> {
        let mut recon = vec![0f64; codes.len()];
        self.decode_into(dims, codes, exception, &mut recon);
        recon
    }

    /// [`Self::decode_values`] into `recon` (the chunk's length; every element is written).
    pub fn decode_into(&self, dims: [usize; 3], codes: &[i64], exception: &[bool], recon: &mut [f64]) {
        // Most chunks have no exception: their loops need not look.
        let stored = crate::predictor::any_stored(exception).then_some(exception);
        let value = |e: usize, p: f64, step: f64| {
            if stored.is_some_and(|s| s[e]) { p } else { p + codes[e] as f64 * step }
        };
        self.sweep_anchors(dims, recon, &mut |e, p, step| value(e, p, step));
        let layout = self.tap_layout(dims);
        self.each_run(dims, |run| {
            let step = self.step_for(run.h);
            match (&self.learned, stored) {
                (Some(w), _) if self.learned_run(dims, &run) => {
                    self.refine_learned(w, &layout, dims, recon, run, |e, p| value(e, p, step))
                }
                (_, Some(stored)) => decode_run_f64_stored(recon, run, codes, step, stored),
                (_, None) => decode_run_f64(recon, run, codes, step),
            }
        });
    }
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;

    #[test]
    fn bound_holds_and_decode_reproduces_the_encoder() {
        let dims = [6, 20, 30];
        let n = 6 * 20 * 30;
        // A smooth wave plus noise of a tenth of the bound.
        let values: Vec<f64> = (0..n)
            .map(|i| {
                ((i % 30) as f64 * 0.1).sin()
                    + ((i / 30) as f64 * 0.05).cos()
                    + ((i * 7919) % 13) as f64 * 4e-4
            })
            .collect();
        let bound = 0.05;
        for fb in (0..8).map(|v| Feedback::variant(v, 0.0, 2.0 * bound)) {
            let mut exc = vec![false; n];
            exc[17] = true;
            let d = fb.encode_values(dims, bound, DType::F64, |e| values[e], &exc);
            assert!(d.new_exceptions.is_empty());
            let r = fb.decode_values(dims, &d.codes, &exc);
            for e in (0..n).filter(|&e| !exc[e]) {
                assert!((r[e] - values[e]).abs() <= bound, "{e}");
            }
            let zeros = d.codes.iter().filter(|&&c| c == 0).count();
            assert!(zeros > n / 3, "smooth data: many zero codes ({zeros} of {n})");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The values the encoder's sweep hands the compressor's check (`Draft::reconstruction`)
        /// are, bit for bit, the decoder's from the same codes and exceptions: every variant,
        /// float32 and float64, values stored exactly before the sweep and by it, bounds from
        /// coarse to below float32's precision, odd and flat shapes.
        #[test]
        fn decode_reproduces_the_sweep(
            dims in proptest::sample::select(vec![[1usize, 1, 37], [3, 5, 7], [6, 20, 30], [9, 1, 31], [2, 33, 4], [17, 16, 16]]),
            variant in 0u8..8,
            f32 in proptest::bool::ANY,
            rel in proptest::sample::select(vec![1e-1, 1e-3, 1e-6, 1e-9]),
            seed in 0u64..1000,
            holes in proptest::bool::ANY,
        ) {
            let n: usize = dims.iter().product();
            let dtype = if f32 { DType::F32 } else { DType::F64 };
            let mut values: Vec<f64> = (0..n)
                .map(|i| ((i as f64) * 0.013 + seed as f64).sin() * 40.0 + ((i * 7919 + seed as usize) % 17) as f64 * 0.03)
                .collect();
            let mut exception = vec![false; n];
            if holes {
                // Stored exactly before the sweep (a fill value), and out of every code's reach.
                exception[seed as usize % n] = true;
                values[(seed as usize * 7 + 3) % n] = if f32 { f32::MAX as f64 } else { 1e300 };
            }
            if f32 {
                values.iter_mut().for_each(|v| *v = *v as f32 as f64);
            }
            let bound = rel * 80.0;
            let fb = Feedback::variant(variant, 0.0, 2.0 * bound);
            let values_in = crate::predictor::FloatValues { values: &values, bound, dtype, whole: true };
            let input = ChunkInput { dims, q: &[], exceptions: &exception, values: Some(values_in) };
            let d = Predictor::encode(&fb, &input);
            let mut stored = exception.clone();
            d.new_exceptions.iter().for_each(|&e| stored[e] = true);
            let decoded = fb.decode_values(dims, &d.codes, &stored);
            let swept = d.reconstruction.expect("a classic variant hands its values over");
            proptest::prop_assert!(crate::data::float_bytes(&swept, dtype) == crate::data::float_bytes(&decoded, dtype));
            // A box or slab (not the chunk itself) only ranks: the same codes, no bytes made.
            let ranking = ChunkInput { values: Some(crate::predictor::FloatValues { whole: false, ..values_in }), ..input };
            let r = Predictor::encode(&fb, &ranking);
            proptest::prop_assert!(r.reconstruction.is_none() && r.codes == d.codes && r.new_exceptions == d.new_exceptions);
        }
    }

    /// Consecutive points coded from slices (in the loop compiled for AVX2 where the CPU has it,
    /// and point by point as built) get `quantize`'s codes and reconstructions, 0 and the
    /// prediction where it fails:
    /// ties, residuals past every code's reach, NaN and infinities, float32 and float64.
    #[test]
    fn consecutive_points_are_coded_as_one_by_one() {
        let mut state = 9u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for case in 0..200 {
            let f32 = case % 2 == 0;
            let dtype = if f32 { DType::F32 } else { DType::F64 };
            let bound = [1e-3, 0.25, 1e-9][case % 3];
            let step = 2.0 * bound;
            let n = case % 70;
            let predictions: Vec<f64> = (0..n).map(|_| next() * 10.0 - 5.0).collect();
            let values: Vec<f64> = predictions
                .iter()
                .map(|&p| {
                    let x = match (next() * 20.0) as usize {
                        0 => p + step * 0.5,
                        1 => p + MAX_CODE * step * 2.0,
                        2 => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][(next() * 3.0) as usize],
                        _ => p + (next() - 0.5) * step * 40.0,
                    };
                    crate::quant::to_dtype(x, dtype)
                })
                .collect();
            let constants = (step, 1.0 / step, bound);
            let dispatched = {
                let (mut codes, mut recon) = (vec![7i64; n], vec![7.0; n]);
                let out = (&mut codes[..], &mut recon[..]);
                let failed = match f32 {
                    true => code_consecutive::<true>(&values, &predictions, out, constants),
                    false => code_consecutive::<false>(&values, &predictions, out, constants),
                };
                (failed, codes, recon.iter().map(|r| r.to_bits()).collect::<Vec<_>>())
            };
            let baseline = {
                let points = values.iter().zip(&predictions).map(|(&x, &p)| match f32 {
                    true => (code_point::<true>(x, p, constants), p),
                    false => (code_point::<false>(x, p, constants), p),
                });
                let points: Vec<_> = points.map(|((c, r, ok), p)| if ok { (c, r) } else { (0, p) }).collect();
                let failed = values.iter().zip(&predictions).any(|(&x, &p)| match f32 {
                    true => !code_point::<true>(x, p, constants).2,
                    false => !code_point::<false>(x, p, constants).2,
                });
                (
                    failed,
                    points.iter().map(|c| c.0).collect::<Vec<_>>(),
                    points.iter().map(|c| c.1.to_bits()).collect(),
                )
            };
            assert_eq!(dispatched, baseline, "case {case}");
            let one_by_one: Vec<Option<(i64, f64)>> =
                (0..n).map(|m| quantize(values[m], predictions[m], step, 1.0 / step, bound, dtype)).collect();
            assert_eq!(baseline.0, one_by_one.iter().any(Option::is_none), "case {case}");
            for m in 0..n {
                let (c, r) = one_by_one[m].unwrap_or((0, predictions[m]));
                assert_eq!((baseline.1[m], baseline.2[m]), (c, r.to_bits()), "case {case} point {m}");
            }
        }
    }

    /// Predictor bytes 14–17 have level-wise steps; 10 and 11 are grid interpolation's twins (8, 9).
    #[test]
    fn variants_by_predictor_byte() {
        let levelwise: Vec<u8> = (0..=255).filter(|&id| Feedback::has_levelwise_steps(id)).collect();
        assert_eq!(levelwise, [14, 15, 16, 17]);
        let twins: Vec<(u8, u8)> = (0..=255).filter_map(|id| Some((id, Feedback::grid_twin(id)?))).collect();
        assert_eq!(twins, [(10, 8), (11, 9)]);
    }

    #[test]
    fn values_out_of_reach_become_exceptions() {
        let dims = [1, 1, 8];
        let values = [0.0, 1e300, 0.0, f64::MAX, 1.0, 2.0, 3.0, 4.0];
        let fb = Feedback {
            cubic: false,
            reversed: false,
            levelwise: true,
            center: 0.0,
            step: 0.2,
            learned: None,
        };
        let d = fb.encode_values(dims, 0.1, DType::F64, |e| values[e], &[false; 8]);
        assert!(d.new_exceptions.contains(&1) && d.new_exceptions.contains(&3), "{:?}", d.new_exceptions);
    }
}
