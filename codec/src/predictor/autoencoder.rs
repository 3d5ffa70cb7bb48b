//! The autoencoder: in archives with a model, a tile-by-tile alternative to the chunk's grid
//! predictor. The encoder runs the encoder half on every tile, quantizes the latents, and keeps the
//! network's prediction for the tiles where it costs fewer bits (latents included) than the chunk
//! predictor's; the decoder runs the integer decoder network on the kept tiles' latents
//! (`network/`) and fixes those tiles' grid values before the chunk predictor's sweep fills in the
//! rest. Its bytes are the chunk's tile section (`format::chunk::TileSection`).

#[cfg(feature = "encode")]
use crate::bytes::zigzag;
use crate::error::{CodecError, Result};
use crate::format::chunk::TileSection;
use crate::layout::ChunkDims;
use crate::network::int_decoder::{IntDecoder, clamp_activation, shift_up};
#[cfg(feature = "encode")]
use crate::network::quantize::quantize_latents;

/// A trained autoencoder as the compressor uses it.
#[cfg(feature = "encode")]
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

// ---------------------------------------------------------------------------------------------
// Decoding

/// The tiles of a chunk that use the network, and its input for them.
pub struct NetworkTiles {
    /// The tiles that do, in order.
    pub used: Vec<usize>,
    /// Their latents (used.len() × latent_dim), already scaled and clamped: the network's input.
    pub latents: Vec<i32>,
}

impl NetworkTiles {
    /// A stored latent l with shift s enters the network as `clamp(l · 2^s)`.
    pub fn from_section(section: TileSection) -> Self {
        let used = section.used();
        let mut latents = section.latents;
        for l in &mut latents {
            *l = clamp_activation(shift_up(*l, section.shift));
        }
        Self { used, latents }
    }
}

