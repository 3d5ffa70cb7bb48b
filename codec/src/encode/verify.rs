//! The compressor's last check: every decoded value against the bound, independently of how it
//! was encoded.

use crate::data::{DType, Dataset, Values};
use crate::error::{CodecError, Result};
use crate::format::metadata::Quantizer;
use crate::preprocess::is_fill;

use super::StreamPlan;

/// Independent check, in f64, of |x − x′| ≤ bound for every value of `part` — the decoded values
/// of the input's streams from value `at` of each on (a chunk's rows) — against the input `orig`;
/// NaN, ±Inf and fill values must come back bit for bit. Returns the values per stream it held.
pub(super) fn verify_part(
    orig: &Dataset,
    part: &Dataset,
    at: usize,
    streams: &[StreamPlan],
    fill: Option<f64>,
) -> Result<usize> {
    let pairs: Vec<(&Values, &Values)> = match (orig, part) {
        (Dataset::Field(a), Dataset::Field(b)) => vec![(&a.values, &b.values)],
        (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) if a.len() == b.len() => {
            a.iter().zip(b).map(|(x, y)| (&x.values, &y.values)).collect()
        }
        _ => {
            return Err(CodecError::Verification("decoded dataset has another kind".into()));
        }
    };
    let mut len = 0;
    for (s, (a, b)) in streams.iter().zip(pairs) {
        let bound = match s.meta.quantizer {
            Quantizer::Float { bound, .. } => bound,
            Quantizer::Int => 0.0,
        };
        len = b.len();
        let wrong = || CodecError::Verification("decoded stream has another type or length".into());
        match (a, b) {
            (Values::Int(a), Values::Int(b)) => {
                if a.get(at..at + b.len()).ok_or_else(wrong)? != b.as_slice() {
                    return Err(CodecError::Verification(format!(
                        "integer stream '{}' changed",
                        s.meta.name
                    )));
                }
            }
            (Values::Float(a), Values::Float(b)) => {
                let a = a.get(at..at + b.len()).ok_or_else(wrong)?;
                for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
                    let ok = if x.is_finite() && !is_fill(x, fill, s.meta.dtype) {
                        (x - y).abs() <= bound
                    } else {
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan() && s.meta.dtype == DType::F32)
                    };
                    if !ok {
                        return Err(CodecError::Verification(format!(
                            "value {} of stream '{}': {x} came back as {y} (bound {bound})",
                            at + i,
                            s.meta.name
                        )));
                    }
                }
            }
            _ => return Err(wrong()),
        }
    }
    Ok(len)
}
