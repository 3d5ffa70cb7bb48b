//! A test-only predictor, here to show (and check) what adding a predictor takes: this file and
//! its line in [`super::REGISTRY`]. Each element is predicted by the one two before it in raster
//! order: exact on data that interleaves two slowly varying series, where every neighbour-based
//! predictor mixes the series.

use crate::error::Result;
use crate::predictor::{Family, GridPredictor, Predictor, StreamInfo};

pub struct Period2;

impl Family for Period2 {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        255..=255
    }

    fn build(&self, _id: u8, _streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(Period2))
    }

    /// On 1-d series.
    #[cfg(feature = "encode")]
    fn candidates(&self, dims: [usize; 3], _streams: &StreamInfo) -> Vec<Box<dyn Predictor>> {
        if dims[1] * dims[2] == 1 { vec![Box::new(Period2)] } else { Vec::new() }
    }
}

impl GridPredictor for Period2 {
    fn id(&self) -> u8 {
        255
    }

    fn name(&self) -> String {
        "period 2".into()
    }

    fn sweep(&self, _dims: [usize; 3], q: &mut [i64], mut visit: impl FnMut(usize, i64, i64) -> i64) {
        for e in 0..q.len() {
            let p = if e >= 2 { q[e - 2] } else { 0 };
            q[e] = visit(e, p, q[e]);
        }
    }
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use crate::data::{Array, DType, Dataset, Values};
    use crate::encode::{CompressOptions, compress};
    use crate::format::metadata::BoundSpec;

    #[test]
    fn a_new_predictor_is_chosen_where_it_wins_and_decodes() {
        // Two interleaved slow waves far apart: every other predictor sees jumps of ~1000.
        let values: Vec<f64> = (0..4096)
            .map(|i| {
                let k = (i / 2) as f64 * 1e-3;
                if i % 2 == 0 { 100.0 * k.sin() } else { 1000.0 + 100.0 * k.cos() }
            })
            .collect();
        let ds =
            Dataset::Field(Array { dtype: DType::F64, shape: vec![4096], values: Values::Float(values) });
        let opts = CompressOptions { bound: BoundSpec::Abs(1e-2), ..Default::default() };
        let c = compress(&ds, &opts, None).unwrap();
        assert_eq!(c.predictors, ["period 2"]);
        let back = crate::decode(&c.bytes, None).unwrap();
        let (Dataset::Field(a), Dataset::Field(b)) = (&ds, &back) else { panic!("a field") };
        let (Values::Float(a), Values::Float(b)) = (&a.values, &b.values) else { panic!("floats") };
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-2));
    }
}
