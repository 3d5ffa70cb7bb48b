//! Compression: dataset → archive bytes (native only: needs the zstd encoder).
//!
//! Per stream: pre-quantize under the bound (values that cannot be are stored exactly). Per chunk:
//! pick the classic predictor with the smallest estimated code size; with a model, per tile choose
//! between the autoencoder's prediction (plus the cost of its latents) and the classic one. Codes →
//! bytes → zstd. The result is decoded again and checked value by value before it is returned.

use crate::archive::{
    Archive, CODER_BUCKETS, CODER_BUCKETS_LEVELS, CODER_HUFFMAN, CODER_RAW, EXC_FILL, EXC_RAW, SectionSizes,
    model_hash,
};
use crate::bytes::{put_varint, zigzag};
use crate::coder::lossless::{pack_codes, zstd_compress};
use crate::data::{DType, Dataset, Values};
use crate::error::{CodecError, Result};
use crate::format::container::{ContainerWriter, SectionKind};
use crate::format::metadata::{BoundSpec, Metadata, ModelUse, Quantizer, StreamMeta};
use crate::layout::{ChunkDims, lattice, plan_chunks};
use crate::network::int_decoder::{IntDecoder, shift_up};
use crate::network::quantize::quantize_latents;
use crate::predictor::{Classic, estimated_bytes, sweep};
use crate::quant::{float_quantizer, grid_point, prequantize};

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

