//! One chunk's encoding: pre-quantization, the predictor chosen by estimated size, the
//! autoencoder's tiles, and the chunk's bytes. It knows predictors and coders only through their
//! traits and registries (`predictor::candidates`, `coder::CODERS` via `format::chunk::pack`).

use crate::archive::EncoderValues;
use crate::coder::ChunkShape;
use crate::coder::counts::CodeCounts;
use crate::data::{DType, Values};
use crate::error::Result;
use crate::format::chunk::{
    EXC_FILL, EXC_RAW, ExceptionBytes, pack_counted, pack_to_rank, write_chunk, write_prefix,
};
use crate::format::metadata::Quantizer;
use crate::layout::{ChunkDims, central_box, on_central_box};
use crate::predictor::autoencoder::{AeModel, TileChoice, choose_tiles};
use crate::predictor::feedback::{Feedback, FeedbackDraft};
use crate::predictor::{
    ChunkInput, Draft, FloatValues, GridReader, Predictor, StreamInfo, estimated_bytes,
    estimated_bytes_with_runs, learned_pass,
};
use crate::preprocess::is_fill;
use crate::quant::prequantize;
use crate::quant::prequantize_values;
use rayon::prelude::*;
use std::ops::Range;
use std::sync::OnceLock;

use super::{CompressOptions, StreamPlan, grid_of};

/// A chunk's bytes and what was decided for it.
pub(super) struct EncodedChunk {
    pub start: usize,
    pub rows: usize,
    pub payload: Vec<u8>,
    /// The chosen predictor, in words.
    pub predictor: String,
    pub tiles: usize,
    pub ae_tiles: usize,
    pub exceptions: usize,
    /// What the check needs to skip the decoder's sweep, where the chunk's predictor made the
    /// reconstruction while encoding (and the caller asked for it: [`Context::keep_swept`]).
    pub swept: Option<Swept>,
}

/// A chunk's codes and what the decoder makes from them, as the encoder made it: the check
/// decodes the chunk's bytes to codes, requires these codes, and checks the values (see
/// `Checker::check_chunk`).
pub(super) struct Swept {
    pub codes: Vec<i64>,
    pub values: EncoderValues,
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

/// The lattice around a chunk, the archive's streams, and the input's values: each stream's from
/// lattice row `first_row` on (a slab of the input, or all of it).
pub(super) struct Context<'s> {
    pub lattice: [usize; 3],
    pub table: bool,
    pub streams: &'s [StreamPlan],
    pub values: &'s [&'s Values],
    pub first_row: usize,
    pub info: &'s StreamInfo,
    pub opts: &'s CompressOptions,
    /// Keep the chosen predictor's reconstruction for the check (`EncodedChunk::swept`): where
    /// the chunk is checked right after it is encoded, so memory holds a few of them at most.
    pub keep_swept: bool,
}

pub(super) fn encode_chunk(
    chunk: &ChunkDims,
    cx: &Context<'_>,
    model: Option<&AeModel<'_>>,
) -> Result<EncodedChunk> {
    encode_chunk_choosing(chunk, cx, model, MidChunks::OnABox)
}

/// How a float field's chunk of `FEEDBACK_BOX_FROM` to `SAMPLE_FROM` elements ranks its
/// predictors: on a box of 1/`MID_BOX_DIV` first (what compression does), or every one on the
/// whole chunk but the feedback variants (as smaller chunks do; what tests compare it with).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum MidChunks {
    OnABox,
    #[cfg_attr(not(test), allow(dead_code))]
    Whole,
}

