//! Data safety of the CLI: an output never replaces an input, a killed run leaves nothing that
//! lasts, malformed inputs are refused, archives do not record where the input lived, and ROOT
//! errors are one plain line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use baler_codec::{Array, DType, Dataset, Values};
use baler_train::io::write_dataset;
use common::*;

fn temporaries(dir: &Path) -> Vec<String> {
    entries(dir).into_iter().filter(|n| n.contains(".tmp-")).collect()
}

fn small_field(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let ds = Dataset::Field(Array {
        dtype: DType::F64,
        shape: vec![20, 30],
        values: Values::Float((0..600).map(|i| (i as f64 * 0.05).sin()).collect()),
    });
    write_dataset(&p, &ds).unwrap();
    p
}

/// Runs `args`, expects the refusal naming `file`, and that every file in `dir` kept its bytes.
fn refused(dir: &Path, args: &[&str], file: &str) {
    let before: Vec<(String, Vec<u8>)> = entries(dir)
        .into_iter()
        .filter(|n| dir.join(n).is_file())
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect();
    let err = fails(args, "refusing to overwrite it");
    assert!(err.contains(file), "{args:?}: {err}");
    for (name, bytes) in before {
        assert!(std::fs::read(dir.join(&name)).unwrap() == bytes, "{args:?} changed {name}");
    }
    assert!(temporaries(dir).is_empty(), "{:?}", entries(dir));
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let a = small_field(dir.path(), "same.npy");
    let cfg = quick_config(dir.path());
    let comp = |input: &str, out: &Path| {
        vec!["compress".to_string(), input.into(), "-o".into(), s(out).into(), "--rel".into(), "1e-3".into()]
    };
    let run_refused = |args: Vec<String>, file: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(dir.path(), &args, file);
    };

    // the same path, spelled the same or not
    let mut args = comp(s(&a), &a);
    args.push("--no-model".into());
    run_refused(args, "same.npy");
    let dotted = dir.path().join(".").join("sub").join("..").join("same.npy");
    std::fs::create_dir(d("sub")).unwrap();
    run_refused(comp(s(&a), &dotted), "same.npy");
    // a hard link and a symlink to the input
    std::fs::hard_link(&a, d("hard.npy")).unwrap();
    run_refused(comp(s(&a), &d("hard.npy")), "hard.npy");
    std::os::unix::fs::symlink(&a, d("link.npy")).unwrap();
    run_refused(comp(s(&a), &d("link.npy")), "link.npy");
    run_refused(comp(s(&d("link.npy")), &a), "same.npy");
    // FILE:INNER compares the file
    let npz = d("run.npz");
    write_dataset(&npz, &baler_train::io::read_dataset(&a, &Default::default()).unwrap()).unwrap();
    run_refused(comp(&format!("{}:data", s(&npz)), &npz), "run.npz");
    let root = d("events.root");
    std::fs::copy(data("uproot-HZZ.root"), &root).unwrap();
    run_refused(comp(&format!("{}:events:Muon_Px", s(&root)), &root), "events.root");
    // the options file and the model are inputs too
    let mut args = comp(s(&a), &cfg);
    args.extend(["--config".into(), s(&cfg).into()]);
    run_refused(args, "quick.toml");
    let model = d("m.bmodel");
    std::fs::write(&model, b"not a model, but an input").unwrap();
    let mut args = comp(s(&a), &model);
    args.extend(["--model".into(), s(&model).into()]);
    run_refused(args, "m.bmodel");

    // decompress: an archive named .npy, and the model
    let arc = d("x.npy");
    ok(&["compress", s(&a), "-o", s(&arc), "--rel", "1e-3", "--no-model", "--quiet"]);
    run_refused(vec!["decompress".into(), s(&arc).into(), "-o".into(), s(&arc).into()], "x.npy");
    let m_npy = d("m.npy");
    std::fs::write(&m_npy, b"model").unwrap();
    let args = ["decompress", s(&arc), "-o", s(&m_npy), "--model", s(&m_npy)];
    run_refused(args.iter().map(|x| x.to_string()).collect(), "m.npy");
    let args = ["decompress", s(&arc), "-o", &format!("{}:/data", s(&d("link_to_x.h5")))];
    std::os::unix::fs::symlink(&arc, d("link_to_x.h5")).unwrap();
    run_refused(args.iter().map(|x| x.to_string()).collect(), "link_to_x.h5");

    // train, plot, models, bench
    for (args, file) in [
        (vec!["train", s(&a), "-o", s(&a), "--quiet"], "same.npy"),
        (vec!["train", s(&a), "-o", s(&cfg), "--config", s(&cfg), "--quiet"], "quick.toml"),
        (vec!["plot", s(&a), s(&arc), "-o", s(&arc)], "x.npy"),
        (vec!["models", s(&a), "--markdown", s(&a)], "same.npy"),
        (vec!["bench", s(&a), "--markdown", s(&a), "--epochs", "0"], "same.npy"),
    ] {
        run_refused(args.iter().map(|x| x.to_string()).collect(), file);
    }
    // a different output still works
    ok(&["compress", s(&a), "-o", s(&d("fine.baler")), "--rel", "1e-3", "--no-model", "--quiet"]);
}

