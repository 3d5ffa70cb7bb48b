//! Reading an archive: sections → metadata, model, chunk index → decoded values.

use crate::coder::{ChunkShape, SymbolCoder};
use crate::data::{DType, Dataset};
use crate::error::{CodecError, Result, corrupt};
use crate::format::chunk::{ChunkHeader, ChunkReader, Exception};
pub use crate::format::chunk::{MAX_CHUNK_ELEMENTS, MAX_CHUNK_RAW_BYTES};
pub use crate::format::chunk_index::ChunkEntry;
use crate::format::container::{Section, SectionKind, read_sections};
use crate::format::metadata::{Metadata, ModelUse, hex};
use crate::hash::HashKind;
use crate::layout::{ChunkDims, lattice};
pub use crate::network::NetworkRunner;
use crate::network::int_decoder::IntDecoder;
use crate::network::stored::StoredDecoder;
use crate::predictor::autoencoder::NetworkTiles;
use crate::predictor::{DecodeInput, Predictor, Reconstruction, StreamInfo};
use streams::{StreamParams, check_streams};

mod head;
mod output;
mod streams;
pub use head::{HeadLen, head_len};
pub use output::StreamCheck;

/// Bytes per section kind, for `info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionSizes {
    pub header: u64,
    pub metadata: u64,
    pub model: u64,
    pub model_ref: u64,
    pub chunk_index: u64,
    pub chunks: u64,
    pub end: u64,
}

impl SectionSizes {
    pub fn total(&self) -> u64 {
        self.header + self.metadata + self.model + self.model_ref + self.chunk_index + self.chunks + self.end
    }
}

/// A parsed, checked archive, ready to decode chunk by chunk.
pub struct Archive<'a> {
    pub meta: Metadata,
    pub decoder: Option<IntDecoder>,
    /// What the decoder network is, when the archive has (or was given) it.
    pub model_summary: Option<ModelSummary>,
    pub chunks: Vec<ChunkEntry>,
    pub sizes: SectionSizes,
    /// Container format version (1–5).
    pub version: u16,
    /// Which hash `meta.content_hash` is (by version).
    pub hash_kind: HashKind,
    chunk_payloads: Vec<&'a [u8]>,
    lattice: [usize; 3],
    stream_params: Vec<StreamParams>,
    /// What the chunk predictors are built with.
    stream_info: StreamInfo,
    /// Length of the whole file (0 for an archive without chunks).
    file_len: u64,
}

/// The decoder network in words, for `info`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSummary {
    /// Layer by layer, e.g. `dense+igdn → conv_transpose+igdn → conv_transpose`.
    pub layers: String,
    /// Stored weights, biases and normalization parameters.
    pub parameters: usize,
    pub latent_dim: usize,
}

/// A decoded chunk: grid values plus the exactly stored exceptions.
/// What an encoder made of a field chunk while encoding it, which the decoder makes again from
/// the chunk's codes with the same arithmetic: the compressor's check takes it instead
/// ([`Archive::swept_field_bytes`]).
#[cfg(feature = "encode")]
pub(crate) enum EncoderValues {
    /// Feedback interpolation's reconstruction, as the field stores it
    /// ([`crate::data::float_bytes`]; exceptions not put in yet).
    Reconstruction(Vec<u8>),
    /// A grid predictor's grid values (0 at exceptions): the decoder's `q`, exactly, where its
    /// predictor inverts the encoder's codes (tested for every grid predictor:
    /// `every_grid_candidate_is_lossless_on_anything`).
    Grid(Vec<i64>),
}

pub struct DecodedChunk {
    pub start: usize,
    pub dims: [usize; 3],
    pub q: Vec<i64>,
    pub exceptions: Vec<Exception>,
    /// Reconstructed values of a chunk coded with a feedback predictor (then `q` is empty).
    pub recon: Option<Vec<f64>>,
}