/// A trained autoencoder as the compressor uses it.
pub struct AeModel<'m> {
    pub decoder: IntDecoder,
    /// The decoder's serialized bytes: the model section, and what its hash is taken over.
    pub payload: Vec<u8>,
    /// Tile over the lattice that one network sample covers.
    pub tile: [usize; 3],
    /// Normalization the network was trained with, per stream.
    pub norm: Vec<[f64; 2]>,
    /// Offline mode (model inside the archive) or online mode (referenced by hash).
    pub embed: bool,
    /// The encoder half: `n` normalized tiles (n × ∏tile, f32) → n × latent_dim latents.
    pub encode: &'m (dyn Fn(&[f32], usize) -> Vec<f32> + Sync),
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
    if let Some(c) = plan.iter().find(|c| c.len() > crate::archive::MAX_CHUNK_ELEMENTS) {
        return Err(CodecError::InvalidInput(format!(
            "one chunk would hold {} elements (lattice {lat:?}), more than decoders accept ({}): \
             lower chunk_elements or the tile, or split the data",
            c.len(),
            crate::archive::MAX_CHUNK_ELEMENTS
        )));
    }
    let chunks = map_chunks(&plan, |c| encode_chunk(c, lat, table, &streams, opts, model))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let metadata = Metadata {
        shape,
        table,
        streams: streams.iter().map(|s| s.meta.clone()).collect(),
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

/// Decodes the draft, checks every value against the bound, hashes what the decoder gives, writes
/// the final archive and decodes that once more (hash included).
fn finish(ds: &Dataset, draft: Draft<'_>, model: Option<&AeModel<'_>>) -> Result<Compressed> {
    let Draft { streams, mut metadata, chunks } = draft;
    let external = model.filter(|m| !m.embed).map(|m| m.payload.as_slice());
    let decoded = {
        let bytes = assemble(&metadata, model, &chunks);
        let a = Archive::open(&bytes, external)?;
        let parts = (0..a.chunk_count()).map(|i| a.decode_chunk(i)).collect::<Result<Vec<_>>>()?;
        a.assemble_unchecked(parts)?
    };
    verify_bound(ds, &decoded, &streams, metadata.fill_value)?;
    let kind = crate::hash::HashKind::of_version(crate::format::container::FORMAT_VERSION);
    metadata.content_hash = crate::hash::archive_content_hash(kind, &metadata, &decoded);
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
        predictors: chunks.iter().map(|c| c.classic.name()).collect(),
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
    w.push_chunks(chunks.len() as u64, &entries);
    w.finish()
}

struct EncodedChunk {
    start: usize,
    rows: usize,
    payload: Vec<u8>,
    classic: Classic,
    tiles: usize,
    ae_tiles: usize,
    exceptions: usize,
}

fn value_at(values: &Values, i: usize) -> f64 {
    match values {
        Values::Float(v) => v[i],
        Values::Int(v) => v[i] as f64,
    }
}

/// A value stored exactly (exception kind raw): its bits in the stream's float width.
fn exact_bytes(x: f64, dtype: DType) -> Vec<u8> {
    if dtype == DType::F32 {
        (x as f32).to_bits().to_le_bytes().to_vec()
    } else {
        x.to_bits().to_le_bytes().to_vec()
    }
}

fn encode_chunk(
    chunk: &ChunkDims,
    lat: [usize; 3],
    table: bool,
    streams: &[Stream<'_>],
    opts: &CompressOptions,
    model: Option<&AeModel<'_>>,
) -> Result<EncodedChunk> {
    let n = chunk.len();
    let plane = lat[1] * lat[2];
    let stream_of = |e: usize| if table { (e / lat[2]) % lat[1] } else { 0 };
    let source_index = |e: usize| {
        if table { chunk.start + e / plane } else { chunk.start * plane + e }
    };

    // 1. Pre-quantize; collect what must be stored exactly.
    let mut q = vec![0i64; n];
    let mut exc_mask = vec![false; n];
    let mut exceptions: Vec<(usize, u8, Vec<u8>)> = Vec::new();
    for e in 0..n {
        let s = &streams[stream_of(e)];
        let i = source_index(e);
        match (s.values, s.meta.quantizer) {
            (Values::Int(v), _) => q[e] = v[i],
            (Values::Float(v), Quantizer::Float { bound, step, offset }) => {
                let x = v[i];
                if is_fill(x, opts.fill_value, s.meta.dtype) {
                    exceptions.push((e, EXC_FILL, Vec::new()));
                    exc_mask[e] = true;
                } else if let Some(g) = prequantize(x, bound, step, offset, s.meta.dtype) {
                    q[e] = g;
                } else {
                    exceptions.push((e, EXC_RAW, exact_bytes(x, s.meta.dtype)));
                    exc_mask[e] = true;
                }
            }
            (Values::Float(_), Quantizer::Int) => {
                unreachable!("float streams get float quantizers")
            }
        }
    }

    // 2. Classic predictors by estimated code size: on the grid (2a), and on reconstructed values
    //    for fields of floats (2b: noise below the bound is absorbed instead of surviving as ±1
    //    codes; wins at loose bounds). The few best are kept.
    let centers: Vec<i64> = streams.iter().map(|s| s.center).collect();
    let mut choices: Vec<Choice> =
        Classic::candidates(chunk.dims, table).into_iter().map(Choice::Grid).collect();
    let mut on_values = None;
    if let (false, [s]) = (table, streams)
        && let (Values::Float(v), Quantizer::Float { bound, step, .. }) = (s.values, s.meta.quantizer)
        && choices.contains(&Choice::Grid(Classic::Interp { cubic: false }))
    {
        let center = s.meta.min + (s.meta.max - s.meta.min) / 2.0;
        choices.extend(crate::predictor::feedback::Feedback::variants(center, step).map(Choice::Feedback));
        on_values = Some((v, bound, s.meta.dtype));
    }
    // Estimated size of one choice on a box of the chunk: `at` maps the box's elements to the chunk's.
    let evaluate = |choice: &Choice, dims: [usize; 3], at: &dyn Fn(usize) -> usize| -> Candidate {
        let m = dims.iter().product::<usize>();
        let mask: Vec<bool> = (0..m).map(|e| exc_mask[at(e)]).collect();
        match (choice, on_values) {
            (Choice::Grid(cand), _) => {
                let mut qq: Vec<i64> = (0..m).map(|e| q[at(e)]).collect();
                let mut codes = vec![0i64; m];
                sweep(dims, *cand, &centers, table, &mut qq, |e, p, _| {
                    let x = q[at(e)];
                    if mask[e] {
                        p
                    } else {
                        codes[e] = x.wrapping_sub(p);
                        x
                    }
                });
                let cost = estimated_bytes(codes.iter().copied());
                Candidate { cost, classic: *cand, codes, new_exceptions: Vec::new() }
            }
            (Choice::Feedback(fb), Some((v, bound, dtype))) => {
                let d = fb.encode(dims, bound, dtype, |e| v[source_index(at(e))], &mask);
                let stored_bytes = dtype.size_bytes() as f64 + 2.0;
                let cost =
                    estimated_bytes(d.codes.iter().copied()) + d.new_exceptions.len() as f64 * stored_bytes;
                Candidate { cost, classic: fb.predictor(), codes: d.codes, new_exceptions: d.new_exceptions }
            }
            (Choice::Feedback(_), None) => unreachable!("feedback choices need float values"),
        }
    };
    // Large chunks: every choice on a central box first, only the best few on the whole chunk.
    if n >= SAMPLE_FROM {
        let [d0, d1, d2] = chunk.dims;
        let b = sample_box(chunk.dims);
        let o = [(d0 - b[0]) / 2, (d1 - b[1]) / 2, (d2 - b[2]) / 2];
        let at =
            |e: usize| ((o[0] + e / (b[1] * b[2])) * d1 + o[1] + (e / b[2]) % b[1]) * d2 + o[2] + e % b[2];
        let mut scored: Vec<(f64, Choice)> = choices.iter().map(|c| (evaluate(c, b, &at).cost, *c)).collect();
        scored.sort_by(|x, y| x.0.total_cmp(&y.0));
        choices = scored.into_iter().take(SHORTLIST).map(|(_, c)| c).collect();
    }
    let mut top = TopCandidates::default();
    for c in &choices {
        top.offer(evaluate(c, chunk.dims, &|e| e));
    }
    // 2c. Estimates that are close do not rank reliably (zstd sees more than symbol frequencies):
    //     those are packed for real and the smallest kept.
    let with_new_exceptions = |exceptions: &mut Vec<(usize, u8, Vec<u8>)>, new: &[usize]| {
        for &e in new {
            let s = &streams[stream_of(e)];
            exceptions.push((e, EXC_RAW, exact_bytes(value_at(s.values, source_index(e)), s.meta.dtype)));
        }
        exceptions.sort_by_key(|x| x.0);
    };
    let chosen = top.pick(|c| {
        let mut exc = exceptions.clone();
        with_new_exceptions(&mut exc, &c.new_exceptions);
        let section = ChunkSection { exceptions: &exc, latents: None, codes: &c.codes };
        pack(&section, chunk.dims, streams.len(), stream_of, opts.zstd_level).1.len()
    });
    let (classic, mut codes) = (chosen.classic, chosen.codes);
    with_new_exceptions(&mut exceptions, &chosen.new_exceptions);
    for &e in &chosen.new_exceptions {
        exc_mask[e] = true;
    }
    let feedback = matches!(classic, Classic::InterpFeedback { .. });

    // 3. Autoencoder tiles where they beat the classic prediction.
    let tiles = chunk.tile_count(model.map_or([1, 1, 1], |m| m.tile));
    let mut modes: Vec<u8> = Vec::new();
    let mut latent_bytes = Vec::new();
    let mut ae_tiles = 0;
    let mut latent_shift = None;
    if let (Some(_), true) = (model, feedback) {
        // The autoencoder's tiles are grid predictions: not mixed with the feedback predictor.
        latent_shift = Some(0);
        modes = vec![0; tiles];
    } else if let Some(m) = model {
        let per_tile = m.tile.iter().product::<usize>();
        let owner = chunk.element_tiles(m.tile);
        let mut input = Vec::with_capacity(tiles * per_tile);
        let mut tile_els = Vec::with_capacity(tiles);
        for t in 0..tiles {
            let els = chunk.tile_elements(m.tile, t);
            crate::preprocess::push_tile(
                &els,
                &m.norm,
                |e| {
                    let s = stream_of(e);
                    (s, value_at(streams[s].values, source_index(e)), exc_mask[e])
                },
                &mut input,
            );
            tile_els.push(els);
        }
        let lat_f = (m.encode)(&input, tiles);
        if lat_f.len() != tiles * m.decoder.latent_dim() {
            return Err(CodecError::InvalidInput("the encoder returned the wrong number of latents".into()));
        }
        let lat_q = quantize_latents(&lat_f, m.decoder.latent_frac_bits);
        // Cost per symbol from the classic codes' histogram (bits), escapes at 16 + their varint.
        // Bits per code symbol, from a histogram of codes (escapes at 16 + their varint).
        let code_cost = |cost: &[f64; 256], c: i64| {
            let z = zigzag(c);
            if z < 255 {
                cost[z as usize]
            } else {
                cost[255] + 8.0 * ((64 - (z - 255).leading_zeros()) as f64 / 7.0).ceil().max(1.0)
            }
        };
        let z = m.decoder.latent_dim();
        let classic_cost_of = |cost: &[f64; 256]| -> Vec<f64> {
            let mut c = vec![0.0; tiles];
            for e in 0..n {
                if !exc_mask[e] {
                    c[owner[e] as usize] += code_cost(cost, codes[e]);
                }
            }
            c
        };
        // Coarser latents cost fewer bits and predict less well: try a few steps on a sample of
        // the tiles, keep the cheapest, then decide every tile with it.
        let evaluate = |cost: &[f64; 256],
                        classic_cost: &[f64],
                        shift: u8,
                        selected: &[usize]|
         -> (f64, AeChoice) {
            let stored: Vec<i32> = selected
                .iter()
                .flat_map(|&t| lat_q[t * z..(t + 1) * z].iter().map(|&l| shift_down(l, shift)))
                .collect();
            let input: Vec<i32> = stored.iter().map(|&l| shift_up(l, shift)).collect();
            let preds = m.decoder.predict(&input, selected.len());
            let mut choice =
                AeChoice { shift, modes: vec![0; tiles], latent_bytes: Vec::new(), ae_codes: vec![0i64; n] };
            // Edge tiles repeat border elements; like the decoder, use each element's first occurrence.
            let mut seen = vec![false; n];
            let mut total = 0.0;
            for (k, &t) in selected.iter().enumerate() {
                let mut c_ae = 0.0;
                for (o, &e) in tile_els[t].iter().enumerate() {
                    if owner[e] as usize != t || exc_mask[e] || seen[e] {
                        continue;
                    }
                    seen[e] = true;
                    let st = stream_of(e);
                    let [lo, hi] = m.norm[st];
                    let g = grid_of(&streams[st].meta, lo + preds[k * per_tile + o] * (hi - lo));
                    choice.ae_codes[e] = q[e].wrapping_sub(g);
                    c_ae += code_cost(cost, choice.ae_codes[e]);
                }
                let lat = &stored[k * z..(k + 1) * z];
                let lat_cost: f64 =
                    lat.iter().map(|&l| 2.0 * (1.0 + zigzag(l as i64) as f64).log2() + 1.0).sum();
                if c_ae + lat_cost < classic_cost[t] {
                    choice.modes[t] = 1;
                    total += c_ae + lat_cost;
                    for &l in lat {
                        put_varint(&mut choice.latent_bytes, zigzag(l as i64));
                    }
                } else {
                    total += classic_cost[t];
                }
            }
            (total, choice)
        };
        const SEARCH_TILES: usize = 512;
        let sample: Vec<usize> = (0..tiles).step_by(tiles.div_ceil(SEARCH_TILES).max(1)).collect();
        let all: Vec<usize> = (0..tiles).collect();
        // Symbol costs come from the codes the chunk will have: first the classic ones, then (a
        // few rounds) the mix the last decision gave — the autoencoder's small codes are cheap in
        // a mixed histogram but look expensive in the classic one when the classic codes are wide.
        let mut cost = symbol_costs(codes.iter().copied());
        let mut choice = None;
        for _ in 0..AE_COST_ROUNDS {
            let classic_cost = classic_cost_of(&cost);
            let best_shift = [0u8, 2, 4, 6, 8, 10]
                .into_iter()
                .map(|shift| (evaluate(&cost, &classic_cost, shift, &sample).0, shift))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, shift)| shift)
                .expect("one latent step");
            let round = evaluate(&cost, &classic_cost, best_shift, &all).1;
            let mixed = (0..n)
                .map(|e| if round.modes[owner[e] as usize] == 1 { round.ae_codes[e] } else { codes[e] });
            cost = symbol_costs(mixed);
            choice = Some(round);
        }
        let choice = choice.expect("at least one round");
        for e in 0..n {
            if choice.modes[owner[e] as usize] == 1 && !exc_mask[e] {
                codes[e] = choice.ae_codes[e];
            }
        }
        ae_tiles = choice.modes.iter().filter(|&&m| m == 1).count();
        latent_shift = Some(choice.shift);
        modes = choice.modes;
        latent_bytes = choice.latent_bytes;
    }

    // 4. Bytes.
    let latents = latent_shift.map(|shift| (shift, modes.as_slice(), latent_bytes.as_slice()));
    let section = ChunkSection { exceptions: &exceptions, latents, codes: &codes };
    let (raw_len, packed) = pack(&section, chunk.dims, streams.len(), stream_of, opts.zstd_level);

    let mut payload = Vec::new();
    put_varint(&mut payload, chunk.start as u64);
    put_varint(&mut payload, chunk.dims[0] as u64);
    payload.push(classic.to_byte());
    put_varint(&mut payload, raw_len as u64);
    payload.extend_from_slice(&packed);
    Ok(EncodedChunk {
        start: chunk.start,
        rows: chunk.dims[0],
        payload,
        classic,
        tiles,
        ae_tiles,
        exceptions: exceptions.len(),
    })
}

