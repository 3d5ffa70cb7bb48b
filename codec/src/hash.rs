//! Content hash of decoded values: a hash over the values in their own dtype, little-endian,
//! row-major (a table row by row). Equal hashes mean bit-identical data, whichever decoder ran.
//! Archives of format 1 and 2 store blake3 (32 bytes); format 3 stores XXH3-128 (16 bytes, then
//! 16 zero bytes), which a decoder recomputes at memory speed. Format 4 hashes the layout (shape,
//! table flag, stream names and dtypes, fill value; see [`layout_bytes`]) before the values, so
//! a tampered header cannot pass for the data it describes. [`content_hash`] — blake3 of the
//! values — is also the identity the tools print and the tests compare decoders by.

use crate::data::{DType, Dataset, Values};
use crate::format::metadata::Metadata;

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

/// Appends rows `rows` of a table's `columns` as the hash takes them, row by row, each value
/// little-endian in its own dtype: written column by column into their places (one loop per
/// column and dtype, not a dispatch per value).
fn append_table_rows(out: &mut Vec<u8>, columns: &[crate::data::Column], rows: std::ops::Range<usize>) {
    let row_bytes: usize = columns.iter().map(|c| c.dtype.size_bytes()).sum();
    let at = out.len();
    out.resize(at + rows.len() * row_bytes, 0);
    let mut offset = at;
    for c in columns {
        let w = c.dtype.size_bytes();
        let places = out[offset..].chunks_mut(row_bytes.max(1));
        match (&c.values, c.dtype) {
            (Values::Float(v), DType::F32) => places
                .zip(&v[rows.clone()])
                .for_each(|(p, &x)| p[..4].copy_from_slice(&(x as f32).to_le_bytes())),
            (Values::Float(v), _) => {
                places.zip(&v[rows.clone()]).for_each(|(p, x)| p[..8].copy_from_slice(&x.to_le_bytes()))
            }
            (Values::Int(v), _) => {
                places.zip(&v[rows.clone()]).for_each(|(p, x)| p[..w].copy_from_slice(&x.to_le_bytes()[..w]))
            }
        }
        offset += w;
    }
}

/// The content hash fed part by part: the hash of consecutive row ranges of a dataset, in order,
/// equals the hash of the whole (what streaming decode relies on).
/// Values converted to bytes at a time before they go to blake3 (the hash of the concatenation does
/// not depend on how it is split).
const BLOCK: usize = 8192;

/// Which hash an archive's metadata holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashKind {
    /// Format 1–2: blake3 of the values.
    Blake3,
    /// Format 3: XXH3-128 of the values.
    Xxh3,
    /// Format 4: XXH3-128 of the layout, then the values.
    Xxh3Layout,
}

impl HashKind {
    /// The content hash of archives of container format `version`.
    pub fn of_version(version: u16) -> Self {
        match version {
            0..=2 => HashKind::Blake3,
            3 => HashKind::Xxh3,
            _ => HashKind::Xxh3Layout,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashKind::Blake3 => "blake3",
            HashKind::Xxh3 => "xxh3-128",
            HashKind::Xxh3Layout => "xxh3-128 of layout + values",
        }
    }

    /// Bytes of the 32-byte field that hold the digest (the rest are zero).
    pub fn digest_len(self) -> usize {
        match self {
            HashKind::Blake3 => 32,
            HashKind::Xxh3 | HashKind::Xxh3Layout => 16,
        }
    }
}

/// What format 4's content hash binds besides the values: everything a writer puts in the output
/// file's header. Postcard of `(shape, table, [(name, dtype)], fill_value)` (docs/format.md §7).
#[derive(serde::Serialize)]
struct Layout<'a> {
    shape: &'a [u64],
    table: bool,
    streams: Vec<(&'a str, DType)>,
    fill_value: Option<f64>,
}

