//! A large `.npy` compresses, a slab of rows at a time, in far less memory than its size. Its own
//! test binary: the peak is read as the largest child this process has waited for, so no other
//! test may run a child beside it.
#![cfg(unix)]

mod common;

use std::process::Command;

use common::{binary, ok, s, write_npy};

/// Peak resident memory (KiB) of `baler-train args` on 2 threads, as the largest child this test
/// process has waited for (this file runs one test).
fn peak_rss_kib(args: &[&str]) -> i64 {
    let out = Command::new(binary()).args(args).env("RAYON_NUM_THREADS", "2").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0, "getrusage");
    usage.ru_maxrss
}

#[test]
fn a_large_npy_compresses_in_memory_far_below_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("large.npy");
    // 128 MiB of float32: as f64 values alone the in-memory path would hold 256 MiB.
    let shape = [512, 256, 256];
    write_npy(&input, shape, false);
    let cfg = dir.path().join("chunks.toml");
    std::fs::write(&cfg, "[compression]\nchunk_elements = 65536\n").unwrap();
    let archive = dir.path().join("large.baler");
    let rss = peak_rss_kib(&[
        "compress",
        s(&input),
        "-o",
        s(&archive),
        "--rel",
        "1e-3",
        "--no-model",
        "--quiet",
        "--config",
        s(&cfg),
    ]);
    let input_kib = (std::fs::metadata(&input).unwrap().len() / 1024) as i64;
    assert!(rss < input_kib * 3 / 2, "peak RSS {rss} KiB for a {input_kib} KiB input");
    // The archive decodes (its content hash checked) and holds what the input held.
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", s(&archive), "--json"])).unwrap();
    assert_eq!(info["shape"], serde_json::json!(shape));
}