pub(super) fn encode_chunk_choosing(
    chunk: &ChunkDims,
    cx: &Context<'_>,
    model: Option<&AeModel<'_>>,
    mid_chunks: MidChunks,
) -> Result<EncodedChunk> {
    let (lat, table, streams, values_of, opts) = (cx.lattice, cx.table, cx.streams, cx.values, cx.opts);
    let n = chunk.len();
    let plane = lat[1] * lat[2];
    let shape = ChunkShape { dims: chunk.dims, streams: streams.len(), table };
    let stream_of = |e: usize| shape.stream_of(e);
    let first = chunk.start - cx.first_row;
    let source_index = |e: usize| {
        if table { first + e / plane } else { first * plane + e }
    };

    // 1. Pre-quantization onto each stream's grid, and what must be stored exactly. Fields of
    //    floats are coded on their values by most candidates (and by the chosen one, mostly):
    //    those need only the fill values marked, and the grid is made only for a grid predictor
    //    run over the whole chunk (on the box it is made for the box alone).
    let locate = |e: usize| (stream_of(e), source_index(e));
    let full: OnceLock<Prequantized> = OnceLock::new();
    let float_field = match (table, streams, values_of) {
        (false, [s], [Values::Float(v)]) => Some((s, &v[source_index(0)..source_index(0) + n])),
        _ => None,
    };
    let grid = || {
        full.get_or_init(|| match float_field {
            Some((s, v)) => prequantize_field(v, s, opts.fill_value),
            None if table => prequantize_table(chunk.dims, first, cx),
            None => prequantize_elements(n, (0..n).map(|e| (0, source_index(e))), cx),
        })
    };
    let fills_only: Option<Prequantized> =
        float_field.map(|(s, v)| fill_exceptions(v, opts.fill_value, s.meta.dtype));
    // The exceptions a candidate starts from: fills only for those on values.
    let start_of = |on_grid: bool| -> &Prequantized {
        match (&fills_only, on_grid) {
            (Some(f), false) => f,
            _ => grid(),
        }
    };

    // 2. The predictor with the smallest estimated size: grid predictors, and for fields of floats
    //    those on reconstructed values (noise below the bound is absorbed instead of surviving as
    //    ±1 codes; wins at loose bounds).
    let values = match (cx.info.float_field, streams) {
        (Some(_), [s]) => match (values_of[0], s.meta.quantizer) {
            (Values::Float(v), Quantizer::Float { bound, .. }) => Some(FloatValues {
                values: &v[source_index(0)..source_index(0) + n],
                bound,
                dtype: s.meta.dtype,
                whole: true,
            }),
            _ => None,
        },
        _ => None,
    };
    let mut candidates = crate::predictor::candidates(chunk.dims, cx.info);
    // A table's learned column program (predictor 18), fitted on this chunk.
    if table && opts.learned {
        let g = grid();
        let fitted = crate::predictor::columns_fit::fit(chunk.dims, &g.q, &g.mask, cx.info);
        candidates.extend(fitted.map(|c| Box::new(c) as Box<dyn Predictor>));
    }
    let params: Vec<Vec<u8>> = candidates.iter().map(|p| p.params()).collect();
    let feedback = |i: usize| is_feedback(candidates[i].as_ref());
    // A field's learned last pass (predictor 19) is fitted only once the classic choice is known
    // (step 2b), on that variant, and its periodic predictor (20) after it (step 2c): they are
    // kept apart, behind the indices `candidates.len()` and `candidates.len() + 1`.
    let fitted: [FittedSlot; 2] = Default::default();
    let pool = Pool { candidates: &candidates, params: &params, fitted: &fitted };
    // A candidate's estimated size from its codes' estimate: values stored exactly and its
    // parameters added, times its margin.
    let stored_bytes = values.map_or(0.0, |v| v.dtype.size_bytes() as f64 + 2.0);
    let cost = |i: usize, code_bytes: f64, d: &Draft| {
        let bytes = code_bytes + d.new_exceptions.len() as f64 * stored_bytes + pool.params(i).len() as f64;
        bytes * pool.get(i).size_margin()
    };
    let estimate_by = |i: usize, input: &ChunkInput<'_>, code_bytes: fn(&[i64]) -> f64| -> (f64, Draft) {
        let d = pool.get(i).encode(input);
        (cost(i, code_bytes(&d.codes), &d), d)
    };
    let estimate = |i: usize, input: &ChunkInput<'_>| estimate_by(i, input, estimated_bytes);
    // On the whole chunk: the estimate from the codes' tallies, which counting and packing the
    // candidate reuse (the same sum as `estimated_bytes`).
    let cost_whole = |i: usize, d: Draft| -> (f64, Draft, Option<CodeCounts>) {
        let counts = (n > crate::format::chunk::PACK_ALL_UP_TO).then(|| CodeCounts::new(&d.codes, &shape));
        let code_bytes = counts.as_ref().map_or_else(|| estimated_bytes(&d.codes), |c| c.estimated_bytes());
        (cost(i, code_bytes, &d), d, counts)
    };
    let estimate_whole = |i: usize, input: &ChunkInput<'_>| cost_whole(i, pool.get(i).encode(input));
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    // Grid predictors best first (by the box's estimates where there is a box): with a model, the
    // autoencoder's tiles need one (see step 3).
    let mut grid_order: Vec<usize> = order.iter().copied().filter(|&i| candidates[i].on_grid()).collect();
    // A float field's values and stored-exactly marks on a central box of about `size` elements.
    let field_box = |v: FloatValues<'_>, size: usize| {
        let b = scaled_box(chunk.dims, size);
        let box_values = on_central_box(v.values, chunk.dims, b);
        let box_exc = on_central_box(&start_of(false).mask, chunk.dims, b);
        (b, box_values, box_exc)
    };
    // Candidates whose frame on the box has structure zstd found.
    let mut box_zstd: Vec<usize> = Vec::new();
    // A central box `b` of the chunk.
    let box_parts = |b: [usize; 3]| {
        let box_values: Option<Vec<f64>> = values.map(|v| on_central_box(v.values, chunk.dims, b));
        let boxed = match (&full.get(), float_field) {
            (Some(g), _) => Prequantized {
                q: on_central_box(&g.q, chunk.dims, b),
                mask: on_central_box(&g.mask, chunk.dims, b),
                exceptions: Vec::new(),
            },
            // A float field's box as the whole chunk's grid would hold it (the same function).
            (None, Some((s, v))) => match &box_values {
                Some(on_box) => prequantize_field(on_box, s, opts.fill_value),
                None => prequantize_field(&on_central_box(v, chunk.dims, b), s, opts.fill_value),
            },
            (None, None) => {
                let m = b.iter().product::<usize>();
                prequantize_elements(m, central_box(chunk.dims, b).map(locate), cx)
            }
        };
        BoxParts { dims: b, q: boxed.q, mask: boxed.mask, values: box_values }
    };
    // Large chunks, and a float field's from FEEDBACK_BOX_FROM without a model (whose tiles try
    // every grid predictor): every candidate on a central box first, only the best few on the
    // whole chunk.
    let mid_on_a_box = values.is_some() && model.is_none() && mid_chunks == MidChunks::OnABox;
    let sampled_from = if mid_on_a_box { FEEDBACK_BOX_FROM } else { SAMPLE_FROM };
    let mut sampled = false;
    if n >= sampled_from {
        let b = if n >= SAMPLE_FROM {
            sample_box(chunk.dims, table)
        } else {
            scaled_box(chunk.dims, n / MID_BOX_DIV)
        };
        let m = b.iter().product::<usize>();
        let boxed = box_parts(b);
        let input = boxed.input(values);
        // Every candidate's estimate, and the codes of the best few only (each holds the box's).
        // A task a candidate (`with_max_len(1)`) wherever candidates run in parallel: their costs
        // differ tenfold (a feedback sweep against Lorenzo's slice loops), and they come by kind,
        // so the halves rayon splits a list into first left one thread most of the work (CFD on
        // two threads 1.08 × faster at 1e-2 with it).
        let on_box = |these: &[usize]| {
            these
                .par_iter()
                .with_max_len(1)
                .fold(
                    || (TopCandidates::default(), Vec::new()),
                    |(mut top, mut costs), &i| {
                        let (cost, d) = estimate(i, &input);
                        costs.push((cost, i));
                        top.offer(Candidate {
                            cost,
                            rank: i,
                            predictor: i,
                            codes: d.codes,
                            new_exceptions: d.new_exceptions,
                            reconstruction: None,
                            counts: None,
                        });
                        (top, costs)
                    },
                )
                .reduce(
                    || (TopCandidates::default(), Vec::new()),
                    |(a, mut ac), (b, bc)| {
                        ac.extend(bc);
                        (a.merge(b), ac)
                    },
                )
        };
        // The grid interpolations first (cheap sweeps): where one's codes are short on the box,
        // so are the best's, and a mid chunk ranks on a slab instead (below), which the other
        // candidates' box sweeps would not change (CFD at 1e-2: 8 % of its time). Where they are
        // not short, the feedback variants with level-wise steps are left out: coding coarse
        // levels finer pays only where most fine codes are near zero (they won no chunk whose
        // probe codes were long: 78 field and crop × bound cases, 42 held-out ones, the 105 MB
        // fields at six bounds). With the twin rule below, 5 of the 120 mid cases changed, by
        // −9 to +23 bytes (≤ 0.023 %), none of the large; CFD 1.20 / 1.13 × faster at 1e-3 / 1e-4.
        let probe: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| sampled_kind(candidates[i].as_ref()) == Some(Sampled::Interpolation))
            .collect();
        let (mut best, mut costs) = on_box(&probe);
        let probe_short = costs.iter().any(|c| short_codes(c.0, m));
        let levelwise_left_out = !probe_short;
        if !(probe_short && n < SAMPLE_FROM) {
            let rest: Vec<usize> = order
                .iter()
                .copied()
                .filter(|i| !probe.contains(i))
                .filter(|&i| !levelwise_left_out || !Feedback::has_levelwise_steps(candidates[i].id()))
                .collect();
            let (others, more) = on_box(&rest);
            best = best.merge(others);
            costs.extend(more);
        }
        costs.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        // Below SAMPLE_FROM, where the box's best codes are short, zstd's runs decide and the box
        // ranks wrongly (CFD at 1e-2: 14 % larger): those chunks rank again on a slab, below.
        sampled = n >= SAMPLE_FROM || !short_codes(costs[0].0, m);
        if !sampled {
            // Every candidate on a slab of a quarter of the chunk (its longest axis cut, so the
            // other axes keep their interpolation levels and their runs of zero codes), priced
            // with zstd's matches over long runs of zero codes; the best `SLAB_KEEP` go on whole
            // and the best three of those by estimate are packed (see `every` below).
            let slab = box_parts(quarter_slab(chunk.dims));
            let input = slab.input(values);
            let mut ranked: Vec<(f64, usize)> = order
                .par_iter()
                .with_max_len(1)
                .map(|&i| (estimate_by(i, &input, estimated_bytes_with_runs).0, i))
                .collect();
            ranked.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            order = ranked.iter().take(SLAB_KEEP).map(|r| r.1).collect();
        }
        if sampled {
            grid_order = costs.iter().map(|c| c.1).filter(|&i| candidates[i].on_grid()).take(1).collect();
            // The best few by estimate (on a mid chunk's box only those close to the best: see
            // [`BOX_PACK_CLOSE`]) are packed on the box: zstd's share (runs of zero codes at
            // loose bounds) and the per-level tables decide between interpolation and Lorenzo by
            // 10 % or more where the estimates differ by less. Each in the coder its counted
            // length ranks first, as a large chunk is (`pack_to_rank`), also where the box holds
            // too few codes for that to rank coders as their frames do: packing a mid chunk's
            // boxes in every coder took 5–16 % of its time and changed no choice (81 file and
            // crop × bound cases at both efforts, the same archives).
            let box_shape = ChunkShape { dims: b, streams: if table { b[1] } else { 1 }, table };
            let stored_bytes = values.map_or(0, |v| v.dtype.size_bytes() + 2);
            let leader = costs[0];
            let lorenzo = |i: usize| sampled_kind(candidates[i].as_ref()) == Some(Sampled::Lorenzo);
            let close = |c: &Candidate| {
                let margin = match lorenzo(c.predictor) == lorenzo(leader.1) {
                    true => BOX_PACK_CLOSE,
                    false => BOX_PACK_CLOSE_KIND,
                };
                c.predictor == leader.1 || c.cost <= leader.0 * (1.0 + margin)
            };
            let mut packed: Vec<(usize, usize, bool)> = best
                .0
                .into_par_iter()
                .filter(|c| n >= SAMPLE_FROM || close(c))
                .map(|c| {
                    let (raw_len, frame) = pack_to_rank(
                        write_prefix(&[], pool.params(c.predictor), None, m),
                        &c.codes,
                        &box_shape,
                        opts.zstd_level,
                    );
                    let bytes = (frame.len() + c.new_exceptions.len() * stored_bytes) as f64;
                    let zstd = crate::format::chunk::zstd_found(raw_len, &frame);
                    ((bytes * pool.get(c.predictor).size_margin()) as usize, c.predictor, zstd)
                })
                .collect();
            packed.sort();
            box_zstd = packed.iter().filter(|p| p.2).map(|p| p.1).collect();
            // Runners-up go on to the whole chunk only where they packed the box nearly as small.
            // The box favours Lorenzo over interpolation (fewer levels fit in it): on the sea-state
            // field Lorenzo packed it 1.7–2.8 % smaller and cubic interpolation the whole chunk
            // 2.7 %. Two feedback variants (the same levels) it ranks as the whole chunk does,
            // or nearly: of 42 such pairs within 5 % on the box (the bench fields and crops of
            // them, 29 to 41 rows a chunk, 1e-2 to 1e-4), the runner-up won the whole chunk in 7,
            // by 0.25 % once and at most 0.02 % otherwise, for a second sweep of the chunk each
            // time (the smooth field in 29-row chunks: 1.3 × the time). A large chunk's
            // runner-up goes on only where it is of another kind.
            let limit = packed[0].0 as f64 * (1.0 + SHORTLIST_MARGIN);
            let one_feedback = n >= SAMPLE_FROM && feedback(packed[0].1);
            // Where the level-wise variants were left out of a mid chunk's box, a twin (grid and
            // feedback interpolation alike) packed within TWIN_CLOSE of one already listed does
            // not take the second place: another kind does (short waves at 1e-4 in the test
            // below: the axes 2-1-0 variant, 1.9 % behind on the box, 5 % ahead on the chunk).
            let pass_over_twins = levelwise_left_out && n < SAMPLE_FROM;
            let mut listed: Vec<(usize, usize, bool)> = Vec::new();
            for p in &packed {
                let twin = |k: &(usize, usize, bool)| {
                    twins(candidates[k.1].id(), candidates[p.1].id())
                        && p.0 as f64 <= k.0 as f64 * (1.0 + TWIN_CLOSE)
                };
                if !(pass_over_twins && listed.iter().any(twin)) {
                    listed.push(*p);
                }
            }
            order = listed
                .iter()
                .take(SHORTLIST)
                .enumerate()
                .filter(|&(k, s)| k == 0 || (s.0 as f64 <= limit && !(one_feedback && feedback(s.1))))
                .map(|(_, s)| s.1)
                .collect();
        }
    }
    // Where the box above found the best codes short, a box ranks the feedback variants no better
    // (it would keep them all, after a sweep of the chunk's eighth each: 8 % of CFD's time at 1e-2).
    let box_found_short = n >= sampled_from && !sampled;
    if let (false, false, true, Some(v)) = (sampled, box_found_short, n >= FEEDBACK_BOX_FROM, values) {
        // Smaller chunks of a float field run every candidate on the whole chunk, but the eight
        // feedback interpolation variants (the costliest sweeps) are ranked on a central box of
        // 1/8 of it first and only the best few go on, where the box codes are not so small that
        // zstd's runs decide (there the box ranks them wrongly: CFD at 1e-2, 3 % larger).
        let (b, box_values, box_exc) = field_box(v, n / 8);
        // Feedback predictors read values only, not grid values.
        let values = Some(FloatValues { values: &box_values, whole: false, ..v });
        let input = ChunkInput { dims: b, q: &[], exceptions: &box_exc, values };
        let mut ranked: Vec<(f64, usize)> =
            order.par_iter().copied().filter(|&i| feedback(i)).map(|i| (estimate(i, &input).0, i)).collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if !ranked.first().is_none_or(|r| short_codes(r.0, box_values.len())) {
            let kept: Vec<usize> = ranked.iter().take(FEEDBACK_SHORTLIST).map(|r| r.1).collect();
            order.retain(|&i| !feedback(i) || kept.contains(&i));
        }
    }
    // The whole chunk as candidate i sees it.
    let whole = |i: usize| {
        let b = start_of(pool.get(i).on_grid());
        ChunkInput { dims: chunk.dims, q: &b.q, exceptions: &b.mask, values }
    };
    // The best few of `these` candidates on the whole chunk, on all cores; each worker keeps only
    // its best few (a chunk's codes each), and the merge gives what offering them in order would.
    let best_of = |these: &[(usize, usize)]| {
        these
            .par_iter()
            .with_max_len(1)
            .fold(TopCandidates::default, |mut top, &(rank, i)| {
                let (cost, d, counts) = estimate_whole(i, &whole(i));
                top.offer(Candidate {
                    cost,
                    rank,
                    predictor: i,
                    codes: d.codes,
                    new_exceptions: d.new_exceptions,
                    reconstruction: d.reconstruction,
                    counts,
                });
                top
            })
            .reduce(TopCandidates::default, TopCandidates::merge)
    };
    let with_new_exceptions = |exceptions: &mut Vec<ExceptionBytes>, new: &[usize]| {
        for &e in new {
            let s = stream_of(e);
            let x = value_at(values_of[s], source_index(e));
            exceptions.push((e, EXC_RAW, exact_bytes(x, streams[s].meta.dtype)));
        }
        exceptions.sort_by_key(|x| x.0);
    };
    let pack_candidate = |c: &Candidate| {
        let mut exc = start_of(pool.get(c.predictor).on_grid()).exceptions.clone();
        with_new_exceptions(&mut exc, &c.new_exceptions);
        let prefix = write_prefix(&exc, pool.params(c.predictor), None, n);
        pack_counted(prefix, &c.codes, c.counts.as_ref(), &shape, opts.zstd_level)
    };
    let count_candidate = |c: &Candidate| {
        let stored = c.new_exceptions.len() * values.map_or(0, |v| v.dtype.size_bytes() + 2);
        let counted = match &c.counts {
            Some(counts) => crate::format::chunk::counted_len_of(counts, &shape),
            None => crate::format::chunk::counted_len(&c.codes, &shape),
        };
        counted.map(|b| b + stored + pool.params(c.predictor).len())
    };
    // (Chunks below SAMPLE_FROM run both on the whole chunk: there the sample misjudged Lorenzo
    // by 3 % on a crop of the sea field at 1e-4, and a sweep of the chunk costs little.)
    let by_sample = if n >= SAMPLE_FROM { runner_up_by_sample(&order, &candidates) } else { None };
    // Where every candidate kept runs on the whole chunk and one of them on its grid, a float
    // field's grid is made here, on all threads. (Made on first use, inside the candidates'
    // parallel tasks, it is made on one: a thread waiting for its share of a parallel
    // initialisation may pick up another of those tasks, which would wait for the grid itself.)
    if let (None, Some((s, v)), None) = (&by_sample, float_field, full.get())
        && order.iter().any(|&i| candidates[i].on_grid())
    {
        let _ = full.set(prequantize_field_on_all_threads(v, s, opts.fill_value));
    }
    let top = match by_sample {
        // Feedback interpolation first on the whole chunk; grid interpolation beside it (the same
        // levels, so their estimates rank alike) only where a sample of the whole chunk says it
        // may be smaller.
        Some(((rank_f, f), (rank_g, g))) => {
            let top = best_of(&[(rank_f, f)]);
            let leader = top.0[0].cost;
            let quantizer = cx.streams[0].meta.quantizer;
            let sampled = match (values, quantizer) {
                (Some(v), Quantizer::Float { step, offset, .. }) => candidates[g].sampled_estimate(
                    chunk.dims,
                    &GridReader {
                        values: v.values,
                        offset,
                        inverse_step: 1.0 / step,
                        fill: opts.fill_value,
                        dtype: v.dtype,
                    },
                ),
                _ => None,
            };
            // Against grid interpolation (the same levels, so their estimates rank alike) the
            // leader's estimate; against Lorenzo, whose codes gain nothing from the level
            // contexts that feedback interpolation's do, its length as counted (an order-0
            // estimate is below what coders make of codes without level structure), and only
            // where zstd found no structure in Lorenzo's frame on the box. Lorenzo's sample is
            // priced as a Huffman code makes it, like for like: as an order-0 estimate it came
            // in 0.1 % under the bar on the sea-state field in 24-row chunks, was swept whole on
            // every chunk and lost by 0.27 % each time (43 % of the time spent).
            let bar = match sampled_kind(candidates[g].as_ref()) {
                Some(Sampled::Interpolation) => Some(leader),
                Some(Sampled::Lorenzo) if !box_zstd.contains(&g) => {
                    count_candidate(&top.0[0]).map(|b| b as f64)
                }
                _ => None,
            };
            match (sampled, bar) {
                (Some(bytes), Some(bar)) if bytes * candidates[g].size_margin() >= bar => top,
                _ => top.merge(best_of(&[(rank_g, g)])),
            }
        }
        None => best_of(&in_order(&order)),
    };
    // Where the whole chunk's best codes are short, zstd's runs decide: order-0 estimates are off
    // by 1.5–3 × and misrank (the choice came out 4–46 % larger on 5 of 33 files and crops), so
    // every candidate kept is packed, not only those within CLOSE_ESTIMATE.
    let every = by_sample.is_none() && short_codes(top.0[0].cost, n);
    let (mut chosen, mut packed) =
        top.pick(pack_candidate, count_candidate, |c| pool.get(c.predictor).size_margin(), every);

    // A predictor fitted on the chunk (pool index `at`, its draft `d`) against the choice so far:
    // both packed, each frame weighed by its predictor's margin (fitted ones decode slower); the
    // smaller is kept, with its frame.
    let keep_smaller = |at: usize, d: Draft, chosen: Candidate, packed: Option<(usize, Vec<u8>)>| {
        let (cost, d, counts) = cost_whole(at, d);
        let c = Candidate {
            cost,
            rank: usize::MAX,
            predictor: at,
            codes: d.codes,
            new_exceptions: d.new_exceptions,
            reconstruction: d.reconstruction,
            counts,
        };
        let with = pack_candidate(&c);
        let without = packed.unwrap_or_else(|| pack_candidate(&chosen));
        let weighed = |len: usize, c: &Candidate| len as f64 * pool.get(c.predictor).size_margin();
        if weighed(with.1.len(), &c) < weighed(without.1.len(), &chosen) {
            (c, Some(with))
        } else {
            (chosen, Some(without))
        }
    };

    // 2b. Fields of floats: cubic interpolation on reconstructed values with its last pass learned
    //     on this chunk (predictor 19), on the level-wise variants in both axis orders and on the
    //     chosen one if it is another cubic one. Each fit costs a sweep and prices itself; the best
    //     is encoded only if that price clears its margin against the choice so far, and kept only
    //     if its frame does (it decodes slower). On short waves it beats Lorenzo, which beats
    //     every fixed stencil there.
    let margin = learned_pass::SIZE_MARGIN;
    if let (true, Some(f), Some(v)) = (opts.learned, cx.info.float_field, values) {
        let id = pool.get(chosen.predictor).id();
        let mut variants = vec![5u8, 7];
        if is_feedback(pool.get(chosen.predictor)) && (id - 10) & 1 == 1 && !variants.contains(&(id - 10)) {
            variants.push(id - 10);
        }
        // Large chunks price each variant on a central box first: of those that beat their own
        // fixed stencil there by the margin, the chosen variant (whose sweep is done: a decode
        // gives its reconstruction) and the best on the box are fitted on the whole chunk (a fit
        // is a sweep). The best on the box alone lost 11–22 % on the sea-state field, where the
        // chosen variant won; on the bench fields the chosen variant's fit won every chunk.
        if n >= 4 * PROBE_SIZE {
            let (b, box_values, box_exc) = field_box(v, PROBE_SIZE);
            let passed: Vec<(f64, u8)> = variants
                .iter()
                .filter_map(|&variant| {
                    let base = Feedback::variant(variant, f.center, f.step);
                    learned_pass::fit(base, b, v.bound, v.dtype, |e| box_values[e], &box_exc, None)
                        .filter(|p| p.saved > (margin - 1.0) * p.base_bytes)
                        .map(|p| (p.estimated_bytes(), variant))
                })
                .collect();
            // Of those, the chosen variant (its sweep is done) and the best on the box.
            let best_on_box = passed.iter().min_by(|a, b| a.0.total_cmp(&b.0)).map(|p| p.1);
            variants.retain(|&variant| {
                passed.iter().any(|p| p.1 == variant) && (id == 10 + variant || Some(variant) == best_on_box)
            });
        }
        let best = variants
            .into_iter()
            .filter_map(|variant| {
                // The chosen candidate is this variant's sweep where it is this variant.
                let swept = (id == 10 + variant).then(|| FeedbackDraft {
                    codes: chosen.codes.clone(),
                    new_exceptions: chosen.new_exceptions.clone(),
                });
                let base = Feedback::variant(variant, f.center, f.step);
                let fills = &start_of(false).mask;
                learned_pass::fit(base, chunk.dims, v.bound, v.dtype, |e| v.values[e], fills, swept)
            })
            .min_by(|a, b| a.estimated_bytes().total_cmp(&b.estimated_bytes()));
        if let Some(fitted) = best.filter(|b| b.estimated_bytes() * margin < chosen.cost) {
            let fitted_params = Predictor::params(&fitted.learned);
            let at = candidates.len();
            let _ = pool.fitted[0].set((Box::new(fitted.learned), fitted_params));
            // Its codes from the fit's base sweep (the same as a sweep of its own).
            let d = fitted.draft(chunk.dims, v.bound, v.dtype, |e| v.values[e], &start_of(false).mask);
            (chosen, packed) = keep_smaller(at, d, chosen, packed);
        }
    }

    // 2c. Fields of floats whose frames repeat with a period along axis 0 (predictor 20): blocks
    //     of a period coded against the block before, fitted on the chunk, kept where smaller.
    if let (true, Some(f), Some(v)) = (opts.learned, cx.info.float_field, values) {
        let fills = &start_of(false).mask;
        let fitted = crate::predictor::periodic::fit(chunk.dims, (f.center, f.step), v, fills, chosen.cost);
        if let Some((periodic, d)) = fitted {
            let periodic_params = Predictor::params(&periodic);
            let at = candidates.len() + 1;
            let _ = pool.fitted[1].set((Box::new(periodic), periodic_params));
            (chosen, packed) = keep_smaller(at, d, chosen, packed);
        }
    }

    // 3. With a model, autoencoder tiles where they beat the predictor. Their predictions are grid
    //    values, so they override grid predictors only: where the chosen predictor works on
    //    reconstructed values, the best grid predictor with tiles is packed too and the smaller
    //    chunk kept (on the sea-state field cubic interpolation on reconstructed values beats every
    //    grid predictor, and the network beats it by 2×).
    let finish = |c: Candidate, packed: Option<(usize, Vec<u8>)>| -> Result<Finished> {
        let (predictor, c_predictor) = (pool.get(c.predictor), c.predictor);
        let start = start_of(predictor.on_grid());
        let mut exceptions = start.exceptions.clone();
        with_new_exceptions(&mut exceptions, &c.new_exceptions);
        let mut codes = c.codes;
        let tiles = match model {
            None => None,
            Some(m) if !predictor.on_grid() => Some(TileChoice::none(chunk.tile_count(m.tile))),
            Some(m) => Some(choose_tiles(
                m,
                chunk,
                |e| {
                    let s = stream_of(e);
                    (s, value_at(values_of[s], source_index(e)))
                },
                |s, v| grid_of(&streams[s].meta, v),
                &start.q,
                &{
                    let mut mask = start.mask.clone();
                    c.new_exceptions.iter().for_each(|&e| mask[e] = true);
                    mask
                },
                &mut codes,
            )?),
        };
        // 4. Bytes (already packed while choosing, unless there is a tile section).
        let (raw_len, frame) = match (packed, &tiles) {
            (Some(packed), None) => packed,
            _ => pack_counted(
                write_prefix(&exceptions, pool.params(c_predictor), tiles.as_ref().map(|t| &t.section), n),
                &codes,
                // Tiles change the codes.
                c.counts.as_ref().filter(|_| tiles.is_none()),
                &shape,
                opts.zstd_level,
            ),
        };
        let ae_tiles = tiles.as_ref().map_or(0, |t| t.used);
        // A float field's values as the decoder makes them: feedback interpolation's sweep, or a
        // grid predictor's grid.
        let swept = match (c.reconstruction, tiles, values) {
            (Some(r), None, Some(v)) if cx.keep_swept => crate::data::float_bytes(&r, v.dtype)
                .map(|bytes| Swept { codes, values: EncoderValues::Reconstruction(bytes) }),
            // The grid itself is moved in below, once nothing borrows it (a copy was 2 % of CFD's
            // compression at 1e-3).
            (None, None, Some(_)) if cx.keep_swept && predictor.on_grid() => {
                Some(Swept { codes, values: EncoderValues::Grid(Vec::new()) })
            }
            _ => None,
        };
        Ok(Finished { predictor: c.predictor, raw_len, frame, ae_tiles, exceptions: exceptions.len(), swept })
    };
    let done = if model.is_some() && !pool.get(chosen.predictor).on_grid() {
        let done = finish(chosen, packed)?;
        match best_of(&in_order(&grid_order)).0.into_iter().next() {
            Some(g) => {
                let with_tiles = finish(g, None)?;
                if with_tiles.frame.len() < done.frame.len() { with_tiles } else { done }
            }
            None => done,
        }
    } else {
        finish(chosen, packed)?
    };
    let mut swept = done.swept;
    if let Some(Swept { values: EncoderValues::Grid(q), .. }) = &mut swept {
        // (A grid predictor's chunk always has its grid; without it the check would decode.)
        match full.into_inner() {
            Some(grid) => *q = grid.q,
            None => swept = None,
        }
    }
    let predictor = pool.get(done.predictor);
    Ok(EncodedChunk {
        start: chunk.start,
        rows: chunk.dims[0],
        payload: write_chunk(chunk.start, chunk.dims[0], predictor.id(), done.raw_len, &done.frame),
        predictor: predictor.name(),
        tiles: chunk.tile_count(model.map_or([1, 1, 1], |m| m.tile)),
        ae_tiles: done.ae_tiles,
        exceptions: done.exceptions,
        swept,
    })
}

