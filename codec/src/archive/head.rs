//! Opening an archive from its head alone, for readers that fetch parts of a file (the viewer,
//! by HTTP Range requests or `Blob.slice`): how many leading bytes hold the header, metadata,
//! model and chunk index; which bytes each chunk section takes; decoding a chunk section that
//! was fetched on its own. Every check of [`Archive::open`] still runs, on the part it covers.

use std::ops::Range;

use crate::archive::{Archive, DecodedChunk, NetworkRunner, ParsedChunk};
use crate::error::{CodecError, Result, corrupt};
use crate::format::container::{
    HEADER_LEN, MAGIC, SECTION_HEADER_LEN, SectionKind, check_header, peek_section, read_section, version_of,
};

/// How much of an archive's beginning its head takes (see [`head_len`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadLen {
    /// The head is the first this many bytes.
    Complete(u64),
    /// Read at least this many bytes, then ask again.
    AtLeast(u64),
}

/// How many leading bytes of an archive of `file_len` bytes hold its head (everything before the
/// first chunk section), judged from its first bytes `prefix`. A section that claims more bytes
/// than the file has is refused here, before anyone fetches or reserves them.
pub fn head_len(prefix: &[u8], file_len: u64) -> Result<HeadLen> {
    let magic_part = prefix.len().min(MAGIC.len());
    if prefix[..magic_part] != MAGIC[..magic_part] {
        return Err(CodecError::NotAnArchive);
    }
    if prefix.len() < HEADER_LEN {
        return if file_len < HEADER_LEN as u64 {
            Err(CodecError::Truncated("header is incomplete".into()))
        } else {
            Ok(HeadLen::AtLeast(HEADER_LEN as u64))
        };
    }
    check_header(prefix, MAGIC)?;
    let mut pos = HEADER_LEN as u64;
    // Metadata, at most one model section, then the index: the order `Archive::open` checks.
    for expected in [
        &[SectionKind::Metadata, SectionKind::MetadataZstd][..],
        &[SectionKind::Model, SectionKind::ModelRef, SectionKind::ChunkIndex],
        &[SectionKind::ChunkIndex],
    ] {
        let header_end = pos + SECTION_HEADER_LEN as u64;
        if header_end > file_len {
            return Err(CodecError::Truncated(format!(
                "section header at byte {pos} is past the end of the file"
            )));
        }
        if (prefix.len() as u64) < header_end {
            return Ok(HeadLen::AtLeast(header_end));
        }
        let (kind, len) = peek_section(&prefix[pos as usize..], pos)?;
        if !expected.contains(&kind) {
            return corrupt(match expected[0] {
                SectionKind::Metadata => "the first section is not the metadata".to_string(),
                _ => format!("chunk index missing ({} section at byte {pos})", kind.name()),
            });
        }
        let end = header_end.checked_add(len).filter(|&e| e <= file_len).ok_or_else(|| {
            CodecError::Truncated(format!(
                "{} section at byte {pos} declares {len} bytes, only {} remain",
                kind.name(),
                file_len - header_end
            ))
        })?;
        if kind == SectionKind::ChunkIndex {
            return Ok(HeadLen::Complete(end));
        }
        pos = end;
    }
    corrupt("chunk index missing")
}

