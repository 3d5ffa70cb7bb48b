//! From decoded chunks to the dataset: dequantization, exceptions, per-stream values; and the
//! content-hash check of a decode that goes chunk by chunk.

use crate::archive::{Archive, DecodedChunk};
use crate::data::{Array, Column, DType, Dataset, Values, put_bytes};
use crate::error::{Result, corrupt};
use crate::format::chunk::EXC_FILL;
use crate::quant::{dequantize, to_dtype};

impl Archive<'_> {
    /// Builds the dataset from decoded chunks (all of them, in order) without checking the hash.
    pub fn assemble_unchecked(&self, chunks: Vec<DecodedChunk>) -> Result<Dataset> {
        let mut out = self.empty_streams();
        // Each stream's final size, known from the chunks: no regrowth (a copy each time) of a
        // field that can be hundreds of MB.
        let elements: usize = chunks.iter().map(DecodedChunk::len).sum();
        let per_stream = elements / self.stream_params.len().max(1);
        for v in &mut out {
            match v {
                Values::Float(v) => v.reserve_exact(per_stream),
                Values::Int(v) => v.reserve_exact(per_stream),
            }
        }
        let mut next_row = 0;
        for c in &chunks {
            if c.start != next_row {
                return corrupt("chunks out of order");
            }
            next_row += c.dims[0];
            self.push_chunk_values(c, &mut out)?;
        }
        if next_row != self.lattice[0] && self.lattice.iter().product::<usize>() > 0 {
            return corrupt("chunks do not cover the data");
        }
        self.wrap(out, self.lattice[0], self.meta.shape.iter().map(|&d| d as usize).collect())
    }

    /// A decoded chunk's values, as a dataset of its rows (a field flattened to 1-d); unlike
    /// [`StreamCheck::accept`] in any order, and no hash is checked.
    pub fn chunk_values(&self, c: &DecodedChunk) -> Result<Dataset> {
        let mut out = self.empty_streams();
        self.push_chunk_values(c, &mut out)?;
        self.wrap(out, c.dims[0], vec![c.len()])
    }

    /// A field chunk's values as a `.npy` stores them (little-endian, in the field's dtype), written
    /// straight from the grid: the same bytes `npy::append_values` makes of [`Self::chunk_values`]
    /// (each value through the same conversions), without the f64 copy; what a viewer's worker
    /// hands back. None for a table.
    pub fn chunk_field_bytes(&self, c: &DecodedChunk) -> Result<Option<Vec<u8>>> {
        if self.meta.table {
            return Ok(None);
        }
        let [_, d1, d2] = self.lattice;
        let n = c.len();
        if c.dims != [c.dims[0], d1, d2] {
            return corrupt("chunk has the wrong shape");
        }
        let p = &self.stream_params[0];
        let (dtype, w) = (p.dtype, p.dtype.size_bytes());
        let grid = match (&c.recon, dtype.is_float()) {
            (Some(r), true) => r.len(),
            _ => c.q.len(),
        };
        if grid != n {
            return corrupt("chunk has the wrong number of values");
        }
        if let Some(bytes) = c.recon.as_deref().and_then(|r| crate::data::float_bytes(r, dtype)) {
            return self.with_field_exceptions(bytes, c).map(Some);
        }
        let mut out = vec![0u8; n * w];
        let f32_bytes = |x: f64| (x as f32).to_le_bytes();
        match (dtype, p.float) {
            (DType::F32, Some((step, offset))) => {
                put_bytes(&mut out, c.q.iter().map(|&q| f32_bytes(dequantize(q, step, offset))))
            }
            (DType::F64, Some((step, offset))) => {
                put_bytes(&mut out, c.q.iter().map(|&q| dequantize(q, step, offset).to_le_bytes()))
            }
            (DType::F32, None) => put_bytes(&mut out, c.q.iter().map(|&q| f32_bytes(q as f64))),
            (DType::F64, None) => put_bytes(&mut out, c.q.iter().map(|&q| (q as f64).to_le_bytes())),
            _ => {
                out.chunks_exact_mut(w).zip(&c.q).for_each(|(d, q)| d.copy_from_slice(&q.to_le_bytes()[..w]))
            }
        }
        self.with_field_exceptions(out, c).map(Some)
    }

    /// A field chunk's value bytes (`chunk_field_bytes` without the exceptions: the chunk's
    /// length in the field's dtype) with `c`'s exceptions put in.
    pub(crate) fn with_field_exceptions(&self, mut out: Vec<u8>, c: &DecodedChunk) -> Result<Vec<u8>> {
        let dtype = self.stream_params[0].dtype;
        let w = dtype.size_bytes();
        if out.len() != c.len() * w {
            return corrupt("chunk has the wrong number of values");
        }
        let f32_bytes = |x: f64| (x as f32).to_le_bytes();
        let fill = self.meta.fill_value.unwrap_or(f64::NAN);
        for &(pos, kind, bits) in &c.exceptions {
            let Some(place) = out.get_mut(pos * w..(pos + 1) * w) else {
                return corrupt("exception outside its chunk");
            };
            match dtype {
                DType::F32 => place.copy_from_slice(&f32_bytes(match kind {
                    EXC_FILL => to_dtype(fill, dtype),
                    _ => f32::from_bits(bits as u32) as f64,
                })),
                DType::F64 => place.copy_from_slice(
                    &match kind {
                        EXC_FILL => to_dtype(fill, dtype),
                        _ => f64::from_bits(bits),
                    }
                    .to_le_bytes(),
                ),
                _ => place.copy_from_slice(&(bits as i64).to_le_bytes()[..w]),
            }
        }
        Ok(out)
    }

    pub(super) fn empty_streams(&self) -> Vec<Values> {
        self.stream_params.iter().map(|p| Values::empty(p.dtype)).collect()
    }

    /// Appends a decoded chunk's values (exceptions applied) to the per-stream outputs.
    pub(super) fn push_chunk_values(&self, c: &DecodedChunk, out: &mut [Values]) -> Result<()> {
        let [_, d1, d2] = self.lattice;
        if c.dims != [c.dims[0], d1, d2] {
            return corrupt("chunk has the wrong shape");
        }
        let n = c.len();
        if c.recon.as_ref().map_or(c.q.len(), Vec::len) != n {
            return corrupt("chunk has the wrong number of values");
        }
        let fill = self.meta.fill_value.unwrap_or(f64::NAN);
        // Element e of the chunk belongs to stream (e / d2) % d1 of a table, to stream 0 of a field:
        // every stream's elements are appended in bulk, then its exceptions are patched in.
        let streams = if self.meta.table { d1 } else { 1 };
        let run = if self.meta.table { d2 } else { n };
        let rows = n / (run * streams).max(1);
        for (s, values) in out.iter_mut().enumerate().take(streams) {
            let p = &self.stream_params[s];
            let dtype = p.dtype;
            // This stream's elements, in order: of every group of `streams` runs, run `s`.
            let group = (streams * run).max(1);
            let parts = || c.q.chunks_exact(group).map(|g| &g[s * run..(s + 1) * run]);
            // A table's column: one element per row (a run of 1), gathered by index.
            let column = || (0..rows).map(|r| c.q[r * group + s]);
            let base = match values {
                Values::Float(v) => {
                    let base = v.len();
                    v.reserve(rows * run);
                    let f32 = dtype == DType::F32;
                    match (&c.recon, p.float) {
                        (Some(r), _) if f32 => v.extend(r.iter().map(|&x| x as f32 as f64)),
                        (Some(r), _) => v.extend_from_slice(r),
                        (None, Some((step, offset))) if run == 1 && f32 => {
                            v.extend(column().map(|q| dequantize(q, step, offset) as f32 as f64))
                        }
                        (None, Some((step, offset))) if run == 1 => {
                            v.extend(column().map(|q| dequantize(q, step, offset)))
                        }
                        (None, Some((step, offset))) if f32 => parts().for_each(|q| {
                            v.extend(q.iter().map(|&q| dequantize(q, step, offset) as f32 as f64))
                        }),
                        (None, Some((step, offset))) => {
                            parts().for_each(|q| v.extend(q.iter().map(|&q| dequantize(q, step, offset))))
                        }
                        (None, None) => parts().for_each(|q| v.extend(q.iter().map(|&q| q as f64))),
                    }
                    base
                }
                Values::Int(v) => {
                    let base = v.len();
                    v.reserve(rows * run);
                    if run == 1 {
                        v.extend(column());
                    } else {
                        parts().for_each(|q| v.extend_from_slice(q));
                    }
                    base
                }
            };
            for &(pos, kind, bits) in &c.exceptions {
                if self.stream_of(pos, c.dims) != s {
                    continue;
                }
                // Position of element `pos` among this stream's elements of the chunk.
                let at = base + (pos / (run * streams)) * run + pos % run;
                match values {
                    Values::Float(v) => {
                        v[at] = match kind {
                            EXC_FILL => to_dtype(fill, dtype),
                            _ if dtype == DType::F32 => f32::from_bits(bits as u32) as f64,
                            _ => f64::from_bits(bits),
                        }
                    }
                    Values::Int(v) => v[at] = bits as i64,
                }
            }
        }
        Ok(())
    }

    /// Per-stream values as a dataset: a table of `rows` rows, or a field of `shape`.
    pub(super) fn wrap(&self, mut out: Vec<Values>, rows: usize, shape: Vec<usize>) -> Result<Dataset> {
        if self.meta.table {
            let columns = self
                .meta
                .streams
                .iter()
                .zip(out)
                .map(|(m, values)| Column { name: m.name.clone(), dtype: m.dtype, values })
                .collect();
            Ok(Dataset::Table { rows, columns })
        } else {
            let values = out.pop().expect("one stream");
            Ok(Dataset::Field(Array { dtype: self.stream_params[0].dtype, shape, values }))
        }
    }
}

