//! The chunk index (docs/format.md §3), the writer next to the reader: the chunk count, then each
//! chunk's section offset, first row and rows. Chunks are consecutive ranges of the lattice's
//! first axis that together cover it.

use crate::bytes::Reader;
#[cfg(feature = "encode")]
use crate::bytes::put_varint;
use crate::error::{CodecError, Result, corrupt};
#[cfg(feature = "encode")]
use crate::format::container::{ContainerWriter, SECTION_HEADER_LEN, SectionKind};

/// Where one chunk lies in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    pub offset: u64,
    pub start: u64,
    pub rows: u64,
}

/// Pushes the chunk index (`count`: the chunks' number, unless crafting damage) and the chunk
/// sections `(start, rows, payload)`.
#[cfg(feature = "encode")]
pub fn push_index_and_chunks(w: &mut ContainerWriter, count: u64, chunks: &[(u64, u64, &[u8])]) {
    let entries: Vec<(u64, u64, usize)> = chunks.iter().map(|&(s, r, p)| (s, r, p.len())).collect();
    push_index(w, count, &entries);
    for &(.., payload) in chunks {
        w.push(SectionKind::Chunk, payload);
    }
}

/// Pushes the chunk index of chunk sections `(start, rows, payload length)` that will follow it
/// in this order. The offsets depend on the index's own length, so it is encoded until that
/// length settles.
#[cfg(feature = "encode")]
pub fn push_index(w: &mut ContainerWriter, count: u64, chunks: &[(u64, u64, usize)]) {
    let mut index = Vec::new();
    for _ in 0..4 {
        let mut offset = (w.len() + SECTION_HEADER_LEN + index.len()) as u64;
        let mut next = Vec::new();
        put_varint(&mut next, count);
        for &(start, rows, len) in chunks {
            put_varint(&mut next, offset);
            put_varint(&mut next, start);
            put_varint(&mut next, rows);
            offset += (SECTION_HEADER_LEN + len) as u64;
        }
        let settled = next.len() == index.len();
        index = next;
        if settled {
            break;
        }
    }
    w.push(SectionKind::ChunkIndex, &index);
}

/// Reads the index of a lattice of `lattice` and checks that its chunks tile the rows.
pub fn read_index(payload: &[u8], lattice: [usize; 3]) -> Result<Vec<ChunkEntry>> {
    let mut r = Reader::new(payload);
    // At most one chunk per row, and each entry takes at least 3 bytes of the index: a count
    // the index's own bytes cannot hold is refused before anything is reserved for it.
    let n = r.len(lattice[0].max(1), "chunk count")?;
    if n > r.remaining() / 3 {
        return corrupt(format!("chunk index lists {n} chunks in {} bytes", payload.len()));
    }
    let mut chunks = Vec::with_capacity(n);
    let mut next_row = 0u64;
    for _ in 0..n {
        let e = ChunkEntry {
            offset: r.varint("chunk offset")?,
            start: r.varint("chunk start")?,
            rows: r.varint("chunk rows")?,
        };
        if e.start != next_row || e.rows == 0 {
            return corrupt("chunk index does not tile the data");
        }
        next_row =
            next_row.checked_add(e.rows).ok_or_else(|| CodecError::Corrupt("chunk rows overflow".into()))?;
        chunks.push(e);
    }
    r.finish("chunk index")?;
    // The writer's chunks cover exactly the lattice's rows; no chunks at all is also accepted
    // for an empty dataset (what older writers did). More rows than the shape is damage.
    let empty = lattice.iter().product::<usize>() == 0;
    if next_row != lattice[0] as u64 && !(empty && n == 0) {
        return corrupt(format!("chunks cover {next_row} of {} rows", lattice[0]));
    }
    Ok(chunks)
}