/// A way to predict a chunk: a classic predictor on the grid, or interpolation on reconstructed
/// values.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Choice {
    Grid(Classic),
    Feedback(crate::predictor::feedback::Feedback),
}

/// Chunks from this many elements choose among their predictors on a central box of about
/// `SAMPLE_SIZE` elements first (the chunk's proportions, scaled down), then run only the
/// `SHORTLIST` best over the whole chunk.
const SAMPLE_FROM: usize = 1 << 18;
const SAMPLE_SIZE: usize = 1 << 16;
const SHORTLIST: usize = 2;

fn sample_box(dims: [usize; 3]) -> [usize; 3] {
    let n: usize = dims.iter().product();
    let live = dims.iter().filter(|&&d| d > 1).count().max(1) as i32;
    let f = (SAMPLE_SIZE as f64 / n as f64).powf(1.0 / live as f64);
    dims.map(|d| ((d as f64 * f).round() as usize).clamp(d.min(8), d))
}

/// A classic prediction of a chunk: its codes, and the values it leaves to store exactly.
struct Candidate {
    cost: f64,
    classic: Classic,
    codes: Vec<i64>,
    new_exceptions: Vec<usize>,
}

/// The cheapest few candidates by estimated size (each holds a chunk's codes, so not all of them).
#[derive(Default)]
struct TopCandidates(Vec<Candidate>);

