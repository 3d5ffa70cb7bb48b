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

/// The note that names a field's axes (`axes: time, lat, lon`), one name per axis of the shape:
/// written where the source names them (NetCDF dimensions, `--axes`), read by viewers to label
/// their axes. A note like any other: a decoder needs none of it.
pub const AXES_NOTE: &str = "axes: ";

/// The note naming the axes `names` (see [`AXES_NOTE`]); None where a name is empty or holds a
/// comma, which the note could not carry.
pub fn axes_note(names: &[String]) -> Option<String> {
    let fits = |n: &String| !n.trim().is_empty() && !n.contains(',') && !n.contains('\n');
    (!names.is_empty() && names.iter().all(fits))
        .then(|| format!("{AXES_NOTE}{}", names.iter().map(|n| n.trim()).collect::<Vec<_>>().join(", ")))
}

impl Metadata {
    /// The axes' names from the note [`axes_note`] wrote, when it names one per axis of `shape`.
    pub fn axes(&self) -> Option<Vec<String>> {
        let names: Vec<String> = self
            .notes
            .iter()
            .find_map(|n| n.strip_prefix(AXES_NOTE))?
            .split(',')
            .map(|n| n.trim().to_string())
            .collect();
        (!self.table && names.len() == self.shape.len() && names.iter().all(|n| !n.is_empty()))
            .then_some(names)
    }
}

/// Most bytes a zstd'd metadata section may inflate to (a table of a million named columns fits).
pub const MAX_METADATA_BYTES: usize = 1 << 28;

/// The metadata section an archive of format ≥ 6 stores: zstd'd where that is smaller (names,
/// notes and repeated floats: about a third off a small table's 600 bytes), plain otherwise.
#[cfg(feature = "encode")]
pub fn metadata_section(meta: &Metadata) -> (crate::format::container::SectionKind, Vec<u8>) {
    use crate::format::container::SectionKind;
    let raw = postcard::to_allocvec(meta).expect("metadata serializes");
    let mut packed = Vec::new();
    crate::bytes::put_varint(&mut packed, raw.len() as u64);
    packed.extend_from_slice(&crate::coder::lossless::zstd_compress(&raw, 19));
    if packed.len() < raw.len() { (SectionKind::MetadataZstd, packed) } else { (SectionKind::Metadata, raw) }
}

/// The metadata from its section (`kind`, `payload`) in an archive of format `version`.
pub fn read_metadata(
    kind: crate::format::container::SectionKind,
    payload: &[u8],
    version: u16,
) -> crate::error::Result<Metadata> {
    use crate::error::{CodecError, corrupt};
    use crate::format::container::SectionKind;
    let parse =
        |bytes: &[u8]| postcard::from_bytes(bytes).map_err(|e| CodecError::Corrupt(format!("metadata: {e}")));
    match kind {
        SectionKind::Metadata => parse(payload),
        SectionKind::MetadataZstd if version >= 6 => {
            let mut r = crate::bytes::Reader::new(payload);
            let len = r.len(MAX_METADATA_BYTES, "metadata length")?;
            let frame = r.take(r.remaining(), "metadata")?;
            parse(&crate::coder::lossless::zstd_decompress(frame, len, "metadata")?)
        }
        SectionKind::MetadataZstd => {
            corrupt(format!("zstd'd metadata, which format version {version} does not have"))
        }
        _ => corrupt("the first section is not the metadata"),
    }
}

/// A hash (or any bytes) as lowercase hex.
pub fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axes_note_names_one_axis_each_or_nothing() {
        let golden = include_bytes!("../../../tests/golden/wave_feedback_v2_rel1e-2.baler");
        let mut meta = crate::Archive::open(golden, None).unwrap().meta.clone();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        meta.shape = vec![4, 3, 2];
        meta.notes = vec!["source: x.nc".into(), axes_note(&names(&["time", " lat", "lon "])).unwrap()];
        assert_eq!(meta.notes[1], "axes: time, lat, lon");
        assert_eq!(meta.axes(), Some(names(&["time", "lat", "lon"])));
        // A count that is not the shape's, no note, or a name the note cannot carry: none.
        meta.shape = vec![12, 2];
        assert_eq!(meta.axes(), None);
        meta.notes.pop();
        assert_eq!(meta.axes(), None);
        assert_eq!(axes_note(&names(&["a,b", "c"])), None);
        assert_eq!(axes_note(&names(&["", "c"])), None);
        assert_eq!(axes_note(&[]), None);
    }
}
