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

use std::path::Path;

use baler_codec::Dataset;

use super::{IoError, Loaded};

/// Reads the dataset `inner` (a path such as `/group/data`; `None`: the file's only dataset).
pub(crate) fn read(path: &Path, inner: Option<&str>) -> Result<Loaded, IoError> {
    #[cfg(feature = "hdf5")]
    {
        imp::read(path, inner)
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
        imp::open_rows(path, inner)
    }
    #[cfg(not(feature = "hdf5"))]
    {
        let _ = inner;
        Err(IoError::invalid(path, NO_SUPPORT))
    }
}

/// Writes `ds` as the dataset `dataset` of a new HDF5 file at `path`, atomically.
pub(crate) fn write(path: &Path, dataset: &str, ds: &Dataset, fill: Option<f64>) -> Result<(), IoError> {
    #[cfg(feature = "hdf5")]
    {
        imp::write(path, dataset, ds, fill)
    }
    #[cfg(not(feature = "hdf5"))]
    {
        let _ = (dataset, ds, fill);
        Err(IoError::Unwritable { file: super::display(path), msg: NO_SUPPORT.into() })
    }
}

#[cfg(not(feature = "hdf5"))]
const NO_SUPPORT: &str = "this build has no HDF5 support (rebuild baler-train with --features hdf5)";

#[cfg(feature = "hdf5")]
mod imp {
    use std::cell::RefCell;

    use std::fs;
    use std::io::{Read, Seek, SeekFrom};
    use std::path::Path;
    use std::str::FromStr;

    use ::hdf5::types::{
        CompoundField, CompoundType, FloatSize, IntSize, TypeDescriptor as TD, VarLenAscii, VarLenUnicode,
    };
    use ::hdf5::{Container, File, Group, H5Type, Hyperslab, SliceOrIndex};
    use baler_codec::data::{Column, DType, Dataset, DatasetLayout, RowSource, Values};

    use crate::{
        Elem, IoError, Loaded, array_to_named_table, check_consistent, column_views, common_dtype, display,
        file_name, fmt_value, to_float, to_int,
    };

    const ALL_DTYPES: [DType; 10] = [
        DType::F32,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
    ];

    /// At most this many dataset names in an error message.
    const LIST_MAX: usize = 20;

    // ---------------------------------------------------------------- reading

    pub(super) fn read(path: &Path, inner: Option<&str>) -> Result<Loaded, IoError> {
        check_signature(path)?;
        let file =
            File::open(path).map_err(|e| IoError::invalid(path, format!("cannot open as HDF5: {e}")))?;
        let h5err = |e: ::hdf5::Error| IoError::invalid(path, format!("HDF5: {e}"));

        let ds = find_dataset(path, &file, inner)?;
        let name = ds.name();
        let desc = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(|e| IoError::invalid(path, format!("{name}: unreadable element type: {e}")))?;
        let shape = ds.shape();
        let unsupported = |what: String| {
            IoError::invalid(
                path,
                format!(
                    "{name}: unsupported element type {what} (expected a numeric dataset or a \
                     table of numeric columns)"
                ),
            )
        };

        let (dataset, kind) = match &desc {
            TD::Compound(ct) if shape.len() == 1 => {
                let mut columns = Vec::with_capacity(ct.fields.len());
                for f in &ct.fields {
                    let member = Member { obj: &ds, name: &f.name };
                    let (dtype, values) = read_values(&f.ty, &member)
                        .map_err(h5err)?
                        .ok_or_else(|| unsupported(format!("{} in column '{}'", f.ty, f.name)))?;
                    columns.push(Column { name: f.name.clone(), dtype, values });
                }
                let n = columns.len();
                let table = Dataset::Table { rows: shape[0], columns };
                (table, format!("HDF5 table, {} rows × {n} columns", shape[0]))
            }
            _ => {
                let (dtype, values) = read_values(&desc, &Whole(&ds))
                    .map_err(h5err)?
                    .ok_or_else(|| unsupported(desc.to_string()))?;
                let array = baler_codec::data::Array { dtype, shape: shape.clone(), values };
                match column_names(&ds, &shape) {
                    Some(names) => {
                        let n = names.len();
                        let table = with_dtypes(array_to_named_table(array, names), &ds);
                        (table, format!("HDF5 table, {} rows × {n} columns", shape[0]))
                    }
                    None => (Dataset::Field(array), format!("HDF5, {}, shape {shape:?}", dtype.name())),
                }
            }
        };

        let dtype = match &dataset {
            Dataset::Field(a) => a.dtype,
            Dataset::Table { columns, .. } => common_dtype(columns),
        };
        let fill_value = fill_attr(&ds).map(|v| as_dtype(v, dtype));
        let fill_note =
            fill_value.map(|v| format!(", _FillValue {}", fmt_value(v, dtype))).unwrap_or_default();
        Ok(Loaded { dataset, fill_value, source: format!("{}:{name} ({kind}{fill_note})", file_name(path)) })
    }

