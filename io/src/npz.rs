//! The `.npz` format: a zip of `.npy` members. Baler's layout is `data` (the values) and
//! `names` (column names as a unicode array, or an empty float64 array for "no names").

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::Path;

use baler_codec::data::Dataset;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::npy::{self, NpyRows, Parsed};
use super::{IoError, ReadOptions, array_to_named_table, array_to_table};

type Zip = ZipArchive<BufReader<File>>;

/// Opens the archive and lists its `.npy` members (without the extension).
fn open(path: &Path) -> Result<(Zip, Vec<String>), IoError> {
    let file = File::open(path).map_err(|e| IoError::read(path, e))?;
    let zip = ZipArchive::new(BufReader::new(file))
        .map_err(|e| IoError::invalid(path, format!("not a valid npz (zip) archive: {e}")))?;
    let arrays = zip.file_names().filter_map(|n| n.strip_suffix(".npy")).map(str::to_string).collect();
    Ok((zip, arrays))
}

/// One numeric member by name (`file.npz:key`): a field, or a table with `opts.table` if 2-d.
pub(crate) fn read_member(path: &Path, key: &str, opts: &ReadOptions) -> Result<Dataset, IoError> {
    let (mut zip, arrays) = open(path)?;
    if !arrays.iter().any(|a| a == key) {
        return Err(IoError::invalid(
            path,
            format!("no array named '{key}' (arrays: {})", arrays.join(", ")),
        ));
    }
    match member(&mut zip, path, key)? {
        Parsed::Numeric(a) if opts.table && a.shape.len() == 2 => Ok(array_to_table(a)),
        Parsed::Numeric(a) => Ok(Dataset::Field(a)),
        Parsed::Strings { descr, .. } => Err(IoError::invalid(
            path,
            format!("{key}.npy: unsupported dtype '{descr}' (strings): expected a numeric array"),
        )),
    }
}

/// The member [`read_file`] reads the values from: `data`, or the only array.
fn data_member(path: &Path, arrays: &[String]) -> Result<String, IoError> {
    if arrays.iter().any(|a| a == "data") {
        Ok("data".to_string())
    } else if arrays.len() == 1 {
        Ok(arrays[0].clone())
    } else if arrays.is_empty() {
        Err(IoError::invalid(path, "no arrays in the archive"))
    } else {
        Err(IoError::invalid(path, format!("no array named 'data' (arrays: {})", arrays.join(", "))))
    }
}

/// The array [`read_file`] (or, with `key`, [`read_member`]) reads, opened for reading by rows
/// where its member is stored uncompressed (as `np.savez` writes it) and holds a C-order numeric
/// `.npy`: its rows are read from the archive's file in place. `None` for anything else (deflated,
/// damaged, names that do not fit): the whole-file reader reads it, or reports what is wrong.
pub(crate) fn open_rows(
    path: &Path,
    key: Option<&str>,
    opts: &ReadOptions,
) -> Result<Option<NpyRows>, IoError> {
    let (mut zip, arrays) = open(path)?;
    let name = match key {
        Some(k) if arrays.iter().any(|a| a == k) => k.to_string(),
        Some(_) => return Ok(None),
        None => match data_member(path, &arrays) {
            Ok(name) => name,
            Err(_) => return Ok(None),
        },
    };
    let region = {
        let Ok(mut f) = zip.by_name(&format!("{name}.npy")) else { return Ok(None) };
        if f.compression() != CompressionMethod::Stored || f.encrypted() || f.compressed_size() != f.size() {
            return Ok(None);
        }
        let start = f.data_start();
        // Read through once by the zip reader, which checks the member's CRC-32: rows read in
        // place are not, and a damaged member must fail as the whole-file reader fails.
        if io::copy(&mut f, &mut io::sink()).is_err() {
            return Ok(None);
        }
        start..start.saturating_add(f.size())
    };
    let names = match key {
        None if name == "data" && arrays.iter().any(|a| a == "names") => {
            match member(&mut zip, path, "names") {
                Ok(Parsed::Strings { shape, values, .. }) if shape.len() == 1 => values,
                Ok(Parsed::Numeric(a)) if a.values.is_empty() => Vec::new(),
                _ => return Ok(None),
            }
        }
        _ => Vec::new(),
    };
    // The handle whose member was checked, not the path opened again.
    let file = zip.into_inner().into_inner();
    let len = file.metadata().map_err(|e| IoError::read(path, e))?.len();
    if region.end > len {
        return Ok(None);
    }
    Ok(npy::open_rows_in(path, file, region, opts, names))
}

