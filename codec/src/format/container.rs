//! The container: magic, format version, then checksummed sections. See docs/format.md.
//!
//! ```text
//! "BALER\r\n\x1a"  u16 version  u16 flags(0)
//! section*: u8 kind  u8[3] zero  u64 payload_len  u32 crc32(kind..payload_len, payload)  payload
//! the last section is End (empty payload)
//! ```

use crate::error::{CodecError, Result, corrupt};

/// The \r\n and \x1a catch text-mode transfers, as PNG's signature does.
pub const MAGIC: &[u8; 8] = b"BALER\r\n\x1a";
/// Model files: the same container with their own magic.
pub const MODEL_MAGIC: &[u8; 8] = b"BALERMOD";
pub const FORMAT_VERSION: u16 = 7;
/// Magic, version and flags.
pub const HEADER_LEN: usize = 12;
pub const SECTION_HEADER_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SectionKind {
    Metadata = 1,
    Model = 2,
    ModelRef = 3,
    ChunkIndex = 4,
    Chunk = 5,
    /// Model files only: the trainer's own data (float weights, normalization, history).
    Training = 6,
    /// The metadata, zstd'd (format ≥ 6): a varint length, then one frame
    /// (`format::metadata::metadata_section`).
    MetadataZstd = 7,
    End = 255,
}

impl SectionKind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Metadata,
            2 => Self::Model,
            3 => Self::ModelRef,
            4 => Self::ChunkIndex,
            5 => Self::Chunk,
            6 => Self::Training,
            7 => Self::MetadataZstd,
            255 => Self::End,
            _ => return None,
        })
    }

    /// The metadata, plain or zstd'd.
    pub fn is_metadata(self) -> bool {
        matches!(self, Self::Metadata | Self::MetadataZstd)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Metadata => "metadata",
            Self::Model => "model",
            Self::ModelRef => "model reference",
            Self::ChunkIndex => "chunk index",
            Self::Chunk => "chunk",
            Self::Training => "training",
            Self::MetadataZstd => "metadata (zstd)",
            Self::End => "end",
        }
    }
}

/// A section as read from an archive: its kind, where its payload starts, and the payload.
#[derive(Debug)]
pub struct Section<'a> {
    pub kind: SectionKind,
    pub offset: usize,
    pub payload: &'a [u8],
}

impl Section<'_> {
    /// Bytes the section takes in the archive, header included.
    pub fn total_len(&self) -> usize {
        SECTION_HEADER_LEN + self.payload.len()
    }
}

/// Builds an archive section by section.
pub struct ContainerWriter {
    bytes: Vec<u8>,
}

impl Default for ContainerWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ContainerWriter {
    pub fn new() -> Self {
        Self::with_magic(MAGIC)
    }

    /// A container of another file type (model files use [`MODEL_MAGIC`]).
    pub fn with_magic(magic: &[u8; 8]) -> Self {
        let mut bytes = Vec::with_capacity(1 << 16);
        bytes.extend_from_slice(magic);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        Self { bytes }
    }

    /// Current length: the offset the next section will start at.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn push(&mut self, kind: SectionKind, payload: &[u8]) {
        self.bytes.extend_from_slice(&section_header(kind, payload));
        self.bytes.extend_from_slice(payload);
    }

    /// The bytes so far, without the End section: the head of an archive whose chunk sections
    /// are written after it (then [`end_section`]).
    pub fn into_head(self) -> Vec<u8> {
        self.bytes
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.push(SectionKind::End, &[]);
        self.bytes
    }
}

/// The 16 bytes before a section's payload: kind, zeros, length, checksum (a writer that streams
/// sections to a file writes this, then the payload).
pub fn section_header(kind: SectionKind, payload: &[u8]) -> [u8; SECTION_HEADER_LEN] {
    let mut h = [0u8; SECTION_HEADER_LEN];
    h[0] = kind as u8;
    h[4..12].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    let crc = section_crc(&h[..12], payload);
    h[12..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The End section that closes every container.
pub fn end_section() -> [u8; SECTION_HEADER_LEN] {
    section_header(SectionKind::End, &[])
}

/// The checksum covers the section's kind and length as well as its payload, so a flipped kind
/// byte is caught too.
fn section_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(payload);
    h.finalize()
}

/// The format version of a container that [`read_sections`] accepted.
pub fn version_of(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[8], bytes[9]])
}

