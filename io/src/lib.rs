//! Readers and writers for npy / npz / csv.
//!
//! * `.npy`: one numeric array (any integer, float32/float64 or bool dtype, either byte order,
//!   C or Fortran order). Read as a [`Dataset::Field`], or as a [`Dataset::Table`] with columns
//!   `col0..` when [`ReadOptions::table`] is set and the array is 2D.
//! * `.npz`: the original Baler layout, an array `data` plus an optional unicode array `names`
//!   (column names; an empty float64 array means "no names"). Members may be stored or deflated.
//! * `.csv`: a header row of column names, then numeric rows: always a [`Dataset::Table`].
//! * `.h5` / `.hdf5` (`file.h5:/group/dataset`), `.nc` (`file.nc:VARIABLE`, with its `_FillValue`
//!   / `missing_value`) behind the `hdf5` / `netcdf` features, and ROOT TTrees
//!   (`file.root:tree[:branches]`): see [`load`].
//!
//! Every writer goes through [`write_atomic`], so a failed write never leaves a half-written file;
//! callers check each output against their inputs with [`refuse_overwriting_inputs`].
//! Every error message names the file and the problem on one line.

mod atomic;
mod csv;
mod hdf5;
mod netcdf;
mod npy;
mod npz;
mod overwrite;
mod root;

use std::io::Write;
use std::path::Path;

use baler_codec::data::{Array, Column, DType, Dataset, RowSource, Values};

pub use atomic::write_atomic;
pub use overwrite::{refuse_overwriting_inputs, same_file, spec_file};

/// How to interpret what is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read a plain 2D array (a `.npy`, or a `.npz` without column names) as a table with
    /// columns named `col0`, `col1`, ... and one row per first index.
    pub table: bool,
}

/// What went wrong, and with which file.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The input file does not exist.
    #[error("{file}: file not found")]
    NotFound { file: String },
    /// The operating system refused (permissions, disk full, ...), or a writer failed.
    #[error("{file}: {err}")]
    Io { file: String, err: std::io::Error },
    /// The extension names no format we know.
    #[error("{file}: {}", describe_extension(.ext))]
    UnknownExtension { file: String, ext: String },
    /// The file's content is malformed or holds something we cannot read.
    #[error("{file}: {msg}")]
    Invalid { file: String, msg: String },
    /// The dataset cannot be written in the format the extension asks for.
    #[error("{file}: cannot write: {msg}")]
    Unwritable { file: String, msg: String },
    /// An output names the same file as an input (path, symlink or hard link).
    #[error("{file}: {}; refusing to overwrite it", describe_same(.file, .input))]
    OutputIsInput { file: String, input: String },
}

impl IoError {
    /// The file the error is about, as it was given.
    pub fn file(&self) -> &str {
        match self {
            IoError::NotFound { file }
            | IoError::Io { file, .. }
            | IoError::UnknownExtension { file, .. }
            | IoError::Invalid { file, .. }
            | IoError::Unwritable { file, .. }
            | IoError::OutputIsInput { file, .. } => file,
        }
    }

    pub(crate) fn invalid(path: &Path, msg: impl Into<String>) -> IoError {
        IoError::Invalid { file: display(path), msg: msg.into() }
    }

    /// An error from opening or reading an input file: "file not found" stays short.
    pub(crate) fn read(path: &Path, err: std::io::Error) -> IoError {
        if err.kind() == std::io::ErrorKind::NotFound {
            IoError::NotFound { file: display(path) }
        } else {
            IoError::Io { file: display(path), err }
        }
    }
}

fn describe_same(file: &str, input: &str) -> String {
    if file == input {
        "the output is the input file".into()
    } else {
        format!("the output is the same file as input {input}")
    }
}

fn describe_extension(ext: &str) -> String {
    const KNOWN: &str = "expected .npy, .npz, .csv, .h5, .nc or .root";
    if ext.is_empty() {
        format!("no extension ({KNOWN})")
    } else {
        format!("unknown extension '.{ext}' ({KNOWN})")
    }
}

/// A value for a message: integers as integers, float32 in its shortest form.
#[cfg(any(feature = "hdf5", feature = "netcdf"))]
pub(crate) fn fmt_value(v: f64, dtype: DType) -> String {
    fn float<T: std::fmt::Display + std::fmt::LowerExp>(x: T, abs: f64) -> String {
        if abs == 0.0 || !abs.is_finite() || (1e-4..1e16).contains(&abs) {
            format!("{x}")
        } else {
            format!("{x:e}")
        }
    }
    match dtype {
        DType::F32 => float(v as f32, v.abs()),
        DType::F64 => float(v, v.abs()),
        _ if v.is_finite() && v.fract() == 0.0 => format!("{}", v as i128),
        _ => float(v, v.abs()),
    }
}

