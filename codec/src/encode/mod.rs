//! Compression: dataset → archive bytes (native only: needs the zstd encoder).
//!
//! Per stream: pre-quantize under the bound (values that cannot be are stored exactly). Per chunk:
//! pick the classic predictor with the smallest estimated code size; with a model, per tile choose
//! between the autoencoder's prediction (plus the cost of its latents) and the classic one. Codes →
//! bytes → zstd. The result is decoded again and checked value by value before it is returned.

use crate::archive::{Archive, ChunkEntry, SectionSizes, StreamCheck, model_hash};
use crate::data::{DType, Dataset, DatasetLayout, Values};
use crate::error::{CodecError, Result};
use crate::format::container::{ContainerWriter, SectionKind, end_section, section_header};
use crate::format::metadata::{BoundSpec, Metadata, ModelUse, Quantizer, StreamMeta};
use crate::layout::{ChunkDims, lattice, plan_chunks};
use crate::predictor::StreamInfo;
pub use crate::predictor::autoencoder::AeModel;
use crate::quant::{float_quantizer, grid_point};
use chunk::{Context, EncodedChunk, encode_chunk};

mod chunk;
mod in_order;
mod stream;
mod verify;

pub use crate::data::RowSource;
pub use stream::{Streamed, compress_rows};

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
    /// Try predictors learned on each chunk: column models on tables (predictor 18), a learned
    /// last interpolation pass on fields of floats (predictor 19). Off: classic predictors only.
    pub learned: bool,
    /// Check every chunk with the decoder's own sweep, not from the encoder's reconstruction
    /// (the same archive, slower: see `Checker::check_chunk`).
    pub full_check: bool,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self {
            bound: BoundSpec::Rel(1e-3),
            fill_value: None,
            chunk_elements: 1 << 21,
            zstd_level: 3,
            notes: Vec::new(),
            force_model: false,
            learned: true,
            full_check: false,
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

/// One stream's quantizer and range, decided before any chunk is encoded.
struct StreamPlan {
    meta: StreamMeta,
    center: i64,
}

/// Compresses `ds`. With a model, the autoencoder is kept only where the archive with it is smaller
/// than the classic-only one; the archive's notes say which was chosen and why.
pub fn compress(ds: &Dataset, opts: &CompressOptions, model: Option<&AeModel<'_>>) -> Result<Compressed> {
    let layout = ds.layout();
    let ranges: Vec<Option<(f64, f64)>> = ds
        .stream_values()
        .iter()
        .zip(&layout.streams)
        .map(|(v, (_, dtype))| finite_range_on_all_threads(v, opts.fill_value, *dtype))
        .collect();
    let lattices = table_lattices(ds.stream_values().iter().copied(), &layout, opts, &ranges);
    let plan_for = |model: Option<&AeModel<'_>>| Plan::new(&layout, (&ranges, &lattices), opts, model);
    let Some(m) = model else {
        // Each chunk checked as soon as it is encoded (from its encoder's reconstruction where
        // it has one) and hashed in order, as `compress_rows` does.
        let plan = plan_for(None)?;
        let checker = Checker::new(&plan, None)?;
        let mut hashed = checker.in_order();
        let mut chunks = Vec::with_capacity(plan.chunks.len());
        let take = |c: EncodedChunk, bytes: Vec<u8>| {
            hashed.accept(&c, &bytes)?;
            chunks.push(c);
            Ok(())
        };
        let in_flight = plan.in_flight();
        in_order::encode_in_order((&plan, &checker), &plan.chunks, in_flight, |_| Ok(ds), |_| 0, take)?;
        let hash = hashed.hash()?;
        return finish(Draft { plan, chunks }, hash, None);
    };
    let encode = |model: Option<&AeModel<'_>>| -> Result<Draft> {
        let plan = plan_for(model)?;
        let chunks = plan.encode(ds, 0, &plan.chunks, model)?;
        Ok(Draft { plan, chunks })
    };
    let classic = encode(None)?;
    let with_ae = encode(Some(m))?;
    let size = |d: &Draft, m| assemble(&d.plan.metadata, m, &d.chunks).len();
    let (classic_len, ae_len) = (size(&classic, None), size(&with_ae, Some(m)));
    let ae_tiles: usize = with_ae.chunks.iter().map(|c| c.ae_tiles).sum();
    let tiles: usize = with_ae.chunks.iter().map(|c| c.tiles).sum();
    let what = if m.embed { "model embedded" } else { "model referenced, not counted" };
    if opts.force_model || (ae_tiles > 0 && ae_len < classic_len) {
        let mut d = with_ae;
        d.plan.metadata.notes.push(format!(
            "autoencoder used in {ae_tiles} of {tiles} tiles: {ae_len} bytes ({what}) vs {classic_len} bytes with classic predictors only"
        ));
        let hash = check_all(ds, &d, Some(m))?;
        finish(d, hash, Some(m))
    } else {
        let mut d = classic;
        d.plan.metadata.notes.push(format!(
            "autoencoder not used: {ae_len} bytes with it ({what}; it won {ae_tiles} of {tiles} tiles) vs {classic_len} bytes without"
        ));
        let hash = check_all(ds, &d, None)?;
        let mut c = finish(d, hash, None)?;
        c.total_tiles = tiles;
        Ok(c)
    }
}

