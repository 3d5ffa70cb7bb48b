//! In-memory datasets: what the compressor takes and the decoder gives back.
//!
//! Floating-point values travel as `f64` (every `f32` is exact in `f64`); integer values as `i64`
//! (a `u64` above `i64::MAX` is kept by its two's-complement bits, so nothing is lost).

use serde::{Deserialize, Serialize};

/// Element type of the original data, kept so the output has the dtype of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
}

impl DType {
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Bytes one element takes in the original file: the numerator of the honest ratio.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// numpy's name for the type (`float32`, `uint16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
        }
    }
}

/// The values of one array, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// No values, of the kind a stream of `dtype` holds.
    pub fn empty(dtype: DType) -> Self {
        if dtype.is_float() { Values::Float(Vec::new()) } else { Values::Int(Vec::new()) }
    }

    /// Appends `from[range]`, values of the same kind (one stream's).
    pub fn extend_from(&mut self, from: &Values, range: std::ops::Range<usize>) {
        match (self, from) {
            (Values::Float(a), Values::Float(b)) => a.extend_from_slice(&b[range]),
            (Values::Int(a), Values::Int(b)) => a.extend_from_slice(&b[range]),
            _ => panic!("values of one stream are of one kind"),
        }
    }
}

/// An n-dimensional array with its original dtype.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub values: Values,
}

/// One named column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub dtype: DType,
    pub values: Values,
}

/// What a file holds: a gridded field (frames, volumes) or a table of named columns
/// (HEP kinematics, CSV). Tables get one error bound per column.
#[derive(Clone, Debug, PartialEq)]
pub enum Dataset {
    Field(Array),
    Table { rows: usize, columns: Vec<Column> },
}

impl Dataset {
    pub fn element_count(&self) -> usize {
        match self {
            Dataset::Field(a) => a.values.len(),
            Dataset::Table { rows, columns } => rows * columns.len(),
        }
    }

    /// Size of the data in its original dtype(s): the numerator of the honest ratio.
    pub fn original_bytes(&self) -> u64 {
        match self {
            Dataset::Field(a) => (a.values.len() * a.dtype.size_bytes()) as u64,
            Dataset::Table { rows, columns } => {
                columns.iter().map(|c| (rows * c.dtype.size_bytes()) as u64).sum()
            }
        }
    }

    /// Shape, kind and streams, without the values.
    pub fn layout(&self) -> DatasetLayout {
        let streams = match self {
            Dataset::Field(a) => vec![(String::new(), a.dtype)],
            Dataset::Table { columns, .. } => columns.iter().map(|c| (c.name.clone(), c.dtype)).collect(),
        };
        DatasetLayout { shape: self.shape(), table: matches!(self, Dataset::Table { .. }), streams }
    }

    /// The values of each stream: a field's one, a table's columns.
    pub fn stream_values(&self) -> Vec<&Values> {
        match self {
            Dataset::Field(a) => vec![&a.values],
            Dataset::Table { columns, .. } => columns.iter().map(|c| &c.values).collect(),
        }
    }

    pub fn shape(&self) -> Vec<usize> {
        match self {
            Dataset::Field(a) => a.shape.clone(),
            Dataset::Table { rows, columns } => vec![*rows, columns.len()],
        }
    }
}

/// What a dataset is without its values: what a reader knows from a file's header before it
/// reads the data (streaming compression reads the values a slab of rows at a time).
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetLayout {
    /// A field's shape; a table's `[rows, columns]`.
    pub shape: Vec<usize>,
    pub table: bool,
    /// Each stream's name and dtype: a field's one (named ""), a table's columns.
    pub streams: Vec<(String, DType)>,
}

impl DatasetLayout {
    /// Values per stream.
    pub fn stream_len(&self) -> usize {
        match self.table {
            true => self.shape.first().copied().unwrap_or(0),
            false => self.shape.iter().product(),
        }
    }

    /// The 3-d lattice the codec sees the data as (see [`crate::layout::lattice`]).
    pub fn lattice(&self) -> crate::error::Result<[usize; 3]> {
        let shape: Vec<u64> = self.shape.iter().map(|&d| d as u64).collect();
        crate::layout::lattice(&shape, self.table)
    }

    /// Size of the data in its original dtype(s), as [`Dataset::original_bytes`].
    pub fn original_bytes(&self) -> u64 {
        self.streams.iter().map(|(_, d)| (self.stream_len() * d.size_bytes()) as u64).sum()
    }
}

/// Reconstructed values as a float field stores them: little-endian, rounded to `dtype` (f32 or
/// f64; None for other dtypes). The decoder's bytes and the compressor's check both come from here.
pub fn float_bytes(values: &[f64], dtype: DType) -> Option<Vec<u8>> {
    let mut out = vec![0u8; values.len() * dtype.size_bytes()];
    match dtype {
        DType::F32 => put_bytes(&mut out, values.iter().map(|&x| (x as f32).to_le_bytes())),
        DType::F64 => put_bytes(&mut out, values.iter().map(|x| x.to_le_bytes())),
        _ => return None,
    }
    Some(out)
}

/// Fills `out` with `values`' bytes, `W` bytes each: written in place, a fixed-size store per
/// value (appending value by value kept a length and capacity check in the loop, and cost the
/// browser's workers as much as decoding).
pub(crate) fn put_bytes<const W: usize>(out: &mut [u8], values: impl Iterator<Item = [u8; W]>) {
    out.chunks_exact_mut(W).zip(values).for_each(|(d, v)| d.copy_from_slice(&v));
}

/// Slabs of `rows` rows of `row_len` values each, in order, as (first row, rows): as many rows as
/// hold at most `max_values` values (one row at least), the last slab what is left. How a source
/// is read a slab at a time, whoever reads it.
pub fn slabs(rows: usize, row_len: usize, max_values: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = (max_values / row_len.max(1)).max(1);
    (0..rows).step_by(step).map(move |first| (first, step.min(rows - first)))
}

/// An input read by rows of its lattice ([`crate::layout::lattice`]: a field's leading axes
/// flattened, a table's rows), so that compression holds a few chunks of it at a time.
pub trait RowSource {
    fn layout(&self) -> &DatasetLayout;

    /// Lattice rows `first..first + rows` as a dataset of those rows: a field's values flattened
    /// to 1-d, a table of `rows` rows. The error names the input and what went wrong.
    fn read_rows(&mut self, first: usize, rows: usize) -> std::result::Result<Dataset, String>;

    /// A field's finite range without the values equal to `fill` (as
    /// [`crate::preprocess::finite_range`] finds it: `Ok(None)` where there is no such value),
    /// where the source finds it faster than by handing its rows over (a file scanned in its own
    /// dtype); `None`: the compressor reads the rows instead.
    fn field_range(&mut self, fill: Option<f64>) -> Option<std::result::Result<Option<(f64, f64)>, String>> {
        let _ = fill;
        None
    }
}
