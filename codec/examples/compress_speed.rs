//! In-memory compression time of whole fields, best of 3 (`REPS=N`: of N), with the allocator and page setting
//! `baler-train` uses: how the figures "1.1–1.6 × faster on one thread" were compared (run an
//! old and a new build on the same files in one session). `LEARNED=1` adds the learned
//! predictors (the default effort's); `RAYON_NUM_THREADS=1` for one thread; `CHUNK=N` sets the
//! target values per chunk (2^21 by default); `TABLE=1` reads a 2-d `.npy` as a table, one column
//! (and bound) per column of the array; `OUT=DIR` writes each archive to `DIR/NAME-REL.baler`, to
//! compare two builds' bytes.
//!
//! `cargo run --release -p baler-codec --features encode --example compress_speed -- F.npy REL …`
//! (C-order little-endian float32 or float64 `.npy` fields, then the relative bounds.)
use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{BoundSpec, Dataset};
use std::time::Instant;

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (paths, rels): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| a.ends_with(".npy"));
    let learned = std::env::var_os("LEARNED").is_some();
    for path in paths {
        let field = common::read_field(path);
        let ds = match std::env::var_os("TABLE") {
            Some(_) => common::as_table(field),
            None => Dataset::Field(field),
        };
        let bytes = ds.original_bytes() as f64;
        for rel in &rels {
            let rel: f64 = rel.parse().expect("a relative bound");
            let mut opts = CompressOptions { bound: BoundSpec::Rel(rel), learned, ..Default::default() };
            if let Some(c) = std::env::var("CHUNK").ok().and_then(|c| c.parse().ok()) {
                opts.chunk_elements = c;
            }
            let (mut best, mut archive) = (f64::MAX, Vec::new());
            for _ in 0..std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(3) {
                let t = Instant::now();
                archive = compress(&ds, &opts, None).expect("compress").bytes;
                best = best.min(t.elapsed().as_secs_f64());
            }
            let len = archive.len();
            if let Some(dir) = std::env::var_os("OUT") {
                let name = std::path::Path::new(path.as_str()).file_stem().expect("a file name");
                let out =
                    std::path::Path::new(&dir).join(format!("{}-{rel:e}.baler", name.to_string_lossy()));
                std::fs::write(&out, &archive).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
            }
            println!("{path} {rel:e}: {len} bytes, {best:.5} s, {:.1} MB/s", bytes / best / 1e6);
        }
    }
}