/// [`finite_range`] in parts of 2^20 values on all threads (the range does not depend on how the
/// values are split): a serial scan was 3 % of a large field's compression, before any chunk.
fn finite_range_on_all_threads(values: &Values, fill: Option<f64>, dtype: DType) -> Option<(f64, f64)> {
    use rayon::prelude::*;
    const PART: usize = 1 << 20;
    match values {
        Values::Float(v) if v.len() > PART => v
            .par_chunks(PART)
            .map(|part| {
                let mut scan = crate::preprocess::RangeScan::new(fill, dtype);
                scan.add(part);
                scan.range()
            })
            .reduce(|| None, crate::preprocess::merge_ranges),
        _ => finite_range(values, fill, dtype),
    }
}

/// Encoded chunks and what they were encoded under, before verification and hashing.
struct Draft<'o> {
    plan: Plan<'o>,
    chunks: Vec<EncodedChunk>,
}

use crate::preprocess::lattice_exponent_down_to;
pub use crate::preprocess::{finite_range, is_fill};

/// Everything decided before the first chunk: quantizers, chunks, metadata (its content hash
/// still zero).
struct Plan<'o> {
    opts: &'o CompressOptions,
    lattice: [usize; 3],
    table: bool,
    streams: Vec<StreamPlan>,
    info: StreamInfo,
    chunks: Vec<ChunkDims>,
    metadata: Metadata,
}