/// Candidates that are judged beside feedback interpolation by a sample of the whole chunk.
#[derive(PartialEq)]
enum Sampled {
    Interpolation,
    Lorenzo,
}

/// Candidates with their ranks: their places in `order`.
fn in_order(order: &[usize]) -> Vec<(usize, usize)> {
    order.iter().copied().enumerate().collect()
}

/// Grid interpolation and feedback interpolation with the same stencil, axis order and steps.
fn twins(a: u8, b: u8) -> bool {
    Feedback::grid_twin(a) == Some(b) || Feedback::grid_twin(b) == Some(a)
}

/// Feedback interpolation (predictors 10–17).
fn is_feedback(p: &dyn Predictor) -> bool {
    use crate::predictor::Family;
    crate::predictor::feedback::FeedbackFamily.ids().contains(&p.id())
}

fn sampled_kind(p: &dyn Predictor) -> Option<Sampled> {
    use crate::predictor::Family;
    if crate::predictor::interp::GridInterpFamily.ids().contains(&p.id()) {
        Some(Sampled::Interpolation)
    } else if crate::predictor::lorenzo::LorenzoFamily.ids().contains(&p.id()) {
        Some(Sampled::Lorenzo)
    } else {
        None
    }
}

/// Where `order` is a feedback interpolation and a candidate judged by a sample
/// ([`sampled_kind`]), both with their ranks: (feedback, the other).
fn runner_up_by_sample(
    order: &[usize],
    candidates: &[Box<dyn Predictor>],
) -> Option<((usize, usize), (usize, usize))> {
    let feedback = |i: usize| is_feedback(candidates[i].as_ref());
    let sampled = |i: usize| sampled_kind(candidates[i].as_ref()).is_some();
    match *order {
        [a, b] if feedback(a) && sampled(b) => Some(((0, a), (1, b))),
        [a, b] if sampled(a) && feedback(b) => Some(((1, b), (0, a))),
        _ => None,
    }
}

