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

impl BoundSpec {
    /// The absolute bound of a stream whose finite values span `[min, max]`.
    pub fn bound_for(self, min: f64, max: f64) -> f64 {
        match self {
            BoundSpec::Abs(e) => e,
            BoundSpec::Rel(r) => r * (max - min),
        }
    }
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

/// The metadata section an archive of the current format stores: its [`compact`] form, zstd'd
/// where that is smaller (names and notes: about a third off a small table's metadata), plain
/// otherwise.
#[cfg(feature = "encode")]
pub fn metadata_section(meta: &Metadata) -> (crate::format::container::SectionKind, Vec<u8>) {
    use crate::format::container::SectionKind;
    let raw = metadata_payload(meta);
    let mut packed = Vec::new();
    crate::bytes::put_varint(&mut packed, raw.len() as u64);
    packed.extend_from_slice(&crate::coder::lossless::zstd_compress(&raw, 19));
    if packed.len() < raw.len() { (SectionKind::MetadataZstd, packed) } else { (SectionKind::Metadata, raw) }
}

/// The plain metadata section's payload (kind 1) in the current format.
#[cfg(feature = "encode")]
pub fn metadata_payload(meta: &Metadata) -> Vec<u8> {
    postcard::to_allocvec(&compact::Wire::from(meta)).expect("metadata serializes")
}

/// The metadata from its section (`kind`, `payload`) in an archive of format `version`.
pub fn read_metadata(
    kind: crate::format::container::SectionKind,
    payload: &[u8],
    version: u16,
) -> crate::error::Result<Metadata> {
    use crate::error::{CodecError, corrupt};
    use crate::format::container::SectionKind;
    let parse = |bytes: &[u8]| {
        let wrong = |e: postcard::Error| CodecError::Corrupt(format!("metadata: {e}"));
        if version >= compact::SINCE_VERSION {
            postcard::from_bytes::<compact::Wire>(bytes).map_err(wrong).map(Metadata::from)
        } else {
            postcard::from_bytes(bytes).map_err(wrong)
        }
    };
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

/// The metadata's wire form from format 7 on: each stream's quantizer and range in their
/// shortest exact form. The reference encoder's quantizer follows from the bound and the range
/// (bound `bound_for(min, max)`, offset `min`, step 2·bound or a power of two), and a float32
/// column's range is two float32 values, so a float32 stream's dtype, quantizer and range take
/// 11 bytes instead of 42: on a 171-row, 9-column table the metadata was a third of the archive.
mod compact {
    use serde::{Deserialize, Serialize};

    use super::{BoundSpec, Metadata, ModelUse, Quantizer, StreamMeta};
    use crate::data::DType;
    use crate::quant::power_of_two;

    /// The first format version whose metadata takes this form.
    pub const SINCE_VERSION: u16 = 7;

    /// [`Metadata`] with [`Stream`]s; every other field as it is.
    #[derive(Serialize, Deserialize)]
    pub struct Wire {
        shape: Vec<u64>,
        table: bool,
        streams: Vec<Stream>,
        bound: BoundSpec,
        fill_value: Option<f64>,
        tile: [u32; 3],
        model: ModelUse,
        ae_norm: Vec<[f64; 2]>,
        content_hash: [u8; 32],
        original_bytes: u64,
        notes: Vec<String>,
    }

    #[derive(Serialize, Deserialize)]
    struct Stream {
        name: String,
        dtype: DType,
        quantizer: Quant,
        range: Range,
    }

    #[derive(Serialize, Deserialize)]
    enum Quant {
        /// Any float quantizer, each number as it is.
        Float {
            bound: f64,
            step: f64,
            offset: f64,
        },
        Int,
        /// Bound `bound_for(min, max)`, offset `min`, step 2·bound (1 where the bound is 0).
        Derived,
        /// As `Derived` with step 2^e (a column of counts stored as floats).
        Lattice(i16),
    }

    #[derive(Serialize, Deserialize)]
    enum Range {
        F64(f64, f64),
        /// Both ends exactly float32 values (any float32 column's are).
        F32(f32, f32),
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits()
    }

    /// e where `step` is 2^e, a normal number.
    fn exponent_of(step: f64) -> Option<i16> {
        let e = crate::quant::normal_exponent(step)?;
        power_of_two(e as i64).filter(|p| same(*p, step)).map(|_| e as i16)
    }

    fn derived_step(bound: f64) -> f64 {
        match crate::quant::float_quantizer(bound, 0.0) {
            Quantizer::Float { step, .. } => step,
            Quantizer::Int => unreachable!("a float quantizer"),
        }
    }

    impl Stream {
        fn new(s: &StreamMeta, spec: BoundSpec) -> Self {
            let quantizer = match s.quantizer {
                Quantizer::Int => Quant::Int,
                Quantizer::Float { bound, step, offset } => {
                    let follows = same(bound, spec.bound_for(s.min, s.max)) && same(offset, s.min);
                    match exponent_of(step) {
                        _ if follows && same(step, derived_step(bound)) => Quant::Derived,
                        Some(e) if follows => Quant::Lattice(e),
                        _ => Quant::Float { bound, step, offset },
                    }
                }
            };
            let f32_exact = |v: f64| same(v as f32 as f64, v);
            let range = match f32_exact(s.min) && f32_exact(s.max) {
                true => Range::F32(s.min as f32, s.max as f32),
                false => Range::F64(s.min, s.max),
            };
            Self { name: s.name.clone(), dtype: s.dtype, quantizer, range }
        }

        /// The stream; a lattice exponent outside the normal range gives a step of NaN, which
        /// validation refuses.
        fn meta(self, spec: BoundSpec) -> StreamMeta {
            let (min, max) = match self.range {
                Range::F64(a, b) => (a, b),
                Range::F32(a, b) => (a as f64, b as f64),
            };
            let bound = spec.bound_for(min, max);
            let quantizer = match self.quantizer {
                Quant::Float { bound, step, offset } => Quantizer::Float { bound, step, offset },
                Quant::Int => Quantizer::Int,
                Quant::Derived => Quantizer::Float { bound, step: derived_step(bound), offset: min },
                Quant::Lattice(e) => {
                    Quantizer::Float { bound, step: power_of_two(e as i64).unwrap_or(f64::NAN), offset: min }
                }
            };
            StreamMeta { name: self.name, dtype: self.dtype, quantizer, min, max }
        }
    }

    impl From<&Metadata> for Wire {
        fn from(m: &Metadata) -> Self {
            Self {
                shape: m.shape.clone(),
                table: m.table,
                streams: m.streams.iter().map(|s| Stream::new(s, m.bound)).collect(),
                bound: m.bound,
                fill_value: m.fill_value,
                tile: m.tile,
                model: m.model.clone(),
                ae_norm: m.ae_norm.clone(),
                content_hash: m.content_hash,
                original_bytes: m.original_bytes,
                notes: m.notes.clone(),
            }
        }
    }

    impl From<Wire> for Metadata {
        fn from(w: Wire) -> Self {
            let bound = w.bound;
            Self {
                shape: w.shape,
                table: w.table,
                streams: w.streams.into_iter().map(|s| s.meta(bound)).collect(),
                bound,
                fill_value: w.fill_value,
                tile: w.tile,
                model: w.model,
                ae_norm: w.ae_norm,
                content_hash: w.content_hash,
                original_bytes: w.original_bytes,
                notes: w.notes,
            }
        }
    }
}

/// A hash (or any bytes) as lowercase hex.
pub fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Format 7's compact form gives back every stream as it was, bit for bit (−0 included), and
    /// takes 24 bytes less for each stream whose quantizer follows from its range, 8 less for a
    /// float32 range.
    #[test]
    #[cfg(feature = "encode")]
    fn compact_metadata_reads_back_bit_for_bit() {
        use crate::format::container::FORMAT_VERSION;
        use DType::{F32, F64, I32};
        let stream = |name: &str, dtype, quantizer, min, max| StreamMeta {
            name: name.into(),
            dtype,
            quantizer,
            min,
            max,
        };
        for bound in [BoundSpec::Rel(1e-3), BoundSpec::Abs(0.25), BoundSpec::Rel(0.0)] {
            let derived = |min: f64, max: f64| crate::quant::float_quantizer(bound.bound_for(min, max), min);
            let on_lattice = |min: f64, max: f64| Quantizer::Float {
                bound: bound.bound_for(min, max),
                step: 4.0,
                offset: min,
            };
            let streams = vec![
                stream("f32", F32, derived(-1.5, 3.25), -1.5, 3.25),
                stream("f64", F64, derived(0.1, 0.7), 0.1, 0.7),
                stream("counts", F32, on_lattice(0.0, 64.0), 0.0, 64.0),
                stream("negative zero", F32, derived(-0.0, 0.0), -0.0, 0.0),
                stream("its own", F64, Quantizer::Float { bound: 0.3, step: 0.5, offset: 0.2 }, 0.1, 0.9),
                stream("ints", I32, Quantizer::Int, -5.0, 7.0),
            ];
            let meta = Metadata {
                shape: vec![10, 6],
                table: true,
                streams,
                bound,
                fill_value: Some(-9999.0),
                tile: [1, 1, 1],
                model: ModelUse::None,
                ae_norm: Vec::new(),
                content_hash: [7; 32],
                original_bytes: 10 * 36,
                notes: vec!["source: t.npz".into()],
            };
            let (kind, payload) = metadata_section(&meta);
            let back = read_metadata(kind, &payload, FORMAT_VERSION).unwrap();
            assert_eq!(format!("{back:?}"), format!("{meta:?}"));
            let compact = postcard::to_allocvec(&compact::Wire::from(&meta)).unwrap().len();
            let full = postcard::to_allocvec(&meta).unwrap().len();
            // Three quantizers follow from their range (24 bytes less each), one from its range
            // and a one-byte exponent; four ranges are float32 (8 bytes less), each range has a
            // one-byte tag.
            assert_eq!(compact + 3 * 24 + 23 + 4 * 8 - 6, full, "{bound:?}");
        }
    }

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
