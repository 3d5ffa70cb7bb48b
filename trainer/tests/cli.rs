//! End-to-end tests of the `baler-train` CLI on real files: the acceptance checks.

mod common;

use baler_codec::{Array, Column, DType, Dataset, Values};
use baler_train::io::write_dataset;
use common::*;

/// SZ3's ratios on CFD_animation (f64) at 1e-2, 1e-3, 1e-4 of range (shared/bench/README.md).
const SZ3_CFD: [(f64, f64); 3] = [(1e-2, 61.0), (1e-3, 18.1), (1e-4, 9.5)];

#[test]
fn cfd_bound_holds_and_ratio_is_honest_at_three_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let input = data("CFD_animation.npz");
    let orig = read(std::path::Path::new(&input));
    for (rel, sz3) in SZ3_CFD {
        let arc = dir.path().join(format!("cfd{rel}.baler"));
        let out = dir.path().join(format!("cfd{rel}.npy"));
        ok(&["compress", &input, "-o", s(&arc), "--rel", &rel.to_string(), "--config", s(&cfg), "--quiet"]);
        ok(&["decompress", s(&arc), "-o", s(&out)]);
        check_rel_bound(&orig, &read(&out), rel);
        let info = info_json(&arc, &[]);
        let archive_bytes = std::fs::metadata(&arc).unwrap().len();
        assert_eq!(info["archive_bytes"].as_u64(), Some(archive_bytes));
        assert_eq!(info["original_bytes"].as_u64(), Some(60 * 50 * 50 * 8));
        let ratio = info["ratio"].as_f64().unwrap();
        assert!((ratio - 1_200_000.0 / archive_bytes as f64).abs() < 1e-9, "info ratio {ratio}");
        assert!(ratio >= sz3 / 2.0, "ratio {ratio} at {rel} is below half of SZ3's {sz3}");
        assert_eq!(info["content_hash_verified"], true);
    }
}

#[test]
fn tables_hold_the_bound_in_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    for name in ["hzz.csv", "hzz_baler.npz"] {
        let input = data(name);
        let orig = read(std::path::Path::new(&input));
        assert!(matches!(orig, Dataset::Table { .. }), "{name} is a table");
        let arc = dir.path().join(format!("{name}.baler"));
        let out = dir.path().join(format!("{name}.out.npz"));
        ok(&["compress", &input, "-o", s(&arc), "--rel", "1e-2", "--config", s(&cfg), "--quiet"]);
        ok(&["decompress", s(&arc), "-o", s(&out)]);
        let back = read(&out);
        check_rel_bound(&orig, &back, 1e-2);
        let (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) = (&orig, &back) else {
            panic!("table expected")
        };
        let names = |c: &[Column]| c.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(a), names(b));
    }
}

