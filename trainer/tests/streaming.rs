//! `compress` reads a C-order `.npy` a slab of rows at a time: the archive is byte for byte the one
//! the in-memory path writes (a Fortran-order copy of the same values goes that way), and its
//! peak memory stays far below the input's size.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;

use baler_codec::npy::header_bytes;
use common::{binary, ok, read, s};

/// Value `(i, j, k)` of the test field: smooth waves plus a little structure at every scale.
fn value(i: usize, j: usize, k: usize) -> f32 {
    let (i, j, k) = (i as f32, j as f32, k as f32);
    (0.05 * i + 0.02 * j).sin() * (0.03 * k).cos()
        + 0.3 * (0.01 * (j + k) + 0.1 * i).sin()
        + 1e-3 * ((i + j * k) % 7.0)
}

/// Writes a float32 `.npy` of `shape`, C order or (transposed on disk) Fortran order.
fn write_npy(path: &Path, shape: [usize; 3], fortran: bool) {
    let mut bytes = header_bytes("<f4", &shape);
    if fortran {
        // Same header length: "True" is one character shorter than "False", one more pad space.
        let at = bytes.windows(5).position(|w| w == b"False").unwrap();
        bytes.splice(at..at + 5, *b"True");
        bytes.insert(bytes.len() - 1, b' ');
    }
    let [a, b, c] = shape;
    bytes.reserve(a * b * c * 4);
    if fortran {
        for k in 0..c {
            for j in 0..b {
                for i in 0..a {
                    bytes.extend_from_slice(&value(i, j, k).to_le_bytes());
                }
            }
        }
    } else {
        for i in 0..a {
            for j in 0..b {
                for k in 0..c {
                    bytes.extend_from_slice(&value(i, j, k).to_le_bytes());
                }
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn compress_json(input: &Path, archive: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["compress", s(input), "-o", s(archive), "--rel", "1e-3", "--no-model", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(ok(&args).trim()).unwrap()
}

#[test]
fn streamed_and_in_memory_archives_are_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (c_dir, f_dir) = (dir.path().join("c"), dir.path().join("f"));
    std::fs::create_dir_all(&c_dir).unwrap();
    std::fs::create_dir_all(&f_dir).unwrap();
    // The same file name: the archives record it.
    let (c, f) = (c_dir.join("field.npy"), f_dir.join("field.npy"));
    let shape = [24, 40, 33];
    write_npy(&c, shape, false);
    write_npy(&f, shape, true);
    assert_eq!(read(&c), read(&f), "both files hold the same values");
    // Small chunks: many batches, and a range pass of several slabs.
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, "[compression]\nchunk_elements = 2000\n").unwrap();
    let (ca, fa) = (dir.path().join("c.baler"), dir.path().join("f.baler"));
    let streamed = compress_json(&c, &ca, &["--config", s(&cfg)]);
    let whole = compress_json(&f, &fa, &["--config", s(&cfg)]);
    assert_eq!(streamed["streamed"], true, "{streamed}");
    assert_eq!(whole["streamed"], serde_json::Value::Null, "{whole}");
    assert_eq!(std::fs::read(&ca).unwrap(), std::fs::read(&fa).unwrap());
    assert_eq!(streamed["predictors"], whole["predictors"]);
    assert!(streamed["predictors"].as_array().unwrap().len() > 10);
    // Nothing left beside the output (the spilled chunks were a nameless temporary file).
    assert_eq!(common::entries(dir.path()), ["c", "c.baler", "f", "f.baler", "small.toml"]);
    let out = dir.path().join("back.npy");
    ok(&["decompress", s(&ca), "-o", s(&out)]);
    let max_err = common::check_rel_bound(&read(&c), &read(&out), 1e-3);
    assert!(max_err > 0.0, "lossy: {max_err}");
}

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

#[test]
fn an_output_directory_that_cannot_take_the_archive_fails_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("f.npy");
    write_npy(&input, [4, 8, 8], false);
    let out = dir.path().join("missing").join("f.baler");
    let err =
        common::fails(&["compress", s(&input), "-o", s(&out), "--rel", "1e-3", "--no-model"], "f.baler");
    assert!(err.contains("temporary file") && !err.contains("f.npy"), "{err}");
    assert_eq!(common::entries(dir.path()), ["f.npy"]);
}
