//! Predictor 18 on event tables: derived columns are learned and cost little, the bound holds on
//! every column (integer, NaN-laden and all), the archive is the same at any thread count, and a
//! damaged column program is always an error.
#![cfg(feature = "encode")]

use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{Archive, BoundSpec, Column, DType, Dataset, Values, decode};

/// A muon-like table as analysis ntuples store it (float32): px, py, pz free; E, pT, η, φ
/// computed from them in float32; an integer charge.
fn kinematics(rows: usize, seed: u64) -> Dataset {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut cols: Vec<Vec<f64>> = (0..7).map(|_| Vec::with_capacity(rows)).collect();
    let mut charge = Vec::with_capacity(rows);
    for _ in 0..rows {
        let pt = 10.0 + 60.0 * -uniform().ln();
        let eta = 4.8 * uniform() - 2.4;
        let phi = std::f64::consts::PI * (2.0 * uniform() - 1.0);
        let (px, py, pz) = ((pt * phi.cos()) as f32, (pt * phi.sin()) as f32, (pt * eta.sinh()) as f32);
        let e = (px * px + py * py + pz * pz + 0.0112).sqrt();
        let pt32 = px.hypot(py);
        let derived = [px, py, pz, e, pt32, (pz / pt32).asinh(), py.atan2(px)];
        for (c, v) in cols.iter_mut().zip(derived) {
            c.push(v as f64);
        }
        charge.push(if uniform() < 0.5 { -1 } else { 1 });
    }
    let names = ["px", "py", "pz", "E", "pt", "eta", "phi"];
    let mut columns: Vec<Column> = names
        .iter()
        .zip(cols)
        .map(|(n, v)| Column { name: n.to_string(), dtype: DType::F32, values: Values::Float(v) })
        .collect();
    columns.push(Column { name: "charge".into(), dtype: DType::I32, values: Values::Int(charge) });
    Dataset::Table { rows, columns }
}

fn options(rel: f64, learned: bool) -> CompressOptions {
    CompressOptions { bound: BoundSpec::Rel(rel), learned, ..Default::default() }
}

fn float_columns(ds: &Dataset) -> Vec<Vec<f64>> {
    let Dataset::Table { columns, .. } = ds else { panic!("a table") };
    columns
        .iter()
        .filter_map(|c| match &c.values {
            Values::Float(v) => Some(v.clone()),
            Values::Int(_) => None,
        })
        .collect()
}

/// Every finite value within `rel` of its column's range; NaN stays NaN; integers exact.
fn check_bound(orig: &Dataset, back: &Dataset, rel: f64) {
    let (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) = (orig, back) else {
        panic!("a table")
    };
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.name, x.dtype), (&y.name, y.dtype));
        match (&x.values, &y.values) {
            (Values::Float(x), Values::Float(y)) => {
                let finite: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
                let range = finite.iter().cloned().fold(f64::MIN, f64::max)
                    - finite.iter().cloned().fold(f64::MAX, f64::min);
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    if p.is_finite() {
                        assert!((p - q).abs() <= rel * range * 1.0001, "row {i}: {p} vs {q}");
                    } else {
                        assert_eq!(p.is_nan(), q.is_nan(), "row {i}");
                    }
                }
            }
            (Values::Int(x), Values::Int(y)) => assert_eq!(x, y),
            _ => panic!("value type changed"),
        }
    }
}

#[test]
fn derived_columns_are_learned_and_pay_at_every_bound() {
    let ds = kinematics(20_000, 1);
    for rel in [1e-2, 1e-3, 1e-4] {
        let learned = compress(&ds, &options(rel, true), None).unwrap();
        let classic = compress(&ds, &options(rel, false), None).unwrap();
        let back = decode(&learned.bytes, None).unwrap();
        check_bound(&ds, &back, rel);
        let archive = Archive::open(&learned.bytes, None).unwrap();
        let (predictor, _) = archive.parse_chunk(0).unwrap().choices();
        // E, pT, η or φ, and two of px, py, pz are functions of the columns before them.
        assert!(predictor.starts_with("columns["), "{predictor}");
        assert!(predictor.matches('←').count() >= 4, "{predictor}");
        let gain = classic.bytes.len() as f64 / learned.bytes.len() as f64;
        assert!(
            gain >= 1.3,
            "at {rel}: {} vs {} bytes ({gain:.2}×): {predictor}",
            learned.bytes.len(),
            classic.bytes.len()
        );
    }
}

