//! The `.npy` format: a header (a Python dict literal: dtype, order, shape) then raw values.
//!
//! Headers are parsed by `npyz`; the values are decoded here so that every byte order, bool,
//! Fortran order and the unicode string arrays of Baler's `names` are handled the same way.

use std::io::{self, Read, Write};
use std::path::Path;

use baler_codec::data::{Array, DType, Dataset, DatasetLayout, RowSource, Values};
use baler_codec::preprocess::RangeScan;
use npyz::{Endianness, Order, TypeChar};

use super::{
    Elem, IoError, ReadOptions, array_to_named_table, array_to_table, column_views, shape_len, to_float,
    to_int,
};

/// What one `.npy` holds.
#[derive(Debug)]
pub(crate) enum Parsed {
    Numeric(Array),
    /// A unicode (`U`) or byte (`S`) string array, row-major, trailing NULs trimmed.
    Strings {
        descr: String,
        shape: Vec<usize>,
        values: Vec<String>,
    },
}

pub(crate) fn read_file(path: &Path, opts: &ReadOptions) -> Result<Dataset, IoError> {
    let file = std::fs::File::open(path).map_err(|e| IoError::read(path, e))?;
    let len = file.metadata().map_err(|e| IoError::read(path, e))?.len();
    // The file's length justifies any allocation up to it.
    let parsed = read_from(&mut io::BufReader::new(file), len, usize::MAX);
    match parsed.map_err(|msg| IoError::invalid(path, msg))? {
        Parsed::Numeric(a) if opts.table && a.shape.len() == 2 => Ok(array_to_table(a)),
        Parsed::Numeric(a) => Ok(Dataset::Field(a)),
        Parsed::Strings { descr, .. } => Err(IoError::invalid(
            path,
            format!("unsupported dtype '{descr}' (strings): expected a numeric array"),
        )),
    }
}

/// The `'descr'` string of a header npyz could not parse, for the error message.
fn raw_descr(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(4096))?);
    let start = text.find("'descr'")? + "'descr'".len();
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('\'')?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// Decodes a whole `.npy` file held in memory.
#[cfg(test)]
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    read_from(&mut &bytes[..], bytes.len() as u64, usize::MAX)
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads the header: magic, version, header length, then the dict (no more than `len`).
fn read_header(r: &mut impl io::Read, len: u64) -> Result<(npyz::NpyHeader, u64), String> {
    let truncated = || "truncated npy header".to_string();
    let mut pre = Vec::with_capacity(12);
    r.by_ref().take(8).read_to_end(&mut pre).map_err(|e| e.to_string())?;
    if !pre.starts_with(MAGIC) {
        return Err("not an npy file (no \\x93NUMPY magic)".to_string());
    }
    let size_bytes = match pre.get(6) {
        None => return Err(truncated()),
        Some(1) => 2,
        Some(2 | 3) => 4,
        Some(&v) => return Err(format!("unsupported npy format version {v}")),
    };
    r.by_ref().take(size_bytes).read_to_end(&mut pre).map_err(|e| e.to_string())?;
    if pre.len() < 8 + size_bytes as usize {
        return Err(truncated());
    }
    let header_len = pre[8..].iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    // The header is read only when the file holds it: its length field may claim 4 GiB.
    let total = pre.len() as u64 + header_len;
    if total > len {
        return Err(truncated());
    }
    let mut head = pre;
    r.by_ref().take(header_len).read_to_end(&mut head).map_err(|e| e.to_string())?;
    if (head.len() as u64) < total {
        return Err(truncated());
    }
    check_nesting(&head[pre_len(&head, size_bytes)..])?;
    let header = npyz::NpyHeader::from_reader(&head[..]).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return truncated();
        }
        // npyz's messages may span several lines (a parser's diagnostic): keep the first
        let e = e.to_string();
        let e = e.lines().next().unwrap_or_default().trim();
        match raw_descr(&head) {
            Some(d) if d.contains('O') => format!("unsupported dtype '{d}' (Python objects)"),
            Some(d) if d.parse::<npyz::TypeStr>().is_err() => {
                format!("unsupported dtype '{d}' ({e})")
            }
            _ => format!("invalid npy header ({e})"),
        }
    })?;
    Ok((header, total))
}

/// Bytes before the header dict: magic, version, length field.
fn pre_len(head: &[u8], size_bytes: u64) -> usize {
    (8 + size_bytes as usize).min(head.len())
}