/// A box of a chunk: its grid values and stored-exactly marks, and its values where the chunk is
/// a float field's.
struct BoxParts {
    dims: [usize; 3],
    q: Vec<i64>,
    mask: Vec<bool>,
    values: Option<Vec<f64>>,
}

impl BoxParts {
    /// The box as a predictor's input (`field`: the chunk's values' bound and dtype).
    fn input<'a>(&'a self, field: Option<FloatValues<'a>>) -> ChunkInput<'a> {
        let values =
            field.zip(self.values.as_deref()).map(|(v, values)| FloatValues { values, whole: false, ..v });
        ChunkInput { dims: self.dims, q: &self.q, exceptions: &self.mask, values }
    }
}

/// Elements pre-quantized: each one's grid value (0 where it is stored exactly), which are stored
/// exactly, and how (by position in the order given).
struct Prequantized {
    q: Vec<i64>,
    mask: Vec<bool>,
    exceptions: Vec<ExceptionBytes>,
}

/// How value x, which has no grid point, is stored exactly: as the fill value, or its bits.
fn stored_exactly(x: f64, fill: Option<f64>, dtype: DType) -> (u8, Vec<u8>) {
    if is_fill(x, fill, dtype) { (EXC_FILL, Vec::new()) } else { (EXC_RAW, exact_bytes(x, dtype)) }
}

