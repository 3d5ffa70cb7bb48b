use super::*;
use crate::tests::shared_data;
use crate::{read_dataset, write_dataset as write_any};
use baler_codec::data::Column;

/// An npy file with this header dict (padded as numpy pads) and no data.
fn npy_with_dict(dict: &str) -> Vec<u8> {
    let mut d = dict.as_bytes().to_vec();
    while !(10 + d.len() + 1).is_multiple_of(64) {
        d.push(b' ');
    }
    d.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(d.len() as u16).to_le_bytes());
    out.extend_from_slice(&d);
    out
}

/// Headers found by fuzzing that kept npyz's parser busy for minutes are refused at once;
/// a structured dtype's real nesting still parses.
#[test]
fn deeply_nested_headers_are_refused_before_parsing() {
    let deep = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}}}", "(2,".repeat(24));
    let braces = format!("{}'descr': '<f8', 'shape': (), }}", "{".repeat(16));
    for dict in [deep, braces, "{'descr': '<f8', 'shape': (1,))}".to_string()] {
        let err = parse(&npy_with_dict(&dict)).expect_err("refused");
        assert!(err.contains("invalid npy header") && err.contains("brackets"), "{dict}: {err}");
    }
    let structured = "{'descr': [('a', '<f4', (2,)), ('b', '<i2')], 'fortran_order': False, 'shape': (0,), }";
    check_nesting(structured.as_bytes()).unwrap();
    // A bracket inside a quoted field name is not nesting.
    check_nesting(b"{'descr': [('a(((((', '<f4')], 'shape': (0,)}").unwrap();
}

