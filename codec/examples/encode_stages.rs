//! Times the stages of encoding one field chunk — pre-quantization, each predictor's sweep
//! (feedback cubic, grid cubic), the size estimate, packing (symbol coders + zstd) and the decode
//! the compressor checks with — best of 5, in ns a value, with the allocator `baler-train` uses.
//!
//! `cargo run --release -p baler-codec --features encode --example encode_stages -- F.npy [REL]`
//! (a C-order float32/float64 `.npy` of ≥ 3 axes; the chunk is its first `CHUNK` values, 2^21
//! by default, whole planes; `VARIANT=0..7` picks the feedback variant, 1 by default; `THP=1`
//! leaves transparent huge pages on, which `baler-train` turns off).
use baler_codec::Values;
use baler_codec::coder::ChunkShape;
use baler_codec::format::chunk::{pack, write_prefix};
use baler_codec::predictor::feedback::Feedback;
use baler_codec::predictor::interp::GridInterp;
use baler_codec::predictor::{ChunkInput, FloatValues, Predictor, estimated_bytes};
use baler_codec::quant::prequantize;
use std::time::Instant;

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn best<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut b = f64::MAX;
    let mut out = None;
    for _ in 0..5 {
        let t = Instant::now();
        out = Some(f());
        b = b.min(t.elapsed().as_secs_f64());
    }
    (b, out.expect("ran"))
}

fn main() {
    // As `baler-train` does (trainer/src/main.rs): ordinary pages, not 2 MB ones cleared on touch.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process.
    if std::env::var_os("THP").is_none() {
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
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
    let ns = |s: f64| s * 1e9 / n as f64;

    let (t_pre, (q, exc)) = best(|| {
        let mut q = vec![0i64; n];
        let mut exc = vec![false; n];
        for (e, &x) in values.iter().enumerate() {
            match prequantize(x, bound, step, offset, dtype) {
                Some(g) => q[e] = g,
                None => exc[e] = true,
            }
        }
        (q, exc)
    });
    let fv = FloatValues { values, bound, dtype };
    let input = ChunkInput { dims, q: &q, exceptions: &exc, values: Some(fv) };
    let center = (lo + hi) / 2.0;
    let variant = std::env::var("VARIANT").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let fb = Feedback::variant(variant, center, step);
    let (t_fb, d) = best(|| fb.encode(&input));
    let grid = GridInterp { cubic: true, first: ((center - offset) / step) as i64 };
    let (t_grid, _) = best(|| grid.encode(&input));
    let (t_est, est) = best(|| estimated_bytes(&d.codes));
    let shape = ChunkShape { dims, streams: 1, table: false };
    let (t_pack, (_, frame)) = best(|| pack(write_prefix(&[], &[], None, n), &d.codes, &shape, 3));
    let (t_dec, _) = best(|| fb.decode_values(dims, &d.codes, &exc));
    println!(
        "{path} chunk {dims:?} rel {rel:e}: ns/value: prequantize {:.2}, feedback cubic sweep {:.2}, grid cubic sweep {:.2}, estimate {:.2}, pack {:.2} ({} bytes, estimated {:.0}), feedback decode {:.2}",
        ns(t_pre),
        ns(t_fb),
        ns(t_grid),
        ns(t_est),
        ns(t_pack),
        frame.len(),
        est,
        ns(t_dec)
    );
}