#[test]
fn nan_inf_fill_and_integers_come_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let n = 4000;
    let mut v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.01).sin() * 10.0).collect();
    for i in (0..n).step_by(37) {
        v[i] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e34][i % 4];
    }
    let field = Dataset::Field(Array {
        dtype: DType::F32,
        shape: vec![40, 100],
        values: Values::Float(v.iter().map(|&x| x as f32 as f64).collect()),
    });
    let input = dir.path().join("holes.npy");
    write_dataset(&input, &field).unwrap();
    let arc = dir.path().join("holes.baler");
    let out = dir.path().join("holes.out.npy");
    ok(&["compress", s(&input), "-o", s(&arc), "--rel", "1e-3", "--no-model", "--fill-value", "-1e34"]);
    ok(&["decompress", s(&arc), "-o", s(&out)]);
    let back = read(&out);
    let (Dataset::Field(a), Dataset::Field(b)) = (&field, &back) else { panic!() };
    assert_eq!(b.dtype, DType::F32);
    let (Values::Float(x), Values::Float(y)) = (&a.values, &b.values) else { panic!() };
    let fin: Vec<f64> = x.iter().copied().filter(|v| v.is_finite() && *v != -1e34f32 as f64).collect();
    let range = fin.iter().cloned().fold(f64::MIN, f64::max) - fin.iter().cloned().fold(f64::MAX, f64::min);
    for (i, (&p, &q)) in x.iter().zip(y).enumerate() {
        if p.is_finite() && p != -1e34f32 as f64 {
            assert!((p - q).abs() <= 1e-3 * range, "value {i}");
        } else {
            assert_eq!(p.to_bits(), q.to_bits(), "special value {p} at {i} not exact");
        }
    }

    let table = Dataset::Table {
        rows: 500,
        columns: vec![
            Column {
                name: "event".into(),
                dtype: DType::I64,
                values: Values::Int((0..500).map(|i| 1_000_000_007 * i).collect()),
            },
            Column {
                name: "charge".into(),
                dtype: DType::I64,
                values: Values::Int((0..500).map(|i| if i % 3 == 0 { -1 } else { 1 }).collect()),
            },
            Column {
                name: "pt".into(),
                dtype: DType::F64,
                values: Values::Float((0..500).map(|i| 20.0 + (i as f64).sqrt()).collect()),
            },
        ],
    };
    let csv = dir.path().join("events.csv");
    write_dataset(&csv, &table).unwrap();
    let arc = dir.path().join("events.baler");
    let out = dir.path().join("events.out.csv");
    ok(&["compress", s(&csv), "-o", s(&arc), "--rel", "1e-2", "--no-model"]);
    ok(&["decompress", s(&arc), "-o", s(&out)]);
    let Dataset::Table { columns, .. } = read(&out) else { panic!() };
    let Dataset::Table { columns: orig, .. } = &table else { panic!() };
    assert_eq!(columns[0], orig[0], "integer column exact");
    assert_eq!(columns[1], orig[1], "integer column exact");
}

#[test]
fn online_mode_references_the_model_and_checks_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let Dataset::Field(a) = read(std::path::Path::new(&data("CFD_animation.npz"))) else { panic!() };
    let Values::Float(v) = &a.values else { panic!() };
    let half = |range: std::ops::Range<usize>| {
        Dataset::Field(Array {
            dtype: DType::F64,
            shape: vec![30, 50, 50],
            values: Values::Float(v[range.start * 2500..range.end * 2500].to_vec()),
        })
    };
    let (first, last) = (dir.path().join("first.npy"), dir.path().join("last.npy"));
    write_dataset(&first, &half(0..30)).unwrap();
    write_dataset(&last, &half(30..60)).unwrap();
    let model = dir.path().join("first.bmodel");
    ok(&["train", s(&first), "-o", s(&model), "--config", s(&cfg), "--quiet"]);
    let online = dir.path().join("online.baler");
    let offline = dir.path().join("offline.baler");
    // --force-model: the archive must reference the model even where classic predictors would win.
    ok(&["compress", s(&last), "-o", s(&online), "--rel", "1e-3", "--model", s(&model), "--force-model"]);
    ok(&["compress", s(&last), "-o", s(&offline), "--rel", "1e-3", "--config", s(&cfg), "--quiet"]);
    let info = info_json(&online, &[]);
    assert!(info["model"].as_str().unwrap().starts_with("referenced"), "{info}");
    assert_eq!(info["content_hash_verified"], false);
    let with_pack = info_json(&online, &["--model", s(&model)]);
    assert_eq!(with_pack["content_hash_verified"], true);
    assert!(with_pack["ratio_with_model_pack"].as_f64().unwrap() < with_pack["ratio"].as_f64().unwrap());

    let out = dir.path().join("online.npy");
    fails(&["decompress", s(&online), "-o", s(&out)], "--model");
    assert!(!out.exists(), "no output without the model");
    // Another model: its hash differs.
    let other = dir.path().join("other.bmodel");
    ok(&["train", s(&last), "-o", s(&other), "--config", s(&cfg), "--quiet"]);
    fails(&["decompress", s(&online), "-o", s(&out), "--model", s(&other)], "hash");
    assert!(!out.exists());
    ok(&["decompress", s(&online), "-o", s(&out), "--model", s(&model)]);
    check_rel_bound(&read(&last), &read(&out), 1e-3);
}

