//! Compression: dataset → archive bytes (native only: needs the zstd encoder).
//!
//! Per stream: pre-quantize under the bound (values that cannot be are stored exactly). Per chunk:
//! pick the classic predictor with the smallest estimated code size; with a model, per tile choose
//! between the autoencoder's prediction (plus the cost of its latents) and the classic one. Codes →
//! bytes → zstd. The result is decoded again and checked value by value before it is returned.

use crate::archive::{Archive, SectionSizes, model_hash};
use crate::data::{DType, Dataset, Values};
use crate::error::{CodecError, Result};
use crate::format::container::{ContainerWriter, SectionKind};
use crate::format::metadata::{BoundSpec, Metadata, ModelUse, Quantizer, StreamMeta};
use crate::layout::{ChunkDims, lattice, plan_chunks};
use crate::predictor::StreamInfo;
pub use crate::predictor::autoencoder::AeModel;
use crate::quant::{float_quantizer, grid_point};
use chunk::{Context, EncodedChunk, encode_chunk};

mod chunk;
mod verify;

pub struct CompressOptions {
    pub bound: BoundSpec,
    /// Values equal to this are "no data": stored exactly and left out of ranges.
    pub fill_value: Option<f64>,
    /// Target elements per chunk (chunks are decoded independently and in parallel).
    pub chunk_elements: usize,
    pub zstd_level: i32,
    /// Free text kept in the archive (source file, training summary ...).
    pub notes: Vec<String>,
    /// Keep the model even where the classic-only archive would be smaller (golden files, tests).
    pub force_model: bool,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self {
            bound: BoundSpec::Rel(1e-3),
            fill_value: None,
            chunk_elements: 1 << 20,
            zstd_level: 3,
            notes: Vec::new(),
            force_model: false,
        }
    }
}

/// What compression produced and decided.
pub struct Compressed {
    pub bytes: Vec<u8>,
    pub sizes: SectionSizes,
    pub metadata: Metadata,
    /// Tiles predicted by the autoencoder, of all tiles it was tried on (0 of 0 without a model).
    pub ae_tiles: usize,
    pub total_tiles: usize,
    pub exceptions: usize,
    /// Classic predictor chosen for each chunk.
    pub predictors: Vec<String>,
}

struct Stream<'a> {
    meta: StreamMeta,
    values: &'a Values,
    center: i64,
}

/// Compresses `ds`. With a model, the autoencoder is kept only where the archive with it is smaller
/// than the classic-only one; the archive's notes say which was chosen and why.
pub fn compress(ds: &Dataset, opts: &CompressOptions, model: Option<&AeModel<'_>>) -> Result<Compressed> {
    let classic = encode_all(ds, opts, None)?;
    let Some(m) = model else {
        return finish(ds, classic, None);
    };
    let with_ae = encode_all(ds, opts, Some(m))?;
    let size = |d: &Draft, m| assemble(&d.metadata, m, &d.chunks).len();
    let (classic_len, ae_len) = (size(&classic, None), size(&with_ae, Some(m)));
    let ae_tiles: usize = with_ae.chunks.iter().map(|c| c.ae_tiles).sum();
    let tiles: usize = with_ae.chunks.iter().map(|c| c.tiles).sum();
    let what = if m.embed { "model embedded" } else { "model referenced, not counted" };
    if opts.force_model || (ae_tiles > 0 && ae_len < classic_len) {
        let mut d = with_ae;
        d.metadata.notes.push(format!(
            "autoencoder used in {ae_tiles} of {tiles} tiles: {ae_len} bytes ({what}) vs {classic_len} bytes with classic predictors only"
        ));
        finish(ds, d, Some(m))
    } else {
        let mut d = classic;
        d.metadata.notes.push(format!(
            "autoencoder not used: {ae_len} bytes with it ({what}; it won {ae_tiles} of {tiles} tiles) vs {classic_len} bytes without"
        ));
        let mut c = finish(ds, d, None)?;
        c.total_tiles = tiles;
        Ok(c)
    }
}

