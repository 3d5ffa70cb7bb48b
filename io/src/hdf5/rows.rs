//! A numeric dataset of at most 3 axes read a slab of its first axis at a time.

use std::path::Path;

use ::hdf5::types::TypeDescriptor as TD;
use ::hdf5::{Container, File, H5Type, Hyperslab, SliceOrIndex};
use baler_codec::data::{DType, Dataset, DatasetLayout, RowSource, slabs};
use baler_codec::preprocess::RangeScan;

use super::read::{
    Source, as_dtype, axis_names, check_signature, column_names, fill_attr, find_dataset, numeric_dtype,
    read_values,
};
use crate::{IoError, display, file_name, fmt_value};

/// A numeric dataset of at most 3 axes, read a slab of its first axis at a time (streaming
/// compression); `None` for what [`read`] must read whole (tables, compound or other types,
/// more axes).
pub(super) fn open_rows(path: &Path, inner: Option<&str>) -> Result<Option<crate::Rows>, IoError> {
    check_signature(path)?;
    let file = super::open_file(path)?;
    let ds = find_dataset(path, &file, inner)?;
    let shape = ds.shape();
    let Ok(desc) = ds.dtype().and_then(|t| t.to_descriptor()) else { return Ok(None) };
    let Some(dtype) = numeric_dtype(&desc) else { return Ok(None) };
    if shape.is_empty() || shape.len() > 3 || column_names(&ds, &shape).is_some() {
        return Ok(None);
    }
    let fill_value = fill_attr(&ds).map(|v| as_dtype(v, dtype));
    let fill_note = fill_value.map(|v| format!(", _FillValue {}", fmt_value(v, dtype))).unwrap_or_default();
    let source =
        format!("{}:{} (HDF5, {}, shape {shape:?}{fill_note})", file_name(path), ds.name(), dtype.name());
    let layout = DatasetLayout { shape, table: false, streams: vec![(String::new(), dtype)] };
    let axes = axis_names(&ds);
    let reader = Hdf5Rows { path: display(path), desc, layout, ds, _file: file };
    Ok(Some(crate::Rows { reader: Box::new(reader), fill_value, source, axes }))
}

struct Hdf5Rows {
    path: String,
    ds: ::hdf5::Dataset,
    desc: TD,
    layout: DatasetLayout,
    _file: File,
}

impl RowSource for Hdf5Rows {
    fn layout(&self) -> &DatasetLayout {
        &self.layout
    }

    fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
        // With at most 3 axes a lattice row is one index of the first axis.
        let slab = Slab { obj: &self.ds, first, rows, shape: &self.layout.shape };
        let (dtype, values) = read_values(&self.desc, &slab)
            .map_err(|e| format!("{}: HDF5: {e}", self.path))?
            .ok_or_else(|| format!("{}: the element type changed", self.path))?;
        let shape = vec![values.len()];
        Ok(Dataset::Field(baler_codec::data::Array { dtype, shape, values }))
    }

    /// A float dataset's range from slabs read in its own type, with no f64 copy of them.
    fn field_range(&mut self, fill: Option<f64>) -> Option<Result<Option<(f64, f64)>, String>> {
        let dtype = self.layout.streams[0].1;
        if !dtype.is_float() {
            return None;
        }
        let row: usize = self.layout.shape[1..].iter().product();
        let mut scan = RangeScan::new(fill, dtype);
        for (first, rows) in slabs(self.layout.shape[0], row, SCAN_VALUES) {
            let slab = Slab { obj: &self.ds, first, rows, shape: &self.layout.shape };
            let read = match dtype {
                DType::F32 => slab.get::<f32>().map(|v| scan.add_f32(&v)),
                _ => slab.get::<f64>().map(|v| scan.add(&v)),
            };
            if let Err(e) = read {
                return Some(Err(format!("{}: HDF5: {e}", self.path)));
            }
        }
        Some(Ok(scan.range()))
    }
}

/// Values a slab of the range scan holds.
const SCAN_VALUES: usize = 1 << 22;

/// Rows `first..first + rows` of the first axis, all of the others.
struct Slab<'a> {
    obj: &'a Container,
    first: usize,
    rows: usize,
    shape: &'a [usize],
}

impl Source for Slab<'_> {
    fn get<T: H5Type>(&self) -> ::hdf5::Result<Vec<T>> {
        let sel: Vec<SliceOrIndex> = self
            .shape
            .iter()
            .enumerate()
            .map(
                |(axis, &d)| {
                    if axis == 0 { (self.first..self.first + self.rows).into() } else { (0..d).into() }
                },
            )
            .collect();
        let a = self.obj.read_slice::<T, _, ndarray::IxDyn>(Hyperslab::from(sel))?;
        Ok(a.into_raw_vec_and_offset().0)
    }
}
