//! Reading an archive: sections → metadata, model, chunk index → decoded values.

use crate::bytes::Reader;
use crate::coder::lossless::{unpack_codes, zstd_decompress};
use crate::data::{Array, Column, DType, Dataset, Values};
use crate::error::{CodecError, Result, corrupt};
use crate::format::container::{SectionKind, read_sections};
use crate::format::metadata::{Metadata, ModelUse, Quantizer, hex};
use crate::hash::HashKind;
use crate::layout::{ChunkDims, lattice};
pub use crate::network::NetworkRunner;
use crate::network::int_decoder::IntDecoder;
use crate::network::stored::StoredDecoder;
use crate::predictor::{Classic, sweep};
use crate::quant::{dequantize, grid_point, to_dtype};

/// Most elements one chunk may hold (the writer uses far fewer): bounds every per-chunk allocation.
pub const MAX_CHUNK_ELEMENTS: usize = 1 << 26;
/// Most bytes one chunk's zstd frame may inflate to.
pub const MAX_CHUNK_RAW_BYTES: usize = 1 << 30;
/// Exception kinds.
pub(crate) const EXC_RAW: u8 = 0;
pub(crate) const EXC_FILL: u8 = 1;
/// How the code symbols are stored.
pub(crate) const CODER_RAW: u8 = 0;
pub(crate) const CODER_HUFFMAN: u8 = 1;
/// Bucket symbols with a Huffman table per stream, plus extra bits (format version 2).
pub(crate) const CODER_BUCKETS: u8 = 2;
/// Coder 2 with one table per interpolation level instead of per stream (single-stream fields).
pub(crate) const CODER_BUCKETS_LEVELS: u8 = 3;

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

/// Where one chunk lies in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkEntry {
    pub offset: u64,
    pub start: u64,
    pub rows: u64,
}

/// A parsed, checked archive, ready to decode chunk by chunk.
pub struct Archive<'a> {
    pub meta: Metadata,
    pub decoder: Option<IntDecoder>,
    /// What the decoder network is, when the archive has (or was given) it.
    pub model_summary: Option<ModelSummary>,
    pub chunks: Vec<ChunkEntry>,
    pub sizes: SectionSizes,
    /// Container format version (1–3).
    pub version: u16,
    /// Which hash `meta.content_hash` is (by version).
    pub hash_kind: HashKind,
    chunk_payloads: Vec<&'a [u8]>,
    lattice: [usize; 3],
    stream_params: Vec<StreamParams>,
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

/// Per-stream constants of the decode, derived from the metadata.
#[derive(Clone, Copy, Debug)]
struct StreamParams {
    dtype: DType,
    /// (step, offset) for floats; None for integers.
    float: Option<(f64, f64)>,
    center: i64,
    /// Normalization of the autoencoder: value = lo + p·(hi − lo).
    ae_lo: f64,
    ae_hi: f64,
}

impl StreamParams {
    /// Grid point nearest to value v (saturating; deterministic on every platform).
    fn grid(&self, v: f64) -> i64 {
        grid_point(v, self.float)
    }

    fn ae_grid(&self, p: f64) -> i64 {
        self.grid(self.ae_lo + p * (self.ae_hi - self.ae_lo))
    }
}

/// A decoded chunk: grid values plus the exactly stored exceptions.
pub struct DecodedChunk {
    pub start: usize,
    pub dims: [usize; 3],
    pub q: Vec<i64>,
    pub exceptions: Vec<(usize, u8, u64)>,
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
    classic: Classic,
    coder: u8,
    exceptions: Vec<(usize, u8, u64)>,
    is_exc: Vec<bool>,
    codes: Vec<i64>,
    ae: Option<AeTiles>,
}

/// The autoencoder tiles of a chunk.
struct AeTiles {
    /// The tiles that do, in order.
    used: Vec<usize>,
    /// Their latents (used.len() × latent_dim), already scaled and clamped: the network's input.
    latents: Vec<i32>,
}

impl ParsedChunk {
    /// First row of the chunk (along the first lattice axis) and its lattice dims.
    pub fn rows(&self) -> (usize, [usize; 3]) {
        (self.chunk.start, self.chunk.dims)
    }