#[test]
fn damaged_archives_fail_cleanly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let field = Dataset::Field(Array {
        dtype: DType::F64,
        shape: vec![6, 7],
        values: Values::Float((0..42).map(|i| (i as f64 * 0.3).cos()).collect()),
    });
    let input = dir.path().join("small.npy");
    write_dataset(&input, &field).unwrap();
    let arc = dir.path().join("small.baler");
    ok(&["compress", s(&input), "-o", s(&arc), "--rel", "1e-3", "--no-model"]);
    let bytes = std::fs::read(&arc).unwrap();
    let bad = dir.path().join("bad.baler");
    let out = dir.path().join("bad.npy");
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        std::fs::write(&bad, &b).unwrap();
        fails(&["decompress", s(&bad), "-o", s(&out)], "bad.baler");
        assert!(!out.exists(), "flip at {i} left an output file");
    }
    for cut in [0, 5, 12, 20, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        fails(&["decompress", s(&bad), "-o", s(&out)], "bad.baler");
        assert!(!out.exists());
    }
    let mut future = bytes.clone();
    future[8] = 99;
    std::fs::write(&bad, &future).unwrap();
    fails(&["decompress", s(&bad), "-o", s(&out)], "version 99 is newer");
}

#[test]
fn bad_input_gives_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let arc = d("x.baler");
    fails(&["compress", s(&d("missing.npy")), "-o", s(&arc), "--rel", "1e-2"], "missing.npy");
    std::fs::write(d("data.parquet"), b"PAR1").unwrap();
    fails(&["compress", s(&d("data.parquet")), "-o", s(&arc), "--rel", "1e-2"], "data.parquet");
    std::fs::write(d("ragged.csv"), "a,b\n1,2\n3\n").unwrap();
    fails(&["compress", s(&d("ragged.csv")), "-o", s(&arc), "--rel", "1e-2", "--no-model"], "ragged.csv");
    std::fs::write(d("ok.csv"), "a,b\n1.5,2\n3.25,4\n").unwrap();
    for bound in ["0", "-1", "NaN", "inf"] {
        fails(&["compress", s(&d("ok.csv")), "-o", s(&arc), "--abs", bound, "--no-model"], "bound");
    }
    std::fs::write(d("c16.npy"), b"\x93NUMPY\x01\x00v\x00{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }                                                        \n").unwrap();
    fails(&["compress", s(&d("c16.npy")), "-o", s(&arc), "--rel", "1e-2"], "c16.npy");
    std::fs::write(d("not.baler"), b"hello world").unwrap();
    fails(&["decompress", s(&d("not.baler")), "-o", s(&d("o.npy"))], "not a .baler archive");
    fails(&["info", s(&d("nothing.baler"))], "nothing.baler");
    assert!(!arc.exists(), "no archive written by failed runs");
    assert!(!d("o.npy").exists());
}