/// Float vectors compared by bits (NaN == NaN, -0.0 != 0.0).
pub(crate) fn same_values(a: &Values, b: &Values) -> bool {
    match (a, b) {
        (Values::Float(x), Values::Float(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        (Values::Int(x), Values::Int(y)) => x == y,
        _ => false,
    }
}

/// One array per dtype, with the edge values of each.
pub(crate) fn every_dtype() -> Vec<Array> {
    let f32s: Vec<f64> = [
        0.0f32,
        -0.0,
        1.5,
        -2.25,
        0.1,
        f32::MIN,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45, // subnormal
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ]
    .iter()
    .map(|&x| f64::from(x))
    .collect();
    let f64s = vec![
        0.0,
        -0.0,
        0.1,
        -1e300,
        1e-310,
        f64::MIN,
        f64::MAX,
        f64::MIN_POSITIVE,
        std::f64::consts::PI,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let ints = |lo: i64, hi: i64| vec![lo, hi, 0, 1, lo / 3, hi / 7];
    let mk = |dtype, values: Values| Array {
        dtype,
        shape: if values.len().is_multiple_of(2) { vec![2, values.len() / 2] } else { vec![values.len()] },
        values,
    };
    vec![
        mk(DType::F32, Values::Float(f32s)),
        mk(DType::F64, Values::Float(f64s)),
        mk(DType::I8, Values::Int(ints(i8::MIN.into(), i8::MAX.into()))),
        mk(DType::I16, Values::Int(ints(i16::MIN.into(), i16::MAX.into()))),
        mk(DType::I32, Values::Int(ints(i32::MIN.into(), i32::MAX.into()))),
        mk(DType::I64, Values::Int(ints(i64::MIN, i64::MAX))),
        mk(DType::U8, Values::Int(ints(0, u8::MAX.into()))),
        mk(DType::U16, Values::Int(ints(0, u16::MAX.into()))),
        mk(DType::U32, Values::Int(ints(0, u32::MAX.into()))),
        // u64::MAX and 2^63 + 5 kept by their bits
        mk(DType::U64, Values::Int(vec![u64::MAX as i64, ((1u64 << 63) + 5) as i64, 0, 1, i64::MAX, 42])),
    ]
}

fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let descr = if descr.starts_with('[') { descr.to_string() } else { format!("'{descr}'") };
    let dict = format!(
        "{{'descr': {descr}, 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    let len = dict.len() + 1;
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

#[test]
fn every_dtype_round_trips_through_npy() {
    let dir = tempfile::tempdir().unwrap();
    for a in every_dtype() {
        let p = dir.path().join(format!("{}.npy", a.dtype.name()));
        write_any(&p, &Dataset::Field(a.clone())).unwrap();
        let Dataset::Field(b) = read_dataset(&p, &ReadOptions::default()).unwrap() else {
            panic!("not a field")
        };
        assert_eq!(b.dtype, a.dtype);
        assert_eq!(b.shape, a.shape);
        assert!(same_values(&a.values, &b.values), "{:?}\n{:?}", a, b);
        // the bytes on disk have the dtype's size
        let len = std::fs::metadata(&p).unwrap().len() as usize;
        assert_eq!(len, 128 + a.values.len() * a.dtype.size_bytes());
    }
}

#[test]
fn header_is_numpys() {
    let h = header_bytes("<U8", &[5]);
    assert_eq!(h.len(), 128);
    assert_eq!(h[8..10], [118, 0]);
    assert!(
        h.starts_with(b"\x93NUMPY\x01\x00v\x00{'descr': '<U8', 'fortran_order': False, 'shape': (5,), }  ")
    );
    assert_eq!(*h.last().unwrap(), b'\n');
    let h = header_bytes("<f8", &[60, 50, 50]);
    assert_eq!(h.len() % 64, 0);
    assert!(String::from_utf8_lossy(&h).contains("'shape': (60, 50, 50), }"));
    assert!(String::from_utf8_lossy(&header_bytes("<f8", &[])).contains("'shape': (), }"));
}

#[test]
fn big_endian_bool_and_zero_d() {
    let mut data = Vec::new();
    for x in [1.5f64, -2.0, f64::INFINITY] {
        data.extend_from_slice(&x.to_be_bytes());
    }
    let Parsed::Numeric(a) = parse(&npy_bytes(">f8", false, "(3,)", &data)).unwrap() else { panic!() };
    assert_eq!(a.dtype, DType::F64);
    assert_eq!(a.values, Values::Float(vec![1.5, -2.0, f64::INFINITY]));

    let mut data = Vec::new();
    for x in [-5i32, 70000] {
        data.extend_from_slice(&x.to_be_bytes());
    }
    let Parsed::Numeric(a) = parse(&npy_bytes(">i4", false, "(2,)", &data)).unwrap() else { panic!() };
    assert_eq!((a.dtype, a.values), (DType::I32, Values::Int(vec![-5, 70000])));

    let data: Vec<u8> = [65535u16, 2].iter().flat_map(|x| x.to_be_bytes()).collect();
    let Parsed::Numeric(a) = parse(&npy_bytes(">u2", false, "(2,)", &data)).unwrap() else { panic!() };
    assert_eq!((a.dtype, a.values), (DType::U16, Values::Int(vec![65535, 2])));

    let data: Vec<u8> = [u64::MAX].iter().flat_map(|x| x.to_be_bytes()).collect();
    let Parsed::Numeric(a) = parse(&npy_bytes(">u8", false, "(1,)", &data)).unwrap() else { panic!() };
    assert_eq!((a.dtype, a.values), (DType::U64, Values::Int(vec![-1])));

    let Parsed::Numeric(a) = parse(&npy_bytes("|b1", false, "(3,)", &[1, 0, 1])).unwrap() else { panic!() };
    assert_eq!((a.dtype, a.values), (DType::U8, Values::Int(vec![1, 0, 1])));

    let Parsed::Numeric(a) = parse(&npy_bytes("<f4", false, "()", &2.5f32.to_le_bytes())).unwrap() else {
        panic!()
    };
    assert_eq!(a.shape, vec![1]);
    assert_eq!((a.dtype, a.values), (DType::F32, Values::Float(vec![2.5])));
}

#[test]
fn fortran_order_is_transposed_to_row_major() {
    // numpy: np.asfortranarray(np.arange(24).reshape(2, 3, 4)): memory is a.T.ravel()
    let (d0, d1, d2) = (2usize, 3usize, 4usize);
    let mut data = Vec::new();
    for k in 0..d2 {
        for j in 0..d1 {
            for i in 0..d0 {
                let v = (i * d1 * d2 + j * d2 + k) as i16;
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    let Parsed::Numeric(a) = parse(&npy_bytes("<i2", true, "(2, 3, 4)", &data)).unwrap() else { panic!() };
    assert_eq!(a.shape, vec![2, 3, 4]);
    assert_eq!(a.values, Values::Int((0..24).collect()));

    // 2D, as a table
    let data: Vec<u8> = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.npy");
    std::fs::write(&p, npy_bytes("<f8", true, "(2, 3)", &data)).unwrap();
    let ds = read_dataset(&p, &ReadOptions { table: true }).unwrap();
    let Dataset::Table { rows, columns } = ds else { panic!() };
    assert_eq!(rows, 2);
    assert_eq!(columns.len(), 3);
    assert_eq!(columns[0].values, Values::Float(vec![1.0, 4.0]));
    assert_eq!(columns[2].values, Values::Float(vec![3.0, 6.0]));
    assert_eq!(columns[2].name, "col2");
}

#[test]
fn unicode_strings_parse() {
    let mut data = Vec::new();
    for s in ["ab", "ñé€x"] {
        let mut units: Vec<u32> = s.chars().map(u32::from).collect();
        units.resize(4, 0);
        for u in units {
            data.extend_from_slice(&u.to_le_bytes());
        }
    }
    let Parsed::Strings { shape, values, .. } = parse(&npy_bytes("<U4", false, "(2,)", &data)).unwrap()
    else {
        panic!()
    };
    assert_eq!(shape, vec![2]);
    assert_eq!(values, vec!["ab", "ñé€x"]);

    let mut buf = Vec::new();
    write_strings(&mut buf, &["ab".to_string(), "ñé€x".to_string()]).unwrap();
    let Parsed::Strings { descr, values, .. } = parse(&buf).unwrap() else { panic!() };
    assert_eq!(descr, "<U4");
    assert_eq!(values, vec!["ab", "ñé€x"]);

    let Parsed::Strings { values, .. } = parse(&npy_bytes("|S3", false, "(2,)", b"ab\0xyz")).unwrap() else {
        panic!()
    };
    assert_eq!(values, vec!["ab", "xyz"]);
}

#[test]
fn bad_npy_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    write_any(&good, &Dataset::Field(every_dtype().remove(1))).unwrap();
    let bytes = std::fs::read(&good).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.npy", bytes[..bytes.len() - 3].to_vec(), "truncated"),
        ("cut_header.npy", bytes[..40].to_vec(), "truncated npy header"),
        ("garbage.npy", b"hello world, not numpy".to_vec(), "not an npy file"),
        ("complex.npy", npy_bytes("<c16", false, "(1,)", &[0; 16]), "unsupported dtype '<c16' (complex)"),
        ("half.npy", npy_bytes("<f2", false, "(1,)", &[0; 2]), "unsupported dtype '<f2' (float16)"),
        ("object.npy", npy_bytes("|O", false, "(1,)", &[0; 8]), "unsupported dtype '|O'"),
        ("strings.npy", npy_bytes("<U2", false, "(1,)", &[0; 8]), "unsupported dtype '<U2' (strings)"),
        (
            "badheader.npy",
            npy_bytes("<f8", false, "(1,", &[0; 8]),
            "invalid npy header (unbalanced brackets or quotes)",
        ),
        (
            "badsyntax.npy",
            npy_bytes("<f8", false, "(1,,)", &[0; 8]),
            "invalid npy header (could not parse Python expression",
        ),
        (
            "nodescr.npy",
            b"\x93NUMPY\x01\x00\x10\x00{'shape': (1,)}\n".to_vec(),
            "invalid npy header (dict is missing key",
        ),
        ("record.npy", npy_bytes("[('a', '<f8'), ('b', '<i4')]", false, "(1,)", &[0; 12]), "structured"),
    ];
    for (name, content, expect) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let err = read_dataset(&p, &ReadOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}: ", p.display())), "{name}: {msg}");
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(!msg.contains('\n'), "{name}: {msg}");
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trailing.npy");
    let mut bytes = npy_bytes("<f8", false, "(10,)", &[0; 80]);
    bytes.extend_from_slice(&[7; 800]);
    std::fs::write(&p, &bytes).unwrap();
    let msg = read_dataset(&p, &ReadOptions::default()).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: 800 trailing bytes after the data: shape [10] of '<f8' needs 80 bytes of data, \
             the file has 880",
            p.display()
        )
    );
    // one byte too many, in memory too
    let mut one = npy_bytes("<i2", false, "(2,)", &[1, 0, 2, 0]);
    assert!(parse(&one).is_ok());
    one.push(0);
    assert!(parse(&one).unwrap_err().contains("1 trailing bytes"));
}

#[test]
fn huge_claims_are_refused_before_allocating() {
    use crate::alloc_probe::largest_allocation;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("claims.npy");
    let read = |bytes: &[u8]| {
        std::fs::write(&p, bytes).unwrap();
        let (r, largest) = largest_allocation(|| read_dataset(&p, &ReadOptions::default()));
        let msg = r.unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
        assert!(largest < 1 << 20, "{msg}: allocated {largest} bytes for a {}-byte file", bytes.len());
        msg
    };
    // 8 TiB of float64 declared, 8 bytes there
    let msg = read(&npy_bytes("<f8", false, "(1099511627776,)", &[0; 8]));
    assert!(msg.contains("truncated: shape [1099511627776] of '<f8' needs 8796093022208 bytes"), "{msg}");
    // a version-2 header whose length field claims 4 GiB
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&u32::MAX.to_le_bytes());
    v2.extend_from_slice(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n");
    assert!(read(&v2).contains("truncated npy header"));
    // a trillion zero-width strings: no byte in the file bounds them
    assert!(read(&npy_bytes("<U0", false, "(1000000000000,)", &[])).contains("zero-width"));
    // 1 MiB after ten values: refused from the sizes, without reading them
    let mut big = npy_bytes("<f8", false, "(10,)", &[0; 80]);
    big.resize(big.len() + (1 << 20), 1);
    assert!(read(&big).contains("1048576 trailing bytes"));

    // a well-formed version-2 file still reads
    let dict = b"{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }\n";
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    v2.extend_from_slice(dict);
    v2.extend_from_slice(&[1, 0, 0xff, 0xff]);
    let Parsed::Numeric(a) = parse(&v2).unwrap() else { panic!() };
    assert_eq!(a.values, Values::Int(vec![1, -1]));
    assert!(parse(&b"\x93NUMPY\x09\x00"[..]).unwrap_err().contains("version 9"));
}

#[test]
fn table_written_as_2d_array() {
    let dir = tempfile::tempdir().unwrap();
    let col = |name: &str, dtype, values| Column { name: name.into(), dtype, values };
    // shared dtype: kept
    let t = Dataset::Table {
        rows: 2,
        columns: vec![
            col("a", DType::I16, Values::Int(vec![1, -2])),
            col("b", DType::I16, Values::Int(vec![3, 4])),
        ],
    };
    let p = dir.path().join("t.npy");
    write_any(&p, &t).unwrap();
    let Dataset::Field(a) = read_dataset(&p, &ReadOptions::default()).unwrap() else { panic!() };
    assert_eq!(a.dtype, DType::I16);
    assert_eq!(a.shape, vec![2, 2]);
    assert_eq!(a.values, Values::Int(vec![1, 3, -2, 4]));
    let Dataset::Table { columns, .. } = read_dataset(&p, &ReadOptions { table: true }).unwrap() else {
        panic!()
    };
    assert_eq!(columns[0].values, Values::Int(vec![1, -2]));

    // mixed dtypes: float64
    let t = Dataset::Table {
        rows: 2,
        columns: vec![
            col("a", DType::I32, Values::Int(vec![1, -2])),
            col("b", DType::F32, Values::Float(vec![0.5, f64::NAN])),
        ],
    };
    write_any(&p, &t).unwrap();
    let Dataset::Field(a) = read_dataset(&p, &ReadOptions::default()).unwrap() else { panic!() };
    assert_eq!(a.dtype, DType::F64);
    assert!(same_values(&a.values, &Values::Float(vec![1.0, 0.5, -2.0, f64::NAN])));
}

#[test]
fn real_hzz_npy() {
    let p = shared_data("hzz.npy");
    let Dataset::Field(a) = read_dataset(&p, &ReadOptions::default()).unwrap() else {
        panic!("hzz.npy should be a field")
    };
    assert_eq!(a.dtype, DType::F32);
    assert_eq!(a.shape, vec![3825, 5]);
    let Values::Float(v) = &a.values else { panic!() };
    assert!(v.iter().all(|x| x.is_finite() && f64::from(*x as f32) == *x));
    // first row of hzz.csv
    assert_eq!(v[0] as f32, -52.899456f32);
    assert_eq!(v[4] as f32, 4.200_153_4_f32);

    let Dataset::Table { rows, columns } = read_dataset(&p, &ReadOptions { table: true }).unwrap() else {
        panic!("hzz.npy with table: true should be a table")
    };
    assert_eq!(rows, 3825);
    assert_eq!(columns.len(), 5);
    assert_eq!(columns[4].name, "col4");
    assert!(columns.iter().all(|c| c.dtype == DType::F32));
    let Values::Float(c1) = &columns[1].values else { panic!() };
    assert_eq!(c1[3], v[3 * 5 + 1]);

    // written back, byte for byte
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hzz.npy");
    write_any(&out, &Dataset::Field(a)).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&p).unwrap());
}

/// Rows `first..first + rows` of a loaded dataset, as a row reader hands them out.
pub(crate) fn rows_of(ds: &Dataset, per_row: usize, first: usize, rows: usize) -> Vec<Values> {
    let cut = |v: &Values| match v {
        Values::Float(v) => Values::Float(v[first * per_row..(first + rows) * per_row].to_vec()),
        Values::Int(v) => Values::Int(v[first * per_row..(first + rows) * per_row].to_vec()),
    };
    ds.stream_values().into_iter().map(cut).collect()
}

/// Every dtype, a big-endian file, a 3-d field and a table are read by rows exactly as the whole
/// file is; Fortran order, strings and a wrong length are left to the whole-file reader.
#[test]
fn row_reads_equal_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    for a in every_dtype() {
        // Shapes [n] or [2, n/2]: a lattice row is one value or one row of n/2.
        let (n, per_row) = if a.shape.len() == 1 { (a.shape[0], 1) } else { (2, a.shape[1]) };
        let ds = Dataset::Field(a);
        write_any(&path, &ds).unwrap();
        let mut r = open_rows(&path, &ReadOptions::default()).unwrap().expect("readable by rows");
        assert_eq!(r.layout(), &ds.layout());
        for (first, rows) in [(0, n), (1, n - 1), (n - 1, 1)] {
            let got = r.read_rows(first, rows).unwrap();
            for (g, w) in got.stream_values().into_iter().zip(rows_of(&ds, per_row, first, rows)) {
                assert!(same_values(g, &w), "{:?} rows {first}+{rows}", ds.layout().streams);
            }
        }
    }
    // Big-endian float64, [3, 2, 2]: a lattice row is a plane of 4 values.
    let mut bytes = npy_with_dict("{'descr': '>f8', 'fortran_order': False, 'shape': (3, 2, 2), }");
    (0..12).for_each(|i| bytes.extend_from_slice(&(i as f64 * 1.5 - 4.0).to_be_bytes()));
    std::fs::write(&path, &bytes).unwrap();
    let whole = read_dataset(&path, &ReadOptions::default()).unwrap();
    let mut r = open_rows(&path, &ReadOptions::default()).unwrap().unwrap();
    let got = r.read_rows(1, 2).unwrap();
    assert!(same_values(got.stream_values()[0], &rows_of(&whole, 4, 1, 2)[0]));
    // A 2-d array read as a table: one lattice row per table row, one stream per column.
    let opts = ReadOptions { table: true };
    let mut bytes = npy_with_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (4, 3), }");
    (0..12).for_each(|i| bytes.extend_from_slice(&(i * 10 - 7_i32).to_le_bytes()));
    std::fs::write(&path, &bytes).unwrap();
    let whole = read_dataset(&path, &opts).unwrap();
    let mut r = open_rows(&path, &opts).unwrap().unwrap();
    assert_eq!(r.layout(), &whole.layout());
    let got = r.read_rows(1, 3).unwrap();
    assert_eq!(got.stream_values().len(), 3);
    for (g, w) in got.stream_values().into_iter().zip(rows_of(&whole, 1, 1, 3)) {
        assert!(same_values(g, &w));
    }
    // Not by rows: Fortran order, strings, a body shorter than the shape.
    for (dict, data) in [
        ("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24),
        ("{'descr': '<U2', 'fortran_order': False, 'shape': (2,), }", 16),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20),
    ] {
        let mut bytes = npy_with_dict(dict);
        bytes.resize(bytes.len() + data, 0);
        std::fs::write(&path, &bytes).unwrap();
        assert!(open_rows(&path, &ReadOptions::default()).unwrap().is_none(), "{dict}");
    }
    // A file that shrank after it was opened: the read names the file.
    let mut bytes = npy_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (8,), }");
    bytes.resize(bytes.len() + 64, 0);
    std::fs::write(&path, &bytes).unwrap();
    let mut r = open_rows(&path, &ReadOptions::default()).unwrap().unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let err = r.read_rows(4, 4).unwrap_err();
    assert!(err.contains("a.npy") && err.contains("shorter"), "{err}");
}