/// Deepest bracket nesting a header written by numpy has: the dict, a structured dtype's list of
/// fields, a field's tuple and its subarray shape.
const MAX_HEADER_NESTING: usize = 4;

/// Refuses a header dict whose brackets (outside quoted strings) nest deeper than numpy writes or do
/// not balance. npyz's parser backtracks exponentially on deep, unclosed nesting: a 128-byte file
/// took minutes (found by fuzzing).
fn check_nesting(dict: &[u8]) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("invalid npy header ({why})"));
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for &b in dict {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'{' | b'[' | b'(') => {
                depth += 1;
                if depth > MAX_HEADER_NESTING {
                    return invalid("brackets nested too deep");
                }
            }
            (None, b'}' | b']' | b')') => {
                depth = match depth.checked_sub(1) {
                    Some(d) => d,
                    None => return invalid("unbalanced brackets"),
                }
            }
            _ => {}
        }
    }
    if depth != 0 || quote.is_some() {
        return invalid("unbalanced brackets or quotes");
    }
    Ok(())
}

/// Reads one `.npy` from `r`, which holds exactly `len` bytes (a file's length, a zip member's
/// declared size). The data must be exactly what the header's shape and dtype need: a short
/// body or trailing bytes are errors, found before anything is allocated for the data, and
/// no more than the header justifies is read. `prealloc` caps the first allocation (the rest
/// grows as bytes arrive) where `len` is only a claim.
pub(crate) fn read_from(r: &mut impl io::Read, len: u64, prealloc: usize) -> Result<Parsed, String> {
    let (header, header_len) = read_header(r, len)?;
    let ts = match header.dtype() {
        npyz::DType::Plain(ts) => ts,
        other => {
            return Err(format!("unsupported dtype {} (structured arrays are not supported)", other.descr()));
        }
    };
    let file_shape = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| format!("shape {:?} is too large", header.shape()))?;
    let n = shape_len(&file_shape).ok_or_else(|| format!("shape {file_shape:?} is too large"))?;
    let item = ts.num_bytes().ok_or_else(|| format!("dtype '{ts}' is too large"))?;
    let need = n.checked_mul(item).ok_or_else(|| format!("shape {file_shape:?} is too large"))?;
    let has = len - header_len;
    let needs =
        |has: u64| format!("shape {file_shape:?} of '{ts}' needs {need} bytes of data, the file has {has}");
    if (need as u64) > has {
        return Err(format!("truncated: {}", needs(has)));
    }
    if (need as u64) < has {
        return Err(format!("{} trailing bytes after the data: {}", has - need as u64, needs(has)));
    }
    if item == 0 && n as u64 > len {
        // zero-width strings: nothing in the file bounds their count
        return Err(format!(
            "shape {file_shape:?} of zero-width '{ts}' holds more items than the file has bytes"
        ));
    }
    let big = ts.endianness() == Endianness::Big;
    let fortran = header.order() == Order::Fortran;
    let size = ts.size_field();
    let unsupported = |what: &str| Err(format!("unsupported dtype '{ts}' ({what})"));
    let truncated = |got: usize| format!("truncated: {}", needs(got as u64));

    // Strings are decoded from the whole data.
    let read_all = |r: &mut dyn io::Read| -> Result<Vec<u8>, String> {
        let mut data = Vec::with_capacity(need.min(prealloc));
        read_blocks(r, need, 1, &truncated, |block| data.extend_from_slice(block))?;
        expect_end(r, &file_shape, &ts, need)?;
        Ok(data)
    };

    if let Some(dtype) = numeric_dtype(ts.type_char(), size) {
        // At most `prealloc` bytes of values before the bytes arrive (all of them for a file,
        // whose length is known; a zip member's length is only a claim), growing after.
        let values = read_numbers(r, n, dtype, big, prealloc / 8, &truncated)?;
        expect_end(r, &file_shape, &ts, need)?;
        let values = match values {
            Values::Float(v) => Values::Float(reorder(v, &file_shape, fortran)),
            Values::Int(v) => Values::Int(reorder(v, &file_shape, fortran)),
        };
        return Ok(Parsed::Numeric(Array { dtype, shape: c_shape(&file_shape), values }));
    }
    match (ts.type_char(), size) {
        (TypeChar::Float, 2) => unsupported("float16"),
        (TypeChar::Float, _) => unsupported("extended precision float"),
        (TypeChar::UnicodeStr, _) => {
            let data = read_all(r)?;
            let width = item / 4;
            let mut values = Vec::with_capacity(n);
            for s in data.chunks_exact(width.max(1) * 4).take(n) {
                let mut text = String::with_capacity(width);
                for c in s.chunks_exact(4) {
                    let b = c.try_into().expect("chunk size");
                    let u = if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) };
                    text.push(
                        char::from_u32(u)
                            .ok_or_else(|| format!("invalid unicode code point {u:#x} in a '{ts}' array"))?,
                    );
                }
                values.push(text.trim_end_matches('\0').to_string());
            }
            if width == 0 {
                values.resize(n, String::new());
            }
            Ok(Parsed::Strings {
                descr: ts.to_string(),
                shape: c_shape(&file_shape),
                values: reorder(values, &file_shape, fortran),
            })
        }
        (TypeChar::ByteStr, _) => {
            let data = read_all(r)?;
            let mut values = Vec::with_capacity(n);
            if item == 0 {
                values.resize(n, String::new());
            } else {
                for s in data.chunks_exact(item) {
                    let s = std::str::from_utf8(s)
                        .map_err(|_| format!("a '{ts}' byte string is not valid UTF-8"))?;
                    values.push(s.trim_end_matches('\0').to_string());
                }
            }
            Ok(Parsed::Strings {
                descr: ts.to_string(),
                shape: c_shape(&file_shape),
                values: reorder(values, &file_shape, fortran),
            })
        }
        (TypeChar::Complex, _) => unsupported("complex"),
        (TypeChar::TimeDelta, _) | (TypeChar::DateTime, _) => unsupported("datetime"),
        (TypeChar::RawData, _) => unsupported("raw bytes"),
        _ => unsupported("not a numeric type"),
    }
}