impl<'o> Plan<'o> {
    /// `ranges`: each stream's finite, non-fill range (`None`: it has no such values); `lattices`:
    /// the power-of-two lattice each table column lies on (see [`table_lattices`]).
    fn new(
        layout: &DatasetLayout,
        (ranges, lattices): Ranges<'_>,
        opts: &'o CompressOptions,
        model: Option<&AeModel<'_>>,
    ) -> Result<Self> {
        if let Some(f) = opts.fill_value
            && !f.is_finite()
        {
            return Err(CodecError::InvalidInput(
                "the fill value must be finite (NaN and Inf are kept exactly anyway)".into(),
            ));
        }
        let table = layout.table;
        let shape: Vec<u64> = layout.shape.iter().map(|&d| d as u64).collect();
        let lat = lattice(&shape, table).map_err(|e| CodecError::InvalidInput(e.to_string()))?;
        let streams = plan_streams(layout, (ranges, lattices), opts)?;
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
        let chunks = plan_chunks(lat, tile[0], opts.chunk_elements.max(1));
        // A chunk holds at least one row (or one tile) of the lattice; decoders refuse chunks above
        // the limit, so such data is refused here, before any work.
        if let Some(c) = chunks.iter().find(|c| c.len() > crate::format::chunk::MAX_CHUNK_ELEMENTS) {
            return Err(CodecError::InvalidInput(format!(
                "one chunk would hold {} elements (lattice {lat:?}), more than decoders accept ({}): \
                 lower chunk_elements or the tile, or split the data",
                c.len(),
                crate::format::chunk::MAX_CHUNK_ELEMENTS
            )));
        }
        let metas: Vec<StreamMeta> = streams.iter().map(|s| s.meta.clone()).collect();
        let info = StreamInfo::new(
            table,
            &metas,
            streams.iter().map(|s| s.center).collect(),
            crate::format::container::FORMAT_VERSION,
        );
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
            original_bytes: layout.original_bytes(),
            notes: opts.notes.clone(),
        };
        Ok(Self { opts, lattice: lat, table, streams, info, chunks, metadata })
    }

    /// Encodes `chunks`, whose rows `slab` holds from lattice row `first_row` on (a dataset of
    /// those rows: a field flattened, a table's rows), in parallel.
    fn encode(
        &self,
        slab: &Dataset,
        first_row: usize,
        chunks: &[ChunkDims],
        model: Option<&AeModel<'_>>,
    ) -> Result<Vec<EncodedChunk>> {
        map_chunks(chunks, |c| self.encode_chunk(slab, first_row, c, model, false)).into_iter().collect()
    }

    /// Encodes `chunk` without a model and checks it right after (the encoder's reconstruction
    /// is dropped once checked): the chunk with its checked values' bytes.
    fn encode_checked_one(
        &self,
        checker: &Checker,
        slab: &Dataset,
        first_row: usize,
        chunk: &ChunkDims,
    ) -> Result<(EncodedChunk, Vec<u8>)> {
        let mut encoded = self.encode_chunk(slab, first_row, chunk, None, true)?;
        let bytes = checker.check_chunk(self, slab, first_row, &mut encoded)?;
        Ok((encoded, bytes))
    }

    /// Chunks in work at once: one per thread, but no more than [`IN_FLIGHT_VALUES`] values'
    /// worth (the chunk encoder's working set is ~70 bytes a value), so memory does not grow
    /// with the machine's core count either; each chunk still spreads its candidates over all
    /// threads.
    fn in_flight(&self) -> usize {
        let largest = self.chunks.iter().map(|c| c.len()).max().unwrap_or(1).max(1);
        (IN_FLIGHT_VALUES / largest).clamp(1, batch_size())
    }

    /// Encodes one chunk, whose rows `slab` holds from lattice row `first_row` on.
    fn encode_chunk(
        &self,
        slab: &Dataset,
        first_row: usize,
        chunk: &ChunkDims,
        model: Option<&AeModel<'_>>,
        keep_swept: bool,
    ) -> Result<EncodedChunk> {
        let values = slab.stream_values();
        let cx = Context {
            lattice: self.lattice,
            table: self.table,
            streams: &self.streams,
            values: &values,
            first_row,
            info: &self.info,
            opts: self.opts,
            keep_swept,
        };
        encode_chunk(chunk, &cx, model)
    }

    /// Values per stream in one lattice row.
    fn row_len(&self) -> usize {
        row_len(self.lattice, self.table)
    }
}

/// Values per stream in one lattice row: a table's row holds one of each column, a field's row
/// a plane.
fn row_len(lattice: [usize; 3], table: bool) -> usize {
    if table { 1 } else { lattice[1] * lattice[2] }
}

/// Each stream's finite, non-fill range (`None`: it has no such values) and each table column's
/// lattice exponent ([`table_lattices`]).
type Ranges<'a> = (&'a [Option<(f64, f64)>], &'a [Option<i32>]);

/// Each table column's `preprocess::lattice_exponent` (None for every stream of a field), or an
/// exponent of a lattice too fine for [`lattice_step`] to take with the bound of the column's
/// range `ranges` (of these values or of a part of them: a larger range's bound is no smaller).
fn table_lattices<'v>(
    values: impl Iterator<Item = &'v Values>,
    layout: &DatasetLayout,
    opts: &CompressOptions,
    ranges: &[Option<(f64, f64)>],
) -> Vec<Option<i32>> {
    match layout.table {
        true => values
            .zip(&layout.streams)
            .zip(ranges)
            .map(|((v, (_, dtype)), range)| {
                let enough =
                    range.map_or(i32::MIN, |(min, max)| too_fine_from(opts.bound.bound_for(min, max)));
                lattice_exponent_down_to(v, opts.fill_value, *dtype, enough)
            })
            .collect(),
        false => vec![None; layout.streams.len()],
    }
}