#[test]
fn new_writes_a_config_that_train_accepts() {
    let dir = tempfile::tempdir().unwrap();
    ok(&["new", s(dir.path())]);
    let cfg = dir.path().join("baler.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("hidden = [64, 32]") && text.contains("# "));
    fails(&["new", s(dir.path())], "already exists");
    std::fs::write(&cfg, text.replace("epochs = 200", "epochs = 3").replace("latent = 6", "lattent = 6"))
        .unwrap();
    fails(
        &["train", &data("hzz.csv"), "-o", s(&dir.path().join("m.bmodel")), "--config", s(&cfg)],
        "baler.toml",
    );
}

#[test]
fn demo_runs_and_verifies() {
    let out = ok(&["demo", "--quick"]);
    assert_eq!(out.matches(" yes").count(), 7, "{out}");
    assert!(out.contains("rel 1e-2") && out.contains("zstd-19"), "{out}");
    assert!(out.contains("learned at rel 1e-3: columns["), "{out}");
}

#[test]
fn eval_reports_the_same_metrics_as_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let input = data("hzz.npy");
    let arc = dir.path().join("hzz.baler");
    let out = dir.path().join("hzz.out.npy");
    ok(&["compress", &input, "-o", s(&arc), "--abs", "0.05", "--no-model"]);
    ok(&["decompress", s(&arc), "-o", s(&out)]);
    let v: serde_json::Value = serde_json::from_str(&ok(&["eval", &input, s(&out), "--json"])).unwrap();
    let max = v[0]["max_abs_error"].as_f64().unwrap();
    assert!(max <= 0.05 && max > 0.01, "max abs error {max}");
    assert!(v[0]["psnr_db"].as_f64().unwrap() > 60.0);
}

#[test]
fn json_reports_are_json_with_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let model = dir.path().join("m.bmodel");
    let input = data("hzz.csv");
    let t: serde_json::Value =
        serde_json::from_str(&ok(&["train", &input, "-o", s(&model), "--config", s(&cfg), "--json"]))
            .unwrap();
    assert!(t["samples"].as_u64().unwrap() > 1000 && t["decoder_bytes"].as_u64().unwrap() > 0, "{t}");
    assert!(t["train_loss"].as_f64().unwrap().is_finite());
    let arc = dir.path().join("h.baler");
    let c: serde_json::Value = serde_json::from_str(&ok(&[
        "compress",
        &input,
        "-o",
        s(&arc),
        "--rel",
        "1e-2",
        "--model",
        s(&model),
        "--json",
    ]))
    .unwrap();
    assert_eq!(c["archive_bytes"].as_u64(), Some(std::fs::metadata(&arc).unwrap().len()));
    let out = dir.path().join("h.npz");
    let d: serde_json::Value =
        serde_json::from_str(&ok(&["decompress", s(&arc), "-o", s(&out), "--model", s(&model), "--json"]))
            .unwrap();
    assert_eq!(d["shape"], serde_json::json!([3825, 5]));
    assert_eq!(d["content_hash"], info_json(&arc, &["--model", s(&model)])["content_hash"]);
    let demo: serde_json::Value = serde_json::from_str(&ok(&["demo", "--quick", "--json"])).unwrap();
    assert_eq!(demo["rows"].as_array().unwrap().len(), 4);
    // The event table: learned column models pay at every bound (E, px, py, pz from pT, η, φ).
    for row in demo["table"]["bounds"].as_array().unwrap() {
        let gain = row["ratio"].as_f64().unwrap() / row["classic_ratio"].as_f64().unwrap();
        assert!(gain > 1.3, "{row}");
    }
}

#[test]
fn plot_draws_fields_tables_and_the_loss_curve() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let cfd = data("CFD_animation.npz");
    let (arc, model) = (dir.path().join("cfd.baler"), dir.path().join("cfd.bmodel"));
    ok(&["train", &cfd, "-o", s(&model), "--config", s(&cfg), "--quiet"]);
    ok(&["compress", &cfd, "-o", s(&arc), "--rel", "1e-2", "--model", s(&model), "--force-model"]);
    let out = dir.path().join("plots");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "plot",
        &cfd,
        s(&arc),
        "-o",
        s(&out),
        "--model",
        s(&model),
        "--frames",
        "0,59",
        "--json",
    ]))
    .unwrap();
    let files: Vec<String> =
        v["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    for name in ["frame_0.png", "frame_59.png", "error_histogram.png", "loss.png"] {
        let f =
            files.iter().find(|f| f.ends_with(name)).unwrap_or_else(|| panic!("{name} missing in {files:?}"));
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
        let (w, h) = (
            u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
        );
        assert!(w >= 800 && h >= 400, "{name}: {w}x{h}");
    }
    let hzz = data("hzz_baler.npz");
    let harc = dir.path().join("hzz.baler");
    ok(&["compress", &hzz, "-o", s(&harc), "--rel", "1e-2", "--no-model"]);
    let hout = dir.path().join("hplots");
    ok(&["plot", &hzz, s(&harc), "-o", s(&hout), "--svg"]);
    for c in ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E", "Muon_Iso"] {
        assert!(
            hout.join(format!("column_{c}.png")).exists() && hout.join(format!("column_{c}.svg")).exists(),
            "{c}"
        );
    }
    fails(&["plot", &cfd, s(&arc), "-o", s(&out), "--model", s(&model), "--frames", "60"], "frame");
}