/// A float field's range scanned from the file is `finite_range` of its values read by rows:
/// f32 and f64, big- and little-endian, with NaN, infinities, a fill value and both zeros, from
/// one value to several blocks; a field with no counted value has none; integers and tables are
/// left to the rows; a file cut short is an error naming it.
#[test]
fn field_ranges_scanned_from_the_file_equal_the_rows() {
    use baler_codec::preprocess::finite_range;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    let special = [f64::NAN, f64::INFINITY, -7.5, f64::NEG_INFINITY, 0.0, -0.0];
    for (descr, w) in ["<f4", ">f4", "<f8", ">f8"].iter().zip([4, 4, 8, 8]) {
        for n in [1usize, 7, 9, 20_000, 70_001] {
            let values: Vec<f64> = (0..n)
                .map(|i| match i % 97 {
                    k @ 0..=5 => special[k],
                    _ => ((i as f64) * 0.37).sin() * 1e3 - (i % 5) as f64,
                })
                .collect();
            let mut data = Vec::new();
            for &x in &values {
                match (w, descr.starts_with('>')) {
                    (4, true) => data.extend_from_slice(&(x as f32).to_be_bytes()),
                    (4, false) => data.extend_from_slice(&(x as f32).to_le_bytes()),
                    (_, true) => data.extend_from_slice(&x.to_be_bytes()),
                    (_, false) => data.extend_from_slice(&x.to_le_bytes()),
                }
            }
            std::fs::write(&path, npy_bytes(descr, false, &format!("({n},)"), &data)).unwrap();
            for fill in [None, Some(-7.5), Some(1e300)] {
                let mut r = open_rows(&path, &ReadOptions::default()).unwrap().unwrap();
                let rows = r.read_rows(0, n).unwrap();
                let want = finite_range(rows.stream_values()[0], fill, r.layout().streams[0].1);
                let got = r.field_range(fill).expect("a float field is scanned").unwrap();
                let bits = |r: Option<(f64, f64)>| r.map(|(a, b)| (a.to_bits(), b.to_bits()));
                assert_eq!(bits(got), bits(want), "{descr} n={n} fill={fill:?}");
                // In parts side by side (one per thread on large files): the same bits.
                for parts in [2, 3, 8] {
                    let got = r.scan_range_in(fill, parts).unwrap();
                    assert_eq!(bits(got), bits(want), "{descr} n={n} fill={fill:?} parts={parts}");
                }
            }
        }
    }
    // Nothing counted: NaN, infinities and the fill value only.
    let data: Vec<u8> = [f32::NAN, f32::INFINITY, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&path, npy_bytes("<f4", false, "(3,)", &data)).unwrap();
    let mut r = open_rows(&path, &ReadOptions::default()).unwrap().unwrap();
    assert_eq!(r.field_range(Some(2.0)).unwrap().unwrap(), None);
    assert_eq!(r.field_range(None).unwrap().unwrap(), Some((2.0, 2.0)));
    // Integers and tables: the compressor reads the rows.
    std::fs::write(&path, npy_bytes("<i4", false, "(3,)", &[0; 12])).unwrap();
    assert!(open_rows(&path, &ReadOptions::default()).unwrap().unwrap().field_range(None).is_none());
    std::fs::write(&path, npy_bytes("<f4", false, "(2, 2)", &[0; 16])).unwrap();
    let opts = ReadOptions { table: true };
    assert!(open_rows(&path, &opts).unwrap().unwrap().field_range(None).is_none());
    // A file cut short after it was opened.
    std::fs::write(&path, npy_bytes("<f8", false, "(4,)", &[0; 32])).unwrap();
    let mut r = open_rows(&path, &ReadOptions::default()).unwrap().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 5).unwrap();
    let e = r.field_range(None).unwrap().unwrap_err();
    assert!(e.contains("r.npy") && e.contains("shorter"), "{e}");
    // In parts, the error of the first part cut short, counted from the data's start.
    let e = r.scan_range_in(None, 2).unwrap_err();
    assert!(e.contains("r.npy") && e.contains("read 27 of its bytes"), "{e}");
}