/// The largest e whose lattice of 2^e [`lattice_step`] would not take with bound `bound` (it takes
/// 2^e > 2·bound only), i32::MIN where every lattice may be taken (a bound of 0).
fn too_fine_from(bound: f64) -> i32 {
    let twice = 2.0 * bound;
    crate::quant::normal_exponent(twice).filter(|_| twice > 0.0).unwrap_or(i32::MIN)
}

/// The grid step of a float stream with bound `bound` whose values lie on the lattice of 2^e
/// (`lattice`) between `min` and `max`: the lattice's own where it is coarser than the bound's
/// 2·bound (counts stored as floats then come back exactly, as small codes: a count of 0–5 at
/// 1e-3 of its range had codes in steps of 100), else 2·bound.
fn lattice_step(lattice: Option<i32>, bound: f64, (min, max): (f64, f64)) -> Option<f64> {
    let unit = crate::quant::power_of_two(lattice? as i64)?;
    ((unit > 2.0 * bound) && (max - min) / unit <= crate::quant::MAX_Q / 4.0).then_some(unit)
}

fn plan_streams(
    layout: &DatasetLayout,
    (ranges, lattices): Ranges<'_>,
    opts: &CompressOptions,
) -> Result<Vec<StreamPlan>> {
    layout
        .streams
        .iter()
        .zip(ranges)
        .zip(lattices)
        .map(|(((name, dtype), range), &lattice)| {
            let (min, max) = range.unwrap_or((0.0, 0.0));
            let quantizer = if dtype.is_float() {
                let bound = opts.bound.bound_for(min, max);
                if !(bound >= 0.0 && bound.is_finite()) {
                    return Err(CodecError::InvalidInput(format!(
                        "error bound {bound} is not a finite number ≥ 0"
                    )));
                }
                match lattice_step(lattice, bound, (min, max)) {
                    Some(step) => Quantizer::Float { bound, step, offset: min },
                    None => float_quantizer(bound, min),
                }
            } else {
                Quantizer::Int
            };
            let meta = StreamMeta { name: name.clone(), dtype: *dtype, quantizer, min, max };
            let center = grid_of(&meta, min + (max - min) / 2.0);
            Ok(StreamPlan { meta, center })
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

/// Checks encoded chunks the way a reader will see them: each decoded from its payload alone
/// and every value checked against the bound, on any thread; their values are then hashed in
/// order ([`InOrder`]).
struct Checker {
    archive: Archive<'static>,
}

impl Checker {
    fn new(plan: &Plan<'_>, model: Option<&AeModel<'_>>) -> Result<Self> {
        let archive = Archive::without_chunks(
            plan.metadata.clone(),
            model.map(|m| m.payload.as_slice()),
            crate::format::container::FORMAT_VERSION,
        )?;
        Ok(Self { archive })
    }

    /// The content hash of checked chunks, taken in order.
    fn in_order(&self) -> InOrder<'_> {
        InOrder { archive: &self.archive, check: StreamCheck::new(&self.archive) }
    }

    /// Decodes `chunks` (in parallel batches) and checks them against `slab`, which holds the
    /// input's rows from `first_row` on; `hashed` takes their values in order.
    fn check(
        &self,
        plan: &Plan<'_>,
        slab: &Dataset,
        first_row: usize,
        chunks: &[EncodedChunk],
        hashed: &mut InOrder<'_>,
    ) -> Result<()> {
        for batch in chunks.chunks(batch_size()) {
            let checked = map_items(batch, |c| self.decode_and_check(plan, slab, first_row, c, None));
            for (c, bytes) in batch.iter().zip(checked) {
                hashed.accept(c, &bytes?)?;
            }
        }
        Ok(())
    }

    /// Chunk `c` decoded from its payload alone and checked against `slab` (the input's rows from
    /// `first_row` on): its values' bytes for the content hash, which [`InOrder::accept`] takes
    /// in order. Any chunk, on any thread.
    ///
    /// With what the encoder made of a float field's chunk (`EncodedChunk::swept`, taken:
    /// feedback interpolation's reconstruction, or a grid predictor's grid), the chunk's bytes
    /// are decoded to codes (the exceptions, the coder, zstd: all that the bytes say), which must
    /// be the encoder's, and its values are made from what the encoder made, with the exceptions
    /// decoded from the bytes put in: the decoder's predictor makes the same from those codes with
    /// the same arithmetic, so it is not run a second time (Lorenzo's decode was about a third of
    /// the check on CFD at 1e-3, by `perf`). Every decode checks the content hash, made of these values
    /// (tests: `decode_reproduces_the_sweep`, `every_grid_candidate_is_lossless_on_anything`).
    fn check_chunk(
        &self,
        plan: &Plan<'_>,
        slab: &Dataset,
        first_row: usize,
        c: &mut EncodedChunk,
    ) -> Result<Vec<u8>> {
        let swept = c.swept.take();
        self.decode_and_check(plan, slab, first_row, c, swept)
    }

    /// [`Self::check_chunk`], from the encoder's reconstruction where `swept` is given.
    fn decode_and_check(
        &self,
        plan: &Plan<'_>,
        slab: &Dataset,
        first_row: usize,
        c: &EncodedChunk,
        swept: Option<chunk::Swept>,
    ) -> Result<Vec<u8>> {
        let entry = ChunkEntry { offset: 0, start: c.start as u64, rows: c.rows as u64 };
        let what = format!("chunk at row {}", c.start);
        let at = (c.start - first_row) * plan.row_len();
        let fill = plan.opts.fill_value;
        // A field of floats: straight to the bytes the hash takes, checked from them (only such
        // chunks have the encoder's values).
        if let (Dataset::Field(a), [stream]) = (slab, plan.streams.as_slice())
            && let (Values::Float(orig), true) = (&a.values, stream.meta.dtype.is_float())
        {
            let bytes = match swept.filter(|_| !plan.opts.full_check) {
                Some(s) => self.archive.swept_field_bytes(entry, &c.payload, &what, (&s.codes, s.values))?,
                None => {
                    let d = self.archive.decode_payload(entry, &c.payload, &what, None)?;
                    let bytes = self.archive.chunk_field_bytes(&d)?;
                    bytes.ok_or_else(|| CodecError::Verification(format!("{what}: no field's values")))?
                }
            };
            verify::verify_field_bytes(orig, &bytes, at, stream, fill)?;
            return Ok(bytes);
        }
        let d = self.archive.decode_payload(entry, &c.payload, &what, None)?;
        let part = self.archive.chunk_values(&d)?;
        verify::verify_part(slab, &part, at, &plan.streams, fill)?;
        Ok(crate::hash::value_bytes(&part))
    }
}

/// Checked chunks' values hashed in order.
struct InOrder<'a> {
    archive: &'a Archive<'static>,
    check: StreamCheck,
}

impl InOrder<'_> {
    /// The next chunk's checked values ([`Checker::check_chunk`]), in order.
    fn accept(&mut self, c: &EncodedChunk, bytes: &[u8]) -> Result<()> {
        self.check.accept_row_bytes(self.archive, (c.start, c.rows), bytes)
    }

    /// After the last chunk: the content hash of all that was checked.
    fn hash(self) -> Result<[u8; 32]> {
        self.check.hash(self.archive)
    }
}

