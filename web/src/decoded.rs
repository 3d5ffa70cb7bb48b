//! Decoded data as the viewer keeps it: the `.npy` file being built (header + little-endian values
//! in the original dtype, exactly what `baler-train decompress` writes), filled chunk by chunk.
//! Views read values straight from those bytes, so the viewer holds one copy of the data.

use baler_codec::data::{DType, Dataset};
use baler_codec::npy;

pub struct Decoded {
    pub dtype: DType,
    /// Shape of the written array (a table: `[rows, columns]`).
    pub shape: Vec<usize>,
    /// Column names of a table; None for a field.
    pub columns: Option<Vec<String>>,
    /// Values equal to this are "no data" (besides NaN and ±Inf).
    pub fill_value: Option<f64>,
    npy: Vec<u8>,
    data_start: usize,
    pub stats: RunningStats,
}

impl Decoded {
    pub fn new(
        dtype: DType,
        shape: Vec<usize>,
        columns: Option<Vec<String>>,
        fill_value: Option<f64>,
    ) -> Self {
        let npy = npy::header_bytes(npy::descr(dtype), &shape);
        let data_start = npy.len();
        Self { dtype, shape, columns, fill_value, npy, data_start, stats: RunningStats::default() }
    }

    /// Appends the next decoded rows.
    pub fn push(&mut self, part: &Dataset) {
        let before = self.len_done();
        npy::append_values(&mut self.npy, part, self.dtype);
        for i in before..self.len_done() {
            let v = self.value(i);
            if self.is_data(v) {
                self.stats.add(v);
            }
        }
    }

    pub fn len_total(&self) -> usize {
        self.shape.iter().product()
    }

    /// Values decoded so far.
    pub fn len_done(&self) -> usize {
        (self.npy.len() - self.data_start) / self.dtype.size_bytes()
    }

    /// The `.npy` file (complete once every chunk is in).
    pub fn npy_bytes(&self) -> &[u8] {
        &self.npy
    }

    /// Element `i` (row-major) as f64.
    pub fn value(&self, i: usize) -> f64 {
        let w = self.dtype.size_bytes();
        let b = &self.npy[self.data_start + i * w..self.data_start + (i + 1) * w];
        let mut a = [0u8; 8];
        a[..w].copy_from_slice(b);
        match self.dtype {
            DType::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            DType::F64 => f64::from_le_bytes(a),
            DType::I8 => a[0] as i8 as f64,
            DType::I16 => i16::from_le_bytes([a[0], a[1]]) as f64,
            DType::I32 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            DType::I64 => i64::from_le_bytes(a) as f64,
            DType::U8 => a[0] as f64,
            DType::U16 => u16::from_le_bytes([a[0], a[1]]) as f64,
            DType::U32 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            DType::U64 => u64::from_le_bytes(a) as f64,
        }
    }

    /// Not NaN, ±Inf or the fill value.
    pub fn is_data(&self, v: f64) -> bool {
        v.is_finite() && Some(v) != self.fill_value
    }

    /// The field seen as a volume `[slices along axis 0, rows, columns]`: 2-D fields are one
    /// frame, 1-D fields one row, higher ranks stack their leading axes.
    pub fn volume(&self) -> [usize; 3] {
        match self.shape.as_slice() {
            [] => [1, 1, 1],
            [n] => [1, 1, *n],
            [h, w] => [1, *h, *w],
            [lead @ .., h, w] => [lead.iter().product(), *h, *w],
        }
    }

    /// How many slices there are along `axis` of the volume.
    pub fn slices(&self, axis: usize) -> usize {
        self.volume()[axis.min(2)]
    }

    /// The 2-D slice at `index` along `axis`: (width, height, values row-major). Values not decoded
    /// yet are NaN.
    pub fn slice(&self, axis: usize, index: usize) -> (usize, usize, Vec<f64>) {
        let [d0, d1, d2] = self.volume();
        let axis = axis.min(2);
        let index = index.min(self.slices(axis).saturating_sub(1));
        let (h, w) = match axis {
            0 => (d1, d2),
            1 => (d0, d2),
            _ => (d0, d1),
        };
        let done = self.len_done();
        let mut out = Vec::with_capacity(h * w);
        for r in 0..h {
            for c in 0..w {
                let i = match axis {
                    0 => (index * d1 + r) * d2 + c,
                    1 => (r * d1 + index) * d2 + c,
                    _ => (r * d1 + c) * d2 + index,
                };
                out.push(if i < done { self.value(i) } else { f64::NAN });
            }
        }
        (w, h, out)
    }