impl DecodedChunk {
    /// Elements in the chunk.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A chunk parsed up to the decoder network (see [`Archive::parse_chunk`]).
pub struct ParsedChunk {
    chunk: ChunkDims,
    predictor: Box<dyn Predictor>,
    coder: &'static dyn SymbolCoder,
    exceptions: Vec<Exception>,
    is_exc: Vec<bool>,
    codes: Vec<i64>,
    network: Option<NetworkTiles>,
}

impl ParsedChunk {
    /// First row of the chunk (along the first lattice axis) and its lattice dims.
    pub fn rows(&self) -> (usize, [usize; 3]) {
        (self.chunk.start, self.chunk.dims)
    }

    /// What the compressor chose for this chunk: the predictor and the symbol coder, in words
    /// (for `info`).
    pub fn choices(&self) -> (String, &'static str) {
        (self.predictor.name(), self.coder.name())
    }

    /// The chunk's codes, in element order (0 at exceptions).
    pub fn codes(&self) -> &[i64] {
        &self.codes
    }

    /// How many tiles need the decoder network.
    pub fn network_tiles(&self) -> usize {
        self.network.as_ref().map_or(0, |a| a.used.len())
    }

    /// The network's input for those tiles (tiles × latent_dim); empty if none.
    pub fn latents(&self) -> &[i32] {
        self.network.as_ref().map_or(&[], |a| &a.latents)
    }
}

/// Hash of a model section's payload: what online-mode archives name their model by.
pub fn model_hash(payload: &[u8]) -> [u8; 32] {
    *blake3::hash(payload).as_bytes()
}

/// Parses a model section payload (format 1 or 2, see docs/format.md), expands and validates it.
pub fn parse_model(payload: &[u8]) -> Result<IntDecoder> {
    crate::network::stored::StoredDecoder::from_bytes(payload)?.expand()
}

impl<'a> Archive<'a> {
    /// Checks the container, parses metadata, model and index. `external_model` is the decoder
    /// payload of a model file, needed for online-mode archives.
    pub fn open(bytes: &'a [u8], external_model: Option<&[u8]>) -> Result<Self> {
        Self::open_inner(bytes, external_model, true)
    }

    /// Like [`Self::open`], but an online-mode archive opens without its model (for `info`);
    /// decoding its chunks then fails with [`CodecError::ModelMissing`].
    pub fn open_metadata_only(bytes: &'a [u8]) -> Result<Self> {
        Self::open_inner(bytes, None, false)
    }

    fn open_inner(bytes: &'a [u8], external_model: Option<&[u8]>, need_model: bool) -> Result<Self> {
        let sections = read_sections(bytes)?;
        let version = crate::format::container::version_of(bytes);
        let mut iter = sections.iter().peekable();
        let mut archive = Self::from_head_sections(&mut iter, version, external_model, need_model)?;
        let n = archive.chunks.len();
        let mut chunk_payloads = Vec::with_capacity(n);
        for (i, e) in archive.chunks.iter().enumerate() {
            let s = iter.next().ok_or_else(|| CodecError::Truncated(format!("chunk {i} of {n} missing")))?;
            if s.kind != SectionKind::Chunk || s.offset as u64 != e.offset {
                return corrupt(format!("chunk {i} is not where the index says"));
            }
            archive.sizes.chunks += s.total_len() as u64;
            chunk_payloads.push(s.payload);
        }
        if let Some(s) = iter.next() {
            return corrupt(format!("unexpected {} section after the chunks", s.kind.name()));
        }
        archive.chunk_payloads = chunk_payloads;
        archive.file_len = bytes.len() as u64;
        Ok(archive)
    }

