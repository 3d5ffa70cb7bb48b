//! Invariants 1, 4 and 5 on synthetic data: the bound holds for every finite value, NaN/Inf/fill
//! values and integers come back exactly, and a damaged archive is always an error.
#![cfg(feature = "encode")]

use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{Array, BoundSpec, Column, DType, Dataset, Values, decode};
use proptest::prelude::*;

fn field(shape: Vec<usize>, dtype: DType, values: Vec<f64>) -> Dataset {
    let values =
        if dtype == DType::F32 { values.into_iter().map(|v| v as f32 as f64).collect() } else { values };
    Dataset::Field(Array { dtype, shape, values: Values::Float(values) })
}

fn check_bound(orig: &Dataset, back: &Dataset, bound_of: impl Fn(usize) -> f64, fill: Option<f64>) {
    let cols: Vec<(&Values, &Values)> = match (orig, back) {
        (Dataset::Field(a), Dataset::Field(b)) => {
            assert_eq!(a.shape, b.shape);
            assert_eq!(a.dtype, b.dtype);
            vec![(&a.values, &b.values)]
        }
        (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) => {
            for (x, y) in a.iter().zip(b) {
                assert_eq!((&x.name, x.dtype), (&y.name, y.dtype));
            }
            a.iter().zip(b).map(|(x, y)| (&x.values, &y.values)).collect()
        }
        _ => panic!("kind changed"),
    };
    for (c, (a, b)) in cols.into_iter().enumerate() {
        match (a, b) {
            (Values::Float(a), Values::Float(b)) => {
                assert_eq!(a.len(), b.len());
                for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
                    if x.is_finite() && Some(x) != fill {
                        assert!((x - y).abs() <= bound_of(c), "col {c} value {i}: {x} vs {y}");
                    } else if x.is_nan() {
                        assert!(y.is_nan(), "NaN lost at {i}");
                    } else {
                        assert_eq!(x.to_bits(), y.to_bits(), "{x} not exact at {i}");
                    }
                }
            }
            (Values::Int(a), Values::Int(b)) => assert_eq!(a, b),
            _ => panic!("value type changed"),
        }
    }
}

fn range(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        0.0
    } else {
        f.iter().cloned().fold(f64::MIN, f64::max) - f.iter().cloned().fold(f64::MAX, f64::min)
    }
}

fn smooth(shape: &[usize], seed: u64) -> Vec<f64> {
    let n: usize = shape.iter().product();
    let a = (seed % 97) as f64 / 13.0;
    (0..n)
        .map(|i| ((i as f64) * 0.013 + a).sin() * 3.0 + ((i as f64) * 0.0021).cos() + (i % 7) as f64 * 1e-3)
        .collect()
}

fn options(bound: BoundSpec) -> CompressOptions {
    CompressOptions { bound, chunk_elements: 700, zstd_level: 3, ..Default::default() }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn bound_holds_on_random_arrays(
        dims in prop::collection::vec(1usize..12, 1..=3),
        kind in 0u8..5,
        f32_type in any::<bool>(),
        rel_exp in 1u32..6,
        seed in any::<u64>(),
    ) {
        let n: usize = dims.iter().product();
        let mut s = seed | 1;
        let mut rnd = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s >> 11) as f64 / (1u64 << 53) as f64 };
        let values: Vec<f64> = match kind {
            0 => smooth(&dims, seed),
            1 => (0..n).map(|_| rnd() * 2000.0 - 1000.0).collect(),
            2 => vec![4.25; n],
            3 => (0..n).map(|i| match i % 11 { 0 => f64::NAN, 5 => f64::INFINITY, 7 => f64::NEG_INFINITY, _ => rnd() }).collect(),
            _ => (0..n).map(|i| (i as f64 * 0.3).sin() * 1e6 + rnd() * 1e-3).collect(),
        };
        let dtype = if f32_type { DType::F32 } else { DType::F64 };
        let ds = field(dims.clone(), dtype, values);
        let rel = 10f64.powi(-(rel_exp as i32));
        let c = compress(&ds, &options(BoundSpec::Rel(rel)), None).unwrap();
        let back = decode(&c.bytes, None).unwrap();
        let Dataset::Field(a) = &ds else { unreachable!() };
        let Values::Float(v) = &a.values else { unreachable!() };
        let eb = rel * range(v);
        check_bound(&ds, &back, |_| eb, None);
    }
}

#[test]
fn absolute_bound_and_ratio_on_a_smooth_field() {
    let shape = vec![20, 30, 40];
    let ds = field(shape.clone(), DType::F64, smooth(&shape, 3));
    for eb in [1e-1, 1e-3, 1e-6] {
        let c = compress(&ds, &options(BoundSpec::Abs(eb)), None).unwrap();
        check_bound(&ds, &decode(&c.bytes, None).unwrap(), |_| eb, None);
        assert_eq!(c.sizes.total(), c.bytes.len() as u64);
        if eb == 1e-1 {
            assert!(
                ds.original_bytes() as f64 / c.bytes.len() as f64 > 20.0,
                "ratio {}",
                ds.original_bytes() as f64 / c.bytes.len() as f64
            );
        }
    }
}