    /// Whether slice `index` along axis 0 is fully decoded (what streaming shows first).
    pub fn first_axis_slice_ready(&self, index: usize) -> bool {
        let [_, d1, d2] = self.volume();
        self.len_done() >= (index + 1) * d1 * d2
    }

    /// Column `c` of a table.
    pub fn column(&self, c: usize) -> Vec<f64> {
        let cols = self.shape.get(1).copied().unwrap_or(1);
        (0..self.len_done() / cols.max(1)).map(|r| self.value(r * cols + c)).collect()
    }
}

/// Min, max and mean of the data values seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunningStats {
    pub count: u64,
    pub no_data: u64,
    pub min: f64,
    pub max: f64,
    sum: f64,
}

impl RunningStats {
    pub fn add(&mut self, v: f64) {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        }
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.count += 1;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    pub fn of(values: &[f64], is_data: impl Fn(f64) -> bool) -> Self {
        let mut s = Self::default();
        for &v in values {
            if is_data(v) { s.add(v) } else { s.no_data += 1 }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baler_codec::data::{Array, Column, Values};

    fn field(shape: Vec<usize>, dtype: DType) -> (Decoded, Dataset) {
        let n: usize = shape.iter().product();
        let values = if dtype.is_float() {
            Values::Float((0..n).map(|i| i as f64).collect())
        } else {
            Values::Int((0..n).map(|i| i as i64).collect())
        };
        let ds = Dataset::Field(Array { dtype, shape: shape.clone(), values });
        (Decoded::new(dtype, shape, None, None), ds)
    }

    #[test]
    fn slices_along_each_axis() {
        let (mut d, ds) = field(vec![2, 3, 4], DType::F32);
        d.push(&ds);
        assert_eq!(d.npy_bytes(), npy::to_npy(&ds));
        assert_eq!(d.slice(0, 1), (4, 3, (12..24).map(f64::from).collect()));
        assert_eq!(d.slice(1, 2), (4, 2, vec![8., 9., 10., 11., 20., 21., 22., 23.]));
        assert_eq!(d.slice(2, 3), (3, 2, vec![3., 7., 11., 15., 19., 23.]));
        assert_eq!(d.slices(2), 4);
        assert_eq!(d.stats.mean(), Some(11.5));
    }

    #[test]
    fn partial_data_shows_as_missing_and_ranks_map_to_volumes() {
        let (mut d, _) = field(vec![2, 2, 2], DType::I16);
        let first = Dataset::Field(Array {
            dtype: DType::I16,
            shape: vec![4],
            values: Values::Int(vec![-1, 2, 3, 4]),
        });
        d.push(&first);
        assert!(d.first_axis_slice_ready(0) && !d.first_axis_slice_ready(1));
        let (_, _, v) = d.slice(0, 1);
        assert!(v.iter().all(|x| x.is_nan()));
        assert_eq!(d.value(0), -1.0);
        assert_eq!(field(vec![5], DType::F64).0.volume(), [1, 1, 5]);
        assert_eq!(field(vec![2, 3, 4, 5], DType::F64).0.volume(), [6, 4, 5]);
        assert_eq!(field(vec![], DType::F64).0.volume(), [1, 1, 1]);
    }

    #[test]
    fn tables_and_fill_values() {
        let t = Dataset::Table {
            rows: 3,
            columns: vec![
                Column { name: "e".into(), dtype: DType::F64, values: Values::Float(vec![1.0, -1e34, 3.0]) },
                Column {
                    name: "n".into(),
                    dtype: DType::F64,
                    values: Values::Float(vec![f64::NAN, 5.0, 6.0]),
                },
            ],
        };
        let mut d = Decoded::new(DType::F64, vec![3, 2], Some(vec!["e".into(), "n".into()]), Some(-1e34));
        d.push(&t);
        assert_eq!(d.column(0), vec![1.0, -1e34, 3.0]);
        let s = RunningStats::of(&d.column(0), |v| d.is_data(v));
        assert_eq!((s.count, s.no_data, s.min, s.max), (2, 1, 1.0, 3.0));
        assert_eq!(d.stats.count, 4);
    }
}