/// The dtype values of this npy type are read as (bool as uint8), `None` for other types.
fn numeric_dtype(kind: TypeChar, size: u64) -> Option<DType> {
    Some(match (kind, size) {
        (TypeChar::Float, 4) => DType::F32,
        (TypeChar::Float, 8) => DType::F64,
        (TypeChar::Int, 1) => DType::I8,
        (TypeChar::Int, 2) => DType::I16,
        (TypeChar::Int, 4) => DType::I32,
        (TypeChar::Int, 8) => DType::I64,
        (TypeChar::Uint, 1) | (TypeChar::Bool, 1) => DType::U8,
        (TypeChar::Uint, 2) => DType::U16,
        (TypeChar::Uint, 4) => DType::U32,
        (TypeChar::Uint, 8) => DType::U64,
        _ => return None,
    })
}

/// Reads `n` numbers of `dtype` (big-endian when `big`), converting them block by block as they
/// are read, so the bytes are never held whole next to the values (for float32 that was a
/// third of the peak memory). `reserve`: values reserved before the bytes arrive.
fn read_numbers(
    r: &mut (impl io::Read + ?Sized),
    n: usize,
    dtype: DType,
    big: bool,
    reserve: usize,
    truncated: &dyn Fn(usize) -> String,
) -> Result<Values, String> {
    macro_rules! decode {
        ($t:ty, $map:expr) => {{
            const W: usize = std::mem::size_of::<$t>();
            let mut out = Vec::with_capacity(n.min(reserve));
            // One loop per byte order, without a branch in it (it vectorizes).
            let bytes = |c: &[u8]| -> [u8; W] { c.try_into().expect("chunk size") };
            read_blocks(r, n * W, W, truncated, |block| match big {
                true => out.extend(block.chunks_exact(W).map(|c| $map(<$t>::from_be_bytes(bytes(c))))),
                false => out.extend(block.chunks_exact(W).map(|c| $map(<$t>::from_le_bytes(bytes(c))))),
            })?;
            out
        }};
    }
    Ok(match dtype {
        DType::F32 => Values::Float(decode!(f32, f64::from)),
        DType::F64 => Values::Float(decode!(f64, |x| x)),
        DType::I8 => Values::Int(decode!(i8, i64::from)),
        DType::I16 => Values::Int(decode!(i16, i64::from)),
        DType::I32 => Values::Int(decode!(i32, i64::from)),
        DType::I64 => Values::Int(decode!(i64, |x| x)),
        DType::U8 => Values::Int(decode!(u8, i64::from)),
        DType::U16 => Values::Int(decode!(u16, i64::from)),
        DType::U32 => Values::Int(decode!(u32, i64::from)),
        // a u64 above i64::MAX is kept by its bits
        DType::U64 => Values::Int(decode!(u64, |x| x as i64)),
    })
}

