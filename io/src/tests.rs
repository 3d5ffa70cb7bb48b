use super::*;
use std::path::PathBuf;

/// The shared real-data directory; panics (does not skip) if it is missing.
pub(crate) fn shared_data(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(
        dir.is_dir(),
        "shared data directory {} is missing: these tests need the real files",
        dir.display()
    );
    let p = dir.join(name);
    assert!(p.is_file(), "real data file {} is missing", p.display());
    p
}

#[test]
fn unknown_extension_names_the_file() {
    let err = read_dataset(Path::new("x.parquet"), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IoError::UnknownExtension { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "x.parquet: unknown extension '.parquet' (expected .npy, .npz, .csv, .h5, .nc or .root)"
    );
    let err = read_dataset(Path::new("noext"), &ReadOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "noext: no extension (expected .npy, .npz, .csv, .h5, .nc or .root)");
    // An extension we read but cannot write names the file too (no output left behind).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("y.nc");
    let ds = Dataset::Field(Array { dtype: DType::F64, shape: vec![1], values: Values::Float(vec![1.0]) });
    let err = write_dataset(&out, &ds).unwrap_err();
    assert!(err.to_string().contains("y.nc"), "{err}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn extension_is_case_insensitive() {
    assert_eq!(Format::of(Path::new("a/B.NPZ")).unwrap(), Format::Npz);
    assert_eq!(Format::of(Path::new("b.Csv")).unwrap(), Format::Csv);
    assert_eq!(Format::of(Path::new("c.npy")).unwrap(), Format::Npy);
}

#[test]
fn missing_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["missing.npy", "missing.npz", "missing.csv"] {
        let p = dir.path().join(name);
        let err = read_dataset(&p, &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, IoError::NotFound { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("{}: file not found", p.display()));
        assert_eq!(err.file(), p.display().to_string());
    }
}

#[test]
fn inconsistent_dataset_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.npy");
    let ds =
        Dataset::Field(Array { dtype: DType::F64, shape: vec![2, 2], values: Values::Float(vec![1.0; 3]) });
    let err = write_dataset(&out, &ds).unwrap_err();
    assert!(matches!(err, IoError::Unwritable { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("{}: ", out.display())));
    let table = Dataset::Table {
        rows: 2,
        columns: vec![Column { name: "a".into(), dtype: DType::I32, values: Values::Int(vec![1]) }],
    };
    let err = write_dataset(&dir.path().join("bad.csv"), &table).unwrap_err();
    assert!(err.to_string().contains("column 'a'"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn out_of_range_integer_is_an_error_not_a_wrap() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["npy", "npz", "csv"] {
        let out = dir.path().join(format!("range.{ext}"));
        let ds =
            Dataset::Field(Array { dtype: DType::U8, shape: vec![2], values: Values::Int(vec![1, 300]) });
        let err = write_dataset(&out, &ds).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("range."), "{msg}");
        assert!(msg.contains("300") && msg.contains("uint8"), "{msg}");
        assert!(!out.exists());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn to_int_limits() {
    assert_eq!(to_int(DType::U64, Elem::I(-1)).unwrap(), -1);
    assert_eq!(to_int(DType::U64, Elem::F(1.844_674_407_370_955e19)).unwrap() as u64, 18446744073709549568);
    assert!(to_int(DType::U64, Elem::F(1.8446744073709552e19)).is_err());
    assert!(to_int(DType::U32, Elem::I(-1)).is_err());
    assert_eq!(to_int(DType::I8, Elem::I(-128)).unwrap(), -128);
    assert!(to_int(DType::I8, Elem::I(128)).is_err());
    assert!(to_int(DType::I16, Elem::F(1.5)).is_err());
    assert!(to_int(DType::I16, Elem::F(f64::NAN)).is_err());
    assert_eq!(to_int(DType::I16, Elem::F(-7.0)).unwrap(), -7);
}

#[test]
fn common_dtype_rule() {
    let col = |dtype| Column { name: "c".into(), dtype, values: Values::Int(vec![]) };
    assert_eq!(common_dtype(&[col(DType::I16), col(DType::I16)]), DType::I16);
    assert_eq!(common_dtype(&[col(DType::I16), col(DType::I32)]), DType::F64);
    assert_eq!(common_dtype(&[col(DType::F32)]), DType::F32);
}