/// Encoded chunks and metadata, before verification and hashing.
struct Draft<'a> {
    streams: Vec<Stream<'a>>,
    metadata: Metadata,
    chunks: Vec<EncodedChunk>,
}

pub use crate::preprocess::{finite_range, is_fill};

fn build_streams<'a>(ds: &'a Dataset, opts: &CompressOptions) -> Result<Vec<Stream<'a>>> {
    let parts: Vec<(String, DType, &Values)> = match ds {
        Dataset::Field(a) => vec![(String::new(), a.dtype, &a.values)],
        Dataset::Table { columns, .. } => {
            columns.iter().map(|c| (c.name.clone(), c.dtype, &c.values)).collect()
        }
    };
    parts
        .into_iter()
        .map(|(name, dtype, values)| {
            let (min, max) = finite_range(values, opts.fill_value, dtype).unwrap_or((0.0, 0.0));
            let quantizer = if dtype.is_float() {
                let bound = match opts.bound {
                    BoundSpec::Abs(e) => e,
                    BoundSpec::Rel(r) => r * (max - min),
                };
                if !(bound >= 0.0 && bound.is_finite()) {
                    return Err(CodecError::InvalidInput(format!(
                        "error bound {bound} is not a finite number ≥ 0"
                    )));
                }
                float_quantizer(bound, min)
            } else {
                Quantizer::Int
            };
            let mut s = Stream { meta: StreamMeta { name, dtype, quantizer, min, max }, values, center: 0 };
            s.center = grid_of(&s.meta, min + (max - min) / 2.0);
            Ok(s)
        })
        .collect()
}

fn grid_of(m: &StreamMeta, v: f64) -> i64 {
    let float = match m.quantizer {
        Quantizer::Float { step, offset, .. } => Some((step, offset)),
        Quantizer::Int => None,
    };
    grid_point(v, float)
}

fn encode_all<'a>(ds: &'a Dataset, opts: &CompressOptions, model: Option<&AeModel<'_>>) -> Result<Draft<'a>> {
    if let Some(f) = opts.fill_value
        && !f.is_finite()
    {
        return Err(CodecError::InvalidInput(
            "the fill value must be finite (NaN and Inf are kept exactly anyway)".into(),
        ));
    }
    let table = matches!(ds, Dataset::Table { .. });
    let shape: Vec<u64> = ds.shape().iter().map(|&d| d as u64).collect();
    let lat = lattice(&shape, table).map_err(|e| CodecError::InvalidInput(e.to_string()))?;
    let streams = build_streams(ds, opts)?;
    let tile = model.map_or([1, 1, 1], |m| m.tile);
    if let Some(m) = model
        && (m.tile.iter().product::<usize>() != m.decoder.output_dim() || m.norm.len() != streams.len())
    {
        return Err(CodecError::InvalidInput(format!(
            "the model (tile {:?}, {} streams) does not fit this data ({} streams)",
            m.tile,
            m.norm.len(),
            streams.len()
        )));
    }
    let plan = plan_chunks(lat, tile[0], opts.chunk_elements.max(1));
    // A chunk holds at least one row (or one tile) of the lattice; decoders refuse chunks above
    // the limit, so such data is refused here, before any work.
    if let Some(c) = plan.iter().find(|c| c.len() > crate::format::chunk::MAX_CHUNK_ELEMENTS) {
        return Err(CodecError::InvalidInput(format!(
            "one chunk would hold {} elements (lattice {lat:?}), more than decoders accept ({}): \
             lower chunk_elements or the tile, or split the data",
            c.len(),
            crate::format::chunk::MAX_CHUNK_ELEMENTS
        )));
    }
    let metas: Vec<StreamMeta> = streams.iter().map(|s| s.meta.clone()).collect();
    let info = StreamInfo::new(table, &metas, streams.iter().map(|s| s.center).collect());
    let cx = Context { lattice: lat, table, streams: &streams, info: &info, opts };
    let chunks =
        map_chunks(&plan, |c| encode_chunk(c, &cx, model)).into_iter().collect::<Result<Vec<_>>>()?;
    let metadata = Metadata {
        shape,
        table,
        streams: metas,
        bound: opts.bound,
        fill_value: opts.fill_value,
        tile: tile.map(|t| t as u32),
        model: match model {
            None => ModelUse::None,
            Some(m) if m.embed => ModelUse::Embedded { hash: model_hash(&m.payload) },
            Some(m) => ModelUse::Referenced { hash: model_hash(&m.payload) },
        },
        ae_norm: model.map_or(Vec::new(), |m| m.norm.clone()),
        content_hash: [0; 32],
        original_bytes: ds.original_bytes(),
        notes: opts.notes.clone(),
    };
    Ok(Draft { streams, metadata, chunks })
}