/// Checks every chunk of `draft` (encoded from `ds`, with `model`), in order: the content hash.
fn check_all(ds: &Dataset, draft: &Draft<'_>, model: Option<&AeModel<'_>>) -> Result<[u8; 32]> {
    let checker = Checker::new(&draft.plan, model)?;
    let mut hashed = checker.in_order();
    checker.check(&draft.plan, ds, 0, &draft.chunks, &mut hashed)?;
    hashed.hash()
}

/// Stores the content hash of `draft`'s checked chunks, and writes the final archive.
fn finish(draft: Draft<'_>, hash: [u8; 32], model: Option<&AeModel<'_>>) -> Result<Compressed> {
    let Draft { mut plan, chunks } = draft;
    plan.metadata.content_hash = hash;
    let bytes = assemble(&plan.metadata, model, &chunks);
    let external = model.filter(|m| !m.embed).map(|m| m.payload.as_slice());
    let archive = Archive::open(&bytes, external)?;
    Ok(Compressed {
        sizes: archive.sizes.clone(),
        bytes,
        metadata: plan.metadata,
        ae_tiles: chunks.iter().map(|c| c.ae_tiles).sum(),
        total_tiles: if model.is_some() { chunks.iter().map(|c| c.tiles).sum() } else { 0 },
        exceptions: chunks.iter().map(|c| c.exceptions).sum(),
        predictors: chunks.iter().map(|c| c.predictor.clone()).collect(),
    })
}

