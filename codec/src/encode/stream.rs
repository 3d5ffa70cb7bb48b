//! Compression of an input that is read a slab of rows at a time, so memory holds a few chunks
//! whatever the input's size. The archive is byte for byte what [`super::compress`] gives for
//! the same values without a model.
//!
//! Two passes over the source: the first finds each stream's range (the quantizer of a relative
//! bound and the metadata need it before the first chunk), the second encodes a batch of chunks
//! (one per core), checks them by decoding each from its own bytes, and writes their sections.
//! The chunk index precedes the chunks in the format, so the caller gets the archive's head
//! (header, metadata, index) only at the end: chunk sections go to a spill writer first.

use std::io::Write;

use super::{Checker, Plan, head, row_len, table_lattices};
use crate::archive::SectionSizes;
use crate::data::{Dataset, DatasetLayout, RowSource};
use crate::error::{CodecError, Result};
use crate::format::container::{SECTION_HEADER_LEN, SectionKind, end_section, section_header};
use crate::format::metadata::Metadata;
use crate::preprocess::{finite_range, merge_lattice};

use super::CompressOptions;

/// Values read at a time while looking for the streams' ranges.
const RANGE_SLAB: usize = 1 << 22;

/// Values of the chunks encoded at once (two default chunks).
const IN_FLIGHT_VALUES: usize = 1 << 22;

/// A streamed archive: `head`, then the chunk sections the spill writer received (in order,
/// `chunk_bytes` of them), then `tail`.
pub struct Streamed {
    pub head: Vec<u8>,
    pub chunk_bytes: u64,
    pub tail: Vec<u8>,
    pub sizes: SectionSizes,
    pub metadata: Metadata,
    pub exceptions: usize,
    /// Classic predictor chosen for each chunk.
    pub predictors: Vec<String>,
}

impl Streamed {
    pub fn total_bytes(&self) -> u64 {
        self.head.len() as u64 + self.chunk_bytes + self.tail.len() as u64
    }
}

/// Compresses `source` with classic predictors, chunk sections to `spill`, checking every value
/// against the bound as [`super::compress`] does. `progress(rows done, rows)` after each batch.
pub fn compress_rows(
    source: &mut dyn RowSource,
    opts: &CompressOptions,
    spill: &mut dyn Write,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Streamed> {
    let layout = source.layout().clone();
    let (ranges, lattices) = stream_ranges(source, &layout, opts)?;
    let plan = Plan::new(&layout, (&ranges, &lattices), opts, None)?;
    let total_rows = plan.lattice[0];
    let mut checker = Checker::new(&plan, None)?;
    let mut entries = Vec::with_capacity(plan.chunks.len());
    let (mut exceptions, mut predictors, mut chunk_bytes) = (0, Vec::new(), 0u64);
    // Chunks in work at once: one per thread, but no more than IN_FLIGHT_VALUES values' worth
    // (the chunk encoder's working set is ~70 bytes a value), so memory does not grow with the
    // machine's core count either; each chunk still spreads its candidates over all threads.
    let largest = plan.chunks.iter().map(|c| c.len()).max().unwrap_or(1).max(1);
    let in_flight = (IN_FLIGHT_VALUES / largest).clamp(1, super::batch_size());
    for batch in plan.chunks.chunks(in_flight) {
        let first = batch[0].start;
        let rows: usize = batch.iter().map(|c| c.dims[0]).sum();
        let slab = read(source, plan.lattice, first, rows)?;
        let encoded = plan.encode(&slab, first, batch, None)?;
        checker.check(&plan, &slab, first, &encoded)?;
        drop(slab);
        for c in encoded {
            let written = spill
                .write_all(&section_header(SectionKind::Chunk, &c.payload))
                .and_then(|_| spill.write_all(&c.payload));
            written.map_err(|e| CodecError::Input(format!("cannot write the archive's chunks: {e}")))?;
            chunk_bytes += (SECTION_HEADER_LEN + c.payload.len()) as u64;
            entries.push((c.start as u64, c.rows as u64, c.payload.len()));
            exceptions += c.exceptions;
            predictors.push(c.predictor);
        }
        progress(first + rows, total_rows);
    }
    let mut metadata = plan.metadata.clone();
    metadata.content_hash = checker.hash()?;
    let head = head(&metadata, None, &entries);
    let tail = end_section().to_vec();
    let sizes = head_sizes(&head, chunk_bytes)?;
    Ok(Streamed { head, chunk_bytes, tail, sizes, metadata, exceptions, predictors })
}

/// Bytes per section kind of an archive with this head and `chunk_bytes` of chunk sections.
fn head_sizes(head: &[u8], chunk_bytes: u64) -> Result<SectionSizes> {
    let mut with_end = head.to_vec();
    with_end.extend_from_slice(&end_section());
    let mut sizes = SectionSizes {
        header: 12,
        chunks: chunk_bytes,
        end: SECTION_HEADER_LEN as u64,
        ..Default::default()
    };
    for s in crate::format::container::read_sections(&with_end)? {
        let len = s.total_len() as u64;
        match s.kind {
            SectionKind::Metadata | SectionKind::MetadataZstd => sizes.metadata += len,
            SectionKind::Model => sizes.model += len,
            SectionKind::ModelRef => sizes.model_ref += len,
            _ => sizes.chunk_index += len,
        }
    }
    Ok(sizes)
}

fn read(source: &mut dyn RowSource, lattice: [usize; 3], first: usize, rows: usize) -> Result<Dataset> {
    let slab = source.read_rows(first, rows).map_err(CodecError::Input)?;
    let layout = source.layout();
    let want = rows * row_len(lattice, layout.table);
    if slab.stream_values().iter().any(|v| v.len() != want) || slab.layout().streams != layout.streams {
        return Err(CodecError::Input(format!(
            "rows {first}..{} came back with another layout or length",
            first + rows
        )));
    }
    Ok(slab)
}

/// Each stream's finite, non-fill range (`None`: it has no such values).
type StreamRanges = Vec<Option<(f64, f64)>>;
/// Each table column's lattice exponent (`preprocess::lattice_exponent`).
type Lattices = Vec<Option<i32>>;

/// Each stream's finite, non-fill range, and each table column's lattice, over the whole source a
/// slab at a time.
fn stream_ranges(
    source: &mut dyn RowSource,
    layout: &DatasetLayout,
    opts: &CompressOptions,
) -> Result<(StreamRanges, Lattices)> {
    let lattice = layout.lattice().map_err(|e| CodecError::InvalidInput(e.to_string()))?;
    let per_row = row_len(lattice, layout.table).max(1) * layout.streams.len().max(1);
    let step = (RANGE_SLAB / per_row).max(1);
    let mut ranges: Vec<Option<(f64, f64)>> = vec![None; layout.streams.len()];
    let mut lattices: Vec<Option<i32>> = vec![None; layout.streams.len()];
    let mut first = 0;
    while first < lattice[0] {
        let rows = step.min(lattice[0] - first);
        let slab = read(source, lattice, first, rows)?;
        for ((r, v), (_, dtype)) in ranges.iter_mut().zip(slab.stream_values()).zip(&layout.streams) {
            if let Some((lo, hi)) = finite_range(v, opts.fill_value, *dtype) {
                *r = Some(r.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
        }
        let slab_lattices = table_lattices(slab.stream_values().iter().copied(), layout, opts);
        for (l, s) in lattices.iter_mut().zip(slab_lattices) {
            *l = merge_lattice(*l, s);
        }
        first += rows;
    }
    Ok((ranges, lattices))
}