/// A C-order numeric `.npy` file read a slab of rows at a time (streaming compression).
pub(crate) struct NpyRows {
    path: std::path::PathBuf,
    file: std::fs::File,
    data_start: u64,
    dtype: DType,
    big: bool,
    /// Values per lattice row (all streams).
    row_values: usize,
    layout: DatasetLayout,
}

/// Opens `path` for reading by rows, or `None` when it cannot be read so (Fortran order,
/// strings, a length that does not match: the whole-file reader then reports what is wrong).
pub(crate) fn open_rows(path: &Path, opts: &ReadOptions) -> Result<Option<NpyRows>, IoError> {
    let file = std::fs::File::open(path).map_err(|e| IoError::read(path, e))?;
    let len = file.metadata().map_err(|e| IoError::read(path, e))?.len();
    Ok(open_rows_in(path, file, 0..len, opts, Vec::new()))
}

/// [`open_rows`] of the `.npy` bytes at `region` of `file` (a whole `.npy`, or a member stored
/// uncompressed in an `.npz`). A 2-d array with `names` (one per column) is a table of those
/// columns, as the whole-file reader makes it; a count that does not match is left to that reader.
pub(crate) fn open_rows_in(
    path: &Path,
    file: std::fs::File,
    region: std::ops::Range<u64>,
    opts: &ReadOptions,
    names: Vec<String>,
) -> Option<NpyRows> {
    let len = region.end.checked_sub(region.start)?;
    let at_start = ReadAt { file: &file, at: region.start };
    let (header, header_len) = read_header(&mut io::BufReader::new(at_start), len).ok()?;
    let npyz::DType::Plain(ts) = header.dtype() else { return None };
    let dtype = numeric_dtype(ts.type_char(), ts.size_field())?;
    let shape = header.shape().iter().map(|&d| usize::try_from(d)).collect::<Result<Vec<_>, _>>().ok()?;
    let fortran = header.order() == Order::Fortran && shape.iter().filter(|&&d| d > 1).count() > 1;
    let need = shape_len(&shape).and_then(|n| n.checked_mul(dtype.size_bytes()));
    if fortran || need.map(|b| b as u64) != Some(len - header_len) {
        return None;
    }
    let shape = c_shape(&shape);
    let named = shape.len() == 2 && !names.is_empty();
    if named && names.len() != shape[1] {
        return None;
    }
    let table = named || (opts.table && shape.len() == 2);
    let streams = match table {
        true => (0..shape[1])
            .map(|c| (names.get(c).cloned().unwrap_or_else(|| format!("col{c}")), dtype))
            .collect(),
        false => vec![(String::new(), dtype)],
    };
    let layout = DatasetLayout { shape, table, streams };
    let lattice = layout.lattice().ok()?;
    let row_values = if table { lattice[1] } else { lattice[1] * lattice[2] };
    let big = ts.endianness() == Endianness::Big;
    Some(NpyRows {
        path: path.to_path_buf(),
        file,
        data_start: region.start + header_len,
        dtype,
        big,
        row_values,
        layout,
    })
}

impl RowSource for NpyRows {
    fn layout(&self) -> &DatasetLayout {
        &self.layout
    }

    fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
        use std::io::Seek;
        let fail = |e: String| format!("{}: {e}", self.path.display());
        let n = rows * self.row_values;
        let at = self.data_start + (first * self.row_values * self.dtype.size_bytes()) as u64;
        (&self.file).seek(io::SeekFrom::Start(at)).map_err(|e| fail(e.to_string()))?;
        let truncated = |got: usize| format!("file shorter than its header says (read {got} bytes at {at})");
        let mut r = io::BufReader::with_capacity(1 << 16, &self.file);
        let values = read_numbers(&mut r, n, self.dtype, self.big, n, &truncated).map_err(fail)?;
        let a = Array { dtype: self.dtype, shape: vec![rows, self.row_values], values };
        Ok(match self.layout.table {
            true => {
                let names = self.layout.streams.iter().map(|(name, _)| name.clone()).collect();
                array_to_named_table(a, names)
            }
            false => Dataset::Field(Array { shape: vec![n], ..a }),
        })
    }

    fn field_range(&mut self, fill: Option<f64>) -> Option<Result<Option<(f64, f64)>, String>> {
        (!self.layout.table && self.dtype.is_float()).then(|| self.scan_range(fill))
    }
}