/// Values of the chunks in work at once (two default chunks).
const IN_FLIGHT_VALUES: usize = 1 << 22;

/// Chunks encoded or checked at once: one per core.
fn batch_size() -> usize {
    rayon::current_num_threads().max(1)
}

fn map_chunks<T: Send>(chunks: &[ChunkDims], f: impl Fn(&ChunkDims) -> T + Sync + Send) -> Vec<T> {
    map_items(chunks, f)
}

fn map_items<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    items.par_iter().map(f).collect()
}

/// The archive's sections before the chunks: header, metadata, model, chunk index.
fn head(meta: &Metadata, model: Option<&AeModel<'_>>, chunks: &[(u64, u64, usize)]) -> Vec<u8> {
    let mut w = ContainerWriter::new();
    let (kind, metadata) = crate::format::metadata::metadata_section(meta);
    w.push(kind, &metadata);
    if let Some(m) = model {
        if m.embed {
            w.push(SectionKind::Model, &m.payload);
        } else {
            w.push(SectionKind::ModelRef, &model_hash(&m.payload));
        }
    }
    crate::format::chunk_index::push_index(&mut w, chunks.len() as u64, chunks);
    w.into_head()
}

fn assemble(meta: &Metadata, model: Option<&AeModel<'_>>, chunks: &[EncodedChunk]) -> Vec<u8> {
    let entries: Vec<(u64, u64, usize)> =
        chunks.iter().map(|c| (c.start as u64, c.rows as u64, c.payload.len())).collect();
    let mut bytes = head(meta, model, &entries);
    for c in chunks {
        bytes.extend_from_slice(&section_header(SectionKind::Chunk, &c.payload));
        bytes.extend_from_slice(&c.payload);
    }
    bytes.extend_from_slice(&end_section());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::EncoderValues;
    use crate::data::Array;

    /// A column's lattice scan stops at the first block whose values are finer than the bound's
    /// grid, and the step it leads to is the whole scan's, lattice or not.
    #[test]
    fn a_lattice_scan_stopped_early_takes_the_same_step() {
        use crate::preprocess::lattice_exponent;
        let mut rng = crate::testing::Rng(17);
        let pow2 = |e: i64| crate::quant::power_of_two(e).unwrap();
        let mut stopped = 0;
        for case in 0..3000 {
            let (k, n) = (rng.range(-4, 6), rng.range(1, 3000) as usize);
            let mut v: Vec<f64> = (0..n).map(|_| rng.range(-50, 50) as f64 * pow2(k)).collect();
            // A finer value last: the scan may stop before it only where both are too fine.
            if case % 3 == 0 {
                v[n - 1] += pow2(k - rng.range(1, 30));
            }
            let bound = [0.0, 1e-6, 1e-3, 0.01, 0.3, 0.5, 2.0, 40.0][case % 8] * (1.0 + rng.below(3) as f64);
            let values = Values::Float(v);
            let range = finite_range(&values, None, DType::F64).unwrap_or((0.0, 0.0));
            let full = lattice_exponent(&values, None, DType::F64);
            let early = lattice_exponent_down_to(&values, None, DType::F64, too_fine_from(bound));
            assert_eq!(lattice_step(full, bound, range), lattice_step(early, bound, range), "case {case}");
            stopped += (early != full) as usize;
        }
        assert!(stopped > 100, "{stopped}");
        // Measured values: the first block settles it.
        let mut v = vec![0.1; 4096];
        v.push(pow2(-70));
        let values = Values::Float(v);
        assert_eq!(lattice_exponent_down_to(&values, None, DType::F64, too_fine_from(0.01)), Some(-55));
        assert_eq!(lattice_exponent(&values, None, DType::F64), Some(-70));
    }

    /// The check from what the encoder made (feedback interpolation's reconstruction, a grid
    /// predictor's grid) gives the decoder's bytes, and refuses values off by more than the bound
    /// and codes that the chunk's bytes do not decode to.
    #[test]
    fn the_check_from_the_encoder_refuses_what_the_bytes_do_not_give() {
        // Value 5 of the second chunk (4805 of the field) moved by three times the bound.
        let waves: Vec<f64> = (0..9600)
            .map(|i| {
                let (t, y, x) = ((i / 1200) as f64, (i / 40 % 30) as f64, (i % 40) as f64);
                let wave = (x * 0.2 + t * 0.3).sin() * (y * 0.15).cos() + ((i * 7919) % 13) as f64 * 1e-3;
                wave as f32 as f64
            })
            .collect();
        let kind = check_from_the_encoder(DType::F32, waves, 0.01, |values| match values {
            EncoderValues::Reconstruction(bytes) => {
                let place = &mut bytes[20..24];
                let moved = f32::from_le_bytes(place.try_into().unwrap()) + 0.03;
                place.copy_from_slice(&moved.to_le_bytes());
            }
            EncoderValues::Grid(_) => panic!("feedback interpolation hands its reconstruction over"),
        });
        assert!(kind.contains("on reconstructed values"), "{kind}");
        // Lorenzo on a rough float64 field at a fine bound: its grid, a point moved by 3 steps.
        let rough: Vec<f64> =
            (0..9600).map(|i| ((i * 7919) % 1000) as f64 * 0.37 + (i / 40) as f64).collect();
        let kind = check_from_the_encoder(DType::F64, rough, 1e-6, |values| match values {
            EncoderValues::Grid(q) => q[5] += 3,
            EncoderValues::Reconstruction(_) => panic!("a grid predictor hands its grid over"),
        });
        assert!(kind.starts_with("lorenzo"), "{kind}");
    }

    /// The second of two chunks of an 8 × 30 × 40 field at absolute bound `bound`: checked from
    /// what its encoder made, the decoder's bytes; refused with `tamper`'s change to those values
    /// (value 4805 named) and with a code changed. Its predictor's name.
    fn check_from_the_encoder(
        dtype: DType,
        values: Vec<f64>,
        bound: f64,
        tamper: impl Fn(&mut EncoderValues),
    ) -> String {
        let ds = Dataset::Field(Array { dtype, shape: vec![8, 30, 40], values: Values::Float(values) });
        let opts = CompressOptions {
            bound: BoundSpec::Abs(bound),
            chunk_elements: 4800,
            learned: false,
            ..Default::default()
        };
        let layout = ds.layout();
        let ranges = vec![finite_range(ds.stream_values()[0], None, dtype)];
        let plan = Plan::new(&layout, (&ranges, &[None]), &opts, None).unwrap();
        let checker = Checker::new(&plan, None).unwrap();
        let chunk = &plan.chunks[1];
        let encoded = || plan.encode_chunk(&ds, 0, chunk, None, true).unwrap();
        let check = |mut c: EncodedChunk| checker.check_chunk(&plan, &ds, 0, &mut c);

        let c = encoded();
        let name = c.predictor.clone();
        assert!(c.swept.is_some(), "the encoder hands its values over, {name}");
        let bytes = check(c).unwrap();
        let mut by_decoder = encoded();
        by_decoder.swept = None;
        assert_eq!(check(by_decoder).unwrap(), bytes, "the decoder's own predictor gives the same bytes");

        let mut c = encoded();
        tamper(&mut c.swept.as_mut().unwrap().values);
        let e = check(c).unwrap_err().to_string();
        assert!(e.contains("value 4805 of stream"), "{e}");

        let mut c = encoded();
        c.swept.as_mut().unwrap().codes[7] += 1;
        let e = check(c).unwrap_err().to_string();
        assert!(e.contains("decode to other codes"), "{e}");
        name
    }

    /// A float field's chunk of 2^15–2^18 values ranks its predictors on a box of 1/8 of it and
    /// runs the best few whole: the same archive as running every predictor whole (the feedback
    /// variants ranked on a box, as before), on smooth waves, short waves, a noisy ramp and a
    /// travelling front, float32 and float64, at 1e-2, 1e-3, 1e-4. Where the box finds the codes
    /// short (16 of the 24 cases) the chunk ranks them again on a quarter slab and runs 4 whole.
    #[test]
    fn mid_size_chunks_choose_on_a_box_what_running_every_predictor_whole_chooses() {
        let dims = [24, 60, 70];
        let n: usize = dims.iter().product();
        let at = |e: usize| ((e / 4200) as f64, (e / 70 % 60) as f64, (e % 70) as f64);
        let noise = |e: usize| ((e * 7919) % 101) as f64 / 101.0 - 0.5;
        let fields: [fn(f64, f64, f64) -> f64; 4] = [
            |t, y, x| (x * 0.05 + t * 0.1).sin() * (y * 0.04).cos() * 10.0,
            |t, y, x| (x * 0.9 + y * 0.4 - t * 0.7).sin() + 0.6 * (x * 0.3 - y * 1.1 + t * 0.5).sin(),
            |t, y, x| t * 0.3 + y * 0.02 - x * 0.01,
            |t, y, x| ((x - 2.0 * t) * 0.15 + (y * 0.05).sin()).tanh() * 3.0,
        ];
        for (k, f) in fields.iter().enumerate() {
            for dtype in [DType::F32, DType::F64] {
                let values: Vec<f64> = (0..n)
                    .map(|e| {
                        let (t, y, x) = at(e);
                        let v = f(t, y, x) + noise(e) * [1e-3, 1e-4, 0.05, 2e-3][k];
                        if dtype == DType::F32 { v as f32 as f64 } else { v }
                    })
                    .collect();
                let ds = Dataset::Field(Array { dtype, shape: dims.to_vec(), values: Values::Float(values) });
                for rel in [1e-2, 1e-3, 1e-4] {
                    let opts =
                        CompressOptions { bound: BoundSpec::Rel(rel), learned: false, ..Default::default() };
                    let layout = ds.layout();
                    let ranges = vec![finite_range(ds.stream_values()[0], None, dtype)];
                    let plan = Plan::new(&layout, (&ranges, &[None]), &opts, None).unwrap();
                    assert_eq!(plan.chunks.len(), 1);
                    let values = ds.stream_values();
                    let cx = chunk::Context {
                        lattice: plan.lattice,
                        table: false,
                        streams: &plan.streams,
                        values: &values,
                        first_row: 0,
                        info: &plan.info,
                        opts: &opts,
                        keep_swept: false,
                    };
                    let choose = |mid| chunk::encode_chunk_choosing(&plan.chunks[0], &cx, None, mid).unwrap();
                    let (boxed, whole) = (choose(chunk::MidChunks::OnABox), choose(chunk::MidChunks::Whole));
                    assert!(
                        boxed.payload == whole.payload,
                        "field {k} {dtype:?} at {rel}: {} ({} bytes) on a box, {} ({} bytes) whole",
                        boxed.predictor,
                        boxed.payload.len(),
                        whole.predictor,
                        whole.payload.len()
                    );
                }
            }
        }
    }
}