/// An input of a few MB whose decompression takes long enough to be interrupted.
fn big_archive(dir: &Path) -> PathBuf {
    let Dataset::Field(cfd) = read(Path::new(&data("CFD_animation.npz"))) else { panic!("a field") };
    let Values::Float(v) = &cfd.values else { panic!("floats") };
    let reps = 12;
    let mut values = Vec::with_capacity(v.len() * reps);
    // Each copy scaled a little: shifted copies code to the same residuals, which zstd finds and
    // packs to under 1 MB.
    for r in 0..reps {
        values.extend(v.iter().map(|x| x * (1.0 + r as f64 * 1e-3)));
    }
    let mut shape = cfd.shape.clone();
    shape[0] *= reps;
    let input = dir.join("big.npy");
    write_dataset(&input, &Dataset::Field(Array { dtype: DType::F64, shape, values: Values::Float(values) }))
        .unwrap();
    let arc = dir.join("big.baler");
    ok(&["compress", s(&input), "-o", s(&arc), "--rel", "1e-7", "--no-model", "--quiet"]);
    std::fs::remove_file(&input).unwrap();
    arc
}

#[test]
fn a_killed_decompress_leaves_no_output_and_the_next_run_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let arc = big_archive(tmp.path());
    let size = std::fs::metadata(&arc).unwrap().len();
    assert!(size > 2_000_000, "archive of {size} bytes: too small to interrupt");
    // The full run's time and bytes, in a directory of its own.
    let reference = tmp.path().join("reference.npy");
    let t = Instant::now();
    ok(&["decompress", s(&arc), "-o", s(&reference), "--quiet"]);
    let full = t.elapsed();
    let expected = std::fs::read(&reference).unwrap();

    let dir = tmp.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("out.npy");
    let mut left_behind = 0;
    for (round, existing) in [(0, None), (1, Some(b"the old output".to_vec()))] {
        for frac in [0.05, 0.2, 0.4, 0.6, 0.8] {
            if let Some(old) = &existing {
                std::fs::write(&out, old).unwrap();
            }
            let mut child = Command::new(binary())
                .args(["decompress", s(&arc), "-o", s(&out), "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(full.mul_f64(frac));
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            if status.success() {
                // finished before the kill: a complete output, which the next round replaces
                assert!(std::fs::read(&out).unwrap() == expected, "round {round} at {frac}");
                std::fs::remove_file(&out).unwrap();
                continue;
            }
            // Killed before its rename: no output (or the old one). Killed between the rename and
            // its exit: the complete output. Never anything in between.
            let now = std::fs::read(&out).ok();
            let complete = now.as_ref() == Some(&expected);
            match &existing {
                None => assert!(
                    now.is_none() || complete,
                    "a killed run (round {round}, {frac}) left a partial {}",
                    out.display()
                ),
                Some(old) => {
                    assert!(now.as_ref() == Some(old) || complete, "the old output changed (at {frac})")
                }
            }
            left_behind = left_behind.max(temporaries(&dir).len());
            let _ = std::fs::remove_file(&out);
        }
    }
    assert!(left_behind > 0, "no kill happened mid-write (full run {full:?}): the test proves nothing");
    // The next run removes the temporaries the killed runs left.
    ok(&["decompress", s(&arc), "-o", s(&out), "--quiet"]);
    assert!(std::fs::read(&out).unwrap() == expected);
    assert_eq!(entries(&dir), vec!["out.npy"]);
}

fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn trailing_bytes_and_short_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let arc = d("x.baler");
    let ten: Vec<u8> = (0..10).flat_map(|i| (i as f64).to_le_bytes()).collect();
    let mut trailing = npy_bytes("<f8", "(10,)", &ten);
    trailing.extend_from_slice(&[0; 800]);
    std::fs::write(d("trailing.npy"), &trailing).unwrap();
    let err = fails(
        &["compress", s(&d("trailing.npy")), "-o", s(&arc), "--rel", "1e-2", "--no-model"],
        "trailing.npy",
    );
    assert!(err.contains("800 trailing bytes") && err.contains("needs 80 bytes"), "{err}");
    // 8 TiB declared, 80 bytes there
    std::fs::write(d("huge.npy"), npy_bytes("<f8", "(1099511627776,)", &ten)).unwrap();
    let err =
        fails(&["compress", s(&d("huge.npy")), "-o", s(&arc), "--rel", "1e-2", "--no-model"], "huge.npy");
    assert!(err.contains("truncated"), "{err}");

    // an npz member: ten values (fine), then ten values and 16 MiB
    std::fs::write(d("ten.npz"), stored_zip("data.npy", &npy_bytes("<f8", "(10,)", &ten))).unwrap();
    ok(&["compress", s(&d("ten.npz")), "-o", s(&d("ten.baler")), "--rel", "1e-2", "--no-model", "--quiet"]);
    let mut member = npy_bytes("<f8", "(10,)", &ten);
    member.resize(member.len() + (16 << 20), 0);
    let npz = d("padded.npz");
    std::fs::write(&npz, stored_zip("data.npy", &member)).unwrap();
    let err = fails(
        &["compress", &format!("{}:data", s(&npz)), "-o", s(&arc), "--rel", "1e-2", "--no-model"],
        "padded.npz",
    );
    assert!(err.contains("data.npy: 16777216 trailing bytes"), "{err}");
    assert!(!arc.exists());
}

