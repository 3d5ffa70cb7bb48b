//! What an opened archive holds, in one serializable summary: shape, streams and their bounds, the
//! bound asked for, the model, bytes per section, the honest ratio, the content hash, the notes
//! and what the compressor chose chunk by chunk. `baler-train info` prints it (as text, or as this
//! struct serialized to JSON) and the web viewer shows it.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::archive::Archive;
use crate::data::DType;
use crate::error::{CodecError, Result};
use crate::format::metadata::{BoundSpec, ModelUse, Quantizer, hex};

/// A summary of an archive. Serialized, it is the JSON object `baler-train info --json` prints:
/// the fields are in alphabetical order, the key order that output has always had.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArchiveSummary {
    /// The archive's name or path, as the caller gave it.
    pub archive: String,
    /// The archive's length: the denominator of the honest ratio.
    pub archive_bytes: u64,
    /// The bound as asked for: `{"abs": v}` or `{"rel": v}` in JSON.
    #[serde(serialize_with = "bound_json")]
    pub bound: BoundSpec,
    /// The compressor's choices, counted per distinct choice in order of first use; filled by
    /// [`ArchiveSummary::count_chunk_choices`] (it parses every chunk), empty until then.
    pub chunk_choices: Vec<ChunkChoice>,
    pub chunks: usize,
    /// The digest as lowercase hex (as many bytes as its kind has).
    pub content_hash: String,
    pub content_hash_kind: &'static str,
    /// Whether decoding checked the content hash; set by [`ArchiveSummary::verify`].
    pub content_hash_verified: bool,
    pub fill_value: Option<f64>,
    pub format_version: u16,
    /// `"field"` or `"table"`.
    pub kind: &'static str,
    /// The model in words: `none (classic predictors)`, `embedded (HASH)` or `referenced (HASH)`.
    pub model: String,
    /// The decoder network, when the archive has (or was opened with) it.
    pub network: Option<NetworkSummary>,
    pub notes: Vec<String>,
    /// The numerator of the honest ratio: the input's size in its own dtype(s).
    pub original_bytes: u64,
    /// original ÷ archive bytes: everything needed to decode counted.
    pub ratio: f64,
    /// Online mode with the model's decoder payload size known: original ÷ (archive + payload).
    pub ratio_with_model_pack: Option<f64>,
    /// original ÷ (archive bytes − model section).
    pub ratio_without_model: f64,
    pub sections: Sections,
    /// Original shape (for a table: [rows, columns]).
    pub shape: Vec<u64>,
    pub streams: Vec<StreamSummary>,
    /// The autoencoder tile over the 3-d lattice (all ones without a model).
    pub tile: [u32; 3],
    /// Where the model comes from, with its hash (the `model` field in words).
    #[serde(skip)]
    pub model_use: ModelUse,
}

/// One stream: a field, or one column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSummary {
    /// Empty for a field's single stream.
    pub name: String,
    pub dtype: DType,
    /// The absolute bound per value; `None` for integers, stored losslessly.
    pub bound: Option<f64>,
    /// Range of the finite, non-fill values (both 0 when there is none).
    pub min: f64,
    pub max: f64,
    /// How well it was predicted: its codes' entropy in bits per value as coder 2 stores them
    /// (bucket symbols, one Huffman table per chunk, plus extra bits), over the chunks counted by
    /// [`ArchiveSummary::count_chunk_choices`]; None until then.
    pub code_bits: Option<f64>,
}

/// The decoder network.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkSummary {
    pub latent_dim: usize,
    /// Its layers in words, e.g. `dense → dense → dense`.
    pub layers: String,
    /// Tile values per latent value.
    pub network_ratio: f64,
    pub parameters: usize,
}

/// Bytes per section kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sections {
    pub chunk_index: u64,
    pub chunks: u64,
    pub end: u64,
    pub header: u64,
    pub metadata: u64,
    pub model: u64,
    pub model_ref: u64,
}

/// One distinct per-chunk choice and how many chunks made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkChoice {
    /// `predictor P, coder C`.
    pub choice: String,
    pub chunks: usize,
}

/// Everything `baler-train info` reports on an archive's `bytes` named `name`: opens it (an
/// online-mode archive without `external_model`, the model's decoder payload, is described but not
/// verified), summarizes it, decodes it to verify every checksum and the content hash, and counts
/// the chunks' choices.
pub fn inspect(name: &str, bytes: &[u8], external_model: Option<&[u8]>) -> Result<ArchiveSummary> {
    let a = match external_model {
        Some(_) => Archive::open(bytes, external_model),
        None => Archive::open_metadata_only(bytes),
    }?;
    let mut s = describe(name, &a, bytes.len() as u64, external_model.map(|p| p.len() as u64));
    s.verify(&a)?;
    s.count_chunk_choices(&a);
    Ok(s)
}

