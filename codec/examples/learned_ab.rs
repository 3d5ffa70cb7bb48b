//! What the predictors fitted per chunk win: archive bytes of each field with and without them
//! (`CompressOptions::learned`: column models on tables, a learned last pass and the periodic
//! predictor on fields), at 1e-2, 1e-3 and 1e-4 of the range, and in how many chunks the learned
//! last pass and the periodic predictor were chosen.
//!
//! `cargo run --release -p baler-codec --features encode --example learned_ab -- F.npy …`
//! (C-order little-endian float32 or float64 `.npy` fields.)
use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{BoundSpec, Dataset};

mod common;
fn main() {
    for path in std::env::args().skip(1) {
        let ds = Dataset::Field(common::read_field(&path));
        for rel in [1e-2, 1e-3, 1e-4] {
            let size = |learned| {
                let c = compress(
                    &ds,
                    &CompressOptions { bound: BoundSpec::Rel(rel), learned, ..Default::default() },
                    None,
                )
                .unwrap();
                (
                    c.bytes.len(),
                    c.predictors.iter().filter(|p| p.contains("learned")).count(),
                    c.predictors.iter().filter(|p| p.starts_with("period of")).count(),
                    c.predictors.len(),
                )
            };
            let (a, b) = (size(false), size(true));
            println!(
                "{path} {rel:e}: classic {} learned {} ({:+.2} %), learned pass in {} and period in {} of {} chunks",
                a.0,
                b.0,
                100.0 * (a.0 as f64 / b.0 as f64 - 1.0),
                b.1,
                b.2,
                b.3
            );
        }
    }
}
