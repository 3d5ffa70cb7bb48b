//! The `.csv` format: a header row of column names, then one numeric row per record.
//!
//! A column whose every value is an integer stays an integer column (int64, or uint64 when a
//! value is above `i64::MAX` and none is negative); any other column is float64.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::Path;

use baler_codec::data::{Column, DType, Dataset, Values};

use super::{Elem, IoError, column_views, to_float, to_int};

/// One column as it is being read: integers until a value says otherwise.
enum ColState {
    Int(Vec<i64>),
    /// Non-negative integers, at least one above `i64::MAX`, kept by their bits.
    UInt(Vec<i64>),
    Float(Vec<f64>),
}

impl ColState {
    fn make_float(&mut self) -> &mut Vec<f64> {
        let floats = match self {
            ColState::Int(v) => v.iter().map(|&x| x as f64).collect(),
            ColState::UInt(v) => v.iter().map(|&x| x as u64 as f64).collect(),
            ColState::Float(v) => std::mem::take(v),
        };
        *self = ColState::Float(floats);
        match self {
            ColState::Float(v) => v,
            _ => unreachable!(),
        }
    }

    /// Adds one field; `Err` when it is not a number.
    fn push(&mut self, text: &str) -> Result<(), ()> {
        match self {
            ColState::Int(v) => {
                if let Ok(x) = text.parse::<i64>() {
                    v.push(x);
                } else if let Ok(x) = text.parse::<u64>() {
                    if v.iter().all(|&a| a >= 0) {
                        v.push(x as i64);
                        *self = ColState::UInt(std::mem::take(v));
                    } else {
                        self.make_float().push(x as f64);
                    }
                } else {
                    let f = parse_float(text)?;
                    self.make_float().push(f);
                }
            }
            ColState::UInt(v) => {
                if let Ok(x) = text.parse::<u64>() {
                    v.push(x as i64);
                } else {
                    let f = parse_float(text)?;
                    self.make_float().push(f);
                }
            }
            ColState::Float(v) => v.push(parse_float(text)?),
        }
        Ok(())
    }

    fn finish(self) -> (DType, Values) {
        match self {
            ColState::Int(v) => (DType::I64, Values::Int(v)),
            ColState::UInt(v) => (DType::U64, Values::Int(v)),
            ColState::Float(v) => (DType::F64, Values::Float(v)),
        }
    }
}

/// A float as Rust parses it: decimals, exponents, and `nan` / `inf` / `infinity` in any case.
fn parse_float(text: &str) -> Result<f64, ()> {
    text.parse::<f64>().map_err(|_| ())
}

pub(crate) fn read_file(path: &Path) -> Result<Dataset, IoError> {
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

    let ncols = names.len();
    let mut cols: Vec<ColState> = (0..ncols).map(|_| ColState::Int(Vec::new())).collect();
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