/// Summarizes `a`, opened from `archive_bytes` bytes and named `name`. `model_pack_bytes` is the
/// size of the decoder payload of an online-mode archive's model, when the caller has it. Parses
/// no chunk: see [`ArchiveSummary::verify`] and [`ArchiveSummary::count_chunk_choices`].
pub fn describe(
    name: &str,
    a: &Archive<'_>,
    archive_bytes: u64,
    model_pack_bytes: Option<u64>,
) -> ArchiveSummary {
    let m = &a.meta;
    let model_bytes = a.sizes.model;
    let (model, with_pack) = match &m.model {
        ModelUse::None => ("none (classic predictors)".to_string(), None),
        ModelUse::Embedded { hash } => (format!("embedded ({})", hex(hash)), None),
        ModelUse::Referenced { hash } => (
            format!("referenced ({})", hex(hash)),
            model_pack_bytes.map(|p| m.original_bytes as f64 / (archive_bytes + p) as f64),
        ),
    };
    let streams = m
        .streams
        .iter()
        .map(|s| StreamSummary {
            name: s.name.clone(),
            dtype: s.dtype,
            bound: match s.quantizer {
                Quantizer::Float { bound, .. } => Some(bound),
                Quantizer::Int => None,
            },
            min: s.min,
            max: s.max,
            code_bits: None,
        })
        .collect();
    let network = a.model_summary.as_ref().map(|s| NetworkSummary {
        latent_dim: s.latent_dim,
        layers: s.layers.clone(),
        network_ratio: m.tile.iter().map(|&t| t as f64).product::<f64>() / s.latent_dim.max(1) as f64,
        parameters: s.parameters,
    });
    let z = &a.sizes;
    ArchiveSummary {
        archive: name.to_string(),
        archive_bytes,
        bound: m.bound,
        chunk_choices: Vec::new(),
        chunks: a.chunk_count(),
        content_hash: hex(&m.content_hash[..a.hash_kind.digest_len()]),
        content_hash_kind: a.hash_kind.name(),
        content_hash_verified: false,
        fill_value: m.fill_value,
        format_version: a.version,
        kind: if m.table { "table" } else { "field" },
        model,
        network,
        notes: m.notes.clone(),
        original_bytes: m.original_bytes,
        ratio: m.original_bytes as f64 / archive_bytes as f64,
        ratio_with_model_pack: with_pack,
        ratio_without_model: m.original_bytes as f64 / (archive_bytes - model_bytes) as f64,
        sections: Sections {
            chunk_index: z.chunk_index,
            chunks: z.chunks,
            end: z.end,
            header: z.header,
            metadata: z.metadata,
            model: z.model,
            model_ref: z.model_ref,
        },
        shape: m.shape.clone(),
        streams,
        tile: m.tile,
        model_use: m.model.clone(),
    }
}

impl ArchiveSummary {
    pub fn is_table(&self) -> bool {
        self.kind == "table"
    }

    /// Values per stream: the product of the shape (over all columns for a table).
    pub fn element_count(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Decodes `a` (which checks every checksum and the content hash) and records whether the
    /// content hash was verified: an online-mode archive opened without its model can only be
    /// described, not verified. Any other decoding error is returned. Chunk by chunk: memory
    /// holds a few decoded chunks, not the data.
    pub fn verify(&mut self, a: &Archive<'_>) -> Result<()> {
        self.content_hash_verified = match a.decode_each(|_| Ok(())) {
            Ok(_) => true,
            Err(CodecError::ModelMissing { .. }) => false,
            Err(e) => return Err(e),
        };
        Ok(())
    }

    /// Parses every chunk of `a` (no network needed) and counts the compressor's choices. Stops
    /// at the first chunk that does not parse (an online-mode archive without its model).
    pub fn count_chunk_choices(&mut self, a: &Archive<'_>) {
        let mut choices: Vec<ChunkChoice> = Vec::new();
        let mut bits = vec![(0.0f64, 0usize); self.streams.len()];
        for i in 0..a.chunk_count() {
            let Ok(parsed) = a.parse_chunk(i) else { break };
            // Each chunk has its own Huffman tables: its streams are tallied apart, in one pass.
            let shape = crate::coder::ChunkShape {
                dims: parsed.rows().1,
                streams: self.streams.len(),
                table: self.is_table(),
            };
            let mut tallies = vec![crate::coder::buckets::BucketTally::default(); self.streams.len()];
            for (e, &c) in parsed.codes().iter().enumerate() {
                tallies[shape.stream_of(e)].add(c);
            }
            for ((total, count), t) in bits.iter_mut().zip(&tallies) {
                *total += t.bits();
                *count += t.count;
            }
            let (predictor, coder) = parsed.choices();
            let choice = format!("predictor {predictor}, coder {coder}");
            match choices.iter_mut().find(|c| c.choice == choice) {
                Some(c) => c.chunks += 1,
                None => choices.push(ChunkChoice { choice, chunks: 1 }),
            }
        }
        self.chunk_choices = choices;
        for (st, (total, count)) in self.streams.iter_mut().zip(bits) {
            st.code_bits = (count > 0).then(|| total / count as f64);
        }
    }
}

/// `{"abs_bound", "dtype", "max", "min", "name"}` for a float stream, `{"abs_bound": 0.0, "dtype",
/// "lossless": true, "name"}` for an integer one.
impl Serialize for StreamSummary {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let fields = if self.bound.is_some() { 5 } else { 4 } + self.code_bits.is_some() as usize;
        let mut st = s.serialize_struct("StreamSummary", fields)?;
        st.serialize_field("abs_bound", &self.bound.unwrap_or(0.0))?;
        if let Some(bits) = self.code_bits {
            st.serialize_field("code_bits_per_value", &bits)?;
        }
        st.serialize_field("dtype", self.dtype.name())?;
        match self.bound {
            Some(_) => {
                st.serialize_field("max", &self.max)?;
                st.serialize_field("min", &self.min)?;
            }
            None => st.serialize_field("lossless", &true)?,
        }
        st.serialize_field("name", &self.name)?;
        st.end()
    }
}

