//! The `.csv` format: a header row of column names, then one numeric row per record.
//!
//! A column whose every value is an integer stays an integer column (int64, or uint64 when a
//! value is above `i64::MAX` and none is negative); any other column is float64.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::Path;

use baler_codec::data::{Column, DType, Dataset, DatasetLayout, RowSource, Values};

use super::{Elem, IoError, column_views, to_float, to_int};

/// One column as it is being read: integers until a value says otherwise ([`Kind::read`]).
struct ColState {
    kind: Kind,
    /// int64 values, or (unsigned) uint64 ones by their bits, until the column turns float.
    ints: Vec<i64>,
    floats: Vec<f64>,
}

impl ColState {
    fn new() -> Self {
        Self { kind: Kind::FIRST, ints: Vec::new(), floats: Vec::new() }
    }

    /// Adds one field; `Err` when it is not a number.
    fn push(&mut self, text: &str) -> Result<(), ()> {
        let was = self.kind;
        match self.kind.read(text)? {
            Number::Int(x) => self.ints.push(x),
            Number::Float(f) => {
                // The integers held so far become floats, as their kind reads them.
                match was {
                    Kind::Int { .. } => self.floats.extend(self.ints.iter().map(|&x| x as f64)),
                    Kind::UInt => self.floats.extend(self.ints.iter().map(|&x| x as u64 as f64)),
                    Kind::Float => {}
                }
                self.ints = Vec::new();
                self.floats.push(f);
            }
        }
        Ok(())
    }

    fn finish(self) -> (DType, Values) {
        match self.kind {
            Kind::Int { .. } => (DType::I64, Values::Int(self.ints)),
            Kind::UInt => (DType::U64, Values::Int(self.ints)),
            Kind::Float => (DType::F64, Values::Float(self.floats)),
        }
    }
}

/// A float as Rust parses it: decimals, exponents, and `nan` / `inf` / `infinity` in any case.
fn parse_float(text: &str) -> Result<f64, ()> {
    text.parse::<f64>().map_err(|_| ())
}

type Reader = ::csv::Reader<BufReader<File>>;

/// Opens `path` and reads its header row: the reader at the first data record, and the column
/// names (checked: not empty, none twice).
fn open_reader(path: &Path) -> Result<(Reader, Vec<String>), IoError> {
    let file = File::open(path).map_err(|e| IoError::read(path, e))?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(BufReader::new(file));
    let header = reader.headers().map_err(|e| IoError::invalid(path, e.to_string()))?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(IoError::invalid(
            path,
            "empty file (expected a header row of column names, then numeric rows)",
        ));
    }
    let names: Vec<String> = header.iter().map(str::to_string).collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(IoError::invalid(path, format!("column name '{name}' appears twice in the header")));
        }
    }
    Ok((reader, names))
}

pub(crate) fn read_file(path: &Path) -> Result<Dataset, IoError> {
    let (mut reader, names) = open_reader(path)?;
    let ncols = names.len();
    let mut cols: Vec<ColState> = (0..ncols).map(|_| ColState::new()).collect();
    let mut record = ::csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(IoError::invalid(path, e.to_string())),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != ncols {
            return Err(IoError::invalid(
                path,
                format!(
                    "line {line} has {} field{}, the header has {ncols}",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" }
                ),
            ));
        }
        for ((col, text), name) in cols.iter_mut().zip(record.iter()).zip(&names) {
            col.push(text).map_err(|()| {
                IoError::invalid(path, format!("line {line}, column '{name}': '{text}' is not a number"))
            })?;
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(IoError::invalid(path, "no data rows (only a header of column names)"));
    }
    let columns = cols
        .into_iter()
        .zip(names)
        .map(|(col, name)| {
            let (dtype, values) = col.finish();
            Column { name, dtype, values }
        })
        .collect();
    Ok(Dataset::Table { rows, columns })
}

/// CSV files from this size on are read a slab of rows at a time by [`open_rows`]
/// (`BALER_CSV_ROWS_FROM`, in bytes, moves it). Each pass parses the text again (three: the
/// columns' types, their ranges, the values), ≈ 1.8 × the time of one; read whole, a table takes
/// ≈ 1.8 × the file's size, so below this size that costs less than the time.
pub(crate) const ROWS_FROM_BYTES: u64 = 256 << 20;