pub(crate) fn display(path: &Path) -> String {
    path.display().to_string()
}

/// A file's name without its directories: what [`Loaded::source`] records.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| display(path), |n| n.to_string_lossy().into_owned())
}

/// What an input read from `path` (an `.npz` member `key`) records as its source: the same read
/// whole or by rows.
fn npz_source(path: &Path, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{}:{key}", file_name(path)),
        None => file_name(path),
    }
}

/// The file formats we read and write, chosen by extension (case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Npy,
    Npz,
    Csv,
    Hdf5,
    NetCdf,
    Root,
}

impl Format {
    /// The format that `path`'s extension names.
    pub fn of(path: &Path) -> Result<Format, IoError> {
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        match ext.to_ascii_lowercase().as_str() {
            "npy" => Ok(Format::Npy),
            "npz" => Ok(Format::Npz),
            "csv" => Ok(Format::Csv),
            "h5" | "hdf5" | "he5" => Ok(Format::Hdf5),
            "nc" | "nc4" | "cdf" => Ok(Format::NetCdf),
            "root" => Ok(Format::Root),
            _ => Err(IoError::UnknownExtension { file: display(path), ext }),
        }
    }
}

/// Reads a `.npy`, `.npz` or `.csv` file (chosen by extension) into memory; the other formats
/// go through [`load`] with their default dataset / variable / tree.
pub fn read_dataset(path: &Path, opts: &ReadOptions) -> Result<Dataset, IoError> {
    match Format::of(path)? {
        Format::Npy => npy::read_file(path, opts),
        Format::Npz => npz::read_file(path, opts),
        Format::Csv => csv::read_file(path),
        Format::Hdf5 | Format::NetCdf | Format::Root => Ok(load(&path.to_string_lossy(), opts)?.dataset),
    }
}

/// What a reader found: the data, the fill value the file declares (NetCDF `_FillValue` /
/// `missing_value`, HDF5 `_FillValue` attribute), and a one-line description of the source:
/// the file's name (no directories: it goes into archives and model files), the dataset,
/// member or tree inside it, and what was read.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub dataset: Dataset,
    pub fill_value: Option<f64>,
    pub source: String,
    /// The names of a field's axes, one per axis, where the source names them (NetCDF
    /// dimensions, HDF5 dimension scales); empty otherwise.
    pub axes: Vec<String>,
}

/// Splits `file.h5:/group/data`, `file.nc:VAR`, `file.root:tree[:branches]` into the file and
/// the part inside it (at the first ':' that follows a known extension).
pub fn split_spec(spec: &str) -> (&str, Option<&str>) {
    for (i, _) in spec.match_indices(':') {
        if Format::of(Path::new(&spec[..i])).is_ok() {
            return (&spec[..i], Some(&spec[i + 1..]));
        }
    }
    (spec, None)
}

/// Reads any supported input, `FILE` or `FILE:INNER`.
pub fn load(spec: &str, opts: &ReadOptions) -> Result<Loaded, IoError> {
    let (file, inner) = split_spec(spec);
    let path = Path::new(file);
    let format = Format::of(path)?;
    let plain =
        |ds: Dataset| Loaded { dataset: ds, fill_value: None, source: file_name(path), axes: Vec::new() };
    match (format, inner) {
        (Format::Npy | Format::Csv, Some(i)) => {
            Err(IoError::invalid(path, format!("'{i}': this format holds one array, nothing to select")))
        }
        (Format::Npy, None) => npy::read_file(path, opts).map(plain),
        (Format::Npz, None) => npz::read_file(path, opts).map(plain),
        (Format::Npz, Some(key)) => npz::read_member(path, key, opts)
            .map(|ds| Loaded { source: npz_source(path, Some(key)), ..plain(ds) }),
        (Format::Csv, None) => csv::read_file(path).map(plain),
        (Format::Hdf5, inner) => hdf5::read(path, inner),
        (Format::NetCdf, inner) => netcdf::read(path, inner),
        (Format::Root, inner) => root::read(path, inner),
    }
}

