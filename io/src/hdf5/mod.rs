//! HDF5 input and output (`file.h5:/group/dataset`), behind the `hdf5` cargo feature (Debian:
//! `libhdf5-dev`).
//!
//! Reading:
//! * a numeric dataset of any rank (float32/float64, int8..int64, uint8..uint64, either byte
//!   order) is a [`Dataset::Field`] in that dtype and shape;
//! * a 1-d compound dataset whose members are all numeric scalars (an HDF5 "table", e.g. from
//!   PyTables or h5py record arrays) is a [`Dataset::Table`]: one column per member, in its own
//!   dtype;
//! * a 2-d dataset with a `columns` attribute holding one string per column (what [`write`]
//!   makes of a table) is a [`Dataset::Table`] with those names, and with the per-column dtypes
//!   of its `dtypes` attribute where the values convert exactly.
//!
//! The fill value is the dataset's `_FillValue` attribute (a numeric scalar), if any.
//!
//! Writing: a field is one dataset in its own dtype and shape; a table one 2-d `[rows, columns]`
//! dataset in the dtype all columns share (float64 when they differ) with the string attributes
//! `columns` and `dtypes`. A fill value becomes a `_FillValue` attribute. The file is written
//! beside the target as `.NAME.tmp-PID-N` and renamed over it once complete.
//!
//! `read.rs` reads a dataset whole, `rows.rs` a slab of its first axis at a time (streaming
//! compression), `write.rs` writes one.

use std::path::Path;

use baler_codec::Dataset;

use super::{IoError, Loaded};

/// Reads the dataset `inner` (a path such as `/group/data`; `None`: the file's only dataset).
pub(crate) fn read(path: &Path, inner: Option<&str>) -> Result<Loaded, IoError> {
    #[cfg(feature = "hdf5")]
    {
        read::read(path, inner)
    }
    #[cfg(not(feature = "hdf5"))]
    {
        let _ = inner;
        Err(IoError::invalid(path, NO_SUPPORT))
    }
}

/// The dataset `inner` for reading by rows, when it is a numeric dataset of at most 3 axes.
pub(crate) fn open_rows(path: &Path, inner: Option<&str>) -> Result<Option<super::Rows>, IoError> {
    #[cfg(feature = "hdf5")]
    {
        rows::open_rows(path, inner)
    }
    #[cfg(not(feature = "hdf5"))]
    {
        // Read whole instead, which says how to get HDF5 support.
        let _ = (path, inner);
        Ok(None)
    }
}

/// Writes `ds` as the dataset `dataset` of a new HDF5 file at `path`, atomically; with
/// `baler_filter` (the filter's user parameters), chunked and stored through the Baler filter.
pub(crate) fn write(
    path: &Path,
    dataset: &str,
    ds: &Dataset,
    fill: Option<f64>,
    baler_filter: Option<&[u32]>,
) -> Result<(), IoError> {
    #[cfg(feature = "hdf5")]
    {
        write::write(path, dataset, ds, fill, baler_filter)
    }
    #[cfg(not(feature = "hdf5"))]
    {
        let _ = (dataset, ds, fill, baler_filter);
        Err(IoError::Unwritable { file: super::display(path), msg: NO_SUPPORT.into() })
    }
}

/// Registers the Baler filter with this process's HDF5 (once), so datasets stored through it read
/// and write without the plugin on HDF5_PLUGIN_PATH.
#[cfg(feature = "hdf5")]
fn register_baler_filter() -> ::hdf5::Result<()> {
    static REGISTERED: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    // SAFETY: hdf5-sys's H5Zregister is HDF5's, called under hdf5-metno's lock.
    let status = *REGISTERED
        .get_or_init(|| ::hdf5::sync::sync(|| unsafe { h5baler::register(hdf5_sys::h5z::H5Zregister) }));
    if status < 0 { Err("could not register the Baler HDF5 filter".into()) } else { Ok(()) }
}

/// Opens an HDF5 file for reading, the Baler filter registered.
#[cfg(feature = "hdf5")]
fn open_file(path: &Path) -> Result<::hdf5::File, IoError> {
    register_baler_filter()
        .and_then(|_| ::hdf5::File::open(path))
        .map_err(|e| IoError::invalid(path, format!("cannot open as HDF5: {e}")))
}

#[cfg(not(feature = "hdf5"))]
const NO_SUPPORT: &str = "this build has no HDF5 support (rebuild baler-train with --features hdf5)";

#[cfg(feature = "hdf5")]
mod read;
#[cfg(feature = "hdf5")]
mod rows;
#[cfg(feature = "hdf5")]
mod write;

#[cfg(test)]
mod tests {
    use super::*;
    use baler_codec::data::{Array, DType, Values};

    fn tiny() -> Dataset {
        Dataset::Field(Array { dtype: DType::F64, shape: vec![1], values: Values::Float(vec![1.0]) })
    }

    #[cfg(not(feature = "hdf5"))]
    #[test]
    fn without_the_feature_the_error_says_how_to_get_it() {
        let err = read(Path::new("data.h5"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data.h5: this build has no HDF5 support (rebuild baler-train with --features hdf5)"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.h5");
        let err = write(&out, "/data", &tiny(), None, None).unwrap_err();
        assert!(err.to_string().contains("--features hdf5"), "{err}");
        assert!(!out.exists());
    }

    #[cfg(feature = "hdf5")]
    #[test]
    fn dataset_paths_and_value_text() {
        assert_eq!(write::dataset_path("/a/b/c").unwrap(), ["a", "b", "c"]);
        assert_eq!(write::dataset_path("data").unwrap(), ["data"]);
        for bad in ["", "/", "/a//b", "/a/../b", "a/"] {
            assert!(write::dataset_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(crate::fmt_value(f64::from(-1e34f32), DType::F32), "-1e34");
        assert_eq!(crate::fmt_value(-999.0, DType::F64), "-999");
        assert_eq!(crate::fmt_value(0.25, DType::F64), "0.25");
        assert_eq!(crate::fmt_value(-32767.0, DType::I16), "-32767");
        assert_eq!(crate::fmt_value(u64::MAX as f64, DType::U64), "18446744073709551616");
    }

    #[cfg(feature = "hdf5")]
    #[test]
    fn write_then_read_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.h5");
        write(&out, "/g/x", &tiny(), Some(-1.0), None).unwrap();
        let back = read(&out, Some("/g/x")).unwrap();
        assert_eq!(back.dataset, tiny());
        assert_eq!(back.fill_value, Some(-1.0));
        assert_eq!(
            back.source,
            format!(
                "{}:/g/x (HDF5, float64, shape [1], _FillValue -1)",
                out.file_name().unwrap().to_string_lossy()
            )
        );
    }
}