/// [`ROWS_FROM_BYTES`], or `BALER_CSV_ROWS_FROM` where it is set to a number of bytes.
pub(crate) fn rows_from_bytes() -> u64 {
    std::env::var("BALER_CSV_ROWS_FROM").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(ROWS_FROM_BYTES)
}

/// A column's history as [`Kind::read`] makes it: the rows where it turned unsigned and
/// float (`usize::MAX`: never), which decide how each row's text becomes its value.
#[derive(Clone, Copy, Debug)]
struct Phases {
    uint_from: usize,
    float_from: usize,
}

impl Phases {
    fn dtype(self) -> DType {
        match (self.uint_from, self.float_from) {
            (_, f) if f != usize::MAX => DType::F64,
            (u, _) if u != usize::MAX => DType::U64,
            _ => DType::I64,
        }
    }

    /// Row `row`'s value from its text, as the whole-file reader stores it: parsed as the column
    /// was then (int64, uint64 or float) and converted as it converts what it held.
    fn value(self, text: &str, row: usize) -> Result<Elem, ()> {
        let int = || text.parse::<i64>().map_err(|_| ());
        let uint = || text.parse::<u64>().map_err(|_| ());
        Ok(match self.dtype() {
            DType::I64 => Elem::I(int()?),
            DType::U64 if row < self.uint_from => Elem::I(int()?),
            DType::U64 => Elem::I(uint()? as i64),
            _ if row < self.uint_from.min(self.float_from) => Elem::F(int()? as f64),
            _ if row < self.float_from => Elem::F(uint()? as f64),
            _ if row == self.float_from => Elem::F(uint().map(|x| x as f64).or_else(|()| parse_float(text))?),
            _ => Elem::F(parse_float(text)?),
        })
    }
}

/// What a column is as its rows go by: integers (all non-negative so far, or not), integers
/// with one above `i64::MAX` (none negative), or floats.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int { non_negative: bool },
    UInt,
    Float,
}

/// One field's number as its column reads it.
enum Number {
    /// An int64, or a uint64 by its bits (in a `UInt` column).
    Int(i64),
    Float(f64),
}

impl Kind {
    /// A column before its first row.
    const FIRST: Kind = Kind::Int { non_negative: true };

    /// Reads one field of the column, turning it unsigned or float where the text says so; `Err`
    /// when the text is not a number. The one state machine of both readers.
    fn read(&mut self, text: &str) -> Result<Number, ()> {
        Ok(match *self {
            Kind::Int { non_negative } => {
                if let Ok(x) = text.parse::<i64>() {
                    *self = Kind::Int { non_negative: non_negative && x >= 0 };
                    Number::Int(x)
                } else if let Ok(x) = text.parse::<u64>() {
                    if non_negative {
                        *self = Kind::UInt;
                        Number::Int(x as i64)
                    } else {
                        *self = Kind::Float;
                        Number::Float(x as f64)
                    }
                } else {
                    let f = parse_float(text)?;
                    *self = Kind::Float;
                    Number::Float(f)
                }
            }
            Kind::UInt => match text.parse::<u64>() {
                Ok(x) => Number::Int(x as i64),
                Err(_) => {
                    let f = parse_float(text)?;
                    *self = Kind::Float;
                    Number::Float(f)
                }
            },
            Kind::Float => Number::Float(parse_float(text)?),
        })
    }
}

/// A `.csv` read a slab of rows at a time (streaming compression): the same table, value for
/// value, as [`read_file`] makes.
pub(crate) struct CsvRows {
    path: std::path::PathBuf,
    layout: DatasetLayout,
    phases: Vec<Phases>,
    reader: Reader,
    record: ::csv::StringRecord,
    /// The data record the reader yields next.
    next: usize,
}