/// Value x's grid point, or None where it is stored exactly (a fill value, or out of reach).
#[inline(always)]
fn grid_point_of(x: f64, fill: Option<f64>, quantizer: Quantizer, dtype: DType) -> Option<i64> {
    let Quantizer::Float { bound, step, offset } = quantizer else {
        unreachable!("float streams get float quantizers")
    };
    if is_fill(x, fill, dtype) { None } else { prequantize(x, bound, step, offset, dtype) }
}

/// Pre-quantizes `n` elements of a chunk, given in order as (stream, index in the input).
fn prequantize_elements(
    n: usize,
    located: impl Iterator<Item = (usize, usize)>,
    cx: &Context<'_>,
) -> Prequantized {
    let (streams, values_of) = (cx.streams, cx.values);
    let mut out =
        Prequantized { q: Vec::with_capacity(n), mask: Vec::with_capacity(n), exceptions: Vec::new() };
    let fill = cx.opts.fill_value;
    for (at, (s, i)) in located.enumerate() {
        let meta = &streams[s].meta;
        let (g, stored) = match values_of[s] {
            Values::Int(v) => (v[i], None),
            Values::Float(v) => match grid_point_of(v[i], fill, meta.quantizer, meta.dtype) {
                Some(g) => (g, None),
                None => (0, Some(stored_exactly(v[i], fill, meta.dtype))),
            },
        };
        out.q.push(g);
        out.mask.push(stored.is_some());
        if let Some((kind, bytes)) = stored {
            out.exceptions.push((at, kind, bytes));
        }
    }
    out
}

