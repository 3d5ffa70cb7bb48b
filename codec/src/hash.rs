//! Content hash of decoded values: blake3 over the values in their own dtype, little-endian,
//! row-major (a table row by row). Equal hashes mean bit-identical data, whichever decoder ran.

use crate::data::{DType, Dataset, Values};

fn push_value(h: &mut Vec<u8>, values: &Values, i: usize, dtype: DType) {
    match values {
        Values::Float(v) => match dtype {
            DType::F32 => h.extend_from_slice(&(v[i] as f32).to_le_bytes()),
            _ => h.extend_from_slice(&v[i].to_le_bytes()),
        },
        Values::Int(v) => {
            let bytes = v[i].to_le_bytes();
            h.extend_from_slice(&bytes[..dtype.size_bytes()]);
        }
    }
}

pub fn content_hash(ds: &Dataset) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    let mut buf = Vec::with_capacity(1 << 16);
    match ds {
        Dataset::Field(a) => {
            for i in 0..a.values.len() {
                push_value(&mut buf, &a.values, i, a.dtype);
                if buf.len() >= 1 << 16 {
                    hasher.update(&buf);
                    buf.clear();
                }
            }
        }
        Dataset::Table { rows, columns } => {
            for r in 0..*rows {
                for c in columns {
                    push_value(&mut buf, &c.values, r, c.dtype);
                }
                if buf.len() >= 1 << 16 {
                    hasher.update(&buf);
                    buf.clear();
                }
            }
        }
    }
    hasher.update(&buf);
    *hasher.finalize().as_bytes()
}