fn bound_json<S: Serializer>(b: &BoundSpec, s: S) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    match *b {
        BoundSpec::Abs(v) => map.serialize_entry("abs", &v)?,
        BoundSpec::Rel(v) => map.serialize_entry("rel", &v)?,
    }
    map.end()
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::*;
    use crate::data::{Array, Column, Dataset, Values};
    use crate::encode::{CompressOptions, compress};

    #[test]
    fn a_field_and_a_table_are_described() {
        let values: Vec<f64> = (0..4000).map(|i| (i as f64 * 0.01).sin()).collect();
        let ds =
            Dataset::Field(Array { shape: vec![40, 100], dtype: DType::F64, values: Values::Float(values) });
        let opts = CompressOptions { notes: vec!["test".into()], ..CompressOptions::default() };
        let c = compress(&ds, &opts, None).unwrap();
        let a = Archive::open(&c.bytes, None).unwrap();
        let mut s = describe("x.baler", &a, c.bytes.len() as u64, None);
        assert_eq!((s.kind, s.is_table(), s.element_count()), ("field", false, 4000));
        assert_eq!(s.shape, vec![40, 100]);
        assert_eq!(s.bound, BoundSpec::Rel(1e-3));
        assert_eq!(s.model, "none (classic predictors)");
        assert_eq!(s.ratio, 32000.0 / c.bytes.len() as f64);
        assert_eq!(s.ratio, s.ratio_without_model);
        assert_eq!(s.ratio_with_model_pack, None);
        assert_eq!(s.notes, vec!["test".to_string()]);
        let sz = &s.sections;
        let total = sz.header + sz.metadata + sz.model + sz.model_ref + sz.chunk_index + sz.chunks + sz.end;
        assert_eq!(total, s.archive_bytes);
        assert_eq!(s.streams.len(), 1);
        let b = s.streams[0].bound.unwrap();
        assert!((b - 2e-3).abs() < 1e-9, "{b}");
        assert!(!s.content_hash_verified && s.chunk_choices.is_empty());
        assert_eq!(s.streams[0].code_bits, None);
        s.verify(&a).unwrap();
        s.count_chunk_choices(&a);
        assert!(s.content_hash_verified);
        // A smooth sine: its codes are small, a few bits a value at most.
        let bits = s.streams[0].code_bits.unwrap();
        assert!(bits > 0.0 && bits < 4.0, "{bits}");
        assert_eq!(s.chunk_choices.iter().map(|c| c.chunks).sum::<usize>(), s.chunks);
        assert!(s.chunk_choices[0].choice.starts_with("predictor "));

        let table = Dataset::Table {
            rows: 100,
            columns: vec![
                Column {
                    name: "a".into(),
                    dtype: DType::F32,
                    values: Values::Float((0..100).map(f64::from).collect()),
                },
                Column { name: "n".into(), dtype: DType::I64, values: Values::Int((0..100).collect()) },
            ],
        };
        let opts = CompressOptions { bound: BoundSpec::Abs(0.5), ..CompressOptions::default() };
        let c = compress(&table, &opts, None).unwrap();
        let a = Archive::open(&c.bytes, None).unwrap();
        let mut s = describe("t", &a, c.bytes.len() as u64, Some(1000));
        assert_eq!((s.kind, s.shape.clone()), ("table", vec![100, 2]));
        // Each column's codes are its own: n = 0, 1, 2 … is exact along rows (0 bits), a too.
        s.count_chunk_choices(&a);
        let bits: Vec<f64> = s.streams.iter().map(|st| st.code_bits.unwrap()).collect();
        assert!(bits.iter().all(|&b| b < 0.5), "{bits:?}");
        assert_eq!(s.streams[0].bound, Some(0.5));
        assert_eq!(s.streams[1].bound, None);
        assert_eq!(s.streams[1].name, "n");
        // Only online-mode archives are counted with a model pack.
        assert_eq!(s.ratio_with_model_pack, None);
    }
}