/// Candidates kept, and how close (relative) an estimate must be to the best's to be packed too.
const TOP_CANDIDATES: usize = 3;
const CLOSE_ESTIMATE: f64 = 0.03;

impl TopCandidates {
    fn offer(&mut self, c: Candidate) {
        let at = self.0.partition_point(|k| k.cost <= c.cost);
        if at < TOP_CANDIDATES {
            self.0.insert(at, c);
            self.0.truncate(TOP_CANDIDATES);
        }
    }

    /// The best estimate, or among those within [`CLOSE_ESTIMATE`] of it the one `real_size` finds
    /// smallest (the first on ties).
    fn pick(self, real_size: impl Fn(&Candidate) -> usize) -> Candidate {
        let limit = self.0[0].cost * (1.0 + CLOSE_ESTIMATE);
        let close: Vec<Candidate> = self.0.into_iter().filter(|c| c.cost <= limit).collect();
        if close.len() == 1 {
            return close.into_iter().next().expect("one candidate");
        }
        let sizes: Vec<usize> = close.iter().map(&real_size).collect();
        let best = (0..close.len()).min_by_key(|&i| (sizes[i], i)).expect("one candidate");
        close.into_iter().nth(best).expect("index in range")
    }
}

/// What a chunk's zstd frame holds besides its header.
struct ChunkSection<'a> {
    exceptions: &'a [(usize, u8, Vec<u8>)],
    /// (latent step, tile modes, latent bytes) when the archive has a model.
    latents: Option<(u8, &'a [u8], &'a [u8])>,
    codes: &'a [i64],
}

