//! Predictor 19 on fields: where the learned last pass pays it is chosen, the bound holds
//! (NaN and Inf too), the archive is the same at any thread count, and a damaged one is an error.
#![cfg(feature = "encode")]

use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{Array, BoundSpec, DType, Dataset, Values, decode};

/// Short waves travelling across frames, float32.
fn waves(dims: [usize; 3]) -> Dataset {
    let [t, h, w] = dims;
    let values = (0..t * h * w)
        .map(|e| {
            let (i, j, k) = ((e / (h * w)) as f64, ((e / w) % h) as f64, (e % w) as f64);
            ((0.9 * k + 0.4 * j - 0.3 * i).sin() + 0.5 * (1.3 * j - 0.7 * k + 0.2 * i).cos()) as f32 as f64
        })
        .collect();
    Dataset::Field(Array { dtype: DType::F32, shape: dims.to_vec(), values: Values::Float(values) })
}

fn options(rel: f64, learned: bool) -> CompressOptions {
    CompressOptions { bound: BoundSpec::Rel(rel), learned, ..Default::default() }
}

fn check_bound(orig: &Dataset, back: &Dataset, rel: f64) {
    let (Dataset::Field(a), Dataset::Field(b)) = (orig, back) else { panic!("fields") };
    let (Values::Float(x), Values::Float(y)) = (&a.values, &b.values) else { panic!("floats") };
    let finite: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    let range =
        finite.iter().cloned().fold(f64::MIN, f64::max) - finite.iter().cloned().fold(f64::MAX, f64::min);
    for (i, (p, q)) in x.iter().zip(y).enumerate() {
        if p.is_finite() {
            assert!((p - q).abs() <= rel * range * 1.0001, "{i}: {p} vs {q}");
        } else {
            assert_eq!(p.to_bits(), q.to_bits(), "{i}");
        }
    }
}

#[test]
fn the_learned_pass_is_chosen_where_it_pays_and_keeps_the_bound() {
    let ds = waves([8, 40, 48]);
    let learned = compress(&ds, &options(1e-4, true), None).unwrap();
    let classic = compress(&ds, &options(1e-4, false), None).unwrap();
    assert!(learned.predictors.iter().all(|p| p.ends_with("learned last pass")), "{:?}", learned.predictors);
    assert!(
        learned.bytes.len() * 10 < classic.bytes.len() * 9,
        "{} vs {}",
        learned.bytes.len(),
        classic.bytes.len()
    );
    check_bound(&ds, &decode(&learned.bytes, None).unwrap(), 1e-4);
}

#[test]
fn nan_and_infinity_survive_and_threads_do_not_change_the_archive() {
    let mut ds = waves([8, 40, 48]);
    let Dataset::Field(a) = &mut ds else { unreachable!() };
    let Values::Float(v) = &mut a.values else { unreachable!() };
    for i in (0..v.len()).step_by(611) {
        v[i] = if i % 2 == 0 { f64::NAN } else { f64::INFINITY };
    }
    let opts = CompressOptions { chunk_elements: 4 * 40 * 48, ..options(1e-4, true) };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let a = one.install(|| compress(&ds, &opts, None).unwrap());
    let b = two.install(|| compress(&ds, &opts, None).unwrap());
    assert!(a.bytes == b.bytes);
    assert!(a.predictors.iter().any(|p| p.ends_with("learned last pass")), "{:?}", a.predictors);
    check_bound(&ds, &decode(&a.bytes, None).unwrap(), 1e-4);
}

#[test]
fn every_byte_flip_and_truncation_of_a_learned_pass_archive_fails_cleanly() {
    let ds = waves([8, 40, 48]);
    let c = compress(&ds, &options(1e-4, true), None).unwrap();
    assert!(c.predictors[0].ends_with("learned last pass"));
    let good = decode(&c.bytes, None).unwrap();
    for i in 0..c.bytes.len() {
        let mut b = c.bytes.clone();
        b[i] ^= 0x01;
        if let Ok(d) = decode(&b, None) {
            panic!("flip at byte {i} decoded silently (same data: {})", d == good);
        }
    }
    for cut in 0..c.bytes.len() {
        assert!(decode(&c.bytes[..cut], None).is_err(), "truncation at {cut}");
    }
}