/// Checks a decode that goes chunk by chunk, in order: each chunk's rows become a dataset part,
/// and the parts' content hash must equal the archive's at the end (see [`Archive::decode_each`]).
pub struct StreamCheck {
    hasher: crate::hash::ContentHasher,
    next_row: usize,
}

impl StreamCheck {
    pub fn new(archive: &Archive<'_>) -> Self {
        Self {
            hasher: crate::hash::ContentHasher::for_archive(archive.hash_kind, &archive.meta),
            next_row: 0,
        }
    }

    /// The values of the next chunk, as a dataset of its rows (a field flattened to 1-d).
    pub fn accept(&mut self, archive: &Archive<'_>, c: &DecodedChunk) -> Result<Dataset> {
        if c.start != self.next_row {
            return corrupt("chunks out of order");
        }
        self.next_row += c.dims[0];
        let part = archive.chunk_values(c)?;
        self.hasher.update(&part);
        Ok(part)
    }

    /// Chunk `i`'s values as [`crate::hash::value_bytes`] lays them out (decoded elsewhere: a
    /// worker), in order like [`Self::accept`].
    pub fn accept_value_bytes(&mut self, archive: &Archive<'_>, i: usize, bytes: &[u8]) -> Result<()> {
        let Some(e) = archive.chunks.get(i) else { return corrupt(format!("no chunk {i}")) };
        self.accept_row_bytes(archive, (e.start as usize, e.rows as usize), bytes)
    }

