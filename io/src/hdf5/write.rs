//! Writing a dataset (a field, or a table with `columns` / `dtypes` attributes) atomically.

use std::path::Path;
use std::str::FromStr;

use ::hdf5::types::VarLenUnicode;
use ::hdf5::{File, Group, H5Type};
use baler_codec::data::{DType, Dataset};

use crate::{Elem, IoError, check_consistent, column_views, common_dtype, display, to_float, to_int};

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
                VarLenUnicode::from_str(s)
                    .map_err(|_| format!("column name {s:?} holds a NUL character, which HDF5 cannot store"))
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

pub(super) fn write(
    path: &Path,
    dataset: &str,
    ds: &Dataset,
    fill: Option<f64>,
    baler_filter: Option<&[u32]>,
) -> Result<(), IoError> {
    let unwritable = |msg: String| IoError::Unwritable { file: display(path), msg };
    check_consistent(ds).map_err(unwritable)?;
    let parts = dataset_path(dataset).map_err(unwritable)?;
    let contents = contents(ds).map_err(unwritable)?;

    crate::atomic::write_atomic_path(path, |tmp| {
        write_file(tmp, &parts, &contents, fill, baler_filter).map_err(|e| IoError::Io {
            file: display(path),
            err: std::io::Error::other(format!("cannot write HDF5: {e}")),
        })
    })
}

fn write_file(
    tmp: &Path,
    parts: &[&str],
    c: &Contents,
    fill: Option<f64>,
    baler_filter: Option<&[u32]>,
) -> ::hdf5::Result<()> {
    let file = File::create(tmp)?;
    {
        let (name, groups) = parts.split_last().expect("a dataset path has a name");
        let mut group = file.group("/")?;
        for g in groups {
            group = group.create_group(g)?;
        }
        let n: usize = c.shape.iter().product();
        let ds = with_typed!(&c.data, v => {
            let ds = new_dataset(&group, name, &c.shape, v.first(), fill, baler_filter)?;
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

/// Elements per chunk of a dataset stored through the Baler filter: each chunk is one archive (as
/// large as the codec's own chunks, so the ratio is the whole-file archive's).
const FILTER_CHUNK_ELEMENTS: usize = 1 << 21;

/// Chunks for the filter: whole trailing axes, and the axis that must be cut into equal parts
/// of at most [`FILTER_CHUNK_ELEMENTS`] in all. Equal parts, because HDF5 pads an edge chunk to
/// the full chunk and the padding is compressed too (a 400-frame field in 32-frame chunks
/// stored 0.4 % more than in 31-frame ones).
fn filter_chunk(shape: &[usize]) -> Vec<usize> {
    let mut chunk: Vec<usize> = shape.iter().map(|&d| d.max(1)).collect();
    let mut elements = 1usize;
    for i in (0..chunk.len()).rev() {
        let fits = (FILTER_CHUNK_ELEMENTS / elements).max(1);
        if chunk[i] > fits {
            let parts = chunk[i].div_ceil(fits);
            chunk[i] = chunk[i].div_ceil(parts);
            chunk[..i].iter_mut().for_each(|d| *d = 1);
            break;
        }
        elements *= chunk[i];
    }
    chunk
}

/// An empty dataset of `T`'s type (`_witness` only names the type); with `baler_filter`, chunked
/// and stored through the Baler filter, the fill value in its creation properties.
fn new_dataset<T: H5Type>(
    group: &Group,
    name: &str,
    shape: &[usize],
    _witness: Option<&T>,
    fill: Option<f64>,
    baler_filter: Option<&[u32]>,
) -> ::hdf5::Result<::hdf5::Dataset> {
    let mut builder = group.new_dataset::<T>().shape(shape.to_vec());
    if let Some(cd) = baler_filter {
        super::register_baler_filter()?;
        builder = builder.chunk(filter_chunk(shape)).add_filter(h5baler::FILTER_ID, cd);
        if let Some(f) = fill.filter(|f| f.is_finite()) {
            builder = builder.fill_value(f);
        }
    }
    builder.create(name)
}

#[cfg(test)]
mod tests {
    use super::filter_chunk;

    #[test]
    fn filter_chunks_are_whole_trailing_axes_cut_into_equal_parts() {
        assert_eq!(filter_chunk(&[100, 512, 512]), vec![8, 512, 512]);
        assert_eq!(filter_chunk(&[400, 256, 256]), vec![31, 256, 256]); // 13 chunks, not 12.5 of 32
        assert_eq!(filter_chunk(&[3, 10]), vec![3, 10]);
        assert_eq!(filter_chunk(&[5_000_000]), vec![1_666_667]);
        assert_eq!(filter_chunk(&[2, 3000, 3000]), vec![1, 600, 3000]);
        assert_eq!(filter_chunk(&[0, 7]), vec![1, 7]);
    }
}