#[test]
fn damaged_model_files_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let model = dir.path().join("m.bmodel");
    let input = data("hzz.csv");
    ok(&["train", &input, "-o", s(&model), "--config", s(&cfg), "--quiet"]);
    let bytes = std::fs::read(&model).unwrap();
    let bad = dir.path().join("bad.bmodel");
    let arc = dir.path().join("x.baler");
    for i in (0..bytes.len()).step_by(bytes.len() / 40 + 1) {
        let mut b = bytes.clone();
        b[i] ^= 0x20;
        std::fs::write(&bad, &b).unwrap();
        fails(&["compress", &input, "-o", s(&arc), "--rel", "1e-2", "--model", s(&bad)], "bad.bmodel");
        assert!(!arc.exists());
    }
    std::fs::write(&bad, b"not a model").unwrap();
    fails(
        &["compress", &input, "-o", s(&arc), "--rel", "1e-2", "--model", s(&bad)],
        "not a baler model file",
    );
}

#[test]
fn psnr_target_is_reached_per_field_and_per_column() {
    let dir = tempfile::tempdir().unwrap();
    for (input, out) in [(data("CFD_animation.npz"), "cfd"), (data("hzz_baler.npz"), "hzz")] {
        let arc = dir.path().join(format!("{out}.baler"));
        let back = dir.path().join(format!("{out}.npz"));
        ok(&["compress", &input, "-o", s(&arc), "--psnr", "60", "--no-model"]);
        ok(&["decompress", s(&arc), "-o", s(&back)]);
        let m: serde_json::Value = serde_json::from_str(&ok(&["eval", &input, s(&back), "--json"])).unwrap();
        let worst = m
            .as_array()
            .unwrap()
            .iter()
            .skip(if out == "hzz" { 1 } else { 0 })
            .map(|c| c["psnr_db"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!(
            (60.0..66.0).contains(&worst),
            "{out}: PSNR {worst} should reach 60 dB without overshooting much"
        );
        let info = info_json(&arc, &[]);
        assert!(
            info["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("target PSNR 60"))
        );
    }
    fails(&["compress", &data("hzz.csv"), "-o", s(&dir.path().join("x.baler")), "--psnr", "-3"], "--psnr");
}

#[test]
fn archives_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("chunks.toml");
    std::fs::write(&cfg, "[compression]\nchunk_elements = 20000\n").unwrap();
    let input = data("CFD_animation.npz");
    let mut archives = Vec::new();
    for threads in ["1", "2", "3"] {
        let arc = dir.path().join(format!("t{threads}.baler"));
        let out = std::process::Command::new(binary())
            .args(["compress", &input, "-o", s(&arc), "--rel", "1e-3", "--no-model", "--config", s(&cfg)])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        archives.push(std::fs::read(&arc).unwrap());
    }
    let info = info_json(&dir.path().join("t1.baler"), &[]);
    assert!(info["chunks"].as_u64().unwrap() >= 4, "several chunks: {info}");
    assert!(archives.windows(2).all(|w| w[0] == w[1]), "archives differ with the thread count");
}
