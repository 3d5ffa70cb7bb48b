//! Probe: a field whose frames repeat with a period (vortex shedding) coded in blocks of L frames,
//! each block after the first as its residual against the previous block's reconstruction.
//! `periodic_probe F.npy REL L`
use baler_codec::Values;
use baler_codec::coder::ChunkShape;
use baler_codec::data::DType;
use baler_codec::format::chunk::{pack, write_prefix};
use baler_codec::predictor::feedback::Feedback;
use baler_codec::predictor::{ChunkInput, FloatValues, Predictor, candidates};

mod common;

fn best_block(dims: [usize; 3], y: &[f64], bound: f64, step: f64, center: f64) -> (usize, u8, Vec<f64>) {
    let exc = vec![false; y.len()];
    let shape = ChunkShape { dims, streams: 1, table: false };
    let lo = y.iter().fold(f64::MAX, |a, &b| a.min(b));
    let q: Vec<i64> = y.iter().map(|&v| ((v - lo) / step).round() as i64).collect();
    let grid_recon: Vec<f64> = q.iter().map(|&g| lo + g as f64 * step).collect();
    let info = common::field_info(center, step, lo);
    let input = ChunkInput {
        dims,
        q: &q,
        exceptions: &exc,
        values: Some(FloatValues { values: y, bound, dtype: DType::F64, whole: true }),
    };
    let grid_best = candidates(dims, &info)
        .into_iter()
        .filter(|p| p.on_grid() && std::env::var_os("NOGRID").is_none())
        .map(|p| {
            let d = p.encode(&input);
            let (_, frame) = pack(write_prefix(&[], &p.params(), None, y.len()), &d.codes, &shape, 3);
            (frame.len(), p.id(), grid_recon.clone())
        });
    (0..8u8)
        .map(|v| {
            let fb = Feedback::variant(v, center, step);
            let mut recon = vec![0f64; y.len()];
            let d = fb.encode_into(dims, bound, DType::F64, |e| y[e], &exc, &mut recon);
            assert!(d.new_exceptions.is_empty());
            let (_, frame) = pack(write_prefix(&[], &[v], None, y.len()), &d.codes, &shape, 3);
            (frame.len(), 10 + v, recon)
        })
        .chain(grid_best)
        .min_by_key(|b| b.0)
        .unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap();
    let rel: f64 = args.next().unwrap().parse().unwrap();
    let lag: usize = args.next().unwrap().parse().unwrap();
    let field = common::read_field(&path);
    let Values::Float(x) = &field.values else { unreachable!() };
    let rows = field.shape[0];
    let plane: usize = field.shape[1..].iter().product();
    let d12 = [field.shape[1], field.shape[2..].iter().product()];
    let (lo, hi) = x.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let bound = rel * (hi - lo);
    let step = 2.0 * bound;
    let center = (lo + hi) / 2.0;
    let (whole, v, _) = best_block([rows, d12[0], d12[1]], x, bound, step, center);
    println!("whole chunk: {whole} bytes (variant {v})");
    let dims = [rows, d12[0], d12[1]];
    let exc = vec![false; x.len()];
    println!("detected period: {:?}", baler_codec::predictor::periodic::detect_period(dims, x, &exc));
    let fv = FloatValues { values: x, bound, dtype: DType::F64, whole: true };
    {
        use baler_codec::predictor::periodic::{Block, LORENZO, Periodic};
        let p = Periodic { period: rows, blocks: vec![Block { variant: LORENZO, weight: 0 }], center, step };
        let d = p.encode(&ChunkInput { dims, q: &[], exceptions: &exc, values: Some(fv) });
        let shape = ChunkShape { dims, streams: 1, table: false };
        let (_, frame) = pack(write_prefix(&[], &p.params(), None, x.len()), &d.codes, &shape, 3);
        println!("Lorenzo on reconstructed values, one block: {} bytes", frame.len());
    }
    if let Some((p, d)) = baler_codec::predictor::periodic::fit(dims, (center, step), fv, &exc, f64::INFINITY)
    {
        let shape = ChunkShape { dims, streams: 1, table: false };
        let (_, frame) = pack(write_prefix(&[], &p.params(), None, x.len()), &d.codes, &shape, 3);
        println!(
            "predictor 20: {} bytes, {} exceptions, blocks {:?}",
            frame.len(),
            d.new_exceptions.len(),
            p.blocks
        );
    }
    let mut recon = vec![0f64; x.len()];
    let mut total = 0;
    let mut parts = Vec::new();
    for start in (0..rows).step_by(lag) {
        let end = (start + lag).min(rows);
        let dims = [end - start, d12[0], d12[1]];
        let (a, b) = (start * plane, end * plane);
        let mut base: Vec<f64> =
            if start == 0 { vec![0.0; b - a] } else { recon[a - lag * plane..b - lag * plane].to_vec() };
        if start > 0 && std::env::var_os("FIT").is_some() {
            let n = (b - a) as f64;
            let mr = base.iter().sum::<f64>() / n;
            let mx = x[a..b].iter().sum::<f64>() / n;
            let (mut sxy, mut syy) = (0.0, 0.0);
            for e in 0..b - a {
                sxy += (x[a + e] - mx) * (base[e] - mr);
                syy += (base[e] - mr) * (base[e] - mr);
            }
            let w = sxy / syy;
            print!("w={w:.3} ");
            base.iter_mut().for_each(|v| *v = mx + w * (*v - mr));
        }
        let y: Vec<f64> = (a..b).map(|e| x[e] - base[e - a]).collect();
        let c = if start == 0 { center } else { 0.0 };
        let (bytes, v, r) = best_block(dims, &y, bound, step, c);
        for e in a..b {
            recon[e] = base[e - a] + r[e - a];
            assert!((recon[e] - x[e]).abs() <= bound * 1.000001);
        }
        total += bytes;
        parts.push(format!("{bytes}(v{v})"));
    }
    println!("blocks of {lag}: {total} bytes: {}", parts.join(" "));
}