    /// The values of lattice rows `start..start + rows`, laid out as [`crate::hash::value_bytes`]
    /// lays them out, in order like [`Self::accept`] (the compressor's check: its chunks are not
    /// in the archive's index yet).
    pub fn accept_row_bytes(
        &mut self,
        archive: &Archive<'_>,
        (start, rows): (usize, usize),
        bytes: &[u8],
    ) -> Result<()> {
        if start != self.next_row {
            return corrupt("chunks out of order");
        }
        let [_, d1, d2] = archive.lattice;
        let row_bytes: usize = if archive.meta.table {
            archive.stream_params.iter().map(|p| p.dtype.size_bytes()).sum()
        } else {
            d1 * d2 * archive.stream_params[0].dtype.size_bytes()
        };
        if bytes.len() != rows * row_bytes {
            return corrupt(format!(
                "rows {start}.. gave {} bytes of values, not {}",
                bytes.len(),
                rows * row_bytes
            ));
        }
        self.next_row += rows;
        self.hasher.update_value_bytes(bytes);
        Ok(())
    }

    /// After the last chunk: every row seen and the content hash matches.
    pub fn finish(self, archive: &Archive<'_>) -> Result<()> {
        if self.hash(archive)? != archive.meta.content_hash {
            return corrupt("decoded values do not match the archive's content hash");
        }
        Ok(())
    }

    /// After the last chunk: every row seen; the content hash of what was accepted.
    pub fn hash(self, archive: &Archive<'_>) -> Result<[u8; 32]> {
        let rows = archive.lattice[0];
        if self.next_row != rows && archive.lattice.iter().product::<usize>() > 0 {
            return corrupt("chunks do not cover the data");
        }
        Ok(self.hasher.finalize())
    }
}