    /// The dataset `inner` names (`None`: the file's only dataset).
    fn find_dataset(path: &Path, file: &File, inner: Option<&str>) -> Result<::hdf5::Dataset, IoError> {
        let h5err = |e: ::hdf5::Error| IoError::invalid(path, format!("HDF5: {e}"));
        let wanted = inner.map(str::trim).filter(|s| !s.is_empty() && *s != "/");
        Ok(match wanted {
            Some(name) => file.dataset(name).map_err(|_| {
                let what = match file.group(name) {
                    Ok(_) => format!("'{name}' is a group, not a dataset"),
                    Err(_) => format!("no dataset '{name}'"),
                };
                IoError::invalid(path, format!("{what} ({})", holdings(file)))
            })?,
            None => {
                let mut all = Vec::new();
                list_datasets(file, &mut all, 0).map_err(h5err)?;
                match all.len() {
                    1 => all.remove(0),
                    0 => return Err(IoError::invalid(path, "the file holds no datasets")),
                    n => {
                        return Err(IoError::invalid(
                            path,
                            format!(
                                "the file holds {n} datasets, name one as {}:DATASET ({})",
                                display(path),
                                describe_list(&all)
                            ),
                        ));
                    }
                }
            }
        })
    }

    /// A numeric dataset of at most 3 axes, read a slab of its first axis at a time (streaming
    /// compression); `None` for what [`read`] must read whole (tables, compound or other types,
    /// more axes).
    pub(super) fn open_rows(path: &Path, inner: Option<&str>) -> Result<Option<crate::Rows>, IoError> {
        check_signature(path)?;
        let file =
            File::open(path).map_err(|e| IoError::invalid(path, format!("cannot open as HDF5: {e}")))?;
        let ds = find_dataset(path, &file, inner)?;
        let shape = ds.shape();
        let Ok(desc) = ds.dtype().and_then(|t| t.to_descriptor()) else { return Ok(None) };
        let Some(dtype) = numeric_dtype(&desc) else { return Ok(None) };
        if shape.is_empty() || shape.len() > 3 || column_names(&ds, &shape).is_some() {
            return Ok(None);
        }
        let fill_value = fill_attr(&ds).map(|v| as_dtype(v, dtype));
        let fill_note =
            fill_value.map(|v| format!(", _FillValue {}", fmt_value(v, dtype))).unwrap_or_default();
        let source =
            format!("{}:{} (HDF5, {}, shape {shape:?}{fill_note})", file_name(path), ds.name(), dtype.name());
        let layout = DatasetLayout { shape, table: false, streams: vec![(String::new(), dtype)] };
        let reader = Hdf5Rows { path: display(path), desc, layout, ds, _file: file };
        Ok(Some(crate::Rows { reader: Box::new(reader), fill_value, source }))
    }

    /// The dtype a numeric HDF5 element type is read as.
    fn numeric_dtype(desc: &TD) -> Option<DType> {
        Some(match desc {
            TD::Float(FloatSize::U4) => DType::F32,
            TD::Float(FloatSize::U8) => DType::F64,
            TD::Integer(IntSize::U1) => DType::I8,
            TD::Integer(IntSize::U2) => DType::I16,
            TD::Integer(IntSize::U4) => DType::I32,
            TD::Integer(IntSize::U8) => DType::I64,
            TD::Unsigned(IntSize::U1) => DType::U8,
            TD::Unsigned(IntSize::U2) => DType::U16,
            TD::Unsigned(IntSize::U4) => DType::U32,
            TD::Unsigned(IntSize::U8) => DType::U64,
            _ => return None,
        })
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
    }

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