/// [`prequantize_elements`] for a whole table chunk (rows of `columns` streams of `w` elements,
/// each element of a row from that row of its column's input): a plain loop per column.
fn prequantize_table(dims: [usize; 3], first: usize, cx: &Context<'_>) -> Prequantized {
    let [rows, columns, w] = dims;
    let plane = columns * w;
    let n = rows * plane;
    let mut out = Prequantized { q: vec![0; n], mask: vec![false; n], exceptions: Vec::new() };
    for (c, (plan, values)) in cx.streams.iter().zip(cx.values).enumerate().take(columns) {
        let (meta, fill) = (&plan.meta, cx.opts.fill_value);
        let cells = c * w..(c + 1) * w;
        match values {
            Values::Int(v) => {
                for (row, &x) in out.q.chunks_exact_mut(plane).zip(&v[first..first + rows]) {
                    row[cells.clone()].fill(x);
                }
            }
            Values::Float(v) => {
                let column = &v[first..first + rows];
                // A column stores few values exactly: found in a second pass over the marks.
                quantize_column(&mut out, column, (plane, cells.clone()), plan, fill);
                for (r, &x) in column.iter().enumerate() {
                    let e = r * plane + c * w;
                    if out.mask[e] {
                        let (kind, bytes) = stored_exactly(x, fill, meta.dtype);
                        out.exceptions.extend((e..e + w).map(|e| (e, kind, bytes.clone())));
                    }
                }
            }
        }
    }
    out.exceptions.sort_by_key(|x| x.0);
    out
}

/// One table column's grid values into the `cells` of each row of `plane` elements, marking
/// those stored exactly: made in blocks as a field's are ([`grid_part`]; one by one they took
/// 14 % of the HZZ table's compression), then stored in their rows.
fn quantize_column(
    out: &mut Prequantized,
    column: &[f64],
    (plane, cells): (usize, Range<usize>),
    plan: &StreamPlan,
    fill: Option<f64>,
) {
    let (mut q, mut mask) = (vec![0i64; column.len()], vec![false; column.len()]);
    grid_part(column, plan, fill, &mut q, &mut mask);
    let rows = out.q.chunks_exact_mut(plane).zip(out.mask.chunks_exact_mut(plane));
    for ((row_q, row_mask), (&g, &stored)) in rows.zip(q.iter().zip(&mask)) {
        if cells.len() == 1 {
            // Columns one element wide (every table's layout): a store, not a fill loop.
            (row_q[cells.start], row_mask[cells.start]) = (g, stored);
        } else {
            row_q[cells.clone()].fill(g);
            row_mask[cells.clone()].fill(stored);
        }
    }
}

/// [`prequantize_elements`] for a whole field of floats (the bulk of the work): one branch-free
/// pass for the grid values, then one over the few elements stored exactly.
fn prequantize_field(values: &[f64], s: &StreamPlan, fill: Option<f64>) -> Prequantized {
    let mut out =
        Prequantized { q: vec![0; values.len()], mask: vec![false; values.len()], exceptions: Vec::new() };
    grid_part(values, s, fill, &mut out.q, &mut out.mask);
    with_stored_exactly(out, values, s, fill)
}

/// [`prequantize_field`] in parts on all threads.
fn prequantize_field_on_all_threads(values: &[f64], s: &StreamPlan, fill: Option<f64>) -> Prequantized {
    const PART: usize = 1 << 14;
    let mut out =
        Prequantized { q: vec![0; values.len()], mask: vec![false; values.len()], exceptions: Vec::new() };
    out.q
        .par_chunks_mut(PART)
        .zip(out.mask.par_chunks_mut(PART))
        .zip(values.par_chunks(PART))
        .for_each(|((q, mask), values)| grid_part(values, s, fill, q, mask));
    with_stored_exactly(out, values, s, fill)
}

/// Each of `values`' grid point into `q`, and into `mask` which the grid cannot hold.
fn grid_part(values: &[f64], s: &StreamPlan, fill: Option<f64>, q: &mut [i64], mask: &mut [bool]) {
    let Quantizer::Float { bound, step, offset } = s.meta.quantizer else {
        unreachable!("float streams get float quantizers")
    };
    let dtype = s.meta.dtype;
    let fill_value = fill.map_or(f64::NAN, |f| crate::quant::to_dtype(f, dtype));
    prequantize_values(values, (q, mask), (bound, step, offset), (fill_value, dtype));
}

/// `out` (its grid made) with the values its mask marks stored exactly. Most chunks' marks none:
/// a scan that vectorizes finds that (the loop below took 2 % of CFD's compression at 1e-3).
fn with_stored_exactly(
    mut out: Prequantized,
    values: &[f64],
    s: &StreamPlan,
    fill: Option<f64>,
) -> Prequantized {
    if !crate::predictor::any_stored(&out.mask) {
        return out;
    }
    let meta = &s.meta;
    for (e, (&stored, &x)) in out.mask.iter().zip(values).enumerate() {
        if stored {
            let (kind, bytes) = stored_exactly(x, fill, meta.dtype);
            out.exceptions.push((e, kind, bytes));
        }
    }
    out
}