/// An input opened for reading a slab of rows at a time (see [`open_rows`]).
pub struct Rows {
    pub reader: Box<dyn RowSource>,
    /// As [`Loaded::fill_value`].
    pub fill_value: Option<f64>,
    /// As [`Loaded::source`].
    pub source: String,
    /// As [`Loaded::axes`].
    pub axes: Vec<String>,
}

/// Opens `FILE` or `FILE:INNER` for reading by rows, when its format and layout allow it: a
/// numeric C-order `.npy` (a field, or a 2-d table with [`ReadOptions::table`]), the same stored
/// uncompressed in an `.npz` (Baler's `data` + `names` layout a table of those columns), a `.csv`
/// of at least 256 MiB (`BALER_CSV_ROWS_FROM` bytes; each pass parses it again), a numeric
/// HDF5 dataset of at most 3 axes, a numeric NetCDF variable of 1 to 3 dimensions, or the flat
/// branches of a ROOT tree in a file of at least 256 MiB (`BALER_ROOT_ROWS_FROM` bytes). `None`
/// for anything else: read it whole with [`load`].
pub fn open_rows(spec: &str, opts: &ReadOptions) -> Result<Option<Rows>, IoError> {
    let (file, inner) = split_spec(spec);
    let path = Path::new(file);
    match (Format::of(path)?, inner) {
        (Format::Npy, None) => Ok(npy::open_rows(path, opts)?.map(|r| Rows {
            reader: Box::new(r),
            fill_value: None,
            source: file_name(path),
            axes: Vec::new(),
        })),
        (Format::Npz, inner) => Ok(npz::open_rows(path, inner, opts)?.map(|r| Rows {
            reader: Box::new(r),
            fill_value: None,
            source: npz_source(path, inner),
            axes: Vec::new(),
        })),
        (Format::Csv, None) => {
            let bytes = std::fs::metadata(path).map_err(|e| IoError::read(path, e))?.len();
            Ok((bytes >= csv::rows_from_bytes()).then(|| csv::open_rows(path)).flatten().map(|r| Rows {
                reader: Box::new(r),
                fill_value: None,
                source: file_name(path),
                axes: Vec::new(),
            }))
        }
        (Format::Hdf5, inner) => hdf5::open_rows(path, inner),
        (Format::NetCdf, inner) => netcdf::open_rows(path, inner),
        (Format::Root, inner) => root::open_rows(path, inner),
        (Format::Npy | Format::Csv, Some(_)) => Ok(None),
    }
}

/// Writes `ds` to `FILE` or `FILE:INNER` (HDF5: the dataset path, default `/data`), atomically.
pub fn save(spec: &str, ds: &Dataset, fill_value: Option<f64>) -> Result<(), IoError> {
    let (file, inner) = split_spec(spec);
    let path = Path::new(file);
    match Format::of(path)? {
        Format::Hdf5 => hdf5::write(path, inner.unwrap_or("/data"), ds, fill_value, None),
        Format::NetCdf | Format::Root => {
            Err(IoError::Unwritable { file: display(path), msg: "write .npy, .npz, .csv or .h5".into() })
        }
        _ if inner.is_some() => Err(IoError::Unwritable {
            file: display(path),
            msg: "only HDF5 outputs take a dataset path".into(),
        }),
        _ => write_dataset(path, ds),
    }
}

/// Writes the array `ds` to the HDF5 `FILE` or `FILE:DATASET` (default `/data`), atomically,
/// chunked and stored through the Baler HDF5 filter with the user parameters `cd_values` (see
/// `baler-hdf5-filter`): any HDF5 program with the plugin reads it.
pub fn save_hdf5_filtered(
    spec: &str,
    ds: &Dataset,
    fill_value: Option<f64>,
    cd_values: &[u32],
) -> Result<(), IoError> {
    let (file, inner) = split_spec(spec);
    let path = Path::new(file);
    if Format::of(path)? != Format::Hdf5 {
        return Err(IoError::Unwritable {
            file: display(path),
            msg: "the Baler HDF5 filter writes .h5 files".into(),
        });
    }
    if !matches!(ds, Dataset::Field(_)) {
        return Err(IoError::Unwritable {
            file: display(path),
            msg: "the Baler HDF5 filter stores arrays; write a table as a .baler archive".into(),
        });
    }
    hdf5::write(path, inner.unwrap_or("/data"), ds, fill_value, Some(cd_values))
}