    /// A clean error for anything that is not an HDF5 file, before the library sees it: the
    /// signature is at offset 0, 512, 1024, 2048, ... (after a user block).
    fn check_signature(path: &Path) -> Result<(), IoError> {
        const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
        let mut f = fs::File::open(path).map_err(|e| IoError::read(path, e))?;
        let len = f.metadata().map_err(|e| IoError::read(path, e))?.len();
        let mut offset = 0u64;
        while offset + 8 <= len {
            let mut buf = [0u8; 8];
            f.seek(SeekFrom::Start(offset))
                .and_then(|_| f.read_exact(&mut buf))
                .map_err(|e| IoError::read(path, e))?;
            if &buf == SIGNATURE {
                return Ok(());
            }
            offset = if offset == 0 { 512 } else { offset * 2 };
        }
        Err(IoError::invalid(path, "not an HDF5 file (no HDF5 signature)".to_string()))
    }

    /// Every dataset under `group`, depth first (links to the same dataset once).
    fn list_datasets(group: &Group, out: &mut Vec<::hdf5::Dataset>, depth: usize) -> ::hdf5::Result<()> {
        for ds in group.datasets()? {
            let name = ds.name();
            if !out.iter().any(|d| d.name() == name) {
                out.push(ds);
            }
        }
        if depth < 32 {
            for sub in group.groups()? {
                list_datasets(&sub, out, depth + 1)?;
            }
        }
        Ok(())
    }