#[test]
fn fill_values_and_integers_round_trip_exactly() {
    let shape = vec![10, 50];
    let mut v = smooth(&shape, 1);
    for (i, x) in v.iter_mut().enumerate() {
        if (i / 7) % 3 == 0 {
            *x = -1e34;
        }
    }
    let data_range =
        range(&v.iter().map(|&x| if x == -1e34 { f64::NAN } else { x as f32 as f64 }).collect::<Vec<_>>());
    let ds = field(shape, DType::F32, v);
    let opts = CompressOptions { fill_value: Some(-1e34f32 as f64), ..options(BoundSpec::Rel(1e-2)) };
    let c = compress(&ds, &opts, None).unwrap();
    let back = decode(&c.bytes, None).unwrap();
    check_bound(&ds, &back, |_| 1e-2 * data_range, Some(-1e34f32 as f64));
    assert!(c.exceptions > 0);

    let ints = Dataset::Table {
        rows: 300,
        columns: vec![
            Column {
                name: "id".into(),
                dtype: DType::I64,
                values: Values::Int((0..300).map(|i| i * 1_000_003 - 7).collect()),
            },
            Column {
                name: "big".into(),
                dtype: DType::U64,
                values: Values::Int((0..300).map(|i| (u64::MAX - i as u64) as i64).collect()),
            },
            Column {
                name: "x".into(),
                dtype: DType::F64,
                values: Values::Float((0..300).map(|i| (i as f64).sqrt()).collect()),
            },
        ],
    };
    let c = compress(&ints, &options(BoundSpec::Rel(1e-3)), None).unwrap();
    let back = decode(&c.bytes, None).unwrap();
    check_bound(&ints, &back, |_| 1e-3 * 300f64.sqrt(), None);
}

#[test]
fn per_column_relative_bounds_on_a_table() {
    let rows = 500;
    let ds = Dataset::Table {
        rows,
        columns: vec![
            Column {
                name: "small".into(),
                dtype: DType::F64,
                values: Values::Float((0..rows).map(|i| (i as f64 * 0.7).sin() * 1e-3).collect()),
            },
            Column {
                name: "large".into(),
                dtype: DType::F64,
                values: Values::Float((0..rows).map(|i| (i as f64 * 1.3).cos() * 1e5).collect()),
            },
        ],
    };
    let c = compress(&ds, &options(BoundSpec::Rel(1e-2)), None).unwrap();
    let back = decode(&c.bytes, None).unwrap();
    let ranges = [2e-3, 2e5];
    check_bound(&ds, &back, |c| 1e-2 * ranges[c] * 1.0001, None);
    // The small column is held to its own (tiny) bound, not the large column's.
    let (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) = (&ds, &back) else {
        unreachable!()
    };
    let (Values::Float(x), Values::Float(y)) = (&a[0].values, &b[0].values) else { unreachable!() };
    assert!(x.iter().zip(y).all(|(p, q)| (p - q).abs() <= 2e-5 * 1.0001));
}

#[test]
fn every_byte_flip_and_truncation_fails_cleanly() {
    let shape = vec![4, 8, 8];
    let ds = field(shape.clone(), DType::F64, smooth(&shape, 9));
    let c = compress(&ds, &options(BoundSpec::Rel(1e-3)), None).unwrap();
    let good = decode(&c.bytes, None).unwrap();
    for i in 0..c.bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = c.bytes.clone();
            b[i] ^= bit;
            match decode(&b, None) {
                Err(_) => {}
                // The version's low bit: 5 → 4, an older format in which these bytes (no predictor
                // 18) mean the same, so the same values come back.
                Ok(d) if i == 8 && bit == 0x01 && d == good => {}
                Ok(d) => panic!("flip at byte {i} decoded silently (same data: {})", d == good),
            }
        }
    }
    for cut in 0..c.bytes.len() {
        assert!(decode(&c.bytes[..cut], None).is_err(), "truncation at {cut}");
    }
}

#[test]
fn invalid_bounds_are_rejected() {
    let ds = field(vec![10], DType::F64, smooth(&[10], 0));
    assert!(compress(&ds, &options(BoundSpec::Abs(f64::NAN)), None).is_err());
    assert!(compress(&ds, &options(BoundSpec::Abs(-1.0)), None).is_err());
    assert!(compress(&ds, &options(BoundSpec::Abs(f64::INFINITY)), None).is_err());
}

#[test]
fn empty_and_single_value_arrays_round_trip() {
    for shape in [vec![0], vec![3, 0], vec![1], vec![1, 1, 1]] {
        let n: usize = shape.iter().product();
        let ds = field(shape.clone(), DType::F64, (0..n).map(|i| i as f64 + 0.5).collect());
        let c = compress(&ds, &options(BoundSpec::Rel(1e-3)), None).unwrap();
        assert_eq!(decode(&c.bytes, None).unwrap(), ds, "shape {shape:?}");
    }
}

#[test]
fn streaming_decode_gives_the_same_values_chunk_by_chunk() {
    let shape = vec![30, 20, 10];
    let ds = field(shape.clone(), DType::F32, smooth(&shape, 4));
    let c = compress(&ds, &options(BoundSpec::Rel(1e-3)), None).unwrap();
    let archive = baler_codec::Archive::open(&c.bytes, None).unwrap();
    assert!(archive.chunk_count() > 3, "several chunks: {}", archive.chunk_count());
    let mut parts = Vec::new();
    archive
        .decode_each(|part| {
            let Dataset::Field(a) = part else { panic!("field parts") };
            let Values::Float(v) = a.values else { panic!("floats") };
            parts.push(v);
            Ok(())
        })
        .unwrap();
    assert_eq!(parts.len(), archive.chunk_count());
    let Dataset::Field(whole) = archive.decode().unwrap() else { unreachable!() };
    assert_eq!(Values::Float(parts.concat()), whole.values);
}
