//! ROOT TTree input (`file.root:TREE[:BRANCHES]`) on the real uproot-HZZ.root
//! (skhep_testdata: tree `events`, 2421 entries, 28 flat and 23 jagged branches).

mod common;

use std::path::Path;

use baler_codec::{Column, DType, Dataset, Values};
use baler_train::io::{IoError, Loaded, ReadOptions, load, read_dataset};
use common::*;

const MUONS: [&str; 5] = ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E", "Muon_Iso"];

fn hzz() -> String {
    data("uproot-HZZ.root")
}

fn load_ok(spec: &str) -> Loaded {
    load(spec, &ReadOptions::default()).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn load_err(spec: &str) -> IoError {
    match load(spec, &ReadOptions::default()) {
        Ok(l) => panic!("{spec} should fail, got {}", l.source),
        Err(e) => e,
    }
}

fn table(l: &Loaded) -> (usize, &[Column]) {
    match &l.dataset {
        Dataset::Table { rows, columns } => (*rows, columns),
        Dataset::Field(a) => panic!("table expected, got a field of shape {:?}", a.shape),
    }
}

fn column<'a>(columns: &'a [Column], name: &str) -> &'a Column {
    columns.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no column {name}"))
}

fn floats(c: &Column) -> &[f64] {
    match &c.values {
        Values::Float(v) => v,
        Values::Int(_) => panic!("{} holds integers", c.name),
    }
}

fn ints(c: &Column) -> &[i64] {
    match &c.values {
        Values::Int(v) => v,
        Values::Float(_) => panic!("{} holds floats", c.name),
    }
}

/// The reference table shared/data/hzz.npy (3825 x 5 float32, made with uproot), by column.
fn reference() -> Vec<Vec<f64>> {
    let ds =
        read_dataset(Path::new(&data("hzz.npy")), &ReadOptions { table: true }).expect("hzz.npy readable");
    let Dataset::Table { rows, columns } = ds else { panic!("hzz.npy as a table") };
    assert_eq!((rows, columns.len()), (3825, 5));
    columns.iter().map(|c| floats(c).to_vec()).collect()
}

#[test]
fn jagged_muons_flatten_to_the_reference_table() {
    let l = load_ok(&format!("{}:events:{}", hzz(), MUONS.join(",")));
    let (rows, columns) = table(&l);
    assert_eq!(rows, 3825);
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, MUONS);
    for (c, want) in columns.iter().zip(reference()) {
        assert_eq!(c.dtype, DType::F32, "{}", c.name);
        assert_eq!(c.values.len(), rows);
        let got = floats(c);
        // exact: every value is the float32 uproot read
        let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "{} differs from hzz.npy", c.name);
    }
    assert_eq!(l.fill_value, None);
    assert_eq!(
        l.source,
        "uproot-HZZ.root:events (ROOT TTree, 2421 entries, 5 jagged branches flattened to \
         3825 rows)"
    );
    // the order given is the column order
    let l = load_ok(&format!("{}:events:Muon_Iso, Muon_Px", hzz()));
    let (_, columns) = table(&l);
    assert_eq!(columns[0].name, "Muon_Iso");
    assert_eq!(columns[1].name, "Muon_Px");
}