/// Reads and checks every section header and checksum; returns the sections in order (End excluded).
pub fn read_sections(bytes: &[u8]) -> Result<Vec<Section<'_>>> {
    read_sections_with_magic(bytes, MAGIC)
}

/// [`read_sections`] for a container of another file type.
pub fn read_sections_with_magic<'a>(bytes: &'a [u8], magic: &[u8; 8]) -> Result<Vec<Section<'a>>> {
    check_header(bytes, magic)?;
    let mut sections = Vec::new();
    let mut pos = HEADER_LEN;
    loop {
        let s = read_section(&bytes[pos..], pos as u64)?;
        pos += s.total_len();
        if s.kind == SectionKind::End {
            if !s.payload.is_empty() {
                return corrupt("end section is not empty");
            }
            if pos != bytes.len() {
                return corrupt(format!("{} unexpected bytes after the end section", bytes.len() - pos));
            }
            return Ok(sections);
        }
        sections.push(s);
    }
}

/// Checks magic, version and flags: the 12 bytes every container starts with.
pub fn check_header(bytes: &[u8], magic: &[u8; 8]) -> Result<()> {
    if bytes.len() < magic.len() || &bytes[..magic.len()] != magic {
        return Err(CodecError::NotAnArchive);
    }
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::Truncated("header is incomplete".into()));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(CodecError::FutureVersion { found: version, supported: FORMAT_VERSION });
    }
    if version == 0 {
        return corrupt("format version 0 does not exist");
    }
    let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
    if flags != 0 {
        return corrupt(format!("unknown header flags {flags:#06x}"));
    }
    Ok(())
}

/// A section's kind and payload length, from its 16-byte header at byte `at` of the file
/// (nothing checked but the kind and the reserved bytes: the checksum needs the payload).
pub fn peek_section(header: &[u8], at: u64) -> Result<(SectionKind, u64)> {
    if header.len() < SECTION_HEADER_LEN {
        return Err(CodecError::Truncated(format!(
            "section header at byte {at} is incomplete ({} of {SECTION_HEADER_LEN} bytes)",
            header.len()
        )));
    }
    let kind = SectionKind::from_u8(header[0])
        .ok_or_else(|| CodecError::Corrupt(format!("unknown section kind {} at byte {at}", header[0])))?;
    if header[1..4] != [0, 0, 0] {
        return corrupt(format!("reserved bytes of the section at byte {at} are not zero"));
    }
    Ok((kind, u64::from_le_bytes(header[4..12].try_into().expect("8 bytes"))))
}

/// The section that starts `bytes` (byte `at` of the file, for messages and its offset), its
/// checksum checked; bytes after it are left alone.
pub fn read_section(bytes: &[u8], at: u64) -> Result<Section<'_>> {
    let (kind, len) = peek_section(bytes, at)?;
    let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let available = (bytes.len() - SECTION_HEADER_LEN) as u64;
    if len > available {
        return Err(CodecError::Truncated(format!(
            "{} section at byte {at} declares {len} bytes, only {available} remain",
            kind.name()
        )));
    }
    let payload = &bytes[SECTION_HEADER_LEN..SECTION_HEADER_LEN + len as usize];
    if section_crc(&bytes[..12], payload) != crc {
        return corrupt(format!("checksum mismatch in the {} section at byte {at}", kind.name()));
    }
    Ok(Section { kind, offset: at as usize, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = ContainerWriter::new();
        w.push(SectionKind::Metadata, b"hello");
        w.push(SectionKind::Chunk, &[1, 2, 3, 4, 5, 6, 7]);
        w.finish()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let s = read_sections(&bytes).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].kind, SectionKind::Metadata);
        assert_eq!(s[0].payload, b"hello");
        assert_eq!(s[1].payload, &[1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(read_sections(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // (The version's low byte flips to 14, a future version; 6 ↔ 4 or 3 ↔ 2 would be a valid
        // container, caught by what the version names: predictors 18–20 need 5 or 6, and the
        // content hash differs between 2 and 3 (tests/tests/golden.rs).)
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= if i == 8 { 0x08 } else { 0x01 };
            assert!(read_sections(&b).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn future_version_is_named() {
        let mut bytes = sample();
        bytes[8] = 9;
        let err = read_sections(&bytes).unwrap_err().to_string();
        assert!(err.contains("version 9"), "{err}");
    }
}