/// Decodes the draft, checks every value against the bound, hashes what the decoder gives, and
/// writes the final archive.
fn finish(ds: &Dataset, draft: Draft<'_>, model: Option<&AeModel<'_>>) -> Result<Compressed> {
    let Draft { streams, mut metadata, chunks } = draft;
    let external = model.filter(|m| !m.embed).map(|m| m.payload.as_slice());
    // The draft decoded chunk by chunk (in parallel batches), each chunk's values checked against
    // the input as they come and hashed in order: no decoded copy of the whole input is kept.
    metadata.content_hash = {
        let bytes = assemble(&metadata, model, &chunks);
        let a = Archive::open(&bytes, external)?;
        let mut done = 0;
        a.decode_each_hash(
            |part| {
                done += verify::verify_part(ds, &part, done, &streams, metadata.fill_value)?;
                Ok(())
            },
            None,
        )?
    };
    // The final archive differs from the checked draft only by the hash in its metadata (the chunk
    // bytes are the same), so opening it — container, metadata, model and index — is enough.
    let bytes = assemble(&metadata, model, &chunks);
    let archive = Archive::open(&bytes, external)?;
    Ok(Compressed {
        sizes: archive.sizes.clone(),
        bytes,
        metadata,
        ae_tiles: chunks.iter().map(|c| c.ae_tiles).sum(),
        total_tiles: if model.is_some() { chunks.iter().map(|c| c.tiles).sum() } else { 0 },
        exceptions: chunks.iter().map(|c| c.exceptions).sum(),
        predictors: chunks.iter().map(|c| c.predictor.clone()).collect(),
    })
}

#[cfg(feature = "parallel")]
fn map_chunks<T: Send>(chunks: &[ChunkDims], f: impl Fn(&ChunkDims) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    chunks.par_iter().map(f).collect()
}

#[cfg(not(feature = "parallel"))]
fn map_chunks<T: Send>(chunks: &[ChunkDims], f: impl Fn(&ChunkDims) -> T + Sync + Send) -> Vec<T> {
    chunks.iter().map(f).collect()
}

fn assemble(meta: &Metadata, model: Option<&AeModel<'_>>, chunks: &[EncodedChunk]) -> Vec<u8> {
    let mut w = ContainerWriter::new();
    w.push(SectionKind::Metadata, &postcard::to_allocvec(meta).expect("metadata serializes"));
    if let Some(m) = model {
        if m.embed {
            w.push(SectionKind::Model, &m.payload);
        } else {
            w.push(SectionKind::ModelRef, &model_hash(&m.payload));
        }
    }
    let entries: Vec<(u64, u64, &[u8])> =
        chunks.iter().map(|c| (c.start as u64, c.rows as u64, c.payload.as_slice())).collect();
    crate::format::chunk_index::push_index_and_chunks(&mut w, chunks.len() as u64, &entries);
    w.finish()
}