    /// `/a (float32, [3, 4]), /b (...)`, at most [`LIST_MAX`] of them.
    fn describe_list(all: &[::hdf5::Dataset]) -> String {
        let mut parts: Vec<String> = all
            .iter()
            .take(LIST_MAX)
            .map(|d| {
                let ty = d
                    .dtype()
                    .and_then(|t| t.to_descriptor())
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| "unknown type".into());
                format!("{} ({ty}, {:?})", d.name(), d.shape())
            })
            .collect();
        if all.len() > LIST_MAX {
            parts.push(format!("and {} more", all.len() - LIST_MAX));
        }
        parts.join(", ")
    }

    /// "the file holds: ..." for an error message.
    fn holdings(file: &File) -> String {
        let mut all = Vec::new();
        match list_datasets(file, &mut all, 0) {
            Ok(()) if all.is_empty() => "the file holds no datasets".into(),
            Ok(()) => format!("the file holds: {}", describe_list(&all)),
            Err(e) => format!("cannot list the file's datasets: {e}"),
        }
    }

    /// Where values are read from: a whole dataset, or one member of a compound dataset.
    trait Source {
        fn get<T: H5Type>(&self) -> ::hdf5::Result<Vec<T>>;
    }

    struct Whole<'a>(&'a Container);

    impl Source for Whole<'_> {
        fn get<T: H5Type>(&self) -> ::hdf5::Result<Vec<T>> {
            self.0.read_raw::<T>()
        }
    }

    struct Member<'a> {
        obj: &'a Container,
        name: &'a str,
    }

    thread_local! {
        /// The member [`OneField`] stands for while a [`Member`] is read on this thread.
        static MEMBER: RefCell<String> = const { RefCell::new(String::new()) };
    }

    /// A compound type with one field, `T` at offset 0, named by [`MEMBER`]: HDF5 converts a
    /// compound dataset to it by member name, which reads one column of a table.
    #[repr(transparent)]
    struct OneField<T>(T);

    // SAFETY: the descriptor is a compound of size `size_of::<T>()` holding `T`'s own
    // descriptor at offset 0, which is exactly the layout of the transparent `OneField<T>`.
    unsafe impl<T: H5Type> H5Type for OneField<T> {
        fn type_descriptor() -> TD {
            TD::Compound(CompoundType {
                fields: vec![CompoundField {
                    name: MEMBER.with(|m| m.borrow().clone()),
                    ty: T::type_descriptor(),
                    offset: 0,
                    index: 0,
                }],
                size: std::mem::size_of::<T>(),
            })
        }
    }

    impl Source for Member<'_> {
        fn get<T: H5Type>(&self) -> ::hdf5::Result<Vec<T>> {
            MEMBER.with(|m| *m.borrow_mut() = self.name.to_owned());
            let read = self.obj.read_raw::<OneField<T>>();
            MEMBER.with(|m| m.borrow_mut().clear());
            Ok(read?.into_iter().map(|f| f.0).collect())
        }
    }

    /// The values of a numeric element type, `None` for any other type.
    fn read_values(desc: &TD, src: &impl Source) -> ::hdf5::Result<Option<(DType, Values)>> {
        fn ints<T: H5Type + Into<i64>>(src: &impl Source) -> ::hdf5::Result<Values> {
            Ok(Values::Int(src.get::<T>()?.into_iter().map(Into::into).collect()))
        }
        Ok(Some(match desc {
            TD::Float(FloatSize::U4) => {
                (DType::F32, Values::Float(src.get::<f32>()?.into_iter().map(f64::from).collect()))
            }
            TD::Float(FloatSize::U8) => (DType::F64, Values::Float(src.get::<f64>()?)),
            TD::Integer(IntSize::U1) => (DType::I8, ints::<i8>(src)?),
            TD::Integer(IntSize::U2) => (DType::I16, ints::<i16>(src)?),
            TD::Integer(IntSize::U4) => (DType::I32, ints::<i32>(src)?),
            TD::Integer(IntSize::U8) => (DType::I64, ints::<i64>(src)?),
            TD::Unsigned(IntSize::U1) => (DType::U8, ints::<u8>(src)?),
            TD::Unsigned(IntSize::U2) => (DType::U16, ints::<u16>(src)?),
            TD::Unsigned(IntSize::U4) => (DType::U32, ints::<u32>(src)?),
            // a u64 above i64::MAX is kept by its bits
            TD::Unsigned(IntSize::U8) => {
                (DType::U64, Values::Int(src.get::<u64>()?.into_iter().map(|v| v as i64).collect()))
            }
            _ => return Ok(None),
        }))
    }

    /// The strings of a string attribute, `None` if there is no such attribute or it holds
    /// something else.
    fn string_attr(ds: &::hdf5::Dataset, name: &str) -> Option<Vec<String>> {
        if !ds.attr_names().ok()?.iter().any(|n| n == name) {
            return None;
        }
        let attr = ds.attr(name).ok()?;
        match attr.dtype().ok()?.to_descriptor().ok()? {
            TD::VarLenUnicode => {
                Some(attr.read_raw::<VarLenUnicode>().ok()?.iter().map(|s| s.as_str().to_owned()).collect())
            }
            TD::VarLenAscii => {
                Some(attr.read_raw::<VarLenAscii>().ok()?.iter().map(|s| s.as_str().to_owned()).collect())
            }
            _ => None,
        }
    }

    /// The column names of a 2-d dataset written as a table (one per column).
    fn column_names(ds: &::hdf5::Dataset, shape: &[usize]) -> Option<Vec<String>> {
        if shape.len() != 2 {
            return None;
        }
        string_attr(ds, "columns").filter(|names| names.len() == shape[1] && shape[1] > 0)
    }

    /// Gives each column of a table read as one array back its own dtype (the `dtypes`
    /// attribute), where every value converts exactly; other columns are left as they are.
    fn with_dtypes(table: Dataset, ds: &::hdf5::Dataset) -> Dataset {
        let Dataset::Table { rows, mut columns } = table else {
            return table;
        };
        let Some(names) = string_attr(ds, "dtypes").filter(|d| d.len() == columns.len()) else {
            return Dataset::Table { rows, columns };
        };
        for (col, name) in columns.iter_mut().zip(names) {
            let Some(dtype) = ALL_DTYPES.iter().copied().find(|d| d.name() == name) else {
                continue;
            };
            if dtype != col.dtype
                && let Some(values) = convert_exact(&col.values, dtype)
            {
                col.dtype = dtype;
                col.values = values;
            }
        }
        Dataset::Table { rows, columns }
    }

    /// `values` in `dtype`, if every value converts exactly.
    fn convert_exact(values: &Values, dtype: DType) -> Option<Values> {
        let elems = |i: usize| match values {
            Values::Float(v) => Elem::F(v[i]),
            Values::Int(v) => Elem::I(v[i]),
        };
        let n = values.len();
        if dtype.is_float() {
            let out: Option<Vec<f64>> = (0..n)
                .map(|i| {
                    let e = elems(i);
                    let f = to_float(e);
                    let back = if dtype == DType::F32 { f64::from(f as f32) } else { f };
                    let exact = match e {
                        Elem::F(x) => back.to_bits() == x.to_bits() || (x.is_nan() && back.is_nan()),
                        Elem::I(x) => back == f && back as i64 == x,
                    };
                    exact.then_some(back)
                })
                .collect();
            out.map(Values::Float)
        } else {
            let out: Option<Vec<i64>> = (0..n).map(|i| to_int(dtype, elems(i)).ok()).collect();
            out.map(Values::Int)
        }
    }

    /// The `_FillValue` attribute, if it is a numeric scalar (or a one-element array).
    fn fill_attr(ds: &::hdf5::Dataset) -> Option<f64> {
        if !ds.attr_names().ok()?.iter().any(|n| n == "_FillValue") {
            return None;
        }
        let attr = ds.attr("_FillValue").ok()?;
        match attr.dtype().ok()?.to_descriptor().ok()? {
            TD::Float(_) | TD::Integer(_) | TD::Unsigned(_) => {}
            _ => return None,
        }
        let v = attr.read_raw::<f64>().ok()?;
        (v.len() == 1).then(|| v[0])
    }

    /// A fill value as it appears in data of `dtype` (a float64 attribute on float32 data
    /// is rounded to float32, so that it equals the values it marks).
    fn as_dtype(v: f64, dtype: DType) -> f64 {
        if dtype == DType::F32 {
            let r = v as f32;
            if r.is_finite() || !v.is_finite() {
                return f64::from(r);
            }
        }
        v
    }

    // ---------------------------------------------------------------- writing

    /// Values in one HDF5 element type.
    enum Typed {
        F32(Vec<f32>),
        F64(Vec<f64>),
        I8(Vec<i8>),
        I16(Vec<i16>),
        I32(Vec<i32>),
        I64(Vec<i64>),
        U8(Vec<u8>),
        U16(Vec<u16>),
        U32(Vec<u32>),
        U64(Vec<u64>),
    }

    /// `n` values `get(0..n)` converted to `dtype`; integers must fit.
    fn typed(dtype: DType, n: usize, get: impl Fn(usize) -> Elem) -> Result<Typed, String> {
        fn ints<T>(
            dtype: DType,
            n: usize,
            get: impl Fn(usize) -> Elem,
            cast: impl Fn(i64) -> T,
        ) -> Result<Vec<T>, String> {
            (0..n).map(|i| to_int(dtype, get(i)).map(&cast)).collect()
        }
        Ok(match dtype {
            DType::F32 => Typed::F32((0..n).map(|i| to_float(get(i)) as f32).collect()),
            DType::F64 => Typed::F64((0..n).map(|i| to_float(get(i))).collect()),
            DType::I8 => Typed::I8(ints(dtype, n, get, |v| v as i8)?),
            DType::I16 => Typed::I16(ints(dtype, n, get, |v| v as i16)?),
            DType::I32 => Typed::I32(ints(dtype, n, get, |v| v as i32)?),
            DType::I64 => Typed::I64(ints(dtype, n, get, |v| v)?),
            DType::U8 => Typed::U8(ints(dtype, n, get, |v| v as u8)?),
            DType::U16 => Typed::U16(ints(dtype, n, get, |v| v as u16)?),
            DType::U32 => Typed::U32(ints(dtype, n, get, |v| v as u32)?),
            DType::U64 => Typed::U64(ints(dtype, n, get, |v| v as u64)?),
        })
    }

    /// Runs `$body` with `$v` bound to the vector inside a [`Typed`].
    macro_rules! with_typed {
        ($typed:expr, $v:ident => $body:expr) => {
            match $typed {
                Typed::F32($v) => $body,
                Typed::F64($v) => $body,
                Typed::I8($v) => $body,
                Typed::I16($v) => $body,
                Typed::I32($v) => $body,
                Typed::I64($v) => $body,
                Typed::U8($v) => $body,
                Typed::U16($v) => $body,
                Typed::U32($v) => $body,
                Typed::U64($v) => $body,
            }
        };
    }

    /// The fill value as an attribute value: in the data's dtype when it is exact there,
    /// else float64.
    fn fill_typed(fill: f64, dtype: DType) -> Typed {
        let exact = match dtype {
            DType::F32 => f64::from(fill as f32) == fill || fill.is_nan(),
            DType::F64 => true,
            _ => to_int(dtype, Elem::F(fill)).is_ok(),
        };
        match exact.then(|| typed(dtype, 1, |_| Elem::F(fill))) {
            Some(Ok(t)) => t,
            _ => Typed::F64(vec![fill]),
        }
    }

    /// Everything that goes into the file.
    struct Contents {
        shape: Vec<usize>,
        data: Typed,
        dtype: DType,
        /// For a table: the column names and dtypes.
        columns: Option<(Vec<VarLenUnicode>, Vec<VarLenUnicode>)>,
    }

    fn contents(ds: &Dataset) -> Result<Contents, String> {
        let (rows, views) = column_views(ds);
        let cols = views.len();
        let n = rows.checked_mul(cols).ok_or_else(|| format!("{rows} × {cols} values overflow"))?;
        let get = |i: usize| views[i % cols].get(i / cols);
        match ds {
            Dataset::Field(a) => Ok(Contents {
                shape: a.shape.clone(),
                data: typed(a.dtype, n, get)?,
                dtype: a.dtype,
                columns: None,
            }),
            Dataset::Table { rows, columns } => {
                let dtype = common_dtype(columns);
                let text = |s: &str| {
                    VarLenUnicode::from_str(s).map_err(|_| {
                        format!("column name {s:?} holds a NUL character, which HDF5 cannot store")
                    })
                };
                let names = columns.iter().map(|c| text(&c.name)).collect::<Result<_, _>>()?;
                let dtypes = columns.iter().map(|c| text(c.dtype.name())).collect::<Result<_, _>>()?;
                Ok(Contents {
                    shape: vec![*rows, columns.len()],
                    data: typed(dtype, n, get)?,
                    dtype,
                    columns: (!columns.is_empty()).then_some((names, dtypes)),
                })
            }
        }
    }

    /// The components of a dataset path: `/a/b/c` → `[a, b, c]`.
    pub(super) fn dataset_path(dataset: &str) -> Result<Vec<&str>, String> {
        let trimmed = dataset.trim().trim_start_matches('/');
        let parts: Vec<&str> = trimmed.split('/').collect();
        if trimmed.is_empty() || parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
            return Err(format!("invalid dataset path '{dataset}' (expected e.g. /data or /group/data)"));
        }
        Ok(parts)
    }

    pub(super) fn write(path: &Path, dataset: &str, ds: &Dataset, fill: Option<f64>) -> Result<(), IoError> {
        let unwritable = |msg: String| IoError::Unwritable { file: display(path), msg };
        check_consistent(ds).map_err(unwritable)?;
        let parts = dataset_path(dataset).map_err(unwritable)?;
        let contents = contents(ds).map_err(unwritable)?;

        crate::atomic::write_atomic_path(path, |tmp| {
            write_file(tmp, &parts, &contents, fill).map_err(|e| IoError::Io {
                file: display(path),
                err: std::io::Error::other(format!("cannot write HDF5: {e}")),
            })
        })
    }

    fn write_file(tmp: &Path, parts: &[&str], c: &Contents, fill: Option<f64>) -> ::hdf5::Result<()> {
        let file = File::create(tmp)?;
        {
            let (name, groups) = parts.split_last().expect("a dataset path has a name");
            let mut group = file.group("/")?;
            for g in groups {
                group = group.create_group(g)?;
            }
            let n: usize = c.shape.iter().product();
            let ds = with_typed!(&c.data, v => {
                let ds = new_dataset(&group, name, &c.shape, v.first())?;
                if n > 0 {
                    ds.write_raw(v.as_slice())?;
                }
                ds
            });
            if let Some(fill) = fill {
                with_typed!(&fill_typed(fill, c.dtype), v => {
                    ds.new_attr_builder()
                        .with_data(v.as_slice())
                        .create("_FillValue")?;
                });
            }
            if let Some((names, dtypes)) = &c.columns {
                ds.new_attr_builder().with_data(names.as_slice()).create("columns")?;
                ds.new_attr_builder().with_data(dtypes.as_slice()).create("dtypes")?;
            }
        }
        file.close()
    }

    /// An empty dataset of `T`'s type (`_witness` only names the type).
    fn new_dataset<T: H5Type>(
        group: &Group,
        name: &str,
        shape: &[usize],
        _witness: Option<&T>,
    ) -> ::hdf5::Result<::hdf5::Dataset> {
        group.new_dataset::<T>().shape(shape.to_vec()).create(name)
    }
}

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
        let err = write(&out, "/data", &tiny(), None).unwrap_err();
        assert!(err.to_string().contains("--features hdf5"), "{err}");
        assert!(!out.exists());
    }

    #[cfg(feature = "hdf5")]
    #[test]
    fn dataset_paths_and_value_text() {
        assert_eq!(imp::dataset_path("/a/b/c").unwrap(), ["a", "b", "c"]);
        assert_eq!(imp::dataset_path("data").unwrap(), ["data"]);
        for bad in ["", "/", "/a//b", "/a/../b", "a/"] {
            assert!(imp::dataset_path(bad).is_err(), "{bad:?}");
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
        write(&out, "/g/x", &tiny(), Some(-1.0)).unwrap();
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
