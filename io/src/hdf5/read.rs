//! Reading a whole dataset (a field or a table) with its fill value and description.

use std::cell::RefCell;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use ::hdf5::types::{
    CompoundField, CompoundType, FloatSize, IntSize, TypeDescriptor as TD, VarLenAscii, VarLenUnicode,
};
use ::hdf5::{Container, File, Group, H5Type};
use baler_codec::data::{Column, DType, Dataset, Values};

use crate::{
    Elem, IoError, Loaded, array_to_named_table, common_dtype, display, file_name, fmt_value, to_float,
    to_int,
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

pub(super) fn read(path: &Path, inner: Option<&str>) -> Result<Loaded, IoError> {
    check_signature(path)?;
    let file = super::open_file(path)?;
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
    let fill_note = fill_value.map(|v| format!(", _FillValue {}", fmt_value(v, dtype))).unwrap_or_default();
    let source = format!("{}:{name} ({kind}{fill_note})", file_name(path));
    let axes = if matches!(dataset, Dataset::Field(_)) { axis_names(&ds) } else { Vec::new() };
    Ok(Loaded { dataset, fill_value, source, axes })
}

/// The dataset `inner` names (`None`: the file's only dataset).
pub(super) fn find_dataset(
    path: &Path,
    file: &File,
    inner: Option<&str>,
) -> Result<::hdf5::Dataset, IoError> {
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

/// A clean error for anything that is not an HDF5 file, before the library sees it: the
/// signature is at offset 0, 512, 1024, 2048, ... (after a user block).
pub(super) fn check_signature(path: &Path) -> Result<(), IoError> {
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
pub(super) trait Source {
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
pub(super) fn read_values(desc: &TD, src: &impl Source) -> ::hdf5::Result<Option<(DType, Values)>> {
    fn ints<T: H5Type + Into<i64>>(src: &impl Source) -> ::hdf5::Result<Values> {
        Ok(Values::Int(src.get::<T>()?.into_iter().map(Into::into).collect()))
    }
    let Some(dtype) = numeric_dtype(desc) else { return Ok(None) };
    let values = match dtype {
        DType::F32 => Values::Float(src.get::<f32>()?.into_iter().map(f64::from).collect()),
        DType::F64 => Values::Float(src.get::<f64>()?),
        DType::I8 => ints::<i8>(src)?,
        DType::I16 => ints::<i16>(src)?,
        DType::I32 => ints::<i32>(src)?,
        DType::I64 => ints::<i64>(src)?,
        DType::U8 => ints::<u8>(src)?,
        DType::U16 => ints::<u16>(src)?,
        DType::U32 => ints::<u32>(src)?,
        // a u64 above i64::MAX is kept by its bits
        DType::U64 => Values::Int(src.get::<u64>()?.into_iter().map(|v| v as i64).collect()),
    };
    Ok(Some((dtype, values)))
}

/// The dtype a numeric HDF5 element type is read as.
pub(super) fn numeric_dtype(desc: &TD) -> Option<DType> {
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
pub(super) fn column_names(ds: &::hdf5::Dataset, shape: &[usize]) -> Option<Vec<String>> {
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
pub(super) fn fill_attr(ds: &::hdf5::Dataset) -> Option<f64> {
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

/// The names of `ds`'s axes from its dimension scales (HDF5's `DIMENSION_LIST`, as netCDF-4
/// and h5py's `dims[i].attach_scale` write it): each scale's `NAME`, or its dataset's name where
/// `NAME` is netCDF-4's placeholder for a dimension without a variable; else its dimension
/// labels (`DIMENSION_LABELS`, h5py's `dims[i].label`). Empty unless every axis has one; never
/// an error (the names only label a viewer's axes).
pub(super) fn axis_names(ds: &::hdf5::Dataset) -> Vec<String> {
    use ::hdf5::types::VarLenArray;
    use ::hdf5::{ObjectReference, ObjectReference1, ReferencedObject};
    let name_of = |list: &VarLenArray<ObjectReference1>| -> Option<String> {
        let ReferencedObject::Dataset(scale) = list.first()?.dereference(ds).ok()? else { return None };
        let own = scale.name().rsplit('/').next().unwrap_or_default().to_string();
        let named = scale
            .attr("NAME")
            .ok()
            .and_then(|a| a.read_scalar::<::hdf5::types::FixedAscii<256>>().ok())
            .map(|n| n.as_str().trim_end_matches('\0').to_string())
            .filter(|n| !n.is_empty() && !n.starts_with("This is a netCDF dimension"));
        Some(named.unwrap_or(own)).filter(|n| !n.is_empty())
    };
    let has = |name: &str| ds.attr_names().ok().is_some_and(|n| n.iter().any(|n| n == name));
    let scales = || -> Option<Vec<String>> {
        has("DIMENSION_LIST").then_some(())?;
        let lists = ds.attr("DIMENSION_LIST").ok()?.read_raw::<VarLenArray<ObjectReference1>>().ok()?;
        (lists.len() == ds.ndim()).then_some(())?;
        lists.iter().map(name_of).collect()
    };
    let labels = || -> Option<Vec<String>> {
        has("DIMENSION_LABELS").then_some(())?;
        let attr = ds.attr("DIMENSION_LABELS").ok()?;
        let labels: Vec<String> = match attr.read_raw::<::hdf5::types::VarLenAscii>() {
            Ok(v) => v.iter().map(|l| l.as_str().to_string()).collect(),
            Err(_) => attr
                .read_raw::<::hdf5::types::VarLenUnicode>()
                .ok()?
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
        };
        (labels.len() == ds.ndim() && labels.iter().all(|l| !l.trim().is_empty())).then_some(labels)
    };
    scales().or_else(labels).unwrap_or_default()
}

/// A fill value as it appears in data of `dtype` (a float64 attribute on float32 data
/// is rounded to float32, so that it equals the values it marks).
pub(super) fn as_dtype(v: f64, dtype: DType) -> f64 {
    if dtype == DType::F32 {
        let r = v as f32;
        if r.is_finite() || !v.is_finite() {
            return f64::from(r);
        }
    }
    v
}