pub(crate) fn read_file(path: &Path, opts: &ReadOptions) -> Result<Dataset, IoError> {
    let (mut zip, arrays) = open(path)?;
    let data_name = data_member(path, &arrays)?;

    let data = match member(&mut zip, path, &data_name)? {
        Parsed::Numeric(a) => a,
        Parsed::Strings { descr, .. } => {
            return Err(IoError::invalid(
                path,
                format!("{data_name}.npy: unsupported dtype '{descr}' (strings): expected a numeric array"),
            ));
        }
    };

    let names = if data_name == "data" && arrays.iter().any(|a| a == "names") {
        match member(&mut zip, path, "names")? {
            Parsed::Strings { shape, values, .. } if shape.len() == 1 => values,
            Parsed::Strings { shape, .. } => {
                return Err(IoError::invalid(
                    path,
                    format!("names.npy: expected a 1D array of column names, found shape {shape:?}"),
                ));
            }
            Parsed::Numeric(a) if a.values.is_empty() => Vec::new(),
            Parsed::Numeric(a) => {
                return Err(IoError::invalid(
                    path,
                    format!(
                        "names.npy: expected column names (strings), found {} {} values",
                        a.values.len(),
                        a.dtype.name()
                    ),
                ));
            }
        }
    } else {
        Vec::new()
    };

    if data.shape.len() == 2 && !names.is_empty() {
        if names.len() != data.shape[1] {
            return Err(IoError::invalid(
                path,
                format!(
                    "'names' has {} entries but 'data' has {} columns (shape {:?})",
                    names.len(),
                    data.shape[1],
                    data.shape
                ),
            ));
        }
        Ok(array_to_named_table(data, names))
    } else if data.shape.len() == 2 && opts.table {
        Ok(array_to_table(data))
    } else {
        Ok(Dataset::Field(data))
    }
}

/// Deflate expands at most 1032:1: a member claiming more than that of its compressed size lies.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// The first allocation for a member's data; past it the buffer grows only as bytes arrive.
const MEMBER_PREALLOC: usize = 64 << 20;

/// Reads and decodes member `{name}.npy` (stored or deflated): exactly the bytes its header
/// needs, which must be exactly the member's declared size.
fn member<R: Read + Seek>(zip: &mut ZipArchive<R>, path: &Path, name: &str) -> Result<Parsed, IoError> {
    let member = format!("{name}.npy");
    let bad = |msg: String| IoError::invalid(path, format!("{member}: {msg}"));
    let mut f = zip.by_name(&member).map_err(|e| bad(e.to_string()))?;
    let (size, packed) = (f.size(), f.compressed_size());
    let max = match f.compression() {
        CompressionMethod::Stored => packed,
        _ => packed.saturating_mul(MAX_DEFLATE_RATIO),
    };
    if size > max {
        return Err(bad(format!(
            "declares {size} bytes, more than its {packed} bytes ({}) can hold: the zip is damaged",
            f.compression()
        )));
    }
    npy::read_from(&mut f, size, MEMBER_PREALLOC).map_err(bad)
}