    /// Metadata, model and chunk index from the first sections of a container (`version`); the
    /// iterator is left at the first chunk section.
    fn from_head_sections<'s>(
        iter: &mut std::iter::Peekable<impl Iterator<Item = &'s Section<'a>>>,
        version: u16,
        external_model: Option<&[u8]>,
        need_model: bool,
    ) -> Result<Self>
    where
        'a: 's,
    {
        let meta_sec = match iter.next() {
            Some(s) if s.kind.is_metadata() => s,
            _ => return corrupt("the first section is not the metadata"),
        };
        let meta: Metadata =
            crate::format::metadata::read_metadata(meta_sec.kind, meta_sec.payload, version)?;
        let mut sizes = SectionSizes { header: 12, end: 16, ..Default::default() };
        sizes.metadata = meta_sec.total_len() as u64;

        let mut model_payload: Option<&[u8]> = None;
        if let Some(s) = iter.peek()
            && matches!(s.kind, SectionKind::Model | SectionKind::ModelRef)
        {
            if s.kind == SectionKind::Model {
                sizes.model = s.total_len() as u64;
                model_payload = Some(s.payload);
            } else {
                sizes.model_ref = s.total_len() as u64;
            }
            iter.next();
        }
        let decoder_payload = match &meta.model {
            ModelUse::None => None,
            ModelUse::Embedded { hash } => {
                let p = model_payload.ok_or_else(|| CodecError::Corrupt("model section missing".into()))?;
                if &model_hash(p) != hash {
                    return corrupt("embedded model does not match its hash");
                }
                Some(p)
            }
            ModelUse::Referenced { .. } if external_model.is_none() && !need_model => None,
            ModelUse::Referenced { hash } => {
                let p = external_model.ok_or_else(|| CodecError::ModelMissing { hash: hex(hash) })?;
                let found = model_hash(p);
                if &found != hash {
                    return Err(CodecError::ModelMismatch { expected: hex(hash), found: hex(&found) });
                }
                Some(p)
            }
        };
        let mut archive = Self::without_chunks(meta, decoder_payload, version)?;
        archive.sizes = sizes;

        let index = match iter.next() {
            Some(s) if s.kind == SectionKind::ChunkIndex => s,
            _ => return corrupt("chunk index missing"),
        };
        archive.sizes.chunk_index = index.total_len() as u64;
        archive.chunks = crate::format::chunk_index::read_index(index.payload, archive.lattice)?;
        Ok(archive)
    }