/// Puts the network's predictions for the used tiles into `codes`: each element of such a tile
/// gets its final grid value, prediction + code. `acc` holds the network's last-layer
/// accumulators for those tiles; `grid(stream, p)` is the grid value of an output p of `stream`.
/// Returns which elements are fixed so (empty when no tile is used).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    dec: &IntDecoder,
    tiles: &NetworkTiles,
    acc: &[i32],
    chunk: &ChunkDims,
    tile: [usize; 3],
    table: bool,
    grid: impl Fn(usize, f64) -> i64,
    codes: &mut [i64],
) -> Result<Vec<bool>> {
    let per_tile = dec.output_dim();
    if acc.len() != tiles.used.len() * per_tile {
        return Err(CodecError::Backend(format!(
            "the decoder network returned {} values for {} tiles",
            acc.len(),
            tiles.used.len()
        )));
    }
    if tiles.used.is_empty() {
        return Ok(Vec::new());
    }
    let mut fixed = vec![false; chunk.len()];
    let [_, d1, d2] = chunk.dims;
    // A field's predictions go to the grid in one flat loop (its divisions vectorize), then row by
    // row into place; a table's stream depends on the element.
    let (values, preds) = if table {
        (Vec::new(), dec.outputs(acc))
    } else {
        (dec.outputs_with(acc, |x| grid(0, x)), Vec::new())
    };
    for (u, &t) in tiles.used.iter().enumerate() {
        let tile_at = u * per_tile;
        chunk.for_each_tile_row(tile, t, |o, e, len| {
            fixed[e..e + len].fill(true);
            for (k, c) in codes[e..e + len].iter_mut().enumerate() {
                let pred = if table {
                    grid(((e + k) / d2) % d1, preds[tile_at + o + k])
                } else {
                    values[tile_at + o + k]
                };
                *c = pred.wrapping_add(*c);
            }
        });
    }
    Ok(fixed)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// The autoencoder's decision for a chunk: its tile section, and how many tiles use it.
#[cfg(feature = "encode")]
pub struct TileChoice {
    pub section: TileSection,
    pub used: usize,
}

#[cfg(feature = "encode")]
impl TileChoice {
    /// No tile uses the network (chunks whose predictor is not on the grid).
    pub fn none(tiles: usize) -> Self {
        Self { section: TileSection { shift: 0, modes: vec![0; tiles], latents: Vec::new() }, used: 0 }
    }
}

/// Chooses the chunk's autoencoder tiles and the latent step, and puts the network's codes into
/// `codes` for those tiles. `element(e)` is element e's (stream, value), `q` its grid value,
/// `grid(stream, v)` the grid point of value v; `codes` hold the chunk predictor's codes.
#[cfg(feature = "encode")]
pub fn choose_tiles(
    m: &AeModel<'_>,
    chunk: &ChunkDims,
    element: impl Fn(usize) -> (usize, f64),
    grid: impl Fn(usize, f64) -> i64,
    q: &[i64],
    exceptions: &[bool],
    codes: &mut [i64],
) -> Result<TileChoice> {
    let n = chunk.len();
    let tiles = chunk.tile_count(m.tile);
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
                let (s, x) = element(e);
                (s, x, exceptions[e])
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
            if !exceptions[e] {
                c[owner[e] as usize] += code_cost(cost, codes[e]);
            }
        }
        c
    };
    // Coarser latents cost fewer bits and predict less well: try a few steps on a sample of
    // the tiles, keep the cheapest, then decide every tile with it.
    let evaluate =
        |cost: &[f64; 256], classic_cost: &[f64], shift: u8, selected: &[usize]| -> (f64, AeChoice) {
            let stored: Vec<i32> = selected
                .iter()
                .flat_map(|&t| lat_q[t * z..(t + 1) * z].iter().map(|&l| shift_down(l, shift)))
                .collect();
            let input: Vec<i32> = stored.iter().map(|&l| shift_up(l, shift)).collect();
            let preds = m.decoder.predict(&input, selected.len());
            let mut choice =
                AeChoice { shift, modes: vec![0; tiles], latents: Vec::new(), ae_codes: vec![0i64; n] };
            // Edge tiles repeat border elements; like the decoder, use each element's first occurrence.
            let mut seen = vec![false; n];
            let mut total = 0.0;
            for (k, &t) in selected.iter().enumerate() {
                let mut c_ae = 0.0;
                for (o, &e) in tile_els[t].iter().enumerate() {
                    if owner[e] as usize != t || exceptions[e] || seen[e] {
                        continue;
                    }
                    seen[e] = true;
                    let st = element(e).0;
                    let [lo, hi] = m.norm[st];
                    let g = grid(st, lo + preds[k * per_tile + o] * (hi - lo));
                    choice.ae_codes[e] = q[e].wrapping_sub(g);
                    c_ae += code_cost(cost, choice.ae_codes[e]);
                }
                let lat = &stored[k * z..(k + 1) * z];
                let lat_cost: f64 =
                    lat.iter().map(|&l| 2.0 * (1.0 + zigzag(l as i64) as f64).log2() + 1.0).sum();
                if c_ae + lat_cost < classic_cost[t] {
                    choice.modes[t] = 1;
                    total += c_ae + lat_cost;
                    choice.latents.extend_from_slice(lat);
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
        let mixed =
            (0..n).map(|e| if round.modes[owner[e] as usize] == 1 { round.ae_codes[e] } else { codes[e] });
        cost = symbol_costs(mixed);
        choice = Some(round);
    }
    let choice = choice.expect("at least one round");
    for e in 0..n {
        if choice.modes[owner[e] as usize] == 1 && !exceptions[e] {
            codes[e] = choice.ae_codes[e];
        }
    }
    let used = choice.modes.iter().filter(|&&m| m == 1).count();
    Ok(TileChoice {
        section: TileSection { shift: choice.shift, modes: choice.modes, latents: choice.latents },
        used,
    })
}

/// The autoencoder's part of a chunk for one latent step.
#[cfg(feature = "encode")]
struct AeChoice {
    shift: u8,
    modes: Vec<u8>,
    /// Stored latents of the tiles with mode 1.
    latents: Vec<i32>,
    ae_codes: Vec<i64>,
}

/// A latent stored with `shift` fewer bits (rounded to nearest).
#[cfg(feature = "encode")]
fn shift_down(l: i32, shift: u8) -> i32 {
    if shift == 0 { l } else { ((l as i64 + (1 << (shift - 1))) >> shift) as i32 }
}

/// Rounds of deciding autoencoder tiles with the symbol costs of the previous round's codes.
#[cfg(feature = "encode")]
const AE_COST_ROUNDS: usize = 3;

/// −log2 p per escape-coded symbol, with add-one smoothing.
#[cfg(feature = "encode")]
fn symbol_costs(codes: impl Iterator<Item = i64>) -> [f64; 256] {
    let mut hist = [1u64; 256];
    for c in codes {
        hist[zigzag(c).min(255) as usize] += 1;
    }
    let total: u64 = hist.iter().sum();
    hist.map(|h| -(h as f64 / total as f64).log2())
}