impl NpyRows {
    /// [`RowSource::field_range`] of a float field: the file's values scanned a block at a time,
    /// with no copy of them; a large file in one part per thread, side by side.
    fn scan_range(&mut self, fill: Option<f64>) -> Result<Option<(f64, f64)>, String> {
        let n = self.layout.stream_len();
        let parts = if n >= SCAN_PARTS_FROM { rayon::current_num_threads() } else { 1 };
        self.scan_range_in(fill, parts)
    }

    /// [`Self::scan_range`] in `parts` parts (one where positional reads are not available), each
    /// its own range, merged (the same bits whatever the split, see `RangeScan`); the error is
    /// the first part's that failed, as one reader from the start would have met it.
    fn scan_range_in(&self, fill: Option<f64>, parts: usize) -> Result<Option<(f64, f64)>, String> {
        use rayon::prelude::*;
        let n = self.layout.stream_len();
        let parts = if cfg!(unix) { parts.clamp(1, n.max(1)) } else { 1 };
        let bounds: Vec<(usize, usize)> = (0..parts).map(|p| (n * p / parts, n * (p + 1) / parts)).collect();
        let ranges: Vec<Result<Option<(f64, f64)>, String>> =
            bounds.par_iter().map(|&(from, to)| self.scan_part(fill, from, to)).collect();
        let mut range = None;
        for r in ranges {
            range = baler_codec::preprocess::merge_ranges(
                range,
                r.map_err(|e| format!("{}: {e}", self.path.display()))?,
            );
        }
        Ok(range)
    }

    /// The range of values `from..to` of the file.
    fn scan_part(&self, fill: Option<f64>, from: usize, to: usize) -> Result<Option<(f64, f64)>, String> {
        let w = self.dtype.size_bytes();
        let mut reader = ReadAt { file: &self.file, at: self.data_start + (from * w) as u64 };
        let truncated =
            |got: usize| format!("file shorter than its header says (read {} of its bytes)", from * w + got);
        let big = self.big;
        let mut scan = RangeScan::new(fill, self.dtype);
        // One conversion loop per byte order, as in `read_numbers`.
        let (four, eight) = (
            |b: &[u8]| -> [u8; 4] { b.try_into().expect("4 bytes") },
            |b: &[u8]| -> [u8; 8] { b.try_into().expect("8 bytes") },
        );
        let need = (to - from) * w;
        match self.dtype {
            DType::F32 => read_blocks(&mut reader, need, 4, &truncated, |block| match big {
                true => scan.add_from_f32(block.chunks_exact(4).map(|b| f32::from_be_bytes(four(b)))),
                false => scan.add_from_f32(block.chunks_exact(4).map(|b| f32::from_le_bytes(four(b)))),
            }),
            DType::F64 => read_blocks(&mut reader, need, 8, &truncated, |block| match big {
                true => scan.add_from(block.chunks_exact(8).map(|b| f64::from_be_bytes(eight(b)))),
                false => scan.add_from(block.chunks_exact(8).map(|b| f64::from_le_bytes(eight(b)))),
            }),
            _ => Err("integer values scanned as floats".into()),
        }?;
        Ok(scan.range())
    }
}

/// Values from which a float file's range is scanned in one part per thread.
const SCAN_PARTS_FROM: usize = 1 << 20;

/// Reads of a file from a position of its own: parts of one file read side by side on one
/// handle (`pread`; elsewhere than unix a seek and a read, for one part at a time).
struct ReadAt<'f> {
    file: &'f std::fs::File,
    at: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let k = std::os::unix::fs::FileExt::read_at(self.file, buf, self.at)?;
        #[cfg(not(unix))]
        let k = {
            use std::io::Seek;
            let mut file = self.file;
            file.seek(io::SeekFrom::Start(self.at))?;
            file.read(buf)?
        };
        self.at += k as u64;
        Ok(k)
    }
}