    /// An archive of `meta` (container format `version`) and the decoder network `model` (a model
    /// section's payload, when the archive uses one), with no chunks: what decodes chunk payloads
    /// that come from elsewhere ([`Self::decode_payload`]; the encoder checks its chunks so).
    pub fn without_chunks(meta: Metadata, model: Option<&[u8]>, version: u16) -> Result<Archive<'static>> {
        let lattice = lattice(&meta.shape, meta.table)?;
        let stream_params = check_streams(&meta, lattice)?;
        // The numerator of the ratio `info` reports: it must be what the shape and dtypes say.
        let per_row: u64 = stream_params.iter().map(|p| p.dtype.size_bytes() as u64).sum();
        let rows = lattice.iter().product::<usize>() as u64 / stream_params.len().max(1) as u64;
        if meta.original_bytes != rows * per_row {
            return corrupt(format!(
                "metadata claims {} original bytes, its shape and dtypes make {}",
                meta.original_bytes,
                rows * per_row
            ));
        }
        let stored = model.map(StoredDecoder::from_bytes).transpose()?;
        let decoder = stored.as_ref().map(StoredDecoder::expand).transpose()?;
        let model_summary = stored.map(|s| ModelSummary {
            layers: s.describe(),
            parameters: s.parameter_count(),
            latent_dim: decoder.as_ref().map_or(0, IntDecoder::latent_dim),
        });
        let tile = meta.tile.map(|t| t as usize);
        if let Some(d) = &decoder
            && (tile.contains(&0) || d.output_dim() != tile.iter().product::<usize>())
        {
            return corrupt(format!(
                "model outputs {} values, the tile {:?} needs {}",
                d.output_dim(),
                tile,
                tile.iter().product::<usize>()
            ));
        }
        let stream_info = StreamInfo::new(
            meta.table,
            &meta.streams,
            stream_params.iter().map(|p| p.center).collect(),
            version,
        );
        let hash_kind = HashKind::of_version(version);
        Ok(Archive {
            meta,
            decoder,
            model_summary,
            chunks: Vec::new(),
            sizes: SectionSizes::default(),
            version,
            hash_kind,
            chunk_payloads: Vec::new(),
            lattice,
            stream_params,
            stream_info,
            file_len: 0,
        })
    }

    pub fn lattice(&self) -> [usize; 3] {
        self.lattice
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Decodes chunk `i` to grid values and exceptions, running the decoder network on the CPU.
    pub fn decode_chunk(&self, i: usize) -> Result<DecodedChunk> {
        self.decode_chunk_on(i, None)
    }

    /// Like [`Self::decode_chunk`], with the decoder network on `net` (e.g. a GPU) when given.
    pub fn decode_chunk_on(&self, i: usize, net: Option<&dyn NetworkRunner>) -> Result<DecodedChunk> {
        let parsed = self.parse_chunk(i)?;
        self.run_network(parsed, net)
    }

    /// The decoder network (on `net` when given) and the rest of a parsed chunk's decoding.
    fn run_network(&self, parsed: ParsedChunk, net: Option<&dyn NetworkRunner>) -> Result<DecodedChunk> {
        let acc = match (net, &self.decoder, &parsed.network) {
            (_, _, None) => Vec::new(),
            (Some(net), _, Some(ae)) => net.predict_acc(&ae.latents, ae.used.len())?,
            (None, Some(dec), Some(ae)) => dec.predict_acc(&ae.latents, ae.used.len()),
            (None, None, Some(_)) => return corrupt("autoencoder tiles without a model"),
        };
        self.finish_chunk(parsed, &acc)
    }

    /// First half of decoding chunk `i`: everything but the decoder network. The network's
    /// last-layer accumulators for [`ParsedChunk::latents`] (from [`IntDecoder::predict_acc`] or a
    /// GPU kernel computing the same integers) then go to [`Self::finish_chunk`].
    pub fn parse_chunk(&self, i: usize) -> Result<ParsedChunk> {
        let payload =
            self.chunk_payloads.get(i).ok_or_else(|| CodecError::Corrupt(format!("no chunk {i}")))?;
        self.parse_payload(self.chunks[i], payload, &format!("chunk {i}"))
    }

    /// Decodes the payload of a chunk section that `entry` describes (a chunk of this archive's
    /// layout that is not in its index: see [`Self::without_chunks`]); `what` names it in errors.
    pub fn decode_payload(
        &self,
        entry: ChunkEntry,
        payload: &[u8],
        what: &str,
        net: Option<&dyn NetworkRunner>,
    ) -> Result<DecodedChunk> {
        let parsed = self.parse_payload(entry, payload, what)?;
        self.run_network(parsed, net)
    }

    /// [`Self::chunk_field_bytes`] of the payload of a field chunk (no model) from what its
    /// encoder made while encoding ([`EncoderValues`]): the payload is parsed and its codes
    /// decoded, which must be `codes`, and `values` stand for what the decoder's predictor makes
    /// of them; the exceptions come from the payload. The compressor's check (see
    /// `encode::Checker::check_chunk`).
    #[cfg(feature = "encode")]
    pub(crate) fn swept_field_bytes(
        &self,
        entry: ChunkEntry,
        payload: &[u8],
        what: &str,
        (codes, values): (&[i64], EncoderValues),
    ) -> Result<Vec<u8>> {
        let parsed = self.parse_payload(entry, payload, what)?;
        let ParsedChunk { chunk, predictor, exceptions, codes: decoded, network, .. } = parsed;
        let feedback = crate::predictor::Family::ids(&crate::predictor::feedback::FeedbackFamily);
        let made_by = match &values {
            EncoderValues::Reconstruction(_) => feedback.contains(&predictor.id()),
            EncoderValues::Grid(_) => predictor.on_grid(),
        };
        if self.meta.table || network.is_some() || !made_by {
            return Err(CodecError::Verification(format!(
                "{what}: values made by another predictor than the chunk's ({})",
                predictor.id()
            )));
        }
        if decoded != codes {
            return Err(CodecError::Verification(format!("{what}: its bytes decode to other codes")));
        }
        drop(decoded);
        let (start, dims) = (chunk.start, chunk.dims);
        match values {
            EncoderValues::Reconstruction(bytes) => {
                let c = DecodedChunk { start, dims, q: Vec::new(), exceptions, recon: None };
                self.with_field_exceptions(bytes, &c)
            }
            EncoderValues::Grid(q) => {
                let c = DecodedChunk { start, dims, q, exceptions, recon: None };
                self.chunk_field_bytes(&c)?
                    .ok_or_else(|| CodecError::Verification(format!("{what}: no field")))
            }
        }
    }

    fn parse_payload(&self, entry: ChunkEntry, payload: &[u8], what: &str) -> Result<ParsedChunk> {
        let mut header = ChunkHeader::read(payload)?;
        if header.start != entry.start || header.rows != entry.rows {
            return corrupt(format!("{what} header disagrees with the index"));
        }
        let dims = [header.rows as usize, self.lattice[1], self.lattice[2]];
        let chunk = ChunkDims { start: header.start as usize, dims };
        let n = chunk.len();
        if n > MAX_CHUNK_ELEMENTS {
            return corrupt(format!("{what} has {n} elements, more than the limit"));
        }
        let predictor_id = header.predictor()?;
        let family = crate::predictor::family(predictor_id)?;
        if self.version < family.since_version() {
            return corrupt(format!(
                "{what} uses predictor {predictor_id}, which format version {} does not have",
                self.version
            ));
        }
        if let (ModelUse::Referenced { hash }, None) = (&self.meta.model, &self.decoder) {
            return Err(CodecError::ModelMissing { hash: hex(hash) });
        }
        let raw = header.inflate(n, self.version, what)?;
        let mut r = ChunkReader::new(&raw, n);
        let exceptions = r.exceptions(|pos| {
            if self.stream_params[self.stream_of(pos, dims)].dtype == DType::F32 { 4 } else { 8 }
        })?;
        let predictor = family.build_with(predictor_id, &self.stream_info, r.params())?;
        let network = match &self.decoder {
            Some(dec) => {
                let tiles = chunk.tile_count(self.meta.tile.map(|t| t as usize));
                Some(NetworkTiles::from_section(r.tiles(tiles, dec.latent_dim())?))
            }
            None => None,
        };
        let shape = ChunkShape { dims, streams: self.stream_params.len(), table: self.meta.table };
        let (coder, codes) = r.codes(&shape)?;
        // Sized by the chunk only now that its codes are there: a chunk's claimed size alone
        // reserves nothing.
        let mut is_exc = vec![false; n];
        for &(pos, ..) in &exceptions {
            is_exc[pos] = true;
        }
        Ok(ParsedChunk { chunk, predictor, coder, exceptions, is_exc, codes, network })
    }

    /// Second half of decoding a chunk: `acc` holds the decoder network's last-layer accumulators
    /// for the chunk's autoencoder tiles (empty when it has none).
    pub fn finish_chunk(&self, parsed: ParsedChunk, acc: &[i32]) -> Result<DecodedChunk> {
        let ParsedChunk { chunk, predictor, exceptions, is_exc, mut codes, network, .. } = parsed;
        // Elements the network predicts: their final grid value (prediction + code) is known
        // before the predictor's sweep and is kept in `codes` (no array of predictions).
        let mut fixed = match (&self.decoder, &network) {
            (Some(dec), Some(tiles)) => crate::predictor::autoencoder::apply(
                dec,
                tiles,
                acc,
                &chunk,
                self.meta.tile.map(|t| t as usize),
                self.meta.table,
                |s, p| self.stream_params[s].ae_grid(p),
                &mut codes,
            )?,
            _ => Vec::new(),
        };
        // An exception's grid value is its prediction: with its code zeroed (and the network's
        // value not taken), the plain sum gives that, and the hot loop has no branch.
        for &(pos, ..) in &exceptions {
            codes[pos] = 0;
            if let Some(f) = fixed.get_mut(pos) {
                *f = false;
            }
        }
        let input = DecodeInput {
            dims: chunk.dims,
            exceptions: &is_exc,
            fixed: (!fixed.is_empty()).then_some(fixed.as_slice()),
        };
        let (q, recon) = match predictor.decode(&input, codes)? {
            Reconstruction::Grid(q) => (q, None),
            Reconstruction::Values(v) => (Vec::new(), Some(v)),
        };
        Ok(DecodedChunk { start: chunk.start, dims: chunk.dims, q, exceptions, recon })
    }

    fn stream_of(&self, e: usize, dims: [usize; 3]) -> usize {
        if self.meta.table { (e / dims[2]) % dims[1] } else { 0 }
    }

    /// Decodes everything and checks the content hash.
    pub fn decode(&self) -> Result<Dataset> {
        self.decode_on(None)
    }

    /// Like [`Self::decode`], with the decoder network on `net` when given.
    pub fn decode_on(&self, net: Option<&dyn NetworkRunner>) -> Result<Dataset> {
        let decoded: Vec<DecodedChunk> = self.decode_range(0, self.chunk_count(), net)?;
        let ds = self.assemble_unchecked(decoded)?;
        if crate::hash::archive_content_hash(self.hash_kind, &self.meta, &ds) != self.meta.content_hash {
            return corrupt("decoded values do not match the archive's content hash");
        }
        Ok(ds)
    }

    /// Chunks `first..last`, on all cores with the `parallel` feature.
    fn decode_range(
        &self,
        first: usize,
        last: usize,
        net: Option<&dyn NetworkRunner>,
    ) -> Result<Vec<DecodedChunk>> {
        #[cfg(feature = "parallel")]
        use rayon::prelude::*;
        #[cfg(feature = "parallel")]
        let chunks = (first..last).into_par_iter();
        #[cfg(not(feature = "parallel"))]
        let chunks = first..last;
        chunks.map(|i| self.decode_chunk_on(i, net)).collect()
    }

    /// Decodes chunk by chunk, in order, handing each chunk's rows to `sink` as a dataset of
    /// those rows (a field flattened to 1-d); checks the content hash at the end. Memory stays
    /// at a few chunks whatever the archive's size. The caller must discard what it received
    /// if this returns an error.
    pub fn decode_each(&self, sink: impl FnMut(Dataset) -> Result<()>) -> Result<()> {
        self.decode_each_on(sink, None)
    }

    /// Like [`Self::decode_each`], with the decoder network on `net` when given.
    pub fn decode_each_on(
        &self,
        sink: impl FnMut(Dataset) -> Result<()>,
        net: Option<&dyn NetworkRunner>,
    ) -> Result<()> {
        if self.decode_each_hash(sink, net)? != self.meta.content_hash {
            return corrupt("decoded values do not match the archive's content hash");
        }
        Ok(())
    }

    /// Like [`Self::decode_each_on`], but returns the content hash of what was decoded instead
    /// of checking it (the compressor computes the hash it stores this way). Chunks are decoded
    /// a batch at a time, in parallel with the `parallel` feature.
    pub fn decode_each_hash(
        &self,
        mut sink: impl FnMut(Dataset) -> Result<()>,
        net: Option<&dyn NetworkRunner>,
    ) -> Result<[u8; 32]> {
        let mut check = StreamCheck::new(self);
        let batch = decode_batch_size();
        for first in (0..self.chunk_count()).step_by(batch) {
            let last = (first + batch).min(self.chunk_count());
            for c in self.decode_range(first, last, net)? {
                sink(check.accept(self, &c)?)?;
            }
        }
        check.hash(self)
    }
}

/// Chunks decoded at once by [`Archive::decode_each`]: one per core.
fn decode_batch_size() -> usize {
    #[cfg(feature = "parallel")]
    return rayon::current_num_threads().max(1);
    #[cfg(not(feature = "parallel"))]
    return 1;
}
