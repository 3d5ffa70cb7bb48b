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

/// The content hash fed part by part: the hash of consecutive row ranges of a dataset, in order,
/// equals the hash of the whole (what streaming decode relies on).
pub struct ContentHasher {
    hasher: blake3::Hasher,
    buf: Vec<u8>,
}

impl Default for ContentHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl ContentHasher {
    pub fn new() -> Self {
        Self { hasher: blake3::Hasher::new(), buf: Vec::with_capacity(1 << 16) }
    }

    fn flush_if_full(&mut self) {
        if self.buf.len() >= 1 << 16 {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    /// Adds the values of `ds` (a whole dataset or the next rows of one).
    pub fn update(&mut self, ds: &Dataset) {
        match ds {
            Dataset::Field(a) => {
                for i in 0..a.values.len() {
                    push_value(&mut self.buf, &a.values, i, a.dtype);
                    self.flush_if_full();
                }
            }
            Dataset::Table { rows, columns } => {
                for r in 0..*rows {
                    for c in columns {
                        push_value(&mut self.buf, &c.values, r, c.dtype);
                    }
                    self.flush_if_full();
                }
            }
        }
    }

    pub fn finalize(mut self) -> [u8; 32] {
        self.hasher.update(&self.buf);
        *self.hasher.finalize().as_bytes()
    }
}

pub fn content_hash(ds: &Dataset) -> [u8; 32] {
    let mut h = ContentHasher::new();
    h.update(ds);
    h.finalize()
}