/// Opens `path` for reading by rows after one pass over it (each column's type, the row count),
/// or `None` where [`read_file`] would fail: it then reports what is wrong.
pub(crate) fn open_rows(path: &Path) -> Option<CsvRows> {
    let (mut reader, names) = open_reader(path).ok()?;
    let never = Phases { uint_from: usize::MAX, float_from: usize::MAX };
    let mut columns = vec![(Kind::FIRST, never); names.len()];
    let mut record = ::csv::StringRecord::new();
    let mut rows = 0usize;
    while reader.read_record(&mut record).ok()? {
        if record.len() != names.len() {
            return None;
        }
        for ((kind, phases), text) in columns.iter_mut().zip(record.iter()) {
            let was = *kind;
            kind.read(text).ok()?;
            match (was, *kind) {
                (Kind::Int { .. }, Kind::UInt) => phases.uint_from = rows,
                (Kind::Int { .. } | Kind::UInt, Kind::Float) => phases.float_from = rows,
                _ => {}
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return None;
    }
    let phases: Vec<Phases> = columns.into_iter().map(|c| c.1).collect();
    let streams = names.into_iter().zip(&phases).map(|(name, p)| (name, p.dtype())).collect();
    let layout = DatasetLayout { shape: vec![rows, phases.len()], table: true, streams };
    let (reader, _) = open_reader(path).ok()?;
    Some(CsvRows { path: path.to_path_buf(), layout, phases, reader, record, next: 0 })
}

impl CsvRows {
    /// The next data record into `self.record`; an error where the file ended or changed.
    fn advance(&mut self) -> Result<(), String> {
        match self.reader.read_record(&mut self.record) {
            Ok(true) if self.record.len() == self.phases.len() => {
                self.next += 1;
                Ok(())
            }
            Ok(true) => Err(format!("row {} changed since the file was opened", self.next + 1)),
            Ok(false) => Err("the file has fewer rows than when it was opened".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl RowSource for CsvRows {
    fn layout(&self) -> &DatasetLayout {
        &self.layout
    }

    fn read_rows(&mut self, first: usize, rows: usize) -> Result<Dataset, String> {
        let path = self.path.display().to_string();
        if first < self.next {
            // An earlier row: read again from the top (compression reads each pass in order).
            self.reader = open_reader(&self.path).map_err(|e| e.to_string())?.0;
            self.next = 0;
        }
        while self.next < first {
            self.advance().map_err(|e| format!("{path}: {e}"))?;
        }
        let mut values: Vec<Values> = self
            .phases
            .iter()
            .map(|p| match p.dtype() {
                DType::F64 => Values::Float(Vec::with_capacity(rows)),
                _ => Values::Int(Vec::with_capacity(rows)),
            })
            .collect();
        for row in first..first + rows {
            self.advance().map_err(|e| format!("{path}: {e}"))?;
            for (((v, p), text), (name, _)) in
                values.iter_mut().zip(&self.phases).zip(self.record.iter()).zip(&self.layout.streams)
            {
                let bad = || {
                    format!(
                        "{path}: row {}, column '{name}': '{text}' changed since the file was opened",
                        row + 1
                    )
                };
                match (v, p.value(text, row).map_err(|()| bad())?) {
                    (Values::Float(v), Elem::F(x)) => v.push(x),
                    (Values::Int(v), Elem::I(x)) => v.push(x),
                    _ => return Err(bad()),
                }
            }
        }
        let columns = self
            .layout
            .streams
            .iter()
            .zip(values)
            .map(|((name, dtype), values)| Column { name: name.clone(), dtype: *dtype, values })
            .collect();
        Ok(Dataset::Table { rows, columns })
    }
}

/// Appends a float in its shortest round-trip form; `nan`, `inf`, `-inf` for the specials.
/// (`{:?}` keeps a `.0` on integral values, so a float column is read back as floats, and uses
/// an exponent for very large or small magnitudes.)
fn push_float(out: &mut String, x: f64, single: bool) {
    use std::fmt::Write as _;
    if x.is_nan() {
        out.push_str("nan");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    } else if single {
        let _ = write!(out, "{:?}", x as f32);
    } else {
        let _ = write!(out, "{x:?}");
    }
}

fn push_elem(out: &mut String, dtype: DType, e: Elem) -> io::Result<()> {
    use std::fmt::Write as _;
    match dtype {
        DType::F32 => push_float(out, to_float(e), true),
        DType::F64 => push_float(out, to_float(e), false),
        DType::U64 => {
            let v = to_int(dtype, e).map_err(io::Error::other)?;
            let _ = write!(out, "{}", v as u64);
        }
        _ => {
            let v = to_int(dtype, e).map_err(io::Error::other)?;
            let _ = write!(out, "{v}");
        }
    }
    Ok(())
}

/// Writes a table, or a 1D/2D field with columns `col0..` (the caller refuses more dimensions).
pub(crate) fn write_dataset<W: Write>(w: &mut W, ds: &Dataset) -> io::Result<()> {
    let (rows, cols) = column_views(ds);
    let names: Vec<String> = match ds {
        Dataset::Table { columns, .. } => columns.iter().map(|c| c.name.clone()).collect(),
        Dataset::Field(_) => (0..cols.len()).map(|c| format!("col{c}")).collect(),
    };
    let mut writer = ::csv::WriterBuilder::new().from_writer(w);
    writer.write_record(&names)?;
    let mut fields = vec![String::new(); cols.len()];
    for r in 0..rows {
        for (field, col) in fields.iter_mut().zip(&cols) {
            field.clear();
            push_elem(field, col.dtype, col.get(r))?;
        }
        writer.write_record(&fields)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::tests::{every_dtype, same_values};
    use crate::tests::shared_data;
    use crate::{ReadOptions, read_dataset, write_dataset as write_any};
    use baler_codec::data::Array;

    fn read(path: &Path) -> Result<Dataset, IoError> {
        read_dataset(path, &ReadOptions::default())
    }

    /// Rows read by slabs are the whole-file reader's, value for value (−0 and the integers a
    /// column held before it turned unsigned or float included), in any order of slabs; a file
    /// the whole-file reader refuses is left to it.
    #[test]
    fn row_reads_equal_the_whole_file() {
        use baler_codec::data::RowSource;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        // a: ints (−0 among them) then a float; b: non-negative ints, a uint64, then −0 (a float);
        // c: a negative int then a uint64 (float from there); d: floats, nan, inf; e: uint64s;
        // f: ints written with signs and zeros.
        let text = "a,b,c,d,e,f\n\
                    -0,3,-1,0.5,1,+3\n\
                    7,18446744073709551615,18446744073709551615,nan,18446744073709551615,007\n\
                    -0,-0,-0,-inf,2,-0\n\
                    1.5,4,12345678901234567891,1e300,0,-12\n\
                    -0,2.25,-0,-0.0,9223372036854775808,5\n";
        std::fs::write(&p, text).unwrap();
        let whole = read(&p).unwrap();
        let mut r = open_rows(&p).expect("readable by rows");
        assert_eq!(r.layout(), &whole.layout());
        let dtypes: Vec<DType> = r.layout().streams.iter().map(|s| s.1).collect();
        assert_eq!(dtypes, [DType::F64, DType::F64, DType::F64, DType::F64, DType::U64, DType::I64]);
        let (_, columns) = table(whole);
        for (first, rows) in [(0, 5), (2, 3), (0, 1), (4, 1), (1, 2), (3, 2)] {
            let (n, got) = table(r.read_rows(first, rows).unwrap());
            assert_eq!(n, rows);
            for (g, w) in got.iter().zip(&columns) {
                let want = match &w.values {
                    Values::Float(v) => Values::Float(v[first..first + rows].to_vec()),
                    Values::Int(v) => Values::Int(v[first..first + rows].to_vec()),
                };
                assert_eq!((&g.name, g.dtype), (&w.name, w.dtype));
                assert!(
                    same_values(&g.values, &want),
                    "{} rows {first}+{rows}: {:?} vs {want:?}",
                    g.name,
                    g.values
                );
            }
        }
        // −0 before column a turned float is +0, as the whole-file reader converted it.
        let (_, got) = table(r.read_rows(0, 1).unwrap());
        assert_eq!(got[0].values, Values::Float(vec![0.0]));
        assert!(matches!(&got[1].values, Values::Float(v) if v[0] == 3.0));
        // Refused by the whole-file reader: left to it.
        for bad in ["a,b\n1,2\n3\n", "a,b\n1,x\n", "a,b\n", "a,a\n1,2\n", ""] {
            std::fs::write(&p, bad).unwrap();
            assert!(open_rows(&p).is_none(), "{bad:?}");
            assert!(read(&p).is_err(), "{bad:?}");
        }
        // A file that changed after it was opened: the read names the file and the row.
        std::fs::write(&p, "a,b\n1,2\n3,4\n").unwrap();
        let mut r = open_rows(&p).unwrap();
        r.read_rows(1, 1).unwrap();
        // Rewritten; rows 0..2 are then read again from the top.
        std::fs::write(&p, "a,b\n1,2\n3,x\n").unwrap();
        let err = r.read_rows(0, 2).unwrap_err();
        assert!(err.contains("t.csv") && err.contains("row 2") && err.contains("'x'"), "{err}");
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        let err = r.read_rows(0, 2).unwrap_err();
        assert!(err.contains("t.csv") && err.contains("fewer rows"), "{err}");
        std::fs::write(&p, "a,b\n1,2\n3,4,5\n").unwrap();
        let err = r.read_rows(0, 2).unwrap_err();
        assert!(err.contains("t.csv") && err.contains("row 2 changed"), "{err}");
    }

    fn table(ds: Dataset) -> (usize, Vec<Column>) {
        match ds {
            Dataset::Table { rows, columns } => (rows, columns),
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn every_dtype_round_trips_through_csv() {
        let dir = tempfile::tempdir().unwrap();
        for a in every_dtype() {
            let p = dir.path().join(format!("{}.csv", a.dtype.name()));
            let t = Dataset::Table {
                rows: a.values.len(),
                columns: vec![
                    Column { name: "v".into(), dtype: a.dtype, values: a.values.clone() },
                    Column {
                        name: "idx, quoted".into(),
                        dtype: DType::I16,
                        values: Values::Int((0..a.values.len() as i64).collect()),
                    },
                ],
            };
            write_any(&p, &t).unwrap();
            let (rows, cols) = table(read(&p).unwrap());
            assert_eq!(rows, a.values.len());
            assert_eq!(cols[0].name, "v");
            assert_eq!(cols[1].name, "idx, quoted");
            assert_eq!(cols[1].dtype, DType::I64);
            let back = &cols[0];
            match a.dtype {
                DType::F64 => {
                    assert_eq!(back.dtype, DType::F64);
                    assert!(same_values(&back.values, &a.values), "{back:?}");
                }
                DType::F32 => {
                    // CSV has no dtype: the column comes back float64, exact once made f32 again
                    assert_eq!(back.dtype, DType::F64);
                    let (Values::Float(x), Values::Float(y)) = (&back.values, &a.values) else { panic!() };
                    for (p, q) in x.iter().zip(y) {
                        assert_eq!((*p as f32).to_bits(), (*q as f32).to_bits(), "{p} {q}");
                    }
                }
                DType::U64 => {
                    assert_eq!(back.dtype, DType::U64);
                    assert_eq!(back.values, a.values);
                }
                _ => {
                    assert_eq!(back.dtype, DType::I64, "{:?}", a.dtype);
                    assert_eq!(back.values, a.values);
                }
            }
        }
    }

    #[test]
    fn text_form_of_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("text.csv");
        let t = Dataset::Table {
            rows: 4,
            columns: vec![
                Column {
                    name: "f".into(),
                    dtype: DType::F64,
                    values: Values::Float(vec![1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
                },
                Column {
                    name: "s".into(),
                    dtype: DType::F32,
                    values: Values::Float(vec![f64::from(0.1f32), 2.0, 1e30, -0.0]),
                },
                Column { name: "u".into(), dtype: DType::U64, values: Values::Int(vec![-1, 0, 1, 2]) },
                Column { name: "i".into(), dtype: DType::I8, values: Values::Int(vec![-128, 0, 1, 127]) },
            ],
        };
        write_any(&p, &t).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "f,s,u,i\n1.0,0.1,18446744073709551615,-128\nnan,2.0,0,0\ninf,1e30,1,1\n-inf,-0.0,2,127\n"
        );
        // an integral float column stays float
        let (_, cols) = table(read(&p).unwrap());
        assert_eq!(cols[0].dtype, DType::F64);
        assert_eq!(cols[1].dtype, DType::F64);
    }

    #[test]
    fn parsing_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rules.csv");
        std::fs::write(
            &p,
            " a , b ,c,d,e\n1, 2.5,nan,7,-3\n+2,1e3,NaN,9223372036854775808,5\n-3,4,inf,1,9223372036854775808\n4,5,-inf,2,0\n5,6,Infinity,3,1\n",
        )
        .unwrap();
        let (rows, cols) = table(read(&p).unwrap());
        assert_eq!(rows, 5);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(cols[0].dtype, DType::I64);
        assert_eq!(cols[0].values, Values::Int(vec![1, 2, -3, 4, 5]));
        assert_eq!(cols[1].dtype, DType::F64);
        assert_eq!(cols[1].values, Values::Float(vec![2.5, 1000.0, 4.0, 5.0, 6.0]));
        assert_eq!(cols[2].dtype, DType::F64);
        let Values::Float(c) = &cols[2].values else { panic!() };
        assert!(c[0].is_nan() && c[1].is_nan());
        assert_eq!(&c[2..], &[f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]);
        // above i64::MAX, none negative: uint64
        assert_eq!(cols[3].dtype, DType::U64);
        assert_eq!(cols[3].values, Values::Int(vec![7, (1u64 << 63) as i64, 1, 2, 3]));
        // above i64::MAX with a negative value: float64
        assert_eq!(cols[4].dtype, DType::F64);
        assert_eq!(cols[4].values, Values::Float(vec![-3.0, 5.0, 9223372036854775808.0, 0.0, 1.0]));
    }

    #[test]
    fn fields_as_csv() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("field.csv");
        let f2 = Dataset::Field(Array {
            dtype: DType::I32,
            shape: vec![2, 3],
            values: Values::Int(vec![1, 2, 3, 4, 5, 6]),
        });
        write_any(&p, &f2).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "col0,col1,col2\n1,2,3\n4,5,6\n");
        let f1 = Dataset::Field(Array {
            dtype: DType::F64,
            shape: vec![3],
            values: Values::Float(vec![0.5, 1.0, -2.0]),
        });
        write_any(&p, &f1).unwrap();
        let (rows, cols) = table(read(&p).unwrap());
        assert_eq!((rows, cols.len()), (3, 1));
        assert_eq!(cols[0].values, Values::Float(vec![0.5, 1.0, -2.0]));

        let f3 = Dataset::Field(Array {
            dtype: DType::F64,
            shape: vec![1, 1, 2],
            values: Values::Float(vec![0.5, 1.0]),
        });
        let out = dir.path().join("cube.csv");
        let msg = write_any(&out, &f3).unwrap_err().to_string();
        assert!(msg.starts_with(&format!("{}: cannot write", out.display())), "{msg}");
        assert!(msg.contains("3D"), "{msg}");
        assert!(!out.exists());
    }

    #[test]
    fn bad_csv_files_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("ragged.csv", "a,b,c,d,e\n1,2,3,4,5\n1,2,3,4\n", "line 3 has 4 fields, the header has 5"),
            ("long.csv", "a,b\n1,2\n3,4\n5,6,7\n", "line 4 has 3 fields, the header has 2"),
            ("text.csv", "x,y\n1,2\n3,abc\n", "line 3, column 'y': 'abc' is not a number"),
            ("emptyfield.csv", "x,y\n1,\n", "line 2, column 'y': '' is not a number"),
            ("empty.csv", "", "empty file (expected a header row of column names, then numeric rows)"),
            ("headeronly.csv", "a,b,c\n", "no data rows (only a header of column names)"),
            ("dup.csv", "a,b,a\n1,2,3\n", "column name 'a' appears twice in the header"),
        ];
        for (name, content, expect) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, content).unwrap();
            let err = read(&p).unwrap_err();
            assert!(matches!(err, IoError::Invalid { .. }), "{err:?}");
            assert_eq!(err.to_string(), format!("{}: {expect}", p.display()));
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
            assert!(msg.contains(expect), "{name}: {msg}");
        }
    }

    #[test]
    fn real_hzz_csv() {
        let p = shared_data("hzz.csv");
        let (rows, cols) = table(read(&p).unwrap());
        assert_eq!(rows, 3825);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E", "Muon_Iso"]);
        assert!(cols.iter().all(|c| c.dtype == DType::F64 && c.values.len() == rows));
        let Values::Float(px) = &cols[0].values else { panic!() };
        assert_eq!(px[0], -52.899456);

        // the same numbers as hzz.npy once made float32 again
        let Dataset::Field(npy) = read_dataset(&shared_data("hzz.npy"), &ReadOptions::default()).unwrap()
        else {
            panic!()
        };
        let Values::Float(f) = &npy.values else { panic!() };
        for (c, col) in cols.iter().enumerate() {
            let Values::Float(v) = &col.values else { panic!() };
            for r in 0..rows {
                assert_eq!(v[r] as f32, f[r * 5 + c] as f32, "row {r} column {c}");
            }
        }

        // written back and read again: identical
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("hzz.csv");
        let t = Dataset::Table { rows, columns: cols };
        write_any(&out, &t).unwrap();
        assert_eq!(read(&out).unwrap(), t);
    }
}