/// A field of floats as coded on its values: only its fill values are stored exactly up front
/// (the predictor stores what it cannot reach itself); no grid.
fn fill_exceptions(values: &[f64], fill: Option<f64>, dtype: DType) -> Prequantized {
    let mut out = Prequantized { q: Vec::new(), mask: vec![false; values.len()], exceptions: Vec::new() };
    if fill.is_some() {
        for (e, &x) in values.iter().enumerate() {
            if is_fill(x, fill, dtype) {
                out.mask[e] = true;
                out.exceptions.push((e, EXC_FILL, Vec::new()));
            }
        }
    }
    out
}

/// Chunks from this many elements choose among their predictors on a central box of about
/// `SAMPLE_SIZE` elements first (the chunk's proportions, scaled down): the `TOP_CANDIDATES` best
/// by estimate are packed on it, and of those at most `SHORTLIST` run over the whole chunk.
const SAMPLE_FROM: usize = 1 << 18;
const SAMPLE_SIZE: usize = 1 << 16;
/// A float field's chunks from `FEEDBACK_BOX_FROM` to `SAMPLE_FROM` elements rank every
/// predictor on a central box of 1/`MID_BOX_DIV` of the chunk. (A box of 1/32, at least 8192
/// elements, made CFD 1.4 × faster at 1e-3, but it ranks Lorenzo above interpolation wrongly, as
/// packed too: fewer levels fit in it. A travelling front at 1e-4 came out 16 % larger.)
const MID_BOX_DIV: usize = 8;
/// A mid chunk's box packs the best candidates by estimate only where they are this close
/// (relative) to the best estimate, or `BOX_PACK_CLOSE_KIND` where one is Lorenzo and the other
/// interpolation: farther behind, packing reordered none of 78 bench field and crop × bound cases (the
/// same archives). Packing reorders the two kinds further apart: a travelling front at 1e-4 had
/// Lorenzo's estimate 11.5 % below cubic interpolation's on the box and 16 % above it once
/// packed, on the whole chunk too. Large chunks' boxes pack all three: there estimates 5 % apart
/// or more were reordered (the sea-state field at 1e-2 came out 17 % larger, a 382 500-row table
/// at 1e-4 58 %).
const BOX_PACK_CLOSE: f64 = 0.05;
const BOX_PACK_CLOSE_KIND: f64 = 0.25;
const SHORTLIST: usize = 2;
/// How far (relative) behind the best packed box a shortlisted candidate may be.
const SHORTLIST_MARGIN: f64 = 0.05;
/// How close (relative) a twin's packed box must be to be left off the shortlist (see `twins`).
const TWIN_CLOSE: f64 = 0.005;
/// Chunks below `SAMPLE_FROM` from this many elements rank the feedback variants on a box of
/// 1/8 of the chunk and keep `FEEDBACK_SHORTLIST` of them, unless the best's box codes are short
/// ([`short_codes`]).
const FEEDBACK_BOX_FROM: usize = 1 << 15;
const FEEDBACK_SHORTLIST: usize = 3;
/// Codes shorter than this many bits a value by estimate are short: zstd's runs decide what they
/// pack to, and order-0 estimates misrank them. A box ranks no candidates then, and
/// [`TopCandidates::pick`] packs every candidate kept.
const SHORT_CODE_BITS: f64 = 2.0;

/// Whether codes estimated at `bytes` for `values` values are short ([`SHORT_CODE_BITS`]).
fn short_codes(bytes: f64, values: usize) -> bool {
    bytes * 8.0 / (values.max(1) as f64) < SHORT_CODE_BITS
}

/// How many candidates ranked on a quarter slab of a mid chunk whose box found the codes short go
/// on to the whole chunk. Running all 18 whole instead made the same archives on 78 field and crop
/// × bound cases (the slab ran on 22 of them), in 1.25 × the time on CFD at 1e-2. Keeping 3 made
/// the first 30 frames of CFD 1.5 % larger at 1e-2 (the slab, [30, 12, 50], ranked the best 4th).
/// On CFD at 1e-2 order-0 estimates on the quarter slab ranked the best candidate 6th, and the
/// run-priced ones on a central box of an eighth 7th; a slab of an eighth chose one 14 % larger.
const SLAB_KEEP: usize = 4;

/// A quarter of a chunk along its longest axis (the first of the longest), whole along the others.
fn quarter_slab(dims: [usize; 3]) -> [usize; 3] {
    let longest = (0..3).rev().max_by_key(|&a| dims[a]).unwrap_or(0);
    let mut slab = dims;
    slab[longest] = (dims[longest] / 4).max(1);
    slab
}

/// A table's box keeps every column (a column program reads them all).
fn sample_box(dims: [usize; 3], table: bool) -> [usize; 3] {
    let n: usize = dims.iter().product();
    if table {
        return [((dims[0] * SAMPLE_SIZE) / n).clamp(dims[0].min(8), dims[0]), dims[1], dims[2]];
    }
    scaled_box(dims, SAMPLE_SIZE)
}

/// A box of about `size` elements in the proportions of `dims` (at least 8 along each axis).
fn scaled_box(dims: [usize; 3], size: usize) -> [usize; 3] {
    let n: usize = dims.iter().product();
    let live = dims.iter().filter(|&&d| d > 1).count().max(1) as i32;
    let f = (size as f64 / n as f64).powf(1.0 / live as f64);
    dims.map(|d| ((d as f64 * f).round() as usize).clamp(d.min(8), d))
}

/// Chunks of at least 4 × this many elements price a learned last pass on a central box of about
/// this size before fitting it on the whole chunk.
const PROBE_SIZE: usize = 1 << 14;

/// A predictor fitted on a chunk and its parameters, once fitted.
type FittedSlot = OnceLock<(Box<dyn Predictor>, Vec<u8>)>;

/// A chunk's candidate predictors and their parameters, and those fitted on it once fitted: the
/// learned last pass (index `candidates.len()`) and the periodic predictor (the next index).
struct Pool<'a> {
    candidates: &'a [Box<dyn Predictor>],
    params: &'a [Vec<u8>],
    fitted: &'a [FittedSlot; 2],
}

impl<'a> Pool<'a> {
    fn fitted(&self, i: usize) -> &'a (Box<dyn Predictor>, Vec<u8>) {
        self.fitted[i - self.candidates.len()].get().expect("a fitted predictor is offered once fitted")
    }

    fn get(&self, i: usize) -> &'a dyn Predictor {
        match self.candidates.get(i) {
            Some(p) => p.as_ref(),
            None => self.fitted(i).0.as_ref(),
        }
    }

    fn params(&self, i: usize) -> &'a [u8] {
        match self.params.get(i) {
            Some(p) => p,
            None => &self.fitted(i).1,
        }
    }
}

/// A chunk encoded with one predictor (and the model's tiles, in archives with a model).
struct Finished {
    predictor: usize,
    raw_len: usize,
    frame: Vec<u8>,
    ae_tiles: usize,
    exceptions: usize,
    swept: Option<Swept>,
}

