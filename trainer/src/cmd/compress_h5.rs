//! `baler-train compress --h5-filter`: the input array as an HDF5 dataset stored through the Baler
//! HDF5 filter, read back and checked against the bound before it is reported.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use baler_codec::encode::finite_range;
use baler_codec::{BoundSpec, Dataset, Values};
use h5baler::{Bound, user_cd_values};
use serde_json::json;

use super::common::read_input;
use super::compress::CompressArgs;
use crate::io::save_hdf5_filtered;
use crate::pipeline::Target;

/// The filter's bound: a relative bound becomes the absolute one it means for the whole array
/// (the filter alone sees one chunk at a time and would apply it to each chunk's range).
fn filter_bound(target: Target, ds: &Dataset, fill: Option<f64>) -> Bound {
    match target {
        Target::Bound(BoundSpec::Abs(v)) => Bound::Abs(v),
        Target::Bound(BoundSpec::Rel(r)) => {
            let Dataset::Field(a) = ds else { return Bound::Rel(r) };
            match finite_range(&a.values, fill, a.dtype) {
                Some((lo, hi)) if hi > lo => Bound::Abs(r * (hi - lo)),
                _ => Bound::Rel(r),
            }
        }
        Target::Psnr(db) => Bound::Psnr(db),
    }
}

/// Worst |x − x′| over the values that are neither fill nor non-finite, and whether those are
/// kept exactly.
fn worst_error(orig: &Values, back: &Values, fill: Option<f64>) -> Result<f64> {
    match (orig, back) {
        (Values::Float(a), Values::Float(b)) if a.len() == b.len() => {
            let mut worst = 0f64;
            for (&x, &y) in a.iter().zip(b) {
                if x.is_finite() && Some(x) != fill {
                    worst = worst.max((x - y).abs());
                } else if x.to_bits() != y.to_bits() && !(x.is_nan() && y.is_nan()) {
                    bail!("value {x} came back as {y}");
                }
            }
            Ok(worst)
        }
        (Values::Int(a), Values::Int(b)) if a == b => Ok(0.0),
        _ => bail!("the values read back differ in type or number"),
    }
}

pub fn run(args: &CompressArgs, target: Target) -> Result<()> {
    let started = Instant::now();
    let loaded = read_input(&args.input, &args.common)?;
    let (ds, fill) = (&loaded.dataset, loaded.fill_value);
    let bound = filter_bound(target, ds, fill);
    let output = args.output.to_string_lossy().into_owned();
    save_hdf5_filtered(&output, ds, fill, &user_cd_values(bound))?;
    let reread =
        crate::io::load(&output, &Default::default()).with_context(|| format!("reading back {output}"))?;
    let (Dataset::Field(a), Dataset::Field(b)) = (ds, &reread.dataset) else {
        bail!("{output}: read back as a table");
    };
    let worst = worst_error(&a.values, &b.values, fill).with_context(|| format!("{output}: read back"))?;
    if let Bound::Abs(limit) = bound
        && worst > limit
    {
        bail!("{output}: read back with an error of {worst:e}, over the bound {limit:e}");
    }
    let file = crate::io::split_spec(&output).0;
    let bytes = std::fs::metadata(file).with_context(|| file.to_string())?.len();
    let ratio = ds.original_bytes() as f64 / bytes as f64;
    let secs = started.elapsed().as_secs_f64();
    let (mode, value) = match bound {
        Bound::Abs(v) => ("abs", v),
        Bound::Rel(v) => ("rel to each chunk's range", v),
        Bound::Psnr(v) => ("psnr per chunk", v),
    };
    if args.json {
        println!(
            "{}",
            json!({"hdf5": output, "filter_id": h5baler::FILTER_ID, "original_bytes": ds.original_bytes(), "file_bytes": bytes,
                "ratio": ratio, "bound_mode": mode, "bound": value, "max_error": worst, "seconds": secs})
        );
    } else {
        println!(
            "{} -> {output}: {} -> {bytes} bytes, ratio {ratio:.2} (HDF5 filter {}, bound {mode} {value:e}; read back, max error {worst:.3e}), {secs:.2}s",
            args.input,
            ds.original_bytes(),
            h5baler::FILTER_ID,
        );
    }
    Ok(())
}
