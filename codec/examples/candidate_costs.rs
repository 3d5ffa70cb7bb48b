//! Every candidate predictor on one field chunk: its sweep time, its size estimate and its packed
//! size — what choosing a predictor costs on a small single-chunk file (where every candidate
//! runs on the whole chunk) and how well the estimate ranks.
//!
//! `cargo run --release -p baler-codec --features encode --example candidate_costs -- F.npy [REL]`
use baler_codec::Values;
use baler_codec::coder::ChunkShape;
use baler_codec::format::chunk::{pack, write_prefix};
use baler_codec::predictor::{ChunkInput, FloatField, FloatValues, StreamInfo, candidates, estimated_bytes};
use baler_codec::quant::prequantize;
use std::time::Instant;

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("an .npy path");
    let rel: f64 = args.next().map_or(1e-3, |r| r.parse().expect("REL"));
    let field = common::read_field(&path);
    let shape = field.shape.clone();
    let plane = shape[1..].iter().product::<usize>();
    let chunk: usize = std::env::var("CHUNK").ok().and_then(|c| c.parse().ok()).unwrap_or(1 << 21);
    let rows = (chunk / plane).clamp(1, shape[0]);
    let dims = [rows, shape[1], shape[2..].iter().product()];
    let n = rows * plane;
    let Values::Float(all) = &field.values else { unreachable!("read_field gives floats") };
    let values = &all[..n];
    let dtype = field.dtype;
    let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let bound = rel * (hi - lo);
    let (step, offset) = (2.0 * bound, lo);
    let mut q = vec![0i64; n];
    let mut exc = vec![false; n];
    for (e, &x) in values.iter().enumerate() {
        match prequantize(x, bound, step, offset, dtype) {
            Some(g) => q[e] = g,
            None => exc[e] = true,
        }
    }
    let center = (lo + hi) / 2.0;
    let info = StreamInfo {
        table: false,
        centers: vec![((center - offset) / step).round() as i64],
        float_field: Some(FloatField { center, step }),
        grids: vec![Some((step, offset))],
        names: vec!["x".into()],
    };
    let input =
        ChunkInput { dims, q: &q, exceptions: &exc, values: Some(FloatValues { values, bound, dtype }) };
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
        println!(
            "{:>3} {:<28} sweep {:6.2} est {:5.2} pack {:6.2} ns/value  estimated {:9.0}  packed {:9}  new exc {}",
            p.id(),
            p.name(),
            ns(t_enc),
            ns(t_est),
            ns(t_pack),
            est,
            frame.len(),
            d.new_exceptions.len()
        );
    }
}
