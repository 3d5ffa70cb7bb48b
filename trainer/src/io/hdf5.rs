//! Placeholder: filled in by its own change.

use std::path::Path;

use super::{IoError, Loaded};

pub(crate) fn read(path: &Path, _inner: Option<&str>) -> Result<Loaded, IoError> {
    Err(IoError::invalid(path, "this format is not implemented yet"))
}

pub(crate) fn write(
    path: &Path,
    _dataset: &str,
    _ds: &baler_codec::Dataset,
    _fill: Option<f64>,
) -> Result<(), IoError> {
    Err(IoError::Unwritable {
        file: super::display(path),
        msg: "HDF5 output is not implemented yet".into(),
    })
}
