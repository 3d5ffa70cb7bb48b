//! Predictor 19 (fields, format ≥ 5): cubic interpolation on reconstructed values whose finest
//! pass — half of a field's values — is predicted by weights learned on the chunk instead of the
//! fixed cubic stencil.
//!
//! The last pass of the finest level predicts points with an odd coordinate along its axis from
//! reconstructed points with an even one; by then every point with an even coordinate along it is
//! known, across the other axes too. The learned predictor reads the four taps along the axis
//! (−3, −1, +1, +3) at each of the 3 × 3 offsets across it ([`TAPS`] in all, coordinates across
//! clamped to the chunk) and weighs them by least-squares weights fitted by the encoder on the
//! chunk's own reconstruction (`fit`). Where a point lacks a tap along the axis the base variant's
//! stencil stays. Everything else is the base variant (predictors 10–17, `feedback.rs`).
//!
//! Measured first with `scripts/learned-interp-probe.py`: on CFD the fixed stencil leaves
//! structure at loose bounds (1e-2), none at 1e-3 and tighter, where the reconstruction noise in
//! the taps is all that is left.

use crate::bytes::Reader;
#[cfg(feature = "encode")]
use crate::coder::buckets::estimated_bytes;
#[cfg(feature = "encode")]
use crate::data::DType;
use crate::error::{Result, corrupt};
#[cfg(feature = "encode")]
use crate::predictor::feedback::FeedbackDraft;
use crate::predictor::feedback::{Feedback, TAPS};
use crate::predictor::{Family, Predictor, StreamInfo};

/// The predictor id.
pub const LEARNED_ID: u8 = 19;
/// The learned pass decodes at about a third of the fixed stencil's speed (36 taps a point: 190
/// against 640 MB/s on one thread on the sea-state field, where it makes the archive 20 %
/// smaller): it is chosen only where it makes a chunk at least this much smaller (on CFD at 1e-2 it
/// saves 1.2 %, not enough).
pub const SIZE_MARGIN: f64 = 1.03;

/// Predictor 19.
pub struct LearnedPassFamily;

impl Family for LearnedPassFamily {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        LEARNED_ID..=LEARNED_ID
    }

    /// Format 5 added it.
    fn since_version(&self) -> u16 {
        5
    }

    fn build(&self, _id: u8, _streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        corrupt("predictor 19 needs its weights")
    }

    fn build_with(
        &self,
        _id: u8,
        streams: &StreamInfo,
        params: &mut Reader<'_>,
    ) -> Result<Box<dyn Predictor>> {
        let Some(f) = streams.float_field else {
            return corrupt("predictor 19 on a table or an integer stream");
        };
        let variant = params.u8("learned pass variant")?;
        if variant > 7 || variant & 1 == 0 {
            return corrupt(format!("learned pass on variant {variant} (a cubic variant 0–7 is needed)"));
        }
        let mut weights = [0f64; TAPS];
        for w in &mut weights {
            let b = params.take(8, "learned pass weight")?;
            *w = f64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        Ok(Box::new(Feedback { learned: Some(weights), ..Feedback::variant(variant, f.center, f.step) }))
    }
}

/// Most points the weights are fitted and priced on (every k-th point of the pass beyond).
#[cfg(feature = "encode")]
const FIT_POINTS: usize = 1 << 13;

/// A learned last pass and what the fit expects of it.
#[cfg(feature = "encode")]
pub struct Fitted {
    pub learned: Feedback,
    /// Bytes it saves on its pass against the base variant's stencil: the codes' entropy as coder 2
    /// stores them, on the fitted points, scaled to the pass.
    pub saved: f64,
    /// The base variant's estimated bytes for the chunk (codes and values stored exactly).
    pub base_bytes: f64,
    /// The base variant's draft and reconstruction, which give the learned variant's codes.
    base: FeedbackDraft,
    recon: Vec<f64>,
}

#[cfg(feature = "encode")]
impl Fitted {
    /// The learned variant's estimated bytes for the chunk.
    pub fn estimated_bytes(&self) -> f64 {
        self.base_bytes - self.saved
    }

    /// The learned variant's codes for the chunk it was fitted on (the same `value`, `exception`,
    /// bound and dtype): what its `encode` gives, without a sweep.
    pub fn draft(
        self,
        dims: [usize; 3],
        bound: f64,
        dtype: DType,
        value: impl Fn(usize) -> f64,
        exception: &[bool],
    ) -> crate::predictor::Draft {
        let d =
            self.learned.learned_from_base(dims, (bound, dtype), value, exception, self.base, &self.recon);
        crate::predictor::Draft { codes: d.codes, new_exceptions: d.new_exceptions, reconstruction: None }
    }
}

