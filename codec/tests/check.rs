//! The compressor's check takes a feedback-interpolated chunk's values from the encoder's sweep
//! (its bytes still decoded to codes, which must be the encoder's): the archive, content hash
//! included, is byte for byte the one the check by the decoder's own sweep (`full_check`) writes,
//! and it decodes.
#![cfg(feature = "encode")]

use baler_codec::encode::{CompressOptions, compress};
use baler_codec::{Array, BoundSpec, DType, Dataset, Values, decode};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_check_from_the_sweep_writes_the_archive_the_decoders_check_writes(
        shape in prop::sample::select(vec![vec![4usize, 30, 41], vec![9, 31], vec![60, 50, 50], vec![3, 7, 5, 11]]),
        f32 in any::<bool>(),
        rel in prop::sample::select(vec![1e-2, 1e-4, 1e-7]),
        chunk_elements in prop::sample::select(vec![600usize, 5000, 1 << 21]),
        seed in 0u64..1000,
        specials in any::<bool>(),
    ) {
        let n: usize = shape.iter().product();
        let mut values: Vec<f64> = (0..n)
            .map(|i| ((i as f64) * 0.017 + seed as f64).sin() * 30.0 + ((i * 7919) % 11) as f64 * 0.01)
            .collect();
        let fill = specials.then_some(-999.0);
        if specials {
            values[seed as usize % n] = f64::NAN;
            values[(seed as usize * 7) % n] = -999.0;
            values[(seed as usize * 13) % n] = f64::NEG_INFINITY;
            values[(seed as usize * 17) % n] = 1e30;
        }
        let dtype = if f32 { DType::F32 } else { DType::F64 };
        if f32 {
            values.iter_mut().for_each(|v| *v = *v as f32 as f64);
        }
        let ds = Dataset::Field(Array { dtype, shape, values: Values::Float(values) });
        let opts = |full_check| CompressOptions {
            bound: BoundSpec::Rel(rel),
            fill_value: fill,
            chunk_elements,
            full_check,
            ..Default::default()
        };
        let swept = compress(&ds, &opts(false), None).unwrap();
        let full = compress(&ds, &opts(true), None).unwrap();
        prop_assert!(swept.bytes == full.bytes, "predictors {:?}", swept.predictors);
        prop_assert_eq!(decode(&swept.bytes, None).unwrap().element_count(), n);
    }
}
