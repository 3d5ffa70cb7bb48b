//! Times the stages of decoding one archive — open, parse (entropy decoding), parse + finish
//! (prediction), assemble, content hash — best of 30, with the allocator `baler-train` uses.
//!
//! `cargo run --release -p baler-codec --features parallel,zstd-c --example decode_stages -- A.baler`
//! (`BALER_LOOP=N` then decodes N more times, for `perf record`.)
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn best(n: usize, mut f: impl FnMut()) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..n {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b * 1e3
}
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let n = 30;
    let open = best(n, || {
        baler_codec::Archive::open(&bytes, None).unwrap();
    });
    let a = baler_codec::Archive::open(&bytes, None).unwrap();
    let parse = best(n, || {
        for i in 0..a.chunk_count() {
            a.parse_chunk(i).unwrap();
        }
    });
    let chunks = best(n, || {
        for i in 0..a.chunk_count() {
            a.decode_chunk(i).unwrap();
        }
    });
    let dec = || (0..a.chunk_count()).map(|i| a.decode_chunk(i).unwrap()).collect::<Vec<_>>();
    let assemble = best(n, || {
        a.assemble_unchecked(dec()).unwrap();
    }) - chunks;
    let ds = a.assemble_unchecked(dec()).unwrap();
    let hash = best(n, || {
        baler_codec::hash::content_hash_of_kind(a.hash_kind, &ds);
    });
    let total = best(n, || {
        baler_codec::decode(&bytes, None).unwrap();
    });
    if let Ok(k) = std::env::var("BALER_LOOP") {
        for _ in 0..k.parse::<usize>().unwrap() {
            baler_codec::decode(&bytes, None).unwrap();
        }
    }
    let mb = ds.original_bytes() as f64 / 1e6;
    println!(
        "{path}: open {open:.3} ms, parse {parse:.3}, parse+finish {chunks:.3}, assemble (by difference) {assemble:.3}, hash {hash:.3}; total {total:.3} ms = {:.0} MB/s",
        mb / total * 1e3
    );
}
