//! Per-stream constants of a decode, checked and derived from the metadata once per archive.

use crate::data::DType;
use crate::error::{Result, corrupt};
use crate::format::metadata::{Metadata, Quantizer};
use crate::quant::grid_point;

/// Per-stream constants of the decode, derived from the metadata.
#[derive(Clone, Copy, Debug)]
pub(super) struct StreamParams {
    pub dtype: DType,
    /// (step, offset) for floats; None for integers.
    pub float: Option<(f64, f64)>,
    pub center: i64,
    /// Normalization of the autoencoder: value = lo + p·(hi − lo).
    ae_lo: f64,
    ae_hi: f64,
}

impl StreamParams {
    /// Grid point nearest to value v (saturating; deterministic on every platform).
    fn grid(&self, v: f64) -> i64 {
        grid_point(v, self.float)
    }

    pub fn ae_grid(&self, p: f64) -> i64 {
        self.grid(self.ae_lo + p * (self.ae_hi - self.ae_lo))
    }
}

pub(super) fn check_streams(meta: &Metadata, lattice: [usize; 3]) -> Result<Vec<StreamParams>> {
    let want = if meta.table { lattice[1] } else { 1 };
    if meta.streams.len() != want {
        return corrupt(format!("{} streams, expected {want}", meta.streams.len()));
    }
    if let Some(f) = meta.fill_value
        && f.is_nan()
    {
        return corrupt("fill value is NaN");
    }
    let norm = &meta.ae_norm;
    if !norm.is_empty() && norm.len() != want {
        return corrupt("autoencoder normalization does not match the streams");
    }
    meta.streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !(s.min.is_finite() && s.max.is_finite() && s.min <= s.max) {
                return corrupt(format!("stream {i}: invalid range"));
            }
            let float = match s.quantizer {
                Quantizer::Float { bound, step, offset } => {
                    let valid = bound >= 0.0 && step > 0.0 && step.is_finite() && offset.is_finite();
                    if !s.dtype.is_float() || !valid {
                        return corrupt(format!("stream {i}: invalid quantizer"));
                    }
                    Some((step, offset))
                }
                Quantizer::Int => {
                    if s.dtype.is_float() {
                        return corrupt(format!("stream {i}: float data with an integer quantizer"));
                    }
                    None
                }
            };
            let [ae_lo, ae_hi] = norm.get(i).copied().unwrap_or([s.min, s.max]);
            if !(ae_lo.is_finite() && ae_hi.is_finite()) {
                return corrupt(format!("stream {i}: invalid normalization"));
            }
            let mut p = StreamParams { dtype: s.dtype, float, center: 0, ae_lo, ae_hi };
            p.center = p.grid(s.min + (s.max - s.min) / 2.0);
            Ok(p)
        })
        .collect()
}
