//! Compression of an input that is read a slab of rows at a time, so memory holds a few chunks
//! whatever the input's size. The archive is byte for byte what [`super::compress`] gives for
//! the same values without a model.
//!
//! Two passes over the source: the first finds each stream's range (the quantizer of a relative
//! bound and the metadata need it before the first chunk), the second encodes each chunk, checks
//! it by decoding it from its own bytes, and writes the sections in order (`in_order`). With more
//! than one thread, each pass reads the next slab while the pool works.
//! The chunk index precedes the chunks in the format, so the caller gets the archive's head
//! (header, metadata, index) only at the end: chunk sections go to a spill writer first.

use std::io::Write;

use super::chunk::EncodedChunk;
use super::in_order::encode_in_order;
use super::{Checker, Plan, head, row_len, table_lattices};
use crate::archive::SectionSizes;
use crate::data::{Dataset, DatasetLayout, RowSource};
use crate::error::{CodecError, Result};
use crate::format::container::{SECTION_HEADER_LEN, SectionKind, end_section, section_header};
use crate::format::metadata::Metadata;
use crate::layout::ChunkDims;
use crate::preprocess::{finite_range, merge_lattice, merge_ranges};

use super::CompressOptions;

/// Values read at a time while looking for the streams' ranges.
const RANGE_SLAB: usize = 1 << 22;

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
/// against the bound as [`super::compress`] does. `progress(rows done, rows)` after each chunk.
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
    let checker = Checker::new(&plan, None)?;
    let mut hashed = checker.in_order();
    let mut entries = Vec::with_capacity(plan.chunks.len());
    let (mut exceptions, mut predictors, mut chunk_bytes) = (0, Vec::new(), 0u64);
    // Each chunk's rows read on their own (the next while the pool works), encoded and checked by
    // one task; the chunks written in order as they are done.
    let read_chunk = |c: &ChunkDims| read(source, plan.lattice, c.start, c.dims[0]);
    let take = |c: EncodedChunk, bytes: Vec<u8>| {
        hashed.accept(&c, &bytes)?;
        let written = spill
            .write_all(&section_header(SectionKind::Chunk, &c.payload))
            .and_then(|_| spill.write_all(&c.payload));
        written.map_err(|e| CodecError::Input(format!("cannot write the archive's chunks: {e}")))?;
        chunk_bytes += (SECTION_HEADER_LEN + c.payload.len()) as u64;
        entries.push((c.start as u64, c.rows as u64, c.payload.len()));
        exceptions += c.exceptions;
        predictors.push(c.predictor);
        progress(c.start + c.rows, total_rows);
        Ok(())
    };
    let first_row = |c: &ChunkDims| c.start;
    encode_in_order((&plan, &checker), &plan.chunks, plan.in_flight(), read_chunk, first_row, take)?;
    let mut metadata = plan.metadata.clone();
    metadata.content_hash = hashed.hash()?;
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

/// `(work(), read())`, with `work` on the thread pool while this thread reads, where the pool has
/// more than one thread; one after the other on one thread (`work` first, so that it can drop its
/// rows before the next are read), so that one thread means one core.
fn overlapped<A: Send, B>(work: impl FnOnce() -> A + Send, read: impl FnOnce() -> B) -> (A, B) {
    if super::batch_size() < 2 {
        let a = work();
        return (a, read());
    }
    let mut done = None;
    let b = rayon::in_place_scope(|s| {
        s.spawn(|_| done = Some(work()));
        read()
    });
    (done.expect("the scope waits for its work"), b)
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
    if !layout.table
        && layout.streams.len() == 1
        && let Some(range) = source.field_range(opts.fill_value)
    {
        return Ok((vec![range.map_err(CodecError::Input)?], vec![None]));
    }
    let per_row = row_len(lattice, layout.table).max(1) * layout.streams.len().max(1);
    let mut ranges: Vec<Option<(f64, f64)>> = vec![None; layout.streams.len()];
    let mut lattices: Vec<Option<i32>> = vec![None; layout.streams.len()];
    let slabs: Vec<(usize, usize)> = crate::data::slabs(lattice[0], per_row, RANGE_SLAB).collect();
    let mut slab = slabs.first().map(|&(first, rows)| read(source, lattice, first, rows)).transpose()?;
    for k in 0..slabs.len() {
        let this = slab.take().expect("each slab is read before it is scanned");
        // The slab's ranges and lattices, while the next slab is read.
        let scan = move || {
            let values = this.stream_values();
            let ranges: StreamRanges = values
                .iter()
                .zip(&layout.streams)
                .map(|(v, (_, dtype))| finite_range(v, opts.fill_value, *dtype))
                .collect();
            let lattices = table_lattices(values.iter().copied(), layout, opts, &ranges);
            (ranges, lattices)
        };
        let following = slabs.get(k + 1);
        let ((slab_ranges, slab_lattices), next) = overlapped(scan, || {
            following.map(|&(first, rows)| read(source, lattice, first, rows)).transpose()
        });
        slab = next?;
        for (r, s) in ranges.iter_mut().zip(slab_ranges) {
            *r = merge_ranges(*r, s);
        }
        for (l, s) in lattices.iter_mut().zip(slab_lattices) {
            *l = merge_lattice(*l, s);
        }
    }
    Ok((ranges, lattices))
}