/// Writes Baler's layout: `data.npy` then `names.npy`, stored (uncompressed) like `np.savez`.
pub(crate) fn write_dataset<W: Write + Seek>(w: &mut W, ds: &Dataset) -> io::Result<()> {
    let (dtype, shape) = npy::array_layout(ds);
    let data_bytes = super::shape_len(&shape).unwrap_or(usize::MAX).saturating_mul(dtype.size_bytes());
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut zip = ZipWriter::new(w);
    // zip64 when the member may pass 4 GiB
    zip.start_file("data.npy", options.large_file(data_bytes >= u32::MAX as usize - (1 << 20)))?;
    npy::write_dataset(&mut zip, ds)?;
    zip.start_file("names.npy", options)?;
    match ds {
        Dataset::Field(_) => npy::write_empty_f64(&mut zip)?,
        Dataset::Table { columns, .. } => {
            let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
            npy::write_strings(&mut zip, &names)?;
        }
    }
    zip.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::tests::{every_dtype, rows_of, same_values};
    use crate::tests::shared_data;
    use crate::{read_dataset, write_dataset as write_any};
    use baler_codec::data::{Array, Column, DType, Values};

    fn members(path: &Path) -> Vec<(String, CompressionMethod, Vec<u8>)> {
        let mut zip = ZipArchive::new(File::open(path).unwrap()).unwrap();
        (0..zip.len())
            .map(|i| {
                let mut f = zip.by_index(i).unwrap();
                let mut buf = Vec::new();
                f.read_to_end(&mut buf).unwrap();
                (f.name().to_string(), f.compression(), buf)
            })
            .collect()
    }

    fn make_npz(path: &Path, method: CompressionMethod, entries: &[(&str, Vec<u8>)]) {
        let mut zip = ZipWriter::new(File::create(path).unwrap());
        for (name, bytes) in entries {
            zip.start_file(*name, SimpleFileOptions::default().compression_method(method)).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    fn npy_of(ds: &Dataset) -> Vec<u8> {
        let mut v = Vec::new();
        npy::write_dataset(&mut v, ds).unwrap();
        v
    }

    fn names_npy(names: &[&str]) -> Vec<u8> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut v = Vec::new();
        npy::write_strings(&mut v, &names).unwrap();
        v
    }

    /// A stored member is read by rows in place, as the whole-file reader reads it: a named table
    /// (Baler's layout), a field, a member by key, every dtype. Anything else is left to that
    /// reader: deflated members, names that do not fit, a damaged member (its CRC-32).
    #[test]
    fn stored_members_are_read_by_rows_as_the_whole_file_is() {
        use baler_codec::data::RowSource;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.npz");
        let by_rows = |p: &Path, key: Option<&str>, opts: &ReadOptions| open_rows(p, key, opts).unwrap();
        let opts = ReadOptions::default();
        // Baler's layout: a 2-d `data` and its column names.
        let data = Array {
            dtype: DType::F32,
            shape: vec![5, 3],
            values: Values::Float((0..15).map(|i| i as f64 * 0.5 - 2.0).collect()),
        };
        let ds = Dataset::Field(data.clone());
        make_npz(
            &p,
            CompressionMethod::Stored,
            &[("data.npy", npy_of(&ds)), ("names.npy", names_npy(&["px", "py", "E"]))],
        );
        let whole = read_dataset(&p, &opts).unwrap();
        let mut r = by_rows(&p, None, &opts).expect("stored: read by rows");
        assert_eq!(r.layout(), &whole.layout());
        assert_eq!(r.layout().streams.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["px", "py", "E"]);
        for (first, n) in [(0, 5), (1, 3), (4, 1)] {
            let got = r.read_rows(first, n).unwrap();
            assert_eq!(got.layout().streams, whole.layout().streams);
            for (g, w) in got.stream_values().into_iter().zip(rows_of(&whole, 1, first, n)) {
                assert!(same_values(g, &w), "rows {first}+{n}");
            }
        }
        // Every dtype as a field, and a member by key (no names: a 2-d member is a field).
        for a in every_dtype() {
            let per_row = a.shape.iter().skip(1).product::<usize>();
            let ds = Dataset::Field(a);
            make_npz(&p, CompressionMethod::Stored, &[("other.npy", npy_of(&ds)), ("x.npy", npy_of(&ds))]);
            let whole = read_member(&p, "x", &opts).unwrap();
            let mut r = by_rows(&p, Some("x"), &opts).expect("a stored member by key");
            assert_eq!(r.layout(), &whole.layout());
            let n = whole.layout().shape[0];
            for (first, k) in [(0, n), (n - 1, 1)] {
                let got = r.read_rows(first, k).unwrap();
                assert!(same_values(got.stream_values()[0], &rows_of(&whole, per_row, first, k)[0]));
            }
            // Two arrays and none named `data`: the whole-file reader names the problem.
            assert!(by_rows(&p, None, &opts).is_none());
            assert!(read_dataset(&p, &opts).is_err());
        }
        // Left to the whole-file reader.
        let entries = [("data.npy", npy_of(&ds)), ("names.npy", names_npy(&["px", "py", "E"]))];
        make_npz(&p, CompressionMethod::Deflated, &entries);
        assert!(by_rows(&p, None, &opts).is_none(), "deflated");
        assert!(matches!(read_dataset(&p, &opts).unwrap(), Dataset::Table { .. }));
        make_npz(
            &p,
            CompressionMethod::Stored,
            &[entries[0].clone(), ("names.npy", names_npy(&["px", "py"]))],
        );
        assert!(by_rows(&p, None, &opts).is_none(), "two names for three columns");
        assert!(read_dataset(&p, &opts).unwrap_err().to_string().contains("'names' has 2 entries"));
        make_npz(&p, CompressionMethod::Stored, &entries);
        let mut bytes = std::fs::read(&p).unwrap();
        let at = bytes.windows(4).position(|w| w == 0.5f32.to_le_bytes()).expect("a value of data");
        bytes[at] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        assert!(by_rows(&p, None, &opts).is_none(), "a damaged member");
        let err = read_dataset(&p, &opts).unwrap_err().to_string();
        assert!(err.contains("t.npz") && err.to_lowercase().contains("checksum"), "{err}");
    }

    #[test]
    fn every_dtype_round_trips_as_field_and_table() {
        let dir = tempfile::tempdir().unwrap();
        for a in every_dtype() {
            let p = dir.path().join(format!("{}.npz", a.dtype.name()));
            write_any(&p, &Dataset::Field(a.clone())).unwrap();
            let m = members(&p);
            assert_eq!(m[0].0, "data.npy");
            assert_eq!(m[1].0, "names.npy");
            assert_eq!(m[0].1, CompressionMethod::Stored);
            assert_eq!(m[1].2, npy::header_bytes("<f8", &[0]));
            let Dataset::Field(b) = read_dataset(&p, &ReadOptions::default()).unwrap() else {
                panic!("not a field")
            };
            assert_eq!((b.dtype, &b.shape), (a.dtype, &a.shape));
            assert!(same_values(&a.values, &b.values), "{a:?}\n{b:?}");

            // the same values as a named table
            let cols = a.shape.iter().skip(1).product::<usize>();
            let rows = a.values.len() / cols;
            let Dataset::Table { columns, .. } = crate::array_to_named_table(
                Array { shape: vec![rows, cols], ..a.clone() },
                (0..cols).map(|c| format!("värde_{c}")).collect(),
            ) else {
                panic!()
            };
            let t = Dataset::Table { rows, columns };
            write_any(&p, &t).unwrap();
            let back = read_dataset(&p, &ReadOptions::default()).unwrap();
            let (Dataset::Table { rows: r1, columns: c1 }, Dataset::Table { rows: r2, columns: c2 }) =
                (&t, &back)
            else {
                panic!("not a table: {back:?}")
            };
            assert_eq!(r1, r2);
            assert_eq!(c1.len(), c2.len());
            for (x, y) in c1.iter().zip(c2) {
                assert_eq!((&x.name, x.dtype), (&y.name, y.dtype));
                assert!(same_values(&x.values, &y.values), "{x:?}\n{y:?}");
            }
        }
    }

    #[test]
    fn mixed_dtype_table_is_written_as_float64() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mixed.npz");
        let t = Dataset::Table {
            rows: 2,
            columns: vec![
                Column { name: "n".into(), dtype: DType::I64, values: Values::Int(vec![3, -4]) },
                Column {
                    name: "x".into(),
                    dtype: DType::F32,
                    values: Values::Float(vec![0.25, f64::NEG_INFINITY]),
                },
            ],
        };
        write_any(&p, &t).unwrap();
        let Dataset::Table { columns, .. } = read_dataset(&p, &ReadOptions::default()).unwrap() else {
            panic!()
        };
        assert_eq!(columns[0].dtype, DType::F64);
        assert_eq!(columns[0].values, Values::Float(vec![3.0, -4.0]));
        assert_eq!(columns[1].values, Values::Float(vec![0.25, f64::NEG_INFINITY]));
    }

    #[test]
    fn compressed_members_single_array_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let field = Dataset::Field(Array {
            dtype: DType::I32,
            shape: vec![2, 3],
            values: Values::Int(vec![1, 2, 3, 4, 5, -6]),
        });

        // deflated members with names
        let p = dir.path().join("deflated.npz");
        make_npz(
            &p,
            CompressionMethod::Deflated,
            &[("data.npy", npy_of(&field)), ("names.npy", names_npy(&["a", "bb", "c"]))],
        );
        assert_eq!(members(&p)[0].1, CompressionMethod::Deflated);
        let Dataset::Table { rows, columns } = read_dataset(&p, &ReadOptions::default()).unwrap() else {
            panic!()
        };
        assert_eq!(rows, 2);
        assert_eq!(columns[1].name, "bb");
        assert_eq!(columns[2].values, Values::Int(vec![3, -6]));
        assert_eq!(columns[2].dtype, DType::I32);

        // one array, any name, no names
        let p = dir.path().join("single.npz");
        make_npz(&p, CompressionMethod::Stored, &[("arr_0.npy", npy_of(&field))]);
        assert_eq!(read_dataset(&p, &ReadOptions::default()).unwrap(), field);
        let Dataset::Table { columns, .. } = read_dataset(&p, &ReadOptions { table: true }).unwrap() else {
            panic!()
        };
        assert_eq!(columns[0].name, "col0");

        // names given but data is not 2D: a field
        let p = dir.path().join("names1d.npz");
        let flat = Dataset::Field(Array {
            dtype: DType::F64,
            shape: vec![3],
            values: Values::Float(vec![1.0, 2.0, 3.0]),
        });
        make_npz(
            &p,
            CompressionMethod::Stored,
            &[("data.npy", npy_of(&flat)), ("names.npy", names_npy(&["x"]))],
        );
        assert_eq!(read_dataset(&p, &ReadOptions::default()).unwrap(), flat);

        type Case<'a> = (&'a str, Vec<(&'a str, Vec<u8>)>, &'a str);
        let bad: Vec<Case> = vec![
            (
                "two.npz",
                vec![("x.npy", npy_of(&field)), ("y.npy", npy_of(&field))],
                "no array named 'data' (arrays: x, y)",
            ),
            ("empty.npz", vec![], "no arrays in the archive"),
            (
                "count.npz",
                vec![("data.npy", npy_of(&field)), ("names.npy", names_npy(&["a", "b"]))],
                "'names' has 2 entries but 'data' has 3 columns",
            ),
            (
                "numnames.npz",
                vec![("data.npy", npy_of(&field)), ("names.npy", npy_of(&flat))],
                "names.npy: expected column names",
            ),
            ("cut.npz", vec![("data.npy", npy_of(&field)[..130].to_vec())], "data.npy: truncated"),
            (
                "strdata.npz",
                vec![("data.npy", names_npy(&["a"]))],
                "data.npy: unsupported dtype '<U1' (strings)",
            ),
        ];
        for (name, entries, expect) in bad {
            let p = dir.path().join(name);
            make_npz(&p, CompressionMethod::Deflated, &entries);
            let msg = read_dataset(&p, &ReadOptions::default()).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
            assert!(msg.contains(expect), "{name}: {msg}");
        }

        let p = dir.path().join("notzip.npz");
        std::fs::write(&p, b"this is not a zip archive at all").unwrap();
        let msg = read_dataset(&p, &ReadOptions::default()).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}: not a valid npz", p.display())), "{msg}");
    }

    /// Sets a zip's uncompressed size of its first member (local header and central directory).
    fn patch_uncompressed_size(path: &Path, size: u32) {
        let mut b = std::fs::read(path).unwrap();
        assert_eq!(&b[..4], b"PK\x03\x04");
        b[22..26].copy_from_slice(&size.to_le_bytes());
        let cd = b.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        b[cd + 24..cd + 28].copy_from_slice(&size.to_le_bytes());
        std::fs::write(path, b).unwrap();
    }

    #[test]
    fn member_trailing_bytes_and_lying_sizes_are_refused() {
        use crate::alloc_probe::largest_allocation;
        let dir = tempfile::tempdir().unwrap();
        let ten = Dataset::Field(Array {
            dtype: DType::F64,
            shape: vec![10],
            values: Values::Float(vec![0.5; 10]),
        });
        let read = |p: &Path| {
            let (r, largest) = largest_allocation(|| read_dataset(p, &ReadOptions::default()));
            let msg = r.unwrap_err().to_string();
            assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
            (msg, largest)
        };

        // ten values then 32 MiB (the case, smaller): refused from the sizes alone
        let mut body = npy_of(&ten);
        body.resize(body.len() + (32 << 20), 0);
        let p = dir.path().join("trailing.npz");
        make_npz(&p, CompressionMethod::Stored, &[("data.npy", body)]);
        let (msg, largest) = read(&p);
        assert!(
            msg.contains(
                "data.npy: 33554432 trailing bytes after the data: shape [10] of '<f8' needs 80 bytes"
            ),
            "{msg}"
        );
        assert!(largest < 1 << 20, "allocated {largest} bytes");

        // 800 trailing bytes, deflated; in the names member too
        let mut body = npy_of(&ten);
        body.extend_from_slice(&[3; 800]);
        let p = dir.path().join("deflated.npz");
        make_npz(&p, CompressionMethod::Deflated, &[("data.npy", body.clone())]);
        assert!(read(&p).0.contains("data.npy: 800 trailing bytes"));
        let mut names = names_npy(&["a"]);
        names.push(0);
        let p = dir.path().join("names.npz");
        make_npz(&p, CompressionMethod::Deflated, &[("data.npy", npy_of(&ten)), ("names.npy", names)]);
        assert!(read(&p).0.contains("names.npy: 1 trailing bytes"));
        let p = dir.path().join("member.npz");
        make_npz(&p, CompressionMethod::Stored, &[("x.npy", body)]);
        let (r, _) =
            largest_allocation(|| crate::load(&format!("{}:x", p.display()), &ReadOptions::default()));
        assert!(r.unwrap_err().to_string().contains("x.npy: 800 trailing bytes"));

        // the zip's directory claims 3 GiB for a member whose header claims as much: no such allocation
        let huge = npy::header_bytes("<f8", &[402_653_184]);
        for (name, method) in
            [("stored.npz", CompressionMethod::Stored), ("lying.npz", CompressionMethod::Deflated)]
        {
            let p = dir.path().join(name);
            let mut body = huge.clone();
            body.extend_from_slice(&[0; 8]);
            make_npz(&p, method, &[("data.npy", body)]);
            patch_uncompressed_size(&p, (3u32 << 30) + huge.len() as u32);
            let (msg, largest) = read(&p);
            assert!(msg.contains("data.npy: "), "{msg}");
            assert!(largest < 1 << 20, "{name}: {msg}: allocated {largest} bytes");
        }
    }

    #[test]
    fn real_cfd_animation() {
        let p = shared_data("CFD_animation.npz");
        let Dataset::Field(a) = read_dataset(&p, &ReadOptions::default()).unwrap() else {
            panic!("CFD_animation.npz should be a field")
        };
        assert_eq!(a.dtype, DType::F64);
        assert_eq!(a.shape, vec![60, 50, 50]);
        assert_eq!(a.values.len(), 150_000);
        let Values::Float(v) = &a.values else { panic!() };
        assert!(v.iter().all(|x| x.is_finite()));
        assert!(v.iter().any(|&x| x != v[0]));

        // written back: members byte-identical to numpy's
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cfd.npz");
        write_any(&out, &Dataset::Field(a)).unwrap();
        let (orig, ours) = (members(&p), members(&out));
        assert_eq!(orig.len(), 2);
        for (o, n) in orig.iter().zip(&ours) {
            assert_eq!(o.0, n.0);
            assert!(o.2 == n.2, "member {} differs", o.0);
        }
    }

    #[test]
    fn real_hzz_baler() {
        let p = shared_data("hzz_baler.npz");
        let Dataset::Table { rows, columns } = read_dataset(&p, &ReadOptions::default()).unwrap() else {
            panic!("hzz_baler.npz should be a table")
        };
        assert_eq!(rows, 3825);
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E", "Muon_Iso"]);
        assert!(columns.iter().all(|c| c.dtype == DType::F64 && c.values.len() == rows));

        // the same numbers as hzz.npy (float32 there)
        let Dataset::Field(npy) = read_dataset(&shared_data("hzz.npy"), &ReadOptions::default()).unwrap()
        else {
            panic!()
        };
        let (Values::Float(f), Values::Float(px)) = (&npy.values, &columns[0].values) else { panic!() };
        for r in [0, 1, 1000, 3824] {
            assert_eq!(px[r] as f32, f[r * 5] as f32);
        }

        // written back: members byte-identical to numpy's
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("hzz.npz");
        write_any(&out, &Dataset::Table { rows, columns }).unwrap();
        let (orig, ours) = (members(&p), members(&out));
        for (o, n) in orig.iter().zip(&ours) {
            assert_eq!(o.0, n.0);
            assert!(o.2 == n.2, "member {} differs", o.0);
        }
    }
}
