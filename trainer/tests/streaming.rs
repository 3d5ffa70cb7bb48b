//! `compress` reads a C-order `.npy`, a stored `.npz` member, a large `.csv` and a large ROOT
//! tree's flat branches a slab of rows at
//! a time: the archive is byte for byte the one the in-memory path writes (a Fortran-order copy of
//! the same values, a deflated member go that way). Peak memory: `streaming_memory.rs`.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;

use baler_codec::npy::header_bytes;
use common::{binary, ok, read, s, value, write_npy};

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

/// `compress SPEC -o ARCHIVE --rel 1e-3 --no-model --json --config CONFIG` with the environment
/// variable `threshold` (a reader's rows-from size) set.
fn compress_by(spec: &str, archive: &Path, config: &Path, threshold: (&str, u64)) -> std::process::Output {
    let args =
        ["compress", spec, "-o", s(archive), "--rel", "1e-3", "--no-model", "--json", "--config", s(config)];
    Command::new(binary()).args(args).env(threshold.0, threshold.1.to_string()).output().unwrap()
}

/// A successful `--json` run's report.
fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

/// A `.csv` of `BALER_CSV_ROWS_FROM` bytes or more (256 MiB unless set) is read a slab of rows at
/// a time, each pass parsing it again: the archive is byte for byte the one the same file makes
/// read whole (below the threshold), and it holds the table within the bound.
#[test]
fn a_large_csv_streams_to_the_in_memory_archive() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("x.csv");
    // pt, η, φ, E ≈ pT cosh η, a count (written as floats), and an integer column.
    let mut text = "pt,eta,phi,E,n,id\n".to_string();
    for r in 0..40_000 {
        let pt = f64::from(value(r % 500, r / 500, 3)) * 50.0 + 60.0;
        let (eta, phi) = (f64::from(value(r, 2, 7)) * 2.0, f64::from(value(r, 5, 1)) * 3.0);
        let row = [pt, eta, phi, pt * eta.cosh(), (r % 7) as f64];
        let fields: Vec<String> = row.iter().map(|x| format!("{x:?}")).collect();
        text += &format!("{},{}\n", fields.join(","), r * 3 - 20_000);
    }
    std::fs::write(&csv, &text).unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, "[compression]\nchunk_elements = 20000\n").unwrap();
    let compress = |archive: &Path, rows_from: usize| {
        json_of(&compress_by(s(&csv), archive, &cfg, ("BALER_CSV_ROWS_FROM", rows_from as u64)))
    };
    let (streamed_archive, whole_archive) = (dir.path().join("s.baler"), dir.path().join("w.baler"));
    let streamed = compress(&streamed_archive, text.len());
    let whole = compress(&whole_archive, text.len() + 1);
    assert_eq!(streamed["streamed"], true, "{streamed}");
    assert_eq!(whole["streamed"], serde_json::Value::Null, "{whole}");
    assert_eq!(std::fs::read(&streamed_archive).unwrap(), std::fs::read(&whole_archive).unwrap());
    assert!(streamed["predictors"].as_array().unwrap().len() > 5, "several slabs: {streamed}");
    let back = dir.path().join("back.csv");
    ok(&["decompress", s(&streamed_archive), "-o", s(&back)]);
    let max_err = common::check_rel_bound(&read(&csv), &read(&back), 1e-3);
    assert!(max_err > 0.0, "lossy: {max_err}");
}

/// A ROOT file of `BALER_ROOT_ROWS_FROM` bytes or more (256 MiB unless set) has its branches read
/// a slab of rows at a time (entries, or a jagged branch's elements): the archive is byte for byte
/// the one the file makes read whole. A basket that cannot be read, or jagged branches of other
/// lengths, fail the compression with the file named and no output.
#[test]
fn a_large_root_tree_streams_to_the_in_memory_archive() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hzz.root");
    std::fs::copy(common::data("uproot-HZZ.root"), &root).unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, "[compression]\nchunk_elements = 1000\n").unwrap();
    let compress = |spec: &str, archive: &Path, rows_from: u64| {
        compress_by(spec, archive, &cfg, ("BALER_ROOT_ROWS_FROM", rows_from))
    };
    // Every flat branch, some, and jagged branches (a row per muon, slabs splitting events).
    let specs = ["events", "events:MET_*,NJet", "events:Muon_*"].map(|inner| format!("{}:{inner}", s(&root)));
    for (k, spec) in specs.iter().enumerate() {
        let (streamed_archive, whole_archive) =
            (dir.path().join(format!("s{k}.baler")), dir.path().join(format!("w{k}.baler")));
        let streamed = json_of(&compress(spec, &streamed_archive, 0));
        let whole = json_of(&compress(spec, &whole_archive, u64::MAX));
        assert_eq!(streamed["streamed"], true, "{streamed}");
        assert_eq!(whole["streamed"], serde_json::Value::Null, "{whole}");
        assert_eq!(
            std::fs::read(&streamed_archive).unwrap(),
            std::fs::read(&whole_archive).unwrap(),
            "{spec}"
        );
        assert!(streamed["predictors"].as_array().unwrap().len() > 5, "several slabs: {streamed}");
    }
    // Jagged branches of other lengths: the whole reader's error, and no archive.
    let mismatched = dir.path().join("m.baler");
    let out = compress(&format!("{}:events:Muon_Px,Jet_Px", s(&root)), &mismatched, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("hzz.root") && err.contains("differ in length"), "{err}");
    assert!(!err.contains("panicked") && !mismatched.exists(), "{err}");
    // MET_px's only basket damaged after its key: the worker's error, met by the range pass.
    let mut bytes = std::fs::read(&root).unwrap();
    let key = b"\x07TBasket\x06MET_px\x06events";
    let at = bytes.windows(key.len()).position(|w| w == key).expect("MET_px's basket") + key.len();
    bytes[at + 40..at + 240].fill(0x55);
    let damaged = dir.path().join("damaged.root");
    std::fs::write(&damaged, &bytes).unwrap();
    let archive = dir.path().join("d.baler");
    let out = compress(&format!("{}:events", s(&damaged)), &archive, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("damaged.root") && err.contains("cannot read ROOT file"),
        "{err}"
    );
    assert!(!err.contains("panicked") && !archive.exists(), "{err}");
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