/// Reads exactly `need` bytes, handing them to `take` in blocks of whole items; a stream that
/// ends early is the error `truncated(bytes read)`.
fn read_blocks(
    r: &mut (impl io::Read + ?Sized),
    need: usize,
    item: usize,
    truncated: &dyn Fn(usize) -> String,
    mut take: impl FnMut(&[u8]),
) -> Result<(), String> {
    const BLOCK: usize = 1 << 16;
    let block = (BLOCK / item.max(1)).max(1) * item.max(1);
    let mut buf = vec![0u8; block.min(need)];
    let mut done = 0;
    while done < need {
        let want = block.min(need - done);
        let mut got = 0;
        while got < want {
            match r.read(&mut buf[got..want]) {
                Ok(0) => return Err(truncated(done + got)),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        take(&buf[..want]);
        done += want;
    }
    Ok(())
}

/// After the data: `len` may have been a claim (a zip member's size), so the stream must end here.
fn expect_end(
    r: &mut (impl io::Read + ?Sized),
    file_shape: &[usize],
    ts: &impl std::fmt::Display,
    need: usize,
) -> Result<(), String> {
    let mut probe = [0u8; 1];
    if r.read(&mut probe).map_err(|e| e.to_string())? > 0 {
        return Err(format!(
            "trailing bytes after the data: shape {file_shape:?} of '{ts}' needs {need} bytes, the stream holds more"
        ));
    }
    Ok(())
}

/// A 0-d array is read as shape `[1]`.
fn c_shape(shape: &[usize]) -> Vec<usize> {
    if shape.is_empty() { vec![1] } else { shape.to_vec() }
}

/// Values stored in Fortran order (first index fastest) put in row-major order.
fn reorder<T: Clone>(v: Vec<T>, shape: &[usize], fortran: bool) -> Vec<T> {
    let nd = shape.len();
    if !fortran || nd < 2 || v.is_empty() {
        return v;
    }
    let mut fstride = vec![1usize; nd];
    for k in 1..nd {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0usize; nd];
    let mut off = 0usize;
    for _ in 0..v.len() {
        out.push(v[off].clone());
        let mut k = nd;
        while k > 0 {
            k -= 1;
            idx[k] += 1;
            off += fstride[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= fstride[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

pub(crate) use baler_codec::npy::{array_layout, descr, header_bytes};

const CHUNK: usize = 1 << 16;

/// Writes values in `dtype`, little-endian. An integer that does not fit is an error.
fn encode<W: Write>(w: &mut W, dtype: DType, elems: impl Iterator<Item = Elem>) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 8);
    for e in elems {
        match dtype {
            DType::F32 => buf.extend_from_slice(&(to_float(e) as f32).to_le_bytes()),
            DType::F64 => buf.extend_from_slice(&to_float(e).to_le_bytes()),
            _ => {
                let v = to_int(dtype, e).map_err(io::Error::other)?;
                match dtype.size_bytes() {
                    1 => buf.push(v as u8),
                    2 => buf.extend_from_slice(&(v as u16).to_le_bytes()),
                    4 => buf.extend_from_slice(&(v as u32).to_le_bytes()),
                    _ => buf.extend_from_slice(&v.to_le_bytes()),
                }
            }
        }
        if buf.len() >= CHUNK {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

/// Writes a dataset as one `.npy` array (a table as `[rows, columns]`).
pub(crate) fn write_dataset<W: Write>(w: &mut W, ds: &Dataset) -> io::Result<()> {
    let (dtype, shape) = array_layout(ds);
    w.write_all(&header_bytes(descr(dtype), &shape))?;
    write_values(w, ds, dtype)
}

/// The values of `ds` in `dtype`, row-major (a table row by row), without a header.
pub(crate) fn write_values<W: Write>(w: &mut W, ds: &Dataset, dtype: DType) -> io::Result<()> {
    match ds {
        Dataset::Field(a) => match &a.values {
            Values::Float(v) => encode(w, dtype, v.iter().map(|&x| Elem::F(x))),
            Values::Int(v) => encode(w, dtype, v.iter().map(|&x| Elem::I(x))),
        },
        Dataset::Table { .. } => {
            let (rows, cols) = column_views(ds);
            encode(w, dtype, (0..rows).flat_map(|r| cols.iter().map(move |c| c.get(r))))
        }
    }
}

/// Writes strings as a 1D `<U{n}` array, `n` the longest length in characters (at least 1).
pub(crate) fn write_strings<W: Write>(w: &mut W, strings: &[String]) -> io::Result<()> {
    let width = strings.iter().map(|s| s.chars().count()).max().unwrap_or(0).max(1);
    w.write_all(&header_bytes(&format!("<U{width}"), &[strings.len()]))?;
    let mut buf = Vec::with_capacity(width * 4);
    for s in strings {
        buf.clear();
        for c in s.chars() {
            buf.extend_from_slice(&u32::from(c).to_le_bytes());
        }
        buf.resize(width * 4, 0);
        w.write_all(&buf)?;
    }
    Ok(())
}

/// An empty float64 array of shape `(0,)`: Baler's "no names".
pub(crate) fn write_empty_f64<W: Write>(w: &mut W) -> io::Result<()> {
    w.write_all(&header_bytes("<f8", &[0]))
}

#[cfg(test)]
pub(crate) mod tests;
