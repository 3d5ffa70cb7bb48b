//! Every candidate predictor on one field chunk: its sweep time, its size estimate and its packed
//! size — what choosing a predictor costs on a small single-chunk file (where every candidate
//! runs on the whole chunk) and how well the estimate ranks; beside it the estimate with long
//! runs of zero codes priced as zstd matches (`estimated_bytes_with_runs`, which ranks a loose
//! bound's candidates where order-0 estimates do not).
//!
//! `cargo run --release -p baler-codec --features encode --example candidate_costs -- F.npy [REL]`
use baler_codec::coder::ChunkShape;
use baler_codec::format::chunk::{pack, write_prefix};
use baler_codec::predictor::{
    ChunkInput, FloatValues, candidates, estimated_bytes, estimated_bytes_with_runs,
};
use std::time::Instant;

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let (path, rel, c) = common::FirstChunk::from_args();
    let (dims, values, dtype, bound, step, offset) =
        (c.dims, &c.values[..], c.dtype, c.bound, c.step, c.offset);
    let n = values.len();
    let (q, exc) = c.prequantized();
    let info = common::field_info((c.lo + c.hi) / 2.0, step, offset);
    let input = ChunkInput {
        dims,
        q: &q,
        exceptions: &exc,
        values: Some(FloatValues { values, bound, dtype, whole: true }),
    };
    let shape = ChunkShape { dims, streams: 1, table: false };
    let ns = |s: f64| s * 1e9 / n as f64;
    println!("{path} chunk {dims:?} rel {rel:e}");
    for p in candidates(dims, &info) {
        let t = Instant::now();
        let d = p.encode(&input);
        let t_enc = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let est = estimated_bytes(&d.codes);
        let t_est = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (_, frame) = pack(write_prefix(&[], &p.params(), None, n), &d.codes, &shape, 3);
        let t_pack = t.elapsed().as_secs_f64();
        let with_runs = estimated_bytes_with_runs(&d.codes);
        println!(
            "{:>3} {:<28} sweep {:6.2} est {:5.2} pack {:6.2} ns/value  estimated {:9.0}  with runs {:9.0}  packed {:9}  new exc {}",
            p.id(),
            p.name(),
            ns(t_enc),
            ns(t_est),
            ns(t_pack),
            est,
            with_runs,
            frame.len(),
            d.new_exceptions.len()
        );
    }
}