/// The cubic variant `base` with its last pass learned on the field chunk `dims` (values
/// `value(e)`, `exception[e]` stored exactly); None where it has no such pass or the fit fails.
/// `swept`: the base's codes for the chunk where a candidate has them already (its
/// reconstruction is then decoded from them, cheaper than the base's sweep).
#[cfg(feature = "encode")]
pub fn fit(
    base: Feedback,
    dims: [usize; 3],
    bound: f64,
    dtype: DType,
    value: impl Fn(usize) -> f64,
    exception: &[bool],
    swept: Option<FeedbackDraft>,
) -> Option<Fitted> {
    if !base.cubic || base.learned.is_some() {
        return None;
    }
    // The base's reconstruction: the taps of the last pass are points of earlier passes, which
    // the learned variant reconstructs the same way.
    let (draft, recon) = match swept {
        Some(draft) => {
            let mut stored = exception.to_vec();
            draft.new_exceptions.iter().for_each(|&e| stored[e] = true);
            let recon = base.decode_values(dims, &draft.codes, &stored);
            (draft, recon)
        }
        None => {
            let mut recon = vec![0f64; exception.len()];
            let draft = base.encode_into(dims, bound, dtype, &value, exception, &mut recon);
            (draft, recon)
        }
    };
    // Every `every`-th point of the pass that is not stored exactly (the encoder sorted its new
    // exceptions), without holding the whole pass.
    let stored = |e: usize| exception[e] || draft.new_exceptions.binary_search(&e).is_ok();
    let mut count = 0usize;
    base.last_pass_points(dims, |e| count += !stored(e) as usize);
    if count < 4 * TAPS {
        return None;
    }
    let every = count.div_ceil(FIT_POINTS);
    let mut points = Vec::with_capacity(count.div_ceil(every));
    let mut k = 0usize;
    base.last_pass_points(dims, |e| {
        if !stored(e) {
            if k.is_multiple_of(every) {
                points.push(e);
            }
            k += 1;
        }
    });
    // Normal equations over the taps, in units of the step (well scaled whatever the field's).
    let scale = 1.0 / base.step;
    let mut ata = vec![vec![0f64; TAPS]; TAPS];
    let mut atb = vec![0f64; TAPS];
    let layout = base.tap_layout(dims);
    for &e in &points {
        let taps = layout.taps(&base, dims, e).map(|t| recon[t] * scale);
        let y = value(e) * scale;
        for i in 0..TAPS {
            atb[i] += taps[i] * y;
            for j in i..TAPS {
                ata[i][j] += taps[i] * taps[j];
            }
        }
    }
    // The lower triangle from the upper.
    for i in 1..TAPS {
        let (upper, lower) = ata.split_at_mut(i);
        for (j, row) in upper.iter().enumerate() {
            lower[0][j] = row[i];
        }
    }
    // A ridge of 1e-9 of the diagonal's scale keeps taps that coincide at the chunk's edges
    // (clamped offsets) from making the system singular.
    let diag = (0..TAPS).map(|i| ata[i][i]).fold(0.0f64, f64::max);
    for (i, row) in ata.iter_mut().enumerate() {
        row[i] += 1e-9 * diag.max(1e-300);
    }
    let weights: [f64; TAPS] =
        crate::predictor::linear::solve(ata, atb, |_| f64::MIN_POSITIVE)?.try_into().ok()?;
    let learned = Feedback { learned: Some(weights), ..base };
    // The pass's codes with and without the weights: its taps are earlier passes', the same in
    // both, so the base's reconstruction prices both exactly (but for values the bound check
    // would store exactly).
    let step = base.step_for(1);
    let (mut fixed, mut weighed) = (Vec::new(), Vec::new());
    for &e in &points {
        let t = layout.taps(&base, dims, e);
        let cubic = (9.0 * (recon[t[17]] + recon[t[18]]) - (recon[t[16]] + recon[t[19]])) * 0.0625;
        let x = value(e);
        fixed.push(crate::quant::round_to_i64((x - cubic) / step));
        let p = learned.learned_prediction(&weights, &layout, dims, &recon, e);
        weighed.push(crate::quant::round_to_i64((x - p) / step));
    }
    let scale = count as f64 / fixed.len() as f64;
    let saved = (estimated_bytes(&fixed) - estimated_bytes(&weighed)) * scale;
    let stored = (draft.new_exceptions.len() * (dtype.size_bytes() + 2)) as f64;
    let base_bytes = estimated_bytes(&draft.codes) + stored;
    Some(Fitted { learned, saved, base_bytes, base: draft, recon })
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
    use crate::bytes::Reader;

    /// Short waves travelling across frames (what the sea-state field has): a fixed stencil
    /// cannot follow them, a learned one can.
    fn waves(dims: [usize; 3]) -> Vec<f64> {
        let [t, h, w] = dims;
        (0..t * h * w)
            .map(|e| {
                let (i, j, k) = (e / (h * w), (e / w) % h, e % w);
                let (i, j, k) = (i as f64, j as f64, k as f64);
                (0.9 * k + 0.4 * j - 0.3 * i).sin() + 0.5 * (1.3 * j - 0.7 * k + 0.2 * i).cos()
            })
            .collect()
    }

    #[test]
    fn a_learned_last_pass_codes_waves_smaller_and_decodes_what_it_encoded() {
        let dims = [8, 40, 48];
        let values = waves(dims);
        let (bound, n) = (1e-4, values.len());
        let mut exceptions = vec![false; n];
        exceptions[1234] = true;
        let base = Feedback::variant(5, 0.0, 2.0 * bound);
        let fitted = fit(base, dims, bound, DType::F64, |e| values[e], &exceptions, None).expect("fits");
        let (learned, saved) = (fitted.learned, fitted.saved);
        let entropy = |fb: &Feedback| {
            let d = fb.encode_values(dims, bound, DType::F64, |e| values[e], &exceptions);
            assert!(d.new_exceptions.is_empty());
            let r = fb.decode_values(dims, &d.codes, &exceptions);
            for e in (0..n).filter(|&e| !exceptions[e]) {
                assert!((r[e] - values[e]).abs() <= bound, "{e}: {} vs {}", r[e], values[e]);
            }
            crate::coder::buckets::estimated_bytes(&d.codes)
        };
        let (fixed, weighed) = (entropy(&base), entropy(&learned));
        assert!(weighed < 0.9 * fixed, "learned {weighed} vs fixed {fixed} bytes");
        // The fit's own pricing of the pass is near what the codes show (the other passes are
        // equal; entropies of parts do not add up exactly to the whole's).
        let actual = fixed - weighed;
        assert!(saved > 0.6 * actual && saved < 1.4 * actual, "{saved} vs {actual}");
        // The weights travel in the chunk and come back as the same predictor.
        let params = learned.params();
        assert_eq!(params.len(), 1 + 8 * TAPS);
        let info = StreamInfo {
            table: false,
            centers: vec![0],
            float_field: Some(crate::predictor::FloatField { center: 0.0, step: 2.0 * bound }),
            grids: vec![Some((2.0 * bound, 0.0))],
            names: vec![String::new()],
            version: crate::format::container::FORMAT_VERSION,
        };
        let mut r = Reader::new(&params);
        let back = LearnedPassFamily.build_with(LEARNED_ID, &info, &mut r).unwrap();
        r.finish("params").unwrap();
        assert_eq!(back.id(), LEARNED_ID);
        assert_eq!(back.params(), params);
        // A linear variant, or weights cut short, are refused.
        let mut linear = params.clone();
        linear[0] = 4;
        assert!(LearnedPassFamily.build_with(LEARNED_ID, &info, &mut Reader::new(&linear)).is_err());
        for cut in 0..params.len() {
            assert!(
                LearnedPassFamily.build_with(LEARNED_ID, &info, &mut Reader::new(&params[..cut])).is_err()
            );
        }
    }

    #[test]
    fn the_fit_gives_the_codes_a_sweep_with_the_weights_gives() {
        for (dims, reversed) in [([6, 40, 50], false), ([9, 20, 33], true), ([1, 64, 70], false)] {
            let mut values = waves(dims);
            // Values no code reaches (stored exactly) and values marked stored already.
            values[dims[2] + 3] = f64::NAN;
            let middle = values.len() / 2 + 1;
            values[middle] = 1e300;
            let exception: Vec<bool> = (0..values.len()).map(|e| e % 97 == 5).collect();
            for (bound, dtype) in [(1e-3, DType::F64), (2e-2, DType::F32), (1e-5, DType::F64)] {
                for levelwise in [false, true] {
                    let v = 1 + 2 * reversed as u8 + 4 * levelwise as u8;
                    let base = Feedback::variant(v, 0.0, 2.0 * bound);
                    let fitted = fit(base, dims, bound, dtype, |e| values[e], &exception, None)
                        .expect("a last pass to fit");
                    let swept = fitted.learned.encode_values(dims, bound, dtype, |e| values[e], &exception);
                    // From the base's codes (its reconstruction decoded), the same fit.
                    let codes = base.encode_values(dims, bound, dtype, |e| values[e], &exception);
                    let again =
                        fit(base, dims, bound, dtype, |e| values[e], &exception, Some(codes)).expect("a fit");
                    assert_eq!(again.learned, fitted.learned, "{dims:?} variant {v} bound {bound}");
                    assert_eq!(again.saved.to_bits(), fitted.saved.to_bits());
                    let d = fitted.draft(dims, bound, dtype, |e| values[e], &exception);
                    assert_eq!(d.codes, swept.codes, "{dims:?} variant {v} bound {bound}");
                    assert_eq!(d.new_exceptions, swept.new_exceptions, "{dims:?} variant {v} bound {bound}");
                }
            }
        }
    }

    #[test]
    fn nothing_to_learn_on_a_chunk_without_a_last_pass() {
        let dims = [1, 1, 3];
        let values = [1.0, 2.0, 3.0];
        let base = Feedback::variant(7, 0.0, 0.2);
        assert!(fit(base, dims, 0.1, DType::F64, |e| values[e], &[false; 3], None).is_none());
        // Linear variants have no cubic runs to learn.
        assert!(
            fit(
                Feedback::variant(4, 0.0, 0.2),
                [8, 40, 48],
                0.1,
                DType::F64,
                |_| 0.0,
                &vec![false; 15360],
                None
            )
            .is_none()
        );
    }
}
