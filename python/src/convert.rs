//! numpy arrays ↔ Baler datasets. The Python side hands over C-contiguous, aligned, native-endian arrays
//! (`baler._native`), so every supported dtype is read as one slice, without an intermediate copy.

use baler_codec::{Array, Column, DType, Dataset, Values};
use numpy::{
    Element, PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::BalerError;

/// The Baler dtype of a numpy array, or an error naming what it is.
fn dtype_of(a: &Bound<'_, PyUntypedArray>) -> PyResult<DType> {
    let py = a.py();
    let d = a.dtype();
    let is = |other: Bound<'_, numpy::PyArrayDescr>| d.is_equiv_to(&other);
    let found = [
        (numpy::dtype::<f32>(py), DType::F32),
        (numpy::dtype::<f64>(py), DType::F64),
        (numpy::dtype::<i8>(py), DType::I8),
        (numpy::dtype::<i16>(py), DType::I16),
        (numpy::dtype::<i32>(py), DType::I32),
        (numpy::dtype::<i64>(py), DType::I64),
        (numpy::dtype::<u8>(py), DType::U8),
        (numpy::dtype::<u16>(py), DType::U16),
        (numpy::dtype::<u32>(py), DType::U32),
        (numpy::dtype::<u64>(py), DType::U64),
    ]
    .into_iter()
    .find(|(descr, _)| is(descr.clone()));
    match found {
        Some((_, t)) => Ok(t),
        None => {
            Err(BalerError::new_err(format!("unsupported dtype {d}: give float32/64 or (u)int8/16/32/64")))
        }
    }
}

fn slice_to<T: Element + Copy, U>(a: &Bound<'_, PyUntypedArray>, f: impl Fn(T) -> U) -> PyResult<Vec<U>> {
    let typed = a.cast::<PyArrayDyn<T>>().map_err(|e| BalerError::new_err(e.to_string()))?;
    let ro = typed.readonly();
    let s = ro.as_slice().map_err(|_| BalerError::new_err("array is not C-contiguous and aligned"))?;
    Ok(s.iter().map(|&v| f(v)).collect())
}

/// The values of `a` as Baler keeps them (floats as f64, integers as i64, a u64 by its bits).
fn values_of(a: &Bound<'_, PyUntypedArray>, dtype: DType) -> PyResult<Values> {
    Ok(match dtype {
        DType::F32 => Values::Float(slice_to::<f32, _>(a, f64::from)?),
        DType::F64 => Values::Float(slice_to::<f64, _>(a, |v| v)?),
        DType::I8 => Values::Int(slice_to::<i8, _>(a, i64::from)?),
        DType::I16 => Values::Int(slice_to::<i16, _>(a, i64::from)?),
        DType::I32 => Values::Int(slice_to::<i32, _>(a, i64::from)?),
        DType::I64 => Values::Int(slice_to::<i64, _>(a, |v| v)?),
        DType::U8 => Values::Int(slice_to::<u8, _>(a, i64::from)?),
        DType::U16 => Values::Int(slice_to::<u16, _>(a, i64::from)?),
        DType::U32 => Values::Int(slice_to::<u32, _>(a, i64::from)?),
        DType::U64 => Values::Int(slice_to::<u64, _>(a, |v| v as i64)?),
    })
}

/// An n-dimensional array as a field.
pub fn field(a: &Bound<'_, PyUntypedArray>) -> PyResult<Dataset> {
    let dtype = dtype_of(a)?;
    Ok(Dataset::Field(Array { dtype, shape: a.shape().to_vec(), values: values_of(a, dtype)? }))
}

/// Named 1-d columns of one length as a table.
pub fn table(columns: &[(String, Bound<'_, PyUntypedArray>)]) -> PyResult<Dataset> {
    let rows = columns.first().map_or(0, |(_, a)| a.len());
    let columns = columns
        .iter()
        .map(|(name, a)| {
            if a.ndim() != 1 || a.len() != rows {
                return Err(BalerError::new_err(format!(
                    "column {name:?}: every column must be 1-d with {rows} rows (has shape {:?})",
                    a.shape()
                )));
            }
            let dtype = dtype_of(a)?;
            Ok(Column { name: name.clone(), dtype, values: values_of(a, dtype)? })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Dataset::Table { rows, columns })
}

fn to_numpy<'py, T: Element>(py: Python<'py>, v: Vec<T>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyArray1::from_vec(py, v).reshape(shape.to_vec())?.into_any())
}

/// Decoded values in their original dtype, shaped.
fn array<'py>(py: Python<'py>, dtype: DType, values: Values, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let ints = |v: Values| match v {
        Values::Int(v) => v,
        Values::Float(v) => v.into_iter().map(|x| x as i64).collect(),
    };
    let floats = |v: Values| match v {
        Values::Float(v) => v,
        Values::Int(v) => v.into_iter().map(|x| x as f64).collect(),
    };
    // Narrowing is exact: the decoder gives back values of the stored dtype.
    match dtype {
        DType::F32 => to_numpy(py, floats(values).into_iter().map(|x| x as f32).collect(), shape),
        DType::F64 => to_numpy(py, floats(values), shape),
        DType::I8 => to_numpy(py, ints(values).into_iter().map(|x| x as i8).collect(), shape),
        DType::I16 => to_numpy(py, ints(values).into_iter().map(|x| x as i16).collect(), shape),
        DType::I32 => to_numpy(py, ints(values).into_iter().map(|x| x as i32).collect(), shape),
        DType::I64 => to_numpy(py, ints(values), shape),
        DType::U8 => to_numpy(py, ints(values).into_iter().map(|x| x as u8).collect(), shape),
        DType::U16 => to_numpy(py, ints(values).into_iter().map(|x| x as u16).collect(), shape),
        DType::U32 => to_numpy(py, ints(values).into_iter().map(|x| x as u32).collect(), shape),
        DType::U64 => to_numpy(py, ints(values).into_iter().map(|x| x as u64).collect(), shape),
    }
}

/// A decoded dataset for Python: `("field", array)` or `("table", [(name, column), …])`.
pub fn to_python<'py>(py: Python<'py>, ds: Dataset) -> PyResult<Bound<'py, PyAny>> {
    match ds {
        Dataset::Field(a) => {
            ("field", array(py, a.dtype, a.values, &a.shape)?).into_pyobject(py).map(|t| t.into_any())
        }
        Dataset::Table { rows, columns } => {
            let cols = columns
                .into_iter()
                .map(|c| Ok((c.name, array(py, c.dtype, c.values, &[rows])?)))
                .collect::<PyResult<Vec<_>>>()?;
            ("table", cols).into_pyobject(py).map(|t| t.into_any())
        }
    }
}