impl Archive<'static> {
    /// Opens an archive of `file_len` bytes from its head (the first [`head_len`] bytes), checking
    /// everything [`Archive::open`] checks there and that the index's chunk sections tile the
    /// rest of the file. Chunks then decode from their own bytes: [`Self::chunk_section_range`],
    /// [`Self::decode_section`].
    pub fn open_head(head: &[u8], file_len: u64, external_model: Option<&[u8]>) -> Result<Self> {
        if head_len(head, file_len)? != HeadLen::Complete(head.len() as u64) {
            return corrupt("the head given is not the archive's whole head");
        }
        let mut sections = Vec::new();
        let mut pos = HEADER_LEN;
        while pos < head.len() {
            let s = read_section(&head[pos..], pos as u64)?;
            pos += s.total_len();
            sections.push(s);
        }
        let mut iter = sections.iter().peekable();
        let mut archive = Archive::from_head_sections(&mut iter, version_of(head), external_model, true)?;
        // Each chunk section starts where the previous one ends, the first right after the head,
        // and the End section's 16 bytes close the file. (The last chunk's length is what the file
        // leaves: a wrong `file_len` shows when that section's length or checksum is read.)
        let end_section = SECTION_HEADER_LEN as u64;
        let mut next = head.len() as u64;
        for (i, e) in archive.chunks.iter().enumerate() {
            let end = archive.chunks.get(i + 1).map_or(file_len.saturating_sub(end_section), |n| n.offset);
            if e.offset != next || end < e.offset + SECTION_HEADER_LEN as u64 {
                return corrupt(format!("chunk {i} is not where the index says"));
            }
            next = end;
        }
        if next + end_section != file_len {
            return corrupt(format!("the chunk index does not account for the file's {file_len} bytes"));
        }
        archive.sizes.chunks = file_len - head.len() as u64 - end_section;
        archive.file_len = file_len;
        Ok(archive.detach())
    }
}

impl Archive<'_> {
    /// The same archive, no longer tied to the bytes of its head (its chunks come from elsewhere).
    fn detach(self) -> Archive<'static> {
        Archive {
            meta: self.meta,
            decoder: self.decoder,
            model_summary: self.model_summary,
            chunks: self.chunks,
            sizes: self.sizes,
            version: self.version,
            hash_kind: self.hash_kind,
            chunk_payloads: Vec::new(),
            lattice: self.lattice,
            stream_params: self.stream_params,
            stream_info: self.stream_info,
            file_len: self.file_len,
        }
    }

    /// The bytes of the file that chunk `i`'s section takes; the last chunk's range also holds the
    /// End section, so that a reader fetching every chunk has checked the whole file.
    pub fn chunk_section_range(&self, i: usize) -> Option<Range<u64>> {
        let start = self.chunks.get(i)?.offset;
        let end = self.chunks.get(i + 1).map_or(self.file_len, |n| n.offset);
        Some(start..end)
    }

    /// First half of decoding chunk `i` from `section`, the bytes [`Self::chunk_section_range`]
    /// names (as [`Self::parse_chunk`]; then [`Self::finish_chunk`]).
    pub fn parse_section(&self, i: usize, section: &[u8]) -> Result<ParsedChunk> {
        let range =
            self.chunk_section_range(i).ok_or_else(|| CodecError::Corrupt(format!("no chunk {i}")))?;
        if section.len() as u64 != range.end - range.start {
            return corrupt(format!(
                "chunk {i}: {} bytes given, its section takes {}",
                section.len(),
                range.end - range.start
            ));
        }
        let s = read_section(section, range.start)?;
        if s.kind != SectionKind::Chunk {
            return corrupt(format!("chunk {i} is not where the index says"));
        }
        let rest = &section[s.total_len()..];
        if i + 1 == self.chunk_count() {
            let at = range.end - rest.len() as u64;
            let end = read_section(rest, at)?;
            if end.kind != SectionKind::End || end.total_len() != rest.len() {
                return corrupt(format!("no end section at byte {at}"));
            }
        } else if !rest.is_empty() {
            return corrupt(format!("chunk {i} is not where the index says"));
        }
        self.parse_payload(self.chunks[i], s.payload, &format!("chunk {i}"))
    }

    /// Decodes chunk `i` from its section's bytes (see [`Self::parse_section`]), the decoder
    /// network on `net` when given.
    pub fn decode_section(
        &self,
        i: usize,
        section: &[u8],
        net: Option<&dyn NetworkRunner>,
    ) -> Result<DecodedChunk> {
        let parsed = self.parse_section(i, section)?;
        self.run_network(parsed, net)
    }
}
