//! Crafted archives (valid checksums, `tests/hostile/`, made by `codec/tests/hostile.rs`) under a
//! 2 GB address-space limit: `decompress` and `info` refuse them with one clear line and exit 1,
//! no abort, in well under 100 MB of resident memory, and write nothing.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{binary, s};

/// Runs baler-train under `ulimit -v 2000000` (KiB); returns (exit code, stderr, peak RSS in KiB
/// of the largest child this test process has waited for so far: an upper bound for this one).
fn run_limited(args: &[&str]) -> (Option<i32>, String, i64) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$0\" \"$@\"")
        .arg(binary())
        .args(args)
        .output()
        .expect("sh runs");
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0, "getrusage");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), usage.ru_maxrss)
}

fn hostile(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile").join(name);
    assert!(p.exists(), "{} is missing", p.display());
    p.to_string_lossy().into_owned()
}

#[test]
fn crafted_archives_are_refused_under_a_memory_limit_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.npy");
    for (name, needle) in [
        ("index_claims_2pow40_chunks.baler", "chunk index lists 1099511627776 chunks"),
        ("one_chunk_claims_1gib.baler", "inflates to 100 bytes, expected 1073741824"),
    ] {
        let file = hostile(name);
        let runs = [
            vec!["decompress", &file, "-o", s(&out)],
            vec!["decompress", &file, "-o", s(&out), "--json"],
            // `info` parses every chunk too, to name its predictor and coder.
            vec!["info", &file],
        ];
        for args in runs {
            let (code, err, rss_kib) = run_limited(&args);
            assert_eq!(code, Some(1), "{args:?}: {err}");
            assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "{args:?}: {err}");
            assert!(err.contains(name) && err.contains(needle), "{args:?}: {err}");
            assert!(rss_kib < 100 * 1024, "{args:?}: peak RSS {rss_kib} KiB");
            assert!(!out.exists(), "{args:?} left an output");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{args:?} left a file");
        }
    }
}
