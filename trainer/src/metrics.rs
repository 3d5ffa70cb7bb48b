//! Quality metrics, as in shared/bench/metrics.py: all in f64 over the finite values of the original.

use anyhow::{Result, bail};
use baler_codec::{Dataset, Values};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    pub name: String,
    pub count: usize,
    pub range: f64,
    pub max_abs_error: f64,
    pub max_error_over_range: f64,
    pub rmse: f64,
    /// 20·log10(range) − 10·log10(MSE); infinite when the reconstruction is exact.
    pub psnr_db: f64,
    /// Non-finite originals that did not come back bit for bit.
    pub non_finite_mismatches: usize,
}

fn as_f64(v: &Values) -> Vec<f64> {
    match v {
        Values::Float(v) => v.clone(),
        Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
    }
}

fn compare(name: &str, a: &[f64], b: &[f64]) -> Metrics {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut max_err, mut sq, mut n, mut bad) = (0.0f64, 0.0f64, 0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        if x.is_finite() {
            lo = lo.min(x);
            hi = hi.max(x);
            let e = (x - y).abs();
            max_err = max_err.max(if e.is_nan() { f64::INFINITY } else { e });
            sq += e * e;
            n += 1;
        } else if !(x.is_nan() && y.is_nan()) && x != y {
            bad += 1;
        }
    }
    let range = if n > 0 { hi - lo } else { 0.0 };
    let mse = if n > 0 { sq / n as f64 } else { 0.0 };
    Metrics {
        name: name.to_string(),
        count: n,
        range,
        max_abs_error: max_err,
        max_error_over_range: if range > 0.0 { max_err / range } else { 0.0 },
        rmse: mse.sqrt(),
        psnr_db: if mse > 0.0 { 20.0 * range.log10() - 10.0 * mse.log10() } else { f64::INFINITY },
        non_finite_mismatches: bad,
    }
}

/// Overall metrics first, then one per column for tables.
pub fn evaluate(orig: &Dataset, recon: &Dataset) -> Result<Vec<Metrics>> {
    if orig.shape() != recon.shape() {
        bail!("shapes differ: {:?} vs {:?}", orig.shape(), recon.shape());
    }
    Ok(match (orig, recon) {
        (Dataset::Field(a), Dataset::Field(b)) => {
            vec![compare("all", &as_f64(&a.values), &as_f64(&b.values))]
        }
        (Dataset::Table { columns: a, .. }, Dataset::Table { columns: b, .. }) => {
            let mut out = Vec::new();
            let (mut all_a, mut all_b) = (Vec::new(), Vec::new());
            for (x, y) in a.iter().zip(b) {
                let (va, vb) = (as_f64(&x.values), as_f64(&y.values));
                out.push(compare(&x.name, &va, &vb));
                all_a.extend(va);
                all_b.extend(vb);
            }
            let mut overall = compare("all", &all_a, &all_b);
            // A table's bound is per column: report the worst column's error / range.
            overall.max_error_over_range = out.iter().map(|m| m.max_error_over_range).fold(0.0, f64::max);
            out.insert(0, overall);
            out
        }
        (Dataset::Field(a), Dataset::Table { columns, .. })
        | (Dataset::Table { columns, .. }, Dataset::Field(a)) => {
            // A 2-d array against a table of the same shape: compare row-major.
            let rows = orig.shape()[0];
            let mut t = vec![0.0; rows * columns.len()];
            for (c, col) in columns.iter().enumerate() {
                for (r, v) in as_f64(&col.values).into_iter().enumerate() {
                    t[r * columns.len() + c] = v;
                }
            }
            let f = as_f64(&a.values);
            if matches!(orig, Dataset::Field(_)) {
                vec![compare("all", &f, &t)]
            } else {
                vec![compare("all", &t, &f)]
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baler_codec::{Array, DType};

    #[test]
    fn psnr_and_errors_match_hand_values() {
        let f = |v: Vec<f64>| {
            Dataset::Field(Array { dtype: DType::F64, shape: vec![v.len()], values: Values::Float(v) })
        };
        let m = &evaluate(&f(vec![0.0, 1.0, 2.0, 4.0, f64::NAN]), &f(vec![0.0, 1.5, 2.0, 4.0, f64::NAN]))
            .unwrap()[0];
        assert_eq!(m.count, 4);
        assert_eq!(m.max_abs_error, 0.5);
        assert_eq!(m.max_error_over_range, 0.125);
        // MSE = 0.25 / 4
        assert!((m.psnr_db - (20.0 * 4f64.log10() - 10.0 * (0.0625f64).log10())).abs() < 1e-12);
        assert_eq!(m.non_finite_mismatches, 0);
        let m = &evaluate(&f(vec![f64::INFINITY, 1.0]), &f(vec![1.0, 1.0])).unwrap()[0];
        assert_eq!(m.non_finite_mismatches, 1);
        assert!(evaluate(&f(vec![1.0]), &f(vec![1.0, 2.0])).is_err());
    }
}
