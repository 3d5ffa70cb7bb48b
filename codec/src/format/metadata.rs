//! Archive metadata (the `metadata` section, postcard-encoded; see docs/format.md).

use serde::{Deserialize, Serialize};

use crate::data::DType;

/// How the user stated the error bound; kept so `info` can say what was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum BoundSpec {
    /// Absolute: |x − x′| ≤ value.
    Abs(f64),
    /// Relative to the range of the finite values (per column for tables).
    Rel(f64),
}

/// How the values of one stream (a field, or one table column) are quantized.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Quantizer {
    /// x′ = offset + q·step with |x − x′| ≤ bound, verified per value; values that miss are stored exactly.
    Float { bound: f64, step: f64, offset: f64 },
    /// Integers: lossless, q = x.
    Int,
}

/// One stream: a field, or one column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub name: String,
    pub dtype: DType,
    pub quantizer: Quantizer,
    /// Range of the finite, non-fill values: the autoencoder's normalization and the constant
    /// predictor's centre. Both are 0 when the stream has no such value.
    pub min: f64,
    pub max: f64,
}

/// Where the prediction network comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelUse {
    /// No network: classic predictors only.
    None,
    /// In the archive's model section (offline mode).
    Embedded { hash: [u8; 32] },
    /// In a separate model file, named by the hash of its decoder (online mode).
    Referenced { hash: [u8; 32] },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Original shape (for a table: [rows, columns]).
    pub shape: Vec<u64>,
    pub table: bool,
    /// One for a field; one per column for a table.
    pub streams: Vec<StreamMeta>,
    pub bound: BoundSpec,
    /// Values equal to this are "no data" and round-trip exactly (NetCDF `_FillValue`).
    pub fill_value: Option<f64>,
    /// Autoencoder tile over the 3-d lattice (see `layout`), all ones without a model.
    pub tile: [u32; 3],
    pub model: ModelUse,
    /// The autoencoder's normalization per stream, `[lo, hi]` (empty without a model): the model
    /// predicts p in about [0, 1], meaning lo + p·(hi − lo).
    pub ae_norm: Vec<[f64; 2]>,
    /// Hash of the decoded values (and, from format 4, of the layout; see `hash`), checked by every decode.
    pub content_hash: [u8; 32],
    /// Size of the input in its own dtype(s), the numerator of the honest ratio.
    pub original_bytes: u64,
    /// Free text: where the data came from, what the compressor chose and why.
    pub notes: Vec<String>,
}

/// A hash (or any bytes) as lowercase hex.
pub fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