#[test]
fn the_archive_does_not_depend_on_the_thread_count() {
    let ds = kinematics(6_000, 2);
    let opts = CompressOptions { chunk_elements: 16_000, ..options(1e-3, true) };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let a = one.install(|| compress(&ds, &opts, None).unwrap().bytes);
    let b = two.install(|| compress(&ds, &opts, None).unwrap().bytes);
    assert!(a == b, "1 thread: {} bytes, 2 threads: {} bytes", a.len(), b.len());
    let archive = Archive::open(&a, None).unwrap();
    assert!(archive.chunk_count() > 1);
    check_bound(&ds, &decode(&a, None).unwrap(), 1e-3);
}

#[test]
fn nan_infinity_and_zero_momenta_keep_the_bound() {
    let mut ds = kinematics(3_000, 3);
    let Dataset::Table { columns, .. } = &mut ds else { unreachable!() };
    // Missing objects: NaN kinematics, an infinite energy, rows of zeros (η = 0/0 stored as 0).
    for column in columns.iter_mut().take(7) {
        let Values::Float(v) = &mut column.values else { unreachable!() };
        for i in (0..3_000).step_by(97) {
            v[i] = f64::NAN;
        }
        for i in (5..3_000).step_by(101) {
            v[i] = 0.0;
        }
    }
    let Values::Float(e) = &mut columns[3].values else { unreachable!() };
    e[7] = f64::INFINITY;
    for rel in [1e-2, 1e-4] {
        let c = compress(&ds, &options(rel, true), None).unwrap();
        check_bound(&ds, &decode(&c.bytes, None).unwrap(), rel);
        assert!(c.predictors.iter().all(|p| p.starts_with("columns[")), "{:?}", c.predictors);
    }
    assert_eq!(float_columns(&ds).len(), 7);
}

#[test]
fn every_byte_flip_and_truncation_of_a_column_program_fails_cleanly() {
    let ds = kinematics(400, 4);
    let c = compress(&ds, &options(1e-2, true), None).unwrap();
    assert!(c.predictors[0].starts_with("columns["), "{:?}", c.predictors);
    let good = decode(&c.bytes, None).unwrap();
    for i in 0..c.bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = c.bytes.clone();
            b[i] ^= bit;
            if let Ok(d) = decode(&b, None) {
                panic!("flip at byte {i} decoded silently (same data: {})", d == good);
            }
        }
    }
    for cut in 0..c.bytes.len() {
        assert!(decode(&c.bytes[..cut], None).is_err(), "truncation at {cut}");
    }
}

/// Counts stored as float32 (an event's jets, muons, vertices) lie on the lattice of integers:
/// coded with that lattice's step they come back exactly, as codes a few bits wide, where the
/// bound's step made them multiples of 100 at 1e-3 of their range. Other columns keep 2 × bound.
#[test]
fn counts_stored_as_floats_come_back_exactly_and_small() {
    let rows = 4000;
    let mut state = 7u64;
    let mut uniform = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let counts: Vec<f64> = (0..rows).map(|_| (-3.0 * uniform().ln()).floor().min(30.0)).collect();
    let halves: Vec<f64> = (0..rows).map(|_| (8.0 * uniform()).floor() * 0.5 - 2.0).collect();
    let met: Vec<f64> = (0..rows).map(|_| (40.0 * -uniform().ln()) as f32 as f64).collect();
    let column = |name: &str, v: &Vec<f64>| Column {
        name: name.into(),
        dtype: DType::F32,
        values: Values::Float(v.clone()),
    };
    let ds = Dataset::Table {
        rows,
        columns: vec![column("NJet", &counts), column("half", &halves), column("MET", &met)],
    };
    for rel in [1e-2, 1e-3, 1e-4] {
        for learned in [false, true] {
            let c = compress(&ds, &options(rel, learned), None).unwrap();
            let archive = Archive::open(&c.bytes, None).unwrap();
            let steps: Vec<f64> = archive
                .meta
                .streams
                .iter()
                .map(|s| match s.quantizer {
                    baler_codec::format::metadata::Quantizer::Float { step, .. } => step,
                    _ => panic!("float streams"),
                })
                .collect();
            let range = |v: &[f64]| {
                v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
            };
            assert_eq!(steps[0], 1.0, "counts on the integers at {rel}");
            assert_eq!(steps[1], 0.5, "halves at {rel}");
            assert_eq!(steps[2], 2.0 * rel * range(&met), "no lattice at {rel}");
            let back = decode(&c.bytes, None).unwrap();
            let cols = float_columns(&back);
            assert_eq!(cols[0], counts, "exact at {rel}");
            assert_eq!(cols[1], halves, "exact at {rel}");
            check_bound(&ds, &back, rel);
            // The counts' codes: a few bits a value (about the entropy of the difference of two
            // counts), not the 8 more a count's codes would carry in steps of 2 × 1e-4 × 30.
            let bits =
                baler_codec::describe::inspect("t", &c.bytes, None).unwrap().streams[0].code_bits.unwrap();
            assert!(bits < 5.0, "{bits} bits a count at {rel}");
        }
    }
}