/// Writes `ds` to `path` in the format its extension names, atomically (see [`write_atomic`]).
///
/// * `.npy`: a field in its own dtype and shape; a table as a 2D `[rows, columns]` array in the
///   dtype all columns share, or float64 when they differ.
/// * `.npz`: Baler's layout, `data` as above plus `names` (the column names as a `<U{n}` array,
///   or an empty float64 array for a field).
/// * `.csv`: tables, and 1D/2D fields (columns `col0..`). Integers print as integers, floats in
///   their shortest round-trip form (as float32 for float32 columns), NaN as `nan`, infinities
///   as `inf` / `-inf`.
///
/// Values are converted back to the dataset's dtype(s) exactly; an integer value that does not
/// fit its dtype is an error, not a silent wrap.
pub fn write_dataset(path: &Path, ds: &Dataset) -> Result<(), IoError> {
    let format = Format::of(path)?;
    match format {
        Format::Hdf5 => return hdf5::write(path, "/data", ds, None, None),
        Format::NetCdf | Format::Root => {
            return Err(IoError::Unwritable {
                file: display(path),
                msg: "write .npy, .npz, .csv or .h5".into(),
            });
        }
        _ => {}
    }
    check_consistent(ds).map_err(|msg| IoError::Unwritable { file: display(path), msg })?;
    if format == Format::Csv
        && let Dataset::Field(a) = ds
        && a.shape.len() > 2
    {
        return Err(IoError::Unwritable {
            file: display(path),
            msg: format!(
                "a CSV file holds a table or a 1D/2D array, not a {}D array of shape {:?} \
                 (write .npy or .npz instead)",
                a.shape.len(),
                a.shape
            ),
        });
    }
    write_atomic(path, |w| match format {
        Format::Npy => npy::write_dataset(w, ds),
        Format::Npz => npz::write_dataset(w, ds),
        Format::Csv => csv::write_dataset(w, ds),
        Format::Hdf5 | Format::NetCdf | Format::Root => unreachable!("handled above"),
    })
}

