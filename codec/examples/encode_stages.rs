//! Times the stages of encoding one field chunk — pre-quantization, each predictor's sweep
//! (feedback cubic, grid cubic), the size estimate, packing (symbol coders + zstd) and the decode
//! the compressor checks with — best of 5, in ns a value, with the allocator `baler-train` uses.
//!
//! `cargo run --release -p baler-codec --features encode --example encode_stages -- F.npy [REL]`
//! (a C-order float32/float64 `.npy` of ≥ 3 axes; the chunk is its first `CHUNK` values, 2^21
//! by default, whole planes; `VARIANT=0..7` picks the feedback variant, 1 by default; `THP=1`
//! leaves transparent huge pages on, which `baler-train` turns off).
use baler_codec::coder::ChunkShape;
use baler_codec::format::chunk::{pack, write_prefix};
use baler_codec::predictor::feedback::Feedback;
use baler_codec::predictor::interp::GridInterp;
use baler_codec::predictor::{ChunkInput, FloatValues, Predictor, estimated_bytes};
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
    let (path, rel, c) = common::FirstChunk::from_args();
    let (dims, values, dtype, bound, step, offset) =
        (c.dims, &c.values[..], c.dtype, c.bound, c.step, c.offset);
    let n = values.len();
    let (lo, hi) = (c.lo, c.hi);
    let ns = |s: f64| s * 1e9 / n as f64;
    let (t_pre, (q, exc)) = best(|| c.prequantized());
    let fv = FloatValues { values, bound, dtype, whole: true };
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