/// A zip of one stored member (what `np.savez` writes), by hand: the trainer has no zip crate.
fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = !data.iter().fold(!0u32, |mut c, &b| {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
        c
    });
    let (n, len) = (name.len() as u16, data.len() as u32);
    let fields = |z: &mut Vec<u8>| {
        // version needed, flags, method (stored), time, date, crc, sizes, name length, extra length
        for v in [20u16, 0, 0, 0, 0x21] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, len, len] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        z.extend_from_slice(&n.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
    };
    let mut z = b"PK\x03\x04".to_vec();
    fields(&mut z);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(data);
    let cd_start = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02\x14\x00");
    fields(&mut z);
    // comment length, disk, internal and external attributes, local header offset
    z.extend_from_slice(&[0; 2 + 2 + 2 + 4 + 4]);
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd_start;
    z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

#[test]
fn archives_record_the_file_name_not_its_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let private = tmp.path().join("home-of-someone-private");
    std::fs::create_dir(&private).unwrap();
    let input = small_field(&private, "run42.npy");
    assert!(input.is_absolute());
    let arc = tmp.path().join("a.baler");
    let notes = |arc: &Path| info_json(arc, &[])["notes"].to_string();

    ok(&["compress", s(&input), "-o", s(&arc), "--rel", "1e-3", "--no-model", "--quiet"]);
    let n = notes(&arc);
    assert!(n.contains("source: run42.npy"), "{n}");
    assert!(!n.contains("home-of-someone-private"), "{n}");
    // An archive's bytes, and its metadata as it is before zstd (kind 7 would hide text).
    let readable = |arc: &Path| {
        let mut bytes = std::fs::read(arc).unwrap();
        let meta = baler_codec::Archive::open_metadata_only(&bytes).unwrap().meta;
        bytes.extend_from_slice(&postcard::to_allocvec(&meta).unwrap());
        bytes
    };
    let bytes = readable(&arc);
    let leak = |b: &[u8]| b.windows(23).any(|w| w == b"home-of-someone-private");
    assert!(!leak(&bytes), "the archive holds the input's directory");

    // an npz member, relative to another directory
    let npz = private.join("run42.npz");
    write_dataset(&npz, &read(&input)).unwrap();
    let out = Command::new(binary())
        .current_dir(tmp.path())
        .args(["compress", "home-of-someone-private/run42.npz:data", "-o", "b.baler", "--rel", "1e-3"])
        .args(["--no-model", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let n = notes(&tmp.path().join("b.baler"));
    assert!(n.contains("source: run42.npz:data") && !n.contains("home-of-someone-private"), "{n}");

    // a model file records no directory either
    let cfg = quick_config(tmp.path());
    let model = tmp.path().join("m.bmodel");
    let report = ok(&["train", s(&input), "-o", s(&model), "--config", s(&cfg), "--quiet", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["source"], "run42.npy");
    assert!(!leak(&std::fs::read(&model).unwrap()), "the model file holds the input's directory");

    // unless asked for
    ok(&[
        "compress",
        s(&input),
        "-o",
        s(&arc),
        "--rel",
        "1e-3",
        "--no-model",
        "--quiet",
        "--record-source-path",
    ]);
    let n = notes(&arc);
    assert!(n.contains(&format!("source: {}", input.display())), "{n}");
    assert!(leak(&readable(&arc)), "the byte check above would not see a path");
}

#[test]
fn damaged_root_files_give_one_plain_line() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(data("uproot-HZZ.root")).unwrap();
    let arc = dir.path().join("x.baler");
    let mut cases: Vec<(String, Vec<u8>)> =
        [0, 3, 10, 40, 100, 1000, 50_000, original.len() / 2, original.len() - 1]
            .iter()
            .map(|&cut| (format!("cut{cut}.root"), original[..cut].to_vec()))
            .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = |n: usize| {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    cases.push(("random.root".into(), noise(5000)));
    let mut fake = b"root".to_vec();
    fake.extend(noise(5000));
    cases.push(("fake.root".into(), fake));
    // the header intact, the rest noise
    let mut mangled = original[..200].to_vec();
    mangled.extend(noise(original.len() - 200));
    cases.push(("mangled.root".into(), mangled));
    for (name, bytes) in cases {
        let p = dir.path().join(&name);
        std::fs::write(&p, bytes).unwrap();
        for spec in [s(&p).to_string(), format!("{}:events:Muon_Px", s(&p))] {
            let err = fails(&["compress", &spec, "-o", s(&arc), "--rel", "1e-2", "--no-model"], &name);
            for debug in ["Error {", "kind:", "Io(", "{:?}", "`"] {
                assert!(!err.contains(debug), "{name}: {err}");
            }
        }
        assert!(!arc.exists());
    }
    let p = dir.path().join(format!("cut{}.root", original.len() - 1));
    let err = fails(&["compress", s(&p), "-o", s(&arc), "--rel", "1e-2"], "truncated");
    assert!(err.contains(&format!("it has {}", original.len() - 1)), "{err}");
}