    /// What the compressor chose for this chunk: the classic predictor and the symbol coder, in
    /// words (for `info`).
    pub fn choices(&self) -> (String, &'static str) {
        let coder = match self.coder {
            CODER_RAW => "bytes",
            CODER_HUFFMAN => "Huffman",
            CODER_BUCKETS_LEVELS => "buckets + Huffman per level",
            _ => "buckets + Huffman per stream",
        };
        (self.classic.name(), coder)
    }

    /// How many tiles need the decoder network.
    pub fn network_tiles(&self) -> usize {
        self.ae.as_ref().map_or(0, |a| a.used.len())
    }

    /// The network's input for those tiles (tiles × latent_dim); empty if none.
    pub fn latents(&self) -> &[i32] {
        self.ae.as_ref().map_or(&[], |a| &a.latents)
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
        let mut sizes = SectionSizes { header: 12, end: 16, ..Default::default() };
        let mut iter = sections.iter().peekable();
        let meta_sec = match iter.next() {
            Some(s) if s.kind == SectionKind::Metadata => s,
            _ => return corrupt("the first section is not the metadata"),
        };
        sizes.metadata = meta_sec.total_len() as u64;
        let meta: Metadata = postcard::from_bytes(meta_sec.payload)
            .map_err(|e| CodecError::Corrupt(format!("metadata: {e}")))?;
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
        let stored = decoder_payload.map(StoredDecoder::from_bytes).transpose()?;
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

        let index = match iter.next() {
            Some(s) if s.kind == SectionKind::ChunkIndex => s,
            _ => return corrupt("chunk index missing"),
        };
        sizes.chunk_index = index.total_len() as u64;
        let mut r = Reader::new(index.payload);
        // At most one chunk per row, and each entry takes at least 3 bytes of the index: a count
        // the index's own bytes cannot hold is refused before anything is reserved for it.
        let n = r.len(lattice[0].max(1), "chunk count")?;
        if n > r.remaining() / 3 {
            return corrupt(format!("chunk index lists {n} chunks in {} bytes", index.payload.len()));
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
            next_row = next_row
                .checked_add(e.rows)
                .ok_or_else(|| CodecError::Corrupt("chunk rows overflow".into()))?;
            chunks.push(e);
        }
        r.finish("chunk index")?;
        // The writer's chunks cover exactly the lattice's rows; no chunks at all is also accepted
        // for an empty dataset (what older writers did). More rows than the shape is damage.
        let empty = lattice.iter().product::<usize>() == 0;
        if next_row != lattice[0] as u64 && !(empty && n == 0) {
            return corrupt(format!("chunks cover {next_row} of {} rows", lattice[0]));
        }
        let mut chunk_payloads = Vec::with_capacity(n);
        for (i, e) in chunks.iter().enumerate() {
            let s = iter.next().ok_or_else(|| CodecError::Truncated(format!("chunk {i} of {n} missing")))?;
            if s.kind != SectionKind::Chunk || s.offset as u64 != e.offset {
                return corrupt(format!("chunk {i} is not where the index says"));
            }
            sizes.chunks += s.total_len() as u64;
            chunk_payloads.push(s.payload);
        }
        if let Some(s) = iter.next() {
            return corrupt(format!("unexpected {} section after the chunks", s.kind.name()));
        }
        let version = crate::format::container::version_of(bytes);
        let hash_kind = HashKind::of_version(version);
        Ok(Self {
            meta,
            decoder,
            model_summary,
            chunks,
            sizes,
            version,
            hash_kind,
            chunk_payloads,
            lattice,
            stream_params,
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
        let acc = match (net, &self.decoder, &parsed.ae) {
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
        let entry = self.chunks[i];
        let mut r = Reader::new(payload);
        let start = r.varint("chunk start")?;
        let rows = r.varint("chunk rows")?;
        if start != entry.start || rows != entry.rows {
            return corrupt(format!("chunk {i} header disagrees with the index"));
        }
        let dims = [rows as usize, self.lattice[1], self.lattice[2]];
        let chunk = ChunkDims { start: start as usize, dims };
        let n = chunk.len();
        if n > MAX_CHUNK_ELEMENTS {
            return corrupt(format!("chunk {i} has {n} elements, more than the limit"));
        }
        let classic = Classic::from_byte(r.u8("chunk predictor")?)?;
        if let (ModelUse::Referenced { hash }, None) = (&self.meta.model, &self.decoder) {
            return Err(CodecError::ModelMissing { hash: hex(hash) });
        }
        // The inflated length is checked against the elements (and 1 GiB); the inflater grows its
        // buffer with what the frame really yields, not with this claim.
        let raw_len = r.len((n * 16 + (1 << 20)).min(MAX_CHUNK_RAW_BYTES), "chunk raw length")?;
        let raw = zstd_decompress(r.take(r.remaining(), "chunk data")?, raw_len, &format!("chunk {i}"))?;
        let mut r = Reader::new(&raw);

        // Exceptions: positions and exactly stored values.
        // Each exception takes at least 2 bytes (position, kind).
        let n_exc = r.len(n.min(r.remaining() / 2), "exception count")?;
        let mut exceptions = Vec::with_capacity(n_exc);
        let mut pos = 0usize;
        for e in 0..n_exc {
            let gap = r.len(n, "exception position")?;
            pos = if e == 0 { gap } else { pos + 1 + gap };
            if pos >= n {
                return corrupt("exception position outside the chunk");
            }
            let kind = r.u8("exception kind")?;
            let bits = match kind {
                EXC_RAW => {
                    let s = self.stream_of(pos, dims);
                    let w = if self.stream_params[s].dtype == DType::F32 { 4 } else { 8 };
                    let b = r.take(w, "exception value")?;
                    let mut a = [0u8; 8];
                    a[..w].copy_from_slice(b);
                    u64::from_le_bytes(a)
                }
                EXC_FILL => 0,
                k => return corrupt(format!("unknown exception kind {k}")),
            };
            exceptions.push((pos, kind, bits));
        }

        // Autoencoder tiles: which tiles use it and their latents.
        let mut ae = None;
        if let Some(dec) = &self.decoder {
            let tiles = chunk.tile_count(self.meta.tile.map(|t| t as usize));
            let shift = r.u8("latent step")?;
            if shift > crate::network::int_decoder::MAX_LATENT_SHIFT {
                return corrupt(format!("latent step 2^{shift} out of range"));
            }
            let modes = r.take(tiles, "tile modes")?;
            if modes.iter().any(|&m| m > 1) {
                return corrupt("unknown tile mode");
            }
            let used: Vec<usize> = (0..tiles).filter(|&t| modes[t] == 1).collect();
            let z = dec.latent_dim();
            if used.len() * z > r.remaining() {
                return corrupt("latents are truncated");
            }
            let mut latents = Vec::with_capacity(used.len() * z);
            for _ in 0..used.len() * z {
                let v = crate::bytes::unzigzag(r.varint("latent")?);
                let stored = v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                latents.push(crate::network::int_decoder::clamp_activation(
                    crate::network::int_decoder::shift_up(stored, shift),
                ));
            }
            ae = Some(AeTiles { used, latents });
        }

        let esc_len = r.len(raw.len(), "escape stream length")?;
        let mut esc = Reader::new(r.take(esc_len, "escape stream")?);
        let mut codes = Vec::new();
        let coder = r.u8("symbol coder")?;
        match coder {
            CODER_RAW => unpack_codes(r.take(n, "code symbols")?, &mut esc, &mut codes)?,
            CODER_HUFFMAN => {
                let table = r.take(crate::coder::huffman::TABLE_BYTES, "Huffman table")?;
                let len = r.len(r.remaining(), "Huffman bitstream length")?;
                let mut symbols = Vec::new();
                crate::coder::huffman::decode(table, r.take(len, "Huffman bitstream")?, n, &mut symbols)?;
                unpack_codes(&symbols, &mut esc, &mut codes)?;
            }
            // A table's stream is its column (`stream_of`; `check_streams` makes them dims[1]).
            CODER_BUCKETS if self.meta.table => {
                crate::coder::buckets::decode_columns(&mut r, dims, &mut codes)?
            }
            CODER_BUCKETS => crate::coder::buckets::decode(&mut r, n, 1, |_| 0, &mut codes)?,
            CODER_BUCKETS_LEVELS if self.stream_params.len() == 1 => {
                crate::coder::buckets::decode_levels(&mut r, dims, &mut codes)?
            }
            c => return corrupt(format!("unknown symbol coder {c}")),
        }
        r.finish("chunk data")?;
        esc.finish("escape stream")?;
        // Sized by the chunk only now that its codes are there: a chunk's claimed size alone
        // reserves nothing.
        let mut is_exc = vec![false; n];
        for &(pos, ..) in &exceptions {
            is_exc[pos] = true;
        }
        Ok(ParsedChunk { chunk, classic, coder, exceptions, is_exc, codes, ae })
    }

    /// Second half of decoding a chunk: `acc` holds the decoder network's last-layer accumulators
    /// for the chunk's autoencoder tiles (empty when it has none).
    pub fn finish_chunk(&self, parsed: ParsedChunk, acc: &[i32]) -> Result<DecodedChunk> {
        let ParsedChunk { chunk, classic, exceptions, is_exc, codes, ae, .. } = parsed;
        let n = chunk.len();
        let dims = chunk.dims;
        if let Classic::InterpFeedback { cubic, reversed, levelwise } = classic {
            let (Some((step, _)), false) = (self.stream_params[0].float, self.meta.table) else {
                return corrupt("feedback predictor on a table or an integer stream");
            };
            if ae.as_ref().is_some_and(|a| !a.used.is_empty()) {
                return corrupt("autoencoder tiles in a chunk with the feedback predictor");
            }
            let s = &self.meta.streams[0];
            let center = s.min + (s.max - s.min) / 2.0;
            let fb = crate::predictor::feedback::Feedback { cubic, reversed, levelwise, center, step };
            let recon = fb.decode(dims, &codes, &is_exc);
            return Ok(DecodedChunk {
                start: chunk.start,
                dims,
                q: Vec::new(),
                exceptions,
                recon: Some(recon),
            });
        }
        let tile = self.meta.tile.map(|t| t as usize);
        let mut codes = codes;
        // Elements the network predicts: their final grid value (prediction + code) is known
        // before the sweep and is kept in `codes` (no array of predictions).
        let mut on_network = Vec::new();
        if let (Some(dec), Some(ae)) = (&self.decoder, ae) {
            let per_tile = dec.output_dim();
            if acc.len() != ae.used.len() * per_tile {
                return Err(CodecError::Backend(format!(
                    "the decoder network returned {} values for {} tiles",
                    acc.len(),
                    ae.used.len()
                )));
            }
            if !ae.used.is_empty() {
                on_network = vec![false; n];
            }
            // A field's predictions go to the grid in one flat loop (its divisions vectorize),
            // then row by row into place; a table's stream depends on the element.
            let (grid, preds) = if self.meta.table {
                (Vec::new(), dec.outputs(acc))
            } else {
                let p = &self.stream_params[0];
                (dec.outputs_with(acc, |x| p.ae_grid(x)), Vec::new())
            };
            for (u, &t) in ae.used.iter().enumerate() {
                let tile_at = u * per_tile;
                chunk.for_each_tile_row(tile, t, |o, e, len| {
                    on_network[e..e + len].fill(true);
                    for (k, c) in codes[e..e + len].iter_mut().enumerate() {
                        let pred = if self.meta.table {
                            self.stream_params[self.stream_of(e + k, dims)].ae_grid(preds[tile_at + o + k])
                        } else {
                            grid[tile_at + o + k]
                        };
                        *c = pred.wrapping_add(*c);
                    }
                });
            }
        }

        let centers: Vec<i64> = self.stream_params.iter().map(|p| p.center).collect();
        let table = self.meta.table;
        // An exception's grid value is its classic prediction: with its code zeroed (and the
        // network's value not taken), the plain sum gives that, and the hot loop has no branch.
        for &(pos, ..) in &exceptions {
            codes[pos] = 0;
            if let Some(net) = on_network.get_mut(pos) {
                *net = false;
            }
        }
        // The codes become the grid values in place (no second chunk-sized array).
        let mut q = codes;
        if on_network.is_empty() {
            sweep(dims, classic, &centers, table, &mut q, |_, pred, code| pred.wrapping_add(code))
        } else {
            sweep(dims, classic, &centers, table, &mut q, |e, classic_pred, code| {
                if on_network[e] { code } else { classic_pred.wrapping_add(code) }
            })
        }
        Ok(DecodedChunk { start: chunk.start, dims, q, exceptions, recon: None })
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
        mut sink: impl FnMut(Dataset) -> Result<()>,
        net: Option<&dyn NetworkRunner>,
    ) -> Result<()> {
        let mut check = StreamCheck::new(self);
        let batch = decode_batch_size();
        for first in (0..self.chunk_count()).step_by(batch) {
            let last = (first + batch).min(self.chunk_count());
            for c in self.decode_range(first, last, net)? {
                sink(check.accept(self, &c)?)?;
            }
        }
        check.finish(self)
    }

    fn empty_streams(&self) -> Vec<Values> {
        self.stream_params
            .iter()
            .map(|p| if p.dtype.is_float() { Values::Float(Vec::new()) } else { Values::Int(Vec::new()) })
            .collect()
    }

    /// Appends a decoded chunk's values (exceptions applied) to the per-stream outputs.
    fn push_chunk_values(&self, c: &DecodedChunk, out: &mut [Values]) -> Result<()> {
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
    fn wrap(&self, mut out: Vec<Values>, rows: usize, shape: Vec<usize>) -> Result<Dataset> {
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
        let mut out = archive.empty_streams();
        archive.push_chunk_values(c, &mut out)?;
        let part = archive.wrap(out, c.dims[0], vec![c.len()])?;
        self.hasher.update(&part);
        Ok(part)
    }

    /// After the last chunk: every row seen and the content hash matches.
    pub fn finish(self, archive: &Archive<'_>) -> Result<()> {
        let rows = archive.lattice[0];
        if self.next_row != rows && archive.lattice.iter().product::<usize>() > 0 {
            return corrupt("chunks do not cover the data");
        }
        if self.hasher.finalize() != archive.meta.content_hash {
            return corrupt("decoded values do not match the archive's content hash");
        }
        Ok(())
    }
}

/// Chunks decoded at once by [`Archive::decode_each`]: one per core.
fn decode_batch_size() -> usize {
    #[cfg(feature = "parallel")]
    return rayon::current_num_threads().max(1);
    #[cfg(not(feature = "parallel"))]
    return 1;
}

fn check_streams(meta: &Metadata, lattice: [usize; 3]) -> Result<Vec<StreamParams>> {
    let want = if meta.table { lattice[1] } else { 1 };
    if meta.streams.len() != want {
        return corrupt(format!("{} streams, expected {want}", meta.streams.len()));
    }
    if let Some(f) = meta.fill_value
        && f.is_nan()
    {
        return corrupt("fill value is NaN");
    }
    let norm = &meta.ae_norm;
    if !norm.is_empty() && norm.len() != want {
        return corrupt("autoencoder normalization does not match the streams");
    }
    meta.streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !(s.min.is_finite() && s.max.is_finite() && s.min <= s.max) {
                return corrupt(format!("stream {i}: invalid range"));
            }
            let float = match s.quantizer {
                Quantizer::Float { bound, step, offset } => {
                    let valid = bound >= 0.0 && step > 0.0 && step.is_finite() && offset.is_finite();
                    if !s.dtype.is_float() || !valid {
                        return corrupt(format!("stream {i}: invalid quantizer"));
                    }
                    Some((step, offset))
                }
                Quantizer::Int => {
                    if s.dtype.is_float() {
                        return corrupt(format!("stream {i}: float data with an integer quantizer"));
                    }
                    None
                }
            };
            let [ae_lo, ae_hi] = norm.get(i).copied().unwrap_or([s.min, s.max]);
            if !(ae_lo.is_finite() && ae_hi.is_finite()) {
                return corrupt(format!("stream {i}: invalid normalization"));
            }
            let mut p = StreamParams { dtype: s.dtype, float, center: 0, ae_lo, ae_hi };
            p.center = p.grid(s.min + (s.max - s.min) / 2.0);
            Ok(p)
        })
        .collect()
}