/// Exceptions, tile modes, latents, escapes, symbols — one zstd frame, with the symbol coder that
/// makes it smallest. Returns (inflated length, frame).
fn pack(
    section: &ChunkSection<'_>,
    dims: [usize; 3],
    n_streams: usize,
    stream_of: impl Fn(usize) -> usize + Copy,
    zstd_level: i32,
) -> (usize, Vec<u8>) {
    let (exceptions, codes) = (section.exceptions, section.codes);
    let n = codes.len();
    let mut raw = Vec::with_capacity(n + 64);
    put_varint(&mut raw, exceptions.len() as u64);
    let mut prev = 0usize;
    for (k, (pos, kind, bytes)) in exceptions.iter().enumerate() {
        put_varint(&mut raw, if k == 0 { *pos } else { pos - prev - 1 } as u64);
        raw.push(*kind);
        raw.extend_from_slice(bytes);
        prev = *pos;
    }
    if let Some((shift, modes, latent_bytes)) = section.latents {
        raw.push(shift);
        raw.extend_from_slice(modes);
        raw.extend_from_slice(latent_bytes);
    }
    let (mut symbols, mut escapes) = (Vec::with_capacity(n), Vec::new());
    pack_codes(codes, &mut symbols, &mut escapes);
    // Candidates, each then zstd'd, the smallest kept: bytes + escapes with one Huffman table;
    // bucket symbols with a table per stream (wide or per-column distributions); for small
    // chunks, where a 128-byte table may not pay, the plain bytes.
    let mut with_buckets = raw.clone();
    put_varint(&mut with_buckets, 0);
    let mut with_levels = (n_streams == 1 && n >= MIN_LEVEL_CODER).then(|| with_buckets.clone());
    with_buckets.push(CODER_BUCKETS);
    crate::coder::buckets::encode(codes, n_streams, stream_of, &mut with_buckets);
    if let Some(w) = &mut with_levels {
        let levels = crate::coder::buckets::level_contexts(dims);
        w.push(CODER_BUCKETS_LEVELS);
        crate::coder::buckets::encode(codes, crate::coder::buckets::LEVEL_TABLES, |e| levels[e] as usize, w);
    }
    put_varint(&mut raw, escapes.len() as u64);
    raw.extend_from_slice(&escapes);
    let mut with_huffman = raw.clone();
    with_huffman.push(CODER_HUFFMAN);
    crate::coder::huffman::encode(&symbols, &mut with_huffman);
    let mut candidates = vec![with_huffman, with_buckets];
    candidates.extend(with_levels);
    if n <= 1 << 16 {
        let mut with_bytes = raw;
        with_bytes.push(CODER_RAW);
        with_bytes.extend_from_slice(&symbols);
        candidates.push(with_bytes);
    }
    candidates
        .into_iter()
        .map(|r| (r.len(), zstd_compress(&r, zstd_level)))
        .min_by_key(|(_, z)| z.len())
        .expect("one candidate")
}

