//! Predictor 0: every element is predicted by its stream's centre. Best for uncorrelated samples
//! (the rows of an event table).

use crate::error::Result;
use crate::predictor::{Family, GridPredictor, Predictor, StreamInfo};

/// Predictor 0, and its family.
#[derive(Clone, Debug, Default)]
pub struct Constant;

/// Predictor 0 for one archive's streams.
struct ConstantOf {
    centers: Vec<i64>,
    table: bool,
}

impl Family for Constant {
    fn ids(&self) -> std::ops::RangeInclusive<u8> {
        0..=0
    }

    fn build(&self, _id: u8, streams: &StreamInfo) -> Result<Box<dyn Predictor>> {
        Ok(Box::new(ConstantOf { centers: streams.centers.clone(), table: streams.table }))
    }

    #[cfg(feature = "encode")]
    fn candidates(&self, _dims: [usize; 3], streams: &StreamInfo) -> Vec<Box<dyn Predictor>> {
        vec![Box::new(ConstantOf { centers: streams.centers.clone(), table: streams.table })]
    }
}

impl GridPredictor for ConstantOf {
    fn id(&self) -> u8 {
        0
    }

    fn name(&self) -> String {
        "constant".into()
    }

    fn sweep(&self, dims: [usize; 3], q: &mut [i64], mut visit: impl FnMut(usize, i64, i64) -> i64) {
        let [n0, n1, n2] = dims;
        let mut idx = 0;
        for _ in 0..n0 {
            for j in 0..n1 {
                // A table's element (i, j, k) is in stream j.
                let c = self.centers[if self.table { j } else { 0 }];
                for _ in 0..n2 {
                    q[idx] = visit(idx, c, q[idx]);
                    idx += 1;
                }
            }
        }
    }
}