/// The bytes format 4 hashes before the values: a u64 little-endian length, then the layout.
pub fn layout_bytes(meta: &Metadata) -> Vec<u8> {
    let layout = Layout {
        shape: &meta.shape,
        table: meta.table,
        streams: meta.streams.iter().map(|s| (s.name.as_str(), s.dtype)).collect(),
        fill_value: meta.fill_value,
    };
    let body = postcard::to_allocvec(&layout).expect("the layout serializes");
    let mut out = (body.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

enum State {
    Blake3(Box<blake3::Hasher>),
    Xxh3(Box<xxhash_rust::xxh3::Xxh3>),
}

pub struct ContentHasher {
    state: State,
    buf: Vec<u8>,
}

impl Default for ContentHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl ContentHasher {
    /// The blake3 content hash.
    pub fn new() -> Self {
        Self::of_kind(HashKind::Blake3)
    }

    /// A hasher of the values alone (formats 1–3; for format 4 use [`Self::for_archive`]).
    pub fn of_kind(kind: HashKind) -> Self {
        let state = match kind {
            HashKind::Blake3 => State::Blake3(Box::default()),
            HashKind::Xxh3 | HashKind::Xxh3Layout => State::Xxh3(Box::default()),
        };
        Self { state, buf: Vec::with_capacity(1 << 16) }
    }

    /// The content hasher of an archive of that hash kind and metadata, ready for its values.
    pub fn for_archive(kind: HashKind, meta: &Metadata) -> Self {
        let mut h = Self::of_kind(kind);
        if kind == HashKind::Xxh3Layout {
            h.update_bytes(&layout_bytes(meta));
        }
        h
    }

    /// Adds values already laid out as [`Self::update`] would lay them out ([`value_bytes`]): what
    /// a decode that runs elsewhere (a worker) hands back.
    pub fn update_value_bytes(&mut self, bytes: &[u8]) {
        self.flush();
        self.update_bytes(bytes);
    }

    fn update_bytes(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Blake3(h) => {
                h.update(bytes);
            }
            State::Xxh3(h) => h.update(bytes),
        }
    }

    fn flush(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.update_bytes(&buf);
        self.buf = buf;
        self.buf.clear();
    }

    fn flush_if_full(&mut self) {
        if self.buf.len() >= 1 << 16 {
            self.flush();
        }
    }

    /// Adds the values of `ds` (a whole dataset or the next rows of one).
    pub fn update(&mut self, ds: &Dataset) {
        match ds {
            // A field's values in blocks: one loop per dtype, no per-value dispatch.
            Dataset::Field(a) => {
                for block in (0..a.values.len()).step_by(BLOCK) {
                    let end = (block + BLOCK).min(a.values.len());
                    match (&a.values, a.dtype) {
                        (Values::Float(v), DType::F32) => v[block..end]
                            .iter()
                            .for_each(|&x| self.buf.extend_from_slice(&(x as f32).to_le_bytes())),
                        // f64 in memory are their little-endian bytes on LE targets: no copy.
                        (Values::Float(v), _) if cfg!(target_endian = "little") => {
                            self.flush();
                            self.update_bytes(bytemuck::cast_slice(&v[block..end]));
                        }
                        (Values::Float(v), _) => {
                            v[block..end].iter().for_each(|x| self.buf.extend_from_slice(&x.to_le_bytes()))
                        }
                        (values, dtype) => {
                            (block..end).for_each(|i| push_value(&mut self.buf, values, i, dtype))
                        }
                    }
                    self.flush_if_full();
                }
            }
            // A table's rows, a block at a time.
            Dataset::Table { rows, columns } => {
                let row_bytes: usize = columns.iter().map(|c| c.dtype.size_bytes()).sum();
                let block = (BLOCK * 8 / row_bytes.max(1)).max(1);
                for start in (0..*rows).step_by(block) {
                    let end = (start + block).min(*rows);
                    append_table_rows(&mut self.buf, columns, start..end);
                    self.flush_if_full();
                }
            }
        }
    }

    pub fn finalize(mut self) -> [u8; 32] {
        self.flush();
        match self.state {
            State::Blake3(h) => *h.finalize().as_bytes(),
            State::Xxh3(h) => {
                let mut out = [0u8; 32];
                out[..16].copy_from_slice(&h.digest128().to_le_bytes());
                out
            }
        }
    }
}

/// The bytes [`ContentHasher::update`] hashes for `ds`: each value little-endian in its own dtype,
/// a table row by row.
pub fn value_bytes(ds: &Dataset) -> Vec<u8> {
    let mut out = Vec::new();
    match ds {
        Dataset::Field(a) => crate::npy::append_values(&mut out, ds, a.dtype),
        Dataset::Table { rows, columns } => append_table_rows(&mut out, columns, 0..*rows),
    }
    out
}

/// blake3 over the values: the identity tools print and tests compare.
pub fn content_hash(ds: &Dataset) -> [u8; 32] {
    content_hash_of_kind(HashKind::Blake3, ds)
}

/// The hash of the values alone of that kind (what archives of format 1–3 store).
pub fn content_hash_of_kind(kind: HashKind, ds: &Dataset) -> [u8; 32] {
    let mut h = ContentHasher::of_kind(kind);
    h.update(ds);
    h.finalize()
}

/// The content hash an archive with this metadata stores for the values `ds`.
pub fn archive_content_hash(kind: HashKind, meta: &Metadata, ds: &Dataset) -> [u8; 32] {
    let mut h = ContentHasher::for_archive(kind, meta);
    h.update(ds);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Array, Column};

    #[test]
    fn hashes_do_not_depend_on_how_the_values_are_split() {
        let values: Vec<f64> = (0..20_000).map(|i| (i as f64 * 0.37).sin()).collect();
        for kind in [HashKind::Blake3, HashKind::Xxh3] {
            for dtype in [DType::F32, DType::F64] {
                let field = |v: &[f64]| {
                    Dataset::Field(Array { dtype, shape: vec![v.len()], values: Values::Float(v.to_vec()) })
                };
                let whole = content_hash_of_kind(kind, &field(&values));
                let mut parts = ContentHasher::of_kind(kind);
                for part in values.chunks(7001) {
                    parts.update(&field(part));
                }
                assert_eq!(parts.finalize(), whole, "{kind:?} {dtype:?}");
                assert!(whole[kind.digest_len()..].iter().all(|&b| b == 0));
                let mut other = values.clone();
                other[12_345] = f64::from_bits(other[12_345].to_bits() ^ 1 << 40);
                assert_ne!(content_hash_of_kind(kind, &field(&other)), whole, "{kind:?} {dtype:?}");
            }
        }
    }

    #[test]
    fn xxh3_is_the_reference_digest_of_the_value_bytes() {
        // A table row by row, each value in its column's dtype: the bytes the format names.
        let columns = vec![
            Column { name: "a".into(), dtype: DType::F32, values: Values::Float(vec![1.5, -2.0]) },
            Column { name: "b".into(), dtype: DType::I16, values: Values::Int(vec![-3, 300]) },
        ];
        let table = Dataset::Table { rows: 2, columns };
        let mut bytes = Vec::new();
        for (a, b) in [(1.5f32, -3i16), (-2.0, 300)] {
            bytes.extend_from_slice(&a.to_le_bytes());
            bytes.extend_from_slice(&b.to_le_bytes());
        }
        let want = xxhash_rust::xxh3::xxh3_128(&bytes).to_le_bytes();
        assert_eq!(content_hash_of_kind(HashKind::Xxh3, &table)[..16], want);
        assert_eq!(content_hash(&table), *blake3::hash(&bytes).as_bytes());

        // Many blocks of rows, three dtypes: the same bytes as written value by value.
        let rows = 20_011;
        let a: Vec<f64> = (0..rows).map(|i| i as f64 * 0.25 - 7.0).collect();
        let b: Vec<i64> = (0..rows as i64).map(|i| i * 37 % 65_536 - 32_768).collect();
        let c: Vec<f64> = (0..rows).map(|i| (i as f64).sqrt()).collect();
        let columns = vec![
            Column { name: "a".into(), dtype: DType::F32, values: Values::Float(a.clone()) },
            Column { name: "b".into(), dtype: DType::I16, values: Values::Int(b.clone()) },
            Column { name: "c".into(), dtype: DType::F64, values: Values::Float(c.clone()) },
        ];
        let mut bytes = Vec::new();
        for r in 0..rows {
            bytes.extend_from_slice(&(a[r] as f32).to_le_bytes());
            bytes.extend_from_slice(&(b[r] as i16).to_le_bytes());
            bytes.extend_from_slice(&c[r].to_le_bytes());
        }
        let table = Dataset::Table { rows, columns };
        assert_eq!(content_hash(&table), *blake3::hash(&bytes).as_bytes());
        // What a worker hands back hashes the same, mixed with parts hashed directly.
        assert_eq!(value_bytes(&table), bytes);
        let field =
            Dataset::Field(Array { dtype: DType::I16, shape: vec![3], values: Values::Int(vec![-1, 2, 3]) });
        let mut h = ContentHasher::of_kind(HashKind::Xxh3);
        h.update(&field);
        h.update_value_bytes(&bytes);
        let mut both = value_bytes(&field);
        both.extend_from_slice(&bytes);
        assert_eq!(h.finalize()[..16], xxhash_rust::xxh3::xxh3_128(&both).to_le_bytes());
    }
}