/// The autoencoder's part of a chunk for one latent step.
struct AeChoice {
    shift: u8,
    modes: Vec<u8>,
    latent_bytes: Vec<u8>,
    ae_codes: Vec<i64>,
}

/// Smallest chunk worth trying per-level tables on (eight tables cost up to ~200 bytes).
const MIN_LEVEL_CODER: usize = 4096;

/// A latent stored with `shift` fewer bits (rounded to nearest).
fn shift_down(l: i32, shift: u8) -> i32 {
    if shift == 0 { l } else { ((l as i64 + (1 << (shift - 1))) >> shift) as i32 }
}

/// Rounds of deciding autoencoder tiles with the symbol costs of the previous round's codes.
const AE_COST_ROUNDS: usize = 3;

/// −log2 p per escape-coded symbol, with add-one smoothing.
fn symbol_costs(codes: impl Iterator<Item = i64>) -> [f64; 256] {
    let mut hist = [1u64; 256];
    for c in codes {
        hist[zigzag(c).min(255) as usize] += 1;
    }
    let total: u64 = hist.iter().sum();
    hist.map(|h| -(h as f64 / total as f64).log2())
}

/// Independent check, in f64, of |x − x′| ≤ bound for every value; NaN, ±Inf and fill values must
/// come back bit for bit.
fn verify_bound(orig: &Dataset, dec: &Dataset, streams: &[Stream<'_>], fill: Option<f64>) -> Result<()> {
    let pairs: Vec<(&Values, &Values)> = match (orig, dec) {
        (Dataset::Field(a), Dataset::Field(b)) => vec![(&a.values, &b.values)],
        (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) => {
            a.iter().zip(b).map(|(x, y)| (&x.values, &y.values)).collect()
        }
        _ => {
            return Err(CodecError::Verification("decoded dataset has another kind".into()));
        }
    };
    for (s, (a, b)) in streams.iter().zip(pairs) {
        let bound = match s.meta.quantizer {
            Quantizer::Float { bound, .. } => bound,
            Quantizer::Int => 0.0,
        };
        match (a, b) {
            (Values::Int(a), Values::Int(b)) => {
                if a != b {
                    return Err(CodecError::Verification(format!(
                        "integer stream '{}' changed",
                        s.meta.name
                    )));
                }
            }
            (Values::Float(a), Values::Float(b)) if a.len() == b.len() => {
                for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
                    let ok = if x.is_finite() && !is_fill(x, fill, s.meta.dtype) {
                        (x - y).abs() <= bound
                    } else {
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan() && s.meta.dtype == DType::F32)
                    };
                    if !ok {
                        return Err(CodecError::Verification(format!(
                            "value {i} of stream '{}': {x} came back as {y} (bound {bound})",
                            s.meta.name
                        )));
                    }
                }
            }
            _ => {
                return Err(CodecError::Verification("decoded stream has another type or length".into()));
            }
        }
    }
    Ok(())
}
