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

/// Writes `members` (name, `.npy` bytes) as an `.npz`, each stored or deflated.
fn write_npz(path: &Path, members: &[(&str, Vec<u8>)], method: zip::CompressionMethod) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// An `.npz` whose members are stored (as `np.savez` writes them) is read a slab of rows at a
/// time too, a field or a table in Baler's `data` + `names` layout: the archive is byte for byte
/// the one the in-memory path writes from the same values deflated (`np.savez_compressed`).
#[test]
fn a_stored_npz_streams_to_the_in_memory_archive() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, "[compression]\nchunk_elements = 2000\n").unwrap();
    let field_path = dir.path().join("f.npy");
    write_npy(&field_path, [24, 40, 33], false);
    let field = std::fs::read(&field_path).unwrap();
    // A table of 3000 rows: px, py and E ≈ |p| (float32).
    let mut table = header_bytes("<f4", &[3000, 3]);
    for r in 0..3000 {
        let (px, py) = (value(r, 1, 2) * 40.0, value(r, 7, 3) * 30.0);
        for x in [px, py, px.hypot(py) + 1e-3 * value(r, 2, 9)] {
            table.extend_from_slice(&x.to_le_bytes());
        }
    }
    let names = {
        // A 1-d unicode array of three 2-character names, as numpy writes it.
        let mut b = header_bytes("<U2", &[3]);
        for name in ["px", "py", "E "] {
            for c in name.trim_end().chars().chain(std::iter::repeat('\0')).take(2) {
                b.extend_from_slice(&(c as u32).to_le_bytes());
            }
        }
        b
    };
    let cases =
        [("field", vec![("data.npy", field)]), ("table", vec![("data.npy", table), ("names.npy", names)])];
    for (what, members) in cases {
        let (stored, deflated) = (dir.path().join(format!("s-{what}")), dir.path().join(format!("d-{what}")));
        std::fs::create_dir_all(&stored).unwrap();
        std::fs::create_dir_all(&deflated).unwrap();
        // The same file name: the archives record it.
        let (s_in, d_in) = (stored.join("x.npz"), deflated.join("x.npz"));
        write_npz(&s_in, &members, zip::CompressionMethod::Stored);
        write_npz(&d_in, &members, zip::CompressionMethod::Deflated);
        let (s_out, d_out) = (stored.join("x.baler"), deflated.join("x.baler"));
        let streamed = compress_json(&s_in, &s_out, &["--config", s(&cfg)]);
        let whole = compress_json(&d_in, &d_out, &["--config", s(&cfg)]);
        assert_eq!(streamed["streamed"], true, "{what}: {streamed}");
        assert_eq!(whole["streamed"], serde_json::Value::Null, "{what}: {whole}");
        assert_eq!(std::fs::read(&s_out).unwrap(), std::fs::read(&d_out).unwrap(), "{what}");
        assert!(streamed["predictors"].as_array().unwrap().len() > 3, "{what}: several chunks: {streamed}");
    }
    // The table's archive names its columns.
    let info: serde_json::Value =
        serde_json::from_str(&ok(&["info", s(&dir.path().join("s-table/x.baler")), "--json"])).unwrap();
    let text = info.to_string();
    assert!(text.contains("\"px\"") && text.contains("\"E\""), "{text}");
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