/// The number of elements a shape holds, `None` on overflow.
pub(crate) fn shape_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// A dataset whose sizes contradict themselves cannot be written.
fn check_consistent(ds: &Dataset) -> Result<(), String> {
    match ds {
        Dataset::Field(a) => {
            let n = shape_len(&a.shape).ok_or_else(|| format!("shape {:?} overflows", a.shape))?;
            if n != a.values.len() {
                return Err(format!(
                    "shape {:?} holds {n} values but the array has {}",
                    a.shape,
                    a.values.len()
                ));
            }
        }
        Dataset::Table { rows, columns } => {
            for c in columns {
                if c.values.len() != *rows {
                    return Err(format!(
                        "column '{}' has {} values but the table has {rows} rows",
                        c.name,
                        c.values.len()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A 2D array seen as a table: columns `col0..` with `rows = shape[0]`.
pub(crate) fn array_to_table(a: Array) -> Dataset {
    debug_assert_eq!(a.shape.len(), 2);
    let (rows, cols) = (a.shape[0], a.shape[1]);
    fn split<T: Copy>(v: &[T], rows: usize, cols: usize, c: usize) -> Vec<T> {
        (0..rows).map(|r| v[r * cols + c]).collect()
    }
    let columns = (0..cols)
        .map(|c| Column {
            name: format!("col{c}"),
            dtype: a.dtype,
            values: match &a.values {
                Values::Float(v) => Values::Float(split(v, rows, cols, c)),
                Values::Int(v) => Values::Int(split(v, rows, cols, c)),
            },
        })
        .collect();
    Dataset::Table { rows, columns }
}

/// A 2D array with the given column names as a table.
pub(crate) fn array_to_named_table(a: Array, names: Vec<String>) -> Dataset {
    match array_to_table(a) {
        Dataset::Table { rows, mut columns } => {
            for (c, name) in columns.iter_mut().zip(names) {
                c.name = name;
            }
            Dataset::Table { rows, columns }
        }
        field => field,
    }
}

/// One column of values to write: `values[offset + r * stride]` for row `r`, in `dtype`.
/// Lets tables and 2D fields be written row by row without copying them.
pub(crate) struct ColView<'a> {
    pub dtype: DType,
    pub values: &'a Values,
    pub offset: usize,
    pub stride: usize,
}

/// One value as stored in memory.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Elem {
    F(f64),
    I(i64),
}

impl ColView<'_> {
    pub fn get(&self, row: usize) -> Elem {
        let i = self.offset + row * self.stride;
        match self.values {
            Values::Float(v) => Elem::F(v[i]),
            Values::Int(v) => Elem::I(v[i]),
        }
    }
}

/// The columns of a dataset viewed as a 2D table: `(rows, columns)`.
/// A 1D field is one column; a 0D field one value; a field of more dimensions is flattened
/// to `[shape[0], rest]`.
pub(crate) fn column_views(ds: &Dataset) -> (usize, Vec<ColView<'_>>) {
    match ds {
        Dataset::Table { rows, columns } => (
            *rows,
            columns
                .iter()
                .map(|c| ColView { dtype: c.dtype, values: &c.values, offset: 0, stride: 1 })
                .collect(),
        ),
        Dataset::Field(a) => {
            let (rows, cols) = match a.shape.len() {
                0 => (1, 1),
                1 => (a.shape[0], 1),
                _ => (a.shape[0], shape_len(&a.shape[1..]).unwrap_or(0)),
            };
            let views = (0..cols)
                .map(|c| ColView { dtype: a.dtype, values: &a.values, offset: c, stride: cols })
                .collect();
            (rows, views)
        }
    }
}

/// The dtype a table is written in as one array: the one all columns share, else float64.
#[cfg(any(feature = "hdf5", test))]
pub(crate) fn common_dtype(columns: &[Column]) -> DType {
    npy_dtype(&columns.iter().map(|c| c.dtype).collect::<Vec<_>>())
}

pub use baler_codec::npy::common_dtype as npy_dtype;

/// Writes a `.npy` of `dtype` and `shape` whose values arrive in row-major parts (streaming
/// decode: memory stays at one part): `produce` calls `emit` once per part, in order. Atomic
/// like every writer: if `produce` fails, nothing is left behind.
pub fn write_npy_parts(
    path: &Path,
    dtype: DType,
    shape: &[usize],
    produce: impl FnOnce(&mut dyn FnMut(&Dataset) -> std::io::Result<()>) -> std::io::Result<()>,
) -> Result<(), IoError> {
    if Format::of(path)? != Format::Npy {
        return Err(IoError::Unwritable { file: display(path), msg: "streaming output is .npy only".into() });
    }
    write_atomic(path, |w| {
        w.write_all(&npy::header_bytes(npy::descr(dtype), shape))?;
        produce(&mut |part| npy::write_values(w, part, dtype))
    })
}

/// `e` as an integer of `dtype`, returned as i64 (a u64 by its bits). Floats must be integral
/// and in range; integers must fit the dtype.
pub(crate) fn to_int(dtype: DType, e: Elem) -> Result<i64, String> {
    let (lo, hi): (i128, i128) = match dtype {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::U64 => (0, u64::MAX.into()),
        DType::F32 | DType::F64 => unreachable!("to_int on a float dtype"),
    };
    let wide: i128 = match e {
        // a u64 above i64::MAX is kept by its bits
        Elem::I(v) if dtype == DType::U64 => i128::from(v as u64),
        Elem::I(v) => i128::from(v),
        Elem::F(f) => {
            // every integral f64 within ±2^127 converts exactly
            if !f.is_finite() || f.fract() != 0.0 || f.abs() >= 1.7e38 {
                return Err(format!("value {f} is not an integer ({})", dtype.name()));
            }
            f as i128
        }
    };
    if wide < lo || wide > hi {
        return Err(format!("value {wide} does not fit in {}", dtype.name()));
    }
    Ok(wide as i64)
}

/// `e` as a float (f64; an F32 column's value is rounded to f32 by the caller).
pub(crate) fn to_float(e: Elem) -> f64 {
    match e {
        Elem::F(f) => f,
        Elem::I(i) => i as f64,
    }
}

/// The test binary's allocator records the largest single allocation, so tests can prove that
/// a reader allocates no more than a file's bytes justify.
#[cfg(test)]
pub(crate) mod alloc_probe {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Probe;

    thread_local! {
        static LARGEST: Cell<usize> = const { Cell::new(0) };
    }

    fn note(size: usize) {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
    }

    // SAFETY: forwards every call to the system allocator unchanged.
    unsafe impl GlobalAlloc for Probe {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            note(l.size());
            unsafe { System.alloc(l) }
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            note(l.size());
            unsafe { System.alloc_zeroed(l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            unsafe { System.realloc(p, l, new_size) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) }
        }
    }

    #[global_allocator]
    static PROBE: Probe = Probe;

    /// `f`'s result and the largest single allocation this thread made while it ran.
    pub(crate) fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
        LARGEST.with(|m| m.set(0));
        let r = f();
        (r, LARGEST.with(Cell::get))
    }
}

#[cfg(test)]
mod tests;