#[test]
fn prefix_selects_in_file_order() {
    let l = load_ok(&format!("{}:events:Muon_*", hzz()));
    let (rows, columns) = table(&l);
    assert_eq!(rows, 3825);
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    // the file also holds Muon_Charge (int32[]), between Muon_E and Muon_Iso
    assert_eq!(names, ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E", "Muon_Charge", "Muon_Iso"]);
    let charge = column(columns, "Muon_Charge");
    assert_eq!(charge.dtype, DType::I32);
    assert!(ints(charge).iter().all(|&q| q == 1 || q == -1));
    let want = reference();
    for (name, want) in MUONS.iter().zip(&want) {
        assert_eq!(floats(column(columns, name)), want.as_slice(), "{name}");
    }
    // a pattern and a name that overlap select each branch once
    let l = load_ok(&format!("{}:events:Muon_P*,Muon_Px,Muon_E", hzz()));
    let names: Vec<String> = table(&l).1.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names, ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E"]);
}

#[test]
fn tree_alone_gives_the_flat_branches() {
    let l = load_ok(&format!("{}:events", hzz()));
    let (rows, columns) = table(&l);
    assert_eq!(rows, 2421);
    assert_eq!(columns.len(), 28);
    for c in columns {
        assert_eq!(c.values.len(), 2421, "{}", c.name);
        assert!(!c.name.starts_with("Muon_"), "jagged {} kept", c.name);
    }
    for name in ["NJet", "NMuon", "NElectron", "NPhoton", "NPrimaryVertices"] {
        let c = column(columns, name);
        assert_eq!(c.dtype, DType::I32, "{name}");
        assert!(ints(c).iter().all(|&n| n >= 0), "{name}");
    }
    // the muon counter agrees with the flattened muon table
    let n_muon: i64 = ints(column(columns, "NMuon")).iter().sum();
    assert_eq!(n_muon, 3825);
    let met = column(columns, "MET_px");
    assert_eq!(met.dtype, DType::F32);
    assert!(floats(met).iter().all(|v| v.is_finite()));
    assert!(floats(met).iter().any(|&v| v != 0.0));
    let trigger = column(columns, "triggerIsoMu24");
    assert_eq!(trigger.dtype, DType::U8, "bool as uint8");
    assert!(ints(trigger).iter().all(|&b| b == 0 || b == 1));
    assert!(ints(trigger).contains(&1));
    let pdg = column(columns, "MCleptonPDGid");
    assert_eq!(pdg.dtype, DType::I32);
    assert!(
        l.source.starts_with(
            "uproot-HZZ.root:events (ROOT TTree, 2421 entries, 28 flat branches; skipped: \
             Jet_Px (jagged)"
        ),
        "{}",
        l.source
    );
    assert!(l.source.contains("Muon_Iso (jagged)"), "{}", l.source);
    // explicit flat branches keep their dtype too
    let l = load_ok(&format!("{}:events:NJet,EventWeight", hzz()));
    let (rows, columns) = table(&l);
    assert_eq!(rows, 2421);
    assert_eq!(columns[0].dtype, DType::I32);
    assert_eq!(columns[1].dtype, DType::F32);
}

#[test]
fn the_only_tree_is_the_default() {
    let plain = load_ok(&hzz());
    let named = load_ok(&format!("{}:events", hzz()));
    assert_eq!(plain.dataset, named.dataset);
    // read_dataset goes through load for ROOT files
    let ds = read_dataset(Path::new(&hzz()), &ReadOptions::default()).unwrap();
    assert_eq!(ds, named.dataset);
}

#[test]
fn errors_name_the_file_and_what_exists() {
    let file = hzz();
    let e = load_err(&format!("{file}:tree"));
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{file}: ")), "{msg}");
    assert!(msg.contains("'tree'") && msg.contains("events"), "{msg}");

    let e = load_err(&format!("{file}:events:Muon_Pt"));
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{file}: ")), "{msg}");
    assert!(msg.contains("'Muon_Pt'") && msg.contains("Muon_Px"), "{msg}");

    let msg = load_err(&format!("{file}:events:Tau_*")).to_string();
    assert!(msg.contains("Tau_*") && msg.contains("NJet"), "{msg}");

    let msg = load_err(&format!("{file}:events:Muon_Px,NMuon")).to_string();
    assert!(msg.contains("mix") && msg.contains("NMuon"), "{msg}");

    let msg = load_err(&format!("{file}:events:Muon_Px,Jet_Px")).to_string();
    assert!(msg.contains("Muon_Px") && msg.contains("Jet_Px") && msg.contains("length"), "{msg}");

    let msg = load_err(&format!("{file}:events:Muon_Px,,Muon_Py")).to_string();
    assert!(msg.contains("empty branch name"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.root");
    let e = load_err(s(&missing));
    assert!(matches!(e, IoError::NotFound { .. }), "{e:?}");
    assert_eq!(e.file(), s(&missing));
}

#[test]
fn bad_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("x.root");
    std::fs::write(&text, "this is not a ROOT file\n1,2,3\n").unwrap();
    let e = load_err(&format!("{}:events", s(&text)));
    assert!(e.to_string().contains("x.root"), "{e}");
    assert_eq!(e.file(), s(&text));
    let empty = dir.path().join("empty.root");
    std::fs::write(&empty, b"").unwrap();
    assert!(load_err(s(&empty)).to_string().contains("empty.root"));

    // a real file cut short or damaged: an error (or, if the damage misses what is read,
    // data), never a panic through load()
    let bytes = std::fs::read(hzz()).unwrap();
    for cut in [100, 1000, bytes.len() / 2, bytes.len() - 100] {
        let p = dir.path().join(format!("cut{cut}.root"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = load_err(&format!("{}:events:Muon_*", s(&p)));
        assert!(e.to_string().contains(&format!("cut{cut}.root")), "{e}");
    }
    for at in (0..bytes.len()).step_by(bytes.len() / 23) {
        let mut bad = bytes.clone();
        for b in &mut bad[at..(at + 64).min(bytes.len())] {
            *b ^= 0x5a;
        }
        let p = dir.path().join(format!("bad{at}.root"));
        std::fs::write(&p, &bad).unwrap();
        for inner in ["", ":events", ":events:Muon_*"] {
            if let Err(e) = load(&format!("{}{inner}", s(&p)), &ReadOptions::default()) {
                assert!(e.to_string().contains(&format!("bad{at}.root")), "{e}");
            }
        }
    }
}

#[test]
fn cli_compresses_a_root_selection_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    for (tag, spec) in [("muons", format!("{}:events:Muon_*", hzz())), ("flat", format!("{}:events", hzz()))]
    {
        let arc = dir.path().join(format!("{tag}.baler"));
        let out = dir.path().join(format!("{tag}.npz"));
        ok(&["compress", &spec, "-o", s(&arc), "--rel", "1e-2", "--no-model", "--quiet"]);
        ok(&["decompress", s(&arc), "-o", s(&out)]);
        let orig = load_ok(&spec).dataset;
        let back = read(&out);
        check_rel_bound(&orig, &back, 1e-2);
        let names = |ds: &Dataset| match ds {
            Dataset::Table { columns, .. } => columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            Dataset::Field(_) => panic!("{tag}: table expected"),
        };
        assert_eq!(names(&orig), names(&back), "{tag}");
    }
    // a file oxyroot panics on (its header damaged) is one clean error line, no panic text
    let mut bytes = std::fs::read(hzz()).unwrap();
    for b in &mut bytes[..64] {
        *b ^= 0x5a;
    }
    let bad = dir.path().join("damaged.root");
    std::fs::write(&bad, &bytes).unwrap();
    let err = fails(
        &[
            "compress",
            &format!("{}:events", s(&bad)),
            "-o",
            s(&dir.path().join("d.baler")),
            "--rel",
            "1e-2",
            "--no-model",
        ],
        "damaged.root",
    );
    assert!(err.contains("cannot read ROOT file"), "{err}");
    // a bad branch is one clean error line naming the file
    fails(
        &[
            "compress",
            &format!("{}:events:Nope", hzz()),
            "-o",
            s(&dir.path().join("n.baler")),
            "--rel",
            "1e-2",
            "--no-model",
        ],
        "uproot-HZZ.root",
    );
}
