//! What the predictors learned per chunk win: archive bytes of each field with and without them
//! (`CompressOptions::learned`: column models on tables, a learned last pass on fields), at 1e-2,
//! 1e-3 and 1e-4 of the range, and in how many chunks the learned last pass was chosen.
//!
//! `cargo run --release -p baler-codec --features encode --example learned_ab -- F.npy …`
//! (C-order little-endian float32 or float64 `.npy` fields.)
use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{Array, BoundSpec, DType, Dataset, Values};
fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = String::from_utf8_lossy(&bytes[10..10 + hlen]).to_string();
        let f32 = header.contains("<f4");
        let shape: Vec<usize> = header
            .split('(')
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse().unwrap())
            .collect();
        let data = &bytes[10 + hlen..];
        let values: Vec<f64> = if f32 {
            data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect()
        } else {
            data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
        };
        let ds = Dataset::Field(Array {
            dtype: if f32 { DType::F32 } else { DType::F64 },
            shape,
            values: Values::Float(values),
        });
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
                    c.predictors.len(),
                )
            };
            let (a, b) = (size(false), size(true));
            println!(
                "{path} {rel:e}: classic {} learned {} ({:+.2} %), learned pass in {} of {} chunks",
                a.0,
                b.0,
                100.0 * (a.0 as f64 / b.0 as f64 - 1.0),
                b.1,
                b.2
            );
        }
    }
}
