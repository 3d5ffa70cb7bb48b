//! Helpers shared by the end-to-end tests: the CLI binary, the shared data, independent checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use baler_codec::npy::header_bytes;
use baler_codec::{Dataset, Values};
use baler_train::io::{ReadOptions, read_dataset};

/// The `baler-train` binary, built by cargo for this test run (same profile).
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_baler-train"))
}

pub fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().expect("baler-train runs")
}

/// Runs and asserts success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "baler-train {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs, asserts a clean failure (exit 1, one `error:` line naming `needle`, no panic); returns stderr.
pub fn fails(args: &[&str], needle: &str) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "baler-train {args:?} should fail cleanly: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one error line expected: {err}");
    assert!(err.contains(needle), "error should mention {needle:?}: {err}");
    err
}

pub fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(name);
    assert!(p.exists(), "shared data file {} is missing", p.display());
    p.to_string_lossy().into_owned()
}

/// Names in `dir`, sorted: to check that no temporary file is left behind.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

pub fn read(p: &Path) -> Dataset {
    read_dataset(p, &ReadOptions::default()).expect("readable")
}

fn columns(ds: &Dataset) -> Vec<Vec<f64>> {
    let f = |v: &Values| match v {
        Values::Float(v) => v.clone(),
        Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
    };
    match ds {
        Dataset::Field(a) => vec![f(&a.values)],
        Dataset::Table { columns, .. } => columns.iter().map(|c| f(&c.values)).collect(),
    }
}

/// Independent check in f64: every finite value within `rel` × its column's (or the field's)
/// finite range; NaN stays NaN and ±Inf exact. Returns the worst error / range.
pub fn check_rel_bound(orig: &Dataset, back: &Dataset, rel: f64) -> f64 {
    assert_eq!(orig.shape(), back.shape());
    let mut worst: f64 = 0.0;
    for (a, b) in columns(orig).iter().zip(columns(back)) {
        let fin: Vec<f64> = a.iter().copied().filter(|x| x.is_finite()).collect();
        let range =
            fin.iter().cloned().fold(f64::MIN, f64::max) - fin.iter().cloned().fold(f64::MAX, f64::min);
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            if x.is_finite() {
                let e = (x - y).abs();
                assert!(e <= rel * range, "value {i}: |{x} - {y}| = {e} > {rel} x {range}");
                if range > 0.0 {
                    worst = worst.max(e / range);
                }
            } else if x.is_nan() {
                assert!(y.is_nan(), "NaN at {i} came back as {y}");
            } else {
                assert_eq!(x, y, "{x} at {i} came back as {y}");
            }
        }
    }
    worst
}

pub fn info_json(archive: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["info", s(archive), "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).expect("info --json is JSON")
}

/// A small, fast training config for tests.
pub fn quick_config(dir: &Path) -> PathBuf {
    let p = dir.join("quick.toml");
    std::fs::write(&p, "[training]\nepochs = 15\nmax_seconds = 10.0\n").unwrap();
    p
}

/// Value `(i, j, k)` of the test field: smooth waves plus a little structure at every scale.
pub fn value(i: usize, j: usize, k: usize) -> f32 {
    let (i, j, k) = (i as f32, j as f32, k as f32);
    (0.05 * i + 0.02 * j).sin() * (0.03 * k).cos()
        + 0.3 * (0.01 * (j + k) + 0.1 * i).sin()
        + 1e-3 * ((i + j * k) % 7.0)
}

/// Writes a float32 `.npy` of `shape`, C order or (transposed on disk) Fortran order.
pub fn write_npy(path: &Path, shape: [usize; 3], fortran: bool) {
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