/// A predictor's estimate for a chunk: its codes, and the values it leaves to store exactly.
struct Candidate {
    cost: f64,
    /// Its place in the order candidates are offered in: ties in cost go to the earlier.
    rank: usize,
    /// Which of the chunk's candidate predictors.
    predictor: usize,
    codes: Vec<i64>,
    new_exceptions: Vec<usize>,
    /// The values the decoder makes from the codes, where the sweep made them
    /// (`Draft::reconstruction`).
    reconstruction: Option<Vec<f64>>,
    /// The codes' tallies, where they were made for the estimate (whole chunks).
    counts: Option<CodeCounts>,
}

/// The cheapest few candidates by estimated size (each holds a chunk's codes, so not all of them).
#[derive(Default)]
struct TopCandidates(Vec<Candidate>);

/// Candidates kept, and how close (relative) an estimate must be to the best's to be packed too.
const TOP_CANDIDATES: usize = 3;
const CLOSE_ESTIMATE: f64 = 0.03;

impl TopCandidates {
    /// Keeps `c` if it is among the best by (cost, rank).
    fn offer(&mut self, c: Candidate) {
        let at = self.0.partition_point(|k| k.cost < c.cost || (k.cost == c.cost && k.rank < c.rank));
        if at < TOP_CANDIDATES {
            self.0.insert(at, c);
            self.0.truncate(TOP_CANDIDATES);
        }
    }

    /// The best of both.
    fn merge(mut self, other: Self) -> Self {
        for c in other.0 {
            self.offer(c);
        }
        self
    }

    /// The best estimate, or among those within [`CLOSE_ESTIMATE`] of it (every one kept where
    /// `every`) the one whose frame `pack` (inflated length, frame) finds smallest (the first on
    /// ties), with that frame. A frame counts as its length × `margin` of its candidate (see
    /// `Predictor::size_margin`). Where `count` gives each close candidate's length before zstd,
    /// only the smallest is packed, unless zstd finds structure in it that counting cannot see.
    fn pick(
        self,
        pack: impl Fn(&Candidate) -> (usize, Vec<u8>) + Sync,
        count: impl Fn(&Candidate) -> Option<usize> + Sync,
        margin: impl Fn(&Candidate) -> f64 + Sync,
        every: bool,
    ) -> (Candidate, Option<(usize, Vec<u8>)>) {
        let limit = if every { f64::INFINITY } else { self.0[0].cost * (1.0 + CLOSE_ESTIMATE) };
        let mut close: Vec<Candidate> = self.0.into_iter().filter(|c| c.cost <= limit).collect();
        if close.len() == 1 {
            return (close.into_iter().next().expect("one candidate"), None);
        }
        let counted: Option<Vec<f64>> =
            close.par_iter().map(|c| count(c).map(|b| b as f64 * margin(c))).collect();
        let mut first: Option<(usize, (usize, Vec<u8>))> = None;
        if let Some(counted) = counted {
            let best = (0..close.len())
                .min_by(|&i, &j| counted[i].total_cmp(&counted[j]).then(i.cmp(&j)))
                .expect("one candidate");
            let frame = pack(&close[best]);
            if !crate::format::chunk::zstd_found(frame.0, &frame.1) {
                return (close.swap_remove(best), Some(frame));
            }
            first = Some((best, frame));
        }
        let done = first.as_ref().map(|f| f.0);
        let mut packed: Vec<Option<(usize, Vec<u8>)>> =
            close.par_iter().enumerate().map(|(i, c)| (Some(i) != done).then(|| pack(c))).collect();
        if let Some((best, frame)) = first {
            packed[best] = Some(frame);
        }
        let weighed =
            |i: usize| packed[i].as_ref().map_or(f64::INFINITY, |p| p.1.len() as f64 * margin(&close[i]));
        let best = (0..close.len())
            .min_by(|&i, &j| weighed(i).total_cmp(&weighed(j)).then(i.cmp(&j)))
            .expect("one candidate");
        (close.into_iter().nth(best).expect("index in range"), packed[best].take())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{BoundSpec, Plan, finite_range};
    use super::*;
    use crate::Dataset;
    use crate::data::Array;
    use crate::format::chunk::pack;

    /// Where a chunk's codes are short (below two bits a value), order-0 estimates misrank the
    /// candidates by 1.5–3 × (zstd finds runs they cannot see): the chunk still comes out within
    /// 3 % of the smallest frame any predictor makes of the whole chunk. A noisy ramp of 24×60×70
    /// float32 values at 1e-3 (ranking the three best estimates by their packed frames only when
    /// within 3 % of each other made it 25 % larger) and smooth waves at 1e-2.
    #[test]
    fn short_codes_choose_by_packed_size() {
        let dims = [24usize, 60, 70];
        let n: usize = dims.iter().product();
        let at = |e: usize| ((e / 4200) as f64, (e / 70 % 60) as f64, (e % 70) as f64);
        let noise = |e: usize| ((e * 7919) % 101) as f64 / 101.0 - 0.5;
        type Field = fn(f64, f64, f64) -> f64;
        // (field, noise amplitude, relative bound)
        let fields: [(Field, f64, f64); 2] = [
            (|t, y, x| t * 0.3 + y * 0.02 - x * 0.01, 0.05, 1e-3),
            (|t, y, x| (x * 0.05 + t * 0.1).sin() * (y * 0.04).cos() * 10.0, 1e-3, 1e-2),
        ];
        for (k, (f, amplitude, rel)) in fields.into_iter().enumerate() {
            let values: Vec<f64> = (0..n)
                .map(|e| {
                    let (t, y, x) = at(e);
                    (f(t, y, x) + noise(e) * amplitude) as f32 as f64
                })
                .collect();
            let ds = Dataset::Field(Array {
                dtype: DType::F32,
                shape: dims.to_vec(),
                values: Values::Float(values),
            });
            let opts = CompressOptions { bound: BoundSpec::Rel(rel), learned: false, ..Default::default() };
            let layout = ds.layout();
            let ranges = vec![finite_range(ds.stream_values()[0], None, DType::F32)];
            let plan = Plan::new(&layout, (&ranges, &[None]), &opts, None).unwrap();
            assert_eq!(plan.chunks.len(), 1);
            let chosen = plan.encode_chunk(&ds, 0, &plan.chunks[0], None, false).unwrap();

            // Every candidate on the whole chunk, packed.
            let Values::Float(v) = ds.stream_values()[0] else { unreachable!() };
            let Quantizer::Float { bound, .. } = plan.streams[0].meta.quantizer else { unreachable!() };
            let grid = prequantize_field(v, &plan.streams[0], None);
            assert!(grid.exceptions.is_empty());
            let values = Some(FloatValues { values: v, bound, dtype: DType::F32, whole: true });
            let input = ChunkInput { dims, q: &grid.q, exceptions: &grid.mask, values };
            let shape = ChunkShape { dims, streams: 1, table: false };
            let smallest = crate::predictor::candidates(dims, &plan.info)
                .iter()
                .map(|p| {
                    let d = p.encode(&input);
                    let frame =
                        pack(write_prefix(&[], &p.params(), None, n), &d.codes, &shape, opts.zstd_level).1;
                    (frame.len() + d.new_exceptions.len() * 6, p.id())
                })
                .min()
                .unwrap();
            let bits = chosen.payload.len() as f64 * 8.0 / n as f64;
            assert!(bits < 2.0, "field {k}: {bits} bits a value");
            assert!(
                chosen.payload.len() as f64 <= smallest.0 as f64 * 1.03,
                "field {k}: predictor {} in {} bytes, predictor {} packs the chunk in {}",
                chosen.predictor,
                chosen.payload.len(),
                smallest.1,
                smallest.0
            );
        }
    }
}
