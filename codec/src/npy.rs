//! Writing decoded data as `.npy` (numpy's format): the header and the little-endian values. The
//! CLI and the browser viewer both write through here, so their downloads are the same bytes.

use crate::data::{Column, DType, Dataset, Values};

/// numpy's type string for a dtype, little-endian.
pub fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
    }
}

/// The header numpy writes: magic, version, length, the dict padded with spaces so that the
/// data starts at a multiple of 64 bytes, and a newline.
pub fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let padded = |preamble: usize| {
        let unpadded = preamble + dict.len() + 1;
        dict.len() + 1 + (64 - unpadded % 64) % 64
    };
    let (version, preamble) = if padded(10) <= usize::from(u16::MAX) { (1u8, 10) } else { (2u8, 12) };
    let len = padded(preamble);
    let mut out = Vec::with_capacity(preamble + len);
    out.extend_from_slice(b"\x93NUMPY");
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(preamble + len - 1, b' ');
    out.push(b'\n');
    out
}

/// The one dtype a table with columns of `dtypes` is written in: theirs if shared, else float64.
pub fn common_dtype(dtypes: &[DType]) -> DType {
    match dtypes.first() {
        Some(&first) if dtypes.iter().all(|&d| d == first) => first,
        _ => DType::F64,
    }
}

/// The dtype and shape a dataset is written with as one array (a table as `[rows, columns]`).
pub fn array_layout(ds: &Dataset) -> (DType, Vec<usize>) {
    match ds {
        Dataset::Field(a) => (a.dtype, a.shape.clone()),
        Dataset::Table { rows, columns } => {
            (common_dtype(&columns.iter().map(|c| c.dtype).collect::<Vec<_>>()), vec![*rows, columns.len()])
        }
    }
}

/// Appends the values of a decoded dataset (or a part of one: the next rows) in `dtype`,
/// little-endian, row-major; a table row by row. Decoded values always fit their own dtype; a
/// table of mixed dtypes is written as float64 (integers converted as numpy does).
pub fn append_values(out: &mut Vec<u8>, ds: &Dataset, dtype: DType) {
    match ds {
        Dataset::Field(a) => {
            out.reserve(a.values.len() * dtype.size_bytes());
            for i in 0..a.values.len() {
                push(out, &a.values, i, dtype);
            }
        }
        Dataset::Table { rows, columns } => {
            out.reserve(rows * columns.len() * dtype.size_bytes());
            for r in 0..*rows {
                for Column { values, .. } in columns {
                    push(out, values, r, dtype);
                }
            }
        }
    }
}

fn push(out: &mut Vec<u8>, values: &Values, i: usize, dtype: DType) {
    match (values, dtype) {
        (Values::Float(v), DType::F32) => out.extend_from_slice(&(v[i] as f32).to_le_bytes()),
        (Values::Float(v), _) => out.extend_from_slice(&v[i].to_le_bytes()),
        (Values::Int(v), DType::F32) => out.extend_from_slice(&(v[i] as f32).to_le_bytes()),
        (Values::Int(v), DType::F64) => out.extend_from_slice(&(v[i] as f64).to_le_bytes()),
        (Values::Int(v), _) => out.extend_from_slice(&v[i].to_le_bytes()[..dtype.size_bytes()]),
    }
}

/// A whole dataset as the bytes of a `.npy` file.
pub fn to_npy(ds: &Dataset) -> Vec<u8> {
    let (dtype, shape) = array_layout(ds);
    let mut out = header_bytes(descr(dtype), &shape);
    append_values(&mut out, ds, dtype);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Array;

    #[test]
    fn header_is_aligned_and_parsable() {
        let h = header_bytes("<f4", &[60, 50, 50]);
        assert_eq!(h.len() % 64, 0);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (60, 50, 50), }"));
        assert!(text.ends_with('\n'));
        assert_eq!(header_bytes("<u8", &[3]).len() % 64, 0);
        assert!(String::from_utf8_lossy(&header_bytes("<u8", &[3])).contains("'shape': (3,)"));
    }

    #[test]
    fn fields_keep_their_dtype_and_tables_share_one() {
        let f =
            Dataset::Field(Array { dtype: DType::I16, shape: vec![2], values: Values::Int(vec![-2, 300]) });
        let bytes = to_npy(&f);
        assert_eq!(&bytes[bytes.len() - 4..], &[0xfe, 0xff, 0x2c, 0x01]);
        let t = Dataset::Table {
            rows: 1,
            columns: vec![
                Column { name: "a".into(), dtype: DType::F32, values: Values::Float(vec![0.5]) },
                Column { name: "b".into(), dtype: DType::U8, values: Values::Int(vec![7]) },
            ],
        };
        let bytes = to_npy(&t);
        assert!(String::from_utf8_lossy(&bytes).contains("'descr': '<f8'"));
        assert_eq!(&bytes[bytes.len() - 16..], [0.5f64.to_le_bytes(), 7f64.to_le_bytes()].concat());
    }
}
