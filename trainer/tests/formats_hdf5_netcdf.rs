//! HDF5 and NetCDF inputs and outputs, through the library API and the CLI.
//! Fixtures are made here with the `hdf5` (hdf5-metno) and `netcdf` crates themselves.
#![cfg(all(feature = "hdf5", feature = "netcdf"))]

mod common;

use std::path::{Path, PathBuf};

use baler_codec::{Array, Column, DType, Dataset, Values};
use baler_train::io::{IoError, Loaded, ReadOptions, load, read_dataset, save};
use common::*;
use hdf5::H5Type;
use hdf5::types::{CompoundField, CompoundType, TypeDescriptor, VarLenUnicode};

const LAND: f32 = -1e34;

/// HDF5 takes `flock` locks on the files it opens, and a CLI child spawned by a parallel test
/// inherits the open descriptor (HDF5 does not set close-on-exec), keeping a half-written
/// fixture locked for as long as it runs. Files made or read in this process are not locked.
fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: every test calls this before anything else, so no other thread of this process
    // reads the environment while it is changed.
    ONCE.call_once(|| unsafe { std::env::set_var("HDF5_USE_FILE_LOCKING", "FALSE") });
}

fn field(dtype: DType, shape: &[usize], values: Values) -> Dataset {
    Dataset::Field(Array { dtype, shape: shape.to_vec(), values })
}

fn load_spec(spec: &str) -> Result<Loaded, IoError> {
    load(spec, &ReadOptions::default())
}

fn spec(p: &Path, inner: &str) -> String {
    format!("{}:{inner}", p.display())
}

fn floats(ds: &Dataset) -> &[f64] {
    match ds {
        Dataset::Field(Array { values: Values::Float(v), .. }) => v,
        other => panic!("expected a float field, got {other:?}"),
    }
}

/// A smooth sea-surface temperature over [time, lat, lon] with land (lon < 8) set to `LAND`.
fn sst_values(time: usize, lat: usize, lon: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(time * lat * lon);
    for t in 0..time {
        for y in 0..lat {
            for x in 0..lon {
                v.push(if x < 8 {
                    LAND
                } else {
                    let (t, y, x) = (t as f32, y as f32, x as f32);
                    15.0 + 10.0 * (y / 7.0).cos() + 2.0 * (x / 5.0 + t / 3.0).sin() + 0.01 * x
                });
            }
        }
    }
    v
}

/// `x.nc`: sst(time=3, lat=20, lon=30) float32 with `_FillValue = -1e34f32` over land, plus the
/// coordinate variables time, lat, lon (float64).
fn make_sst_nc(path: &Path) -> Vec<f32> {
    let (nt, ny, nx) = (3, 20, 30);
    let values = sst_values(nt, ny, nx);
    let mut f = netcdf::create(path).unwrap();
    f.add_dimension("time", nt).unwrap();
    f.add_dimension("lat", ny).unwrap();
    f.add_dimension("lon", nx).unwrap();
    for (name, n) in [("time", nt), ("lat", ny), ("lon", nx)] {
        let mut v = f.add_variable::<f64>(name, &[name]).unwrap();
        let coords: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        v.put_values(&coords, ..).unwrap();
    }
    let mut v = f.add_variable::<f32>("sst", &["time", "lat", "lon"]).unwrap();
    v.set_fill_value(LAND).unwrap();
    v.put_attribute("units", "degC").unwrap();
    v.put_values(&values, ..).unwrap();
    f.close().unwrap();
    values
}

/// A user-defined HDF5 "table" row, written as a compound dataset.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Event {
    pt: f32,
    charge: i8,
    energy: f64,
    id: u32,
}

// SAFETY: the descriptor lists every field of the repr(C) struct at its real offset.
unsafe impl H5Type for Event {
    fn type_descriptor() -> TypeDescriptor {
        let field = |name: &str, ty, offset, index| CompoundField { name: name.into(), ty, offset, index };
        TypeDescriptor::Compound(CompoundType {
            fields: vec![
                field("pt", f32::type_descriptor(), std::mem::offset_of!(Event, pt), 0),
                field("charge", i8::type_descriptor(), std::mem::offset_of!(Event, charge), 1),
                field("energy", f64::type_descriptor(), std::mem::offset_of!(Event, energy), 2),
                field("id", u32::type_descriptor(), std::mem::offset_of!(Event, id), 3),
            ],
            size: std::mem::size_of::<Event>(),
        })
    }
}

// ---------------------------------------------------------------- HDF5 round trips

#[test]
fn hdf5_fields_round_trip_in_their_dtype_and_shape() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let f32_vals: Vec<f64> = (0..2 * 3 * 4).map(|i| f64::from((i as f32 * 0.37).sin() * 1e3)).collect();
    let cases = [
        ("f32.h5", "/ocean/deep/temp", field(DType::F32, &[2, 3, 4], Values::Float(f32_vals))),
        (
            "f64.h5",
            "/data",
            field(
                DType::F64,
                &[5, 2],
                Values::Float(vec![
                    0.1,
                    -2.5e300,
                    f64::NAN,
                    f64::INFINITY,
                    f64::MIN_POSITIVE,
                    -0.0,
                    1.0 / 3.0,
                    7.0,
                    f64::NEG_INFINITY,
                    123_456_789.123_456_78,
                ]),
            ),
        ),
        (
            "i16.h5",
            "counts",
            field(DType::I16, &[6], Values::Int(vec![i16::MIN.into(), -1, 0, 1, 300, i16::MAX.into()])),
        ),
        (
            "u64.h5",
            "/ids",
            field(
                DType::U64,
                &[5],
                Values::Int(vec![0, 1, i64::MAX, u64::MAX as i64, (1u64 << 63) as i64 + 5]),
            ),
        ),
        ("scalar.h5", "/x", field(DType::I32, &[], Values::Int(vec![-42]))),
    ];
    for (file, inner, ds) in &cases {
        let path = dir.path().join(file);
        save(&spec(&path, inner), ds, None).unwrap();
        let loaded = load_spec(&spec(&path, inner)).unwrap();
        // bit for bit, NaN included (PartialEq on f64 would fail on NaN)
        assert_eq!(format!("{:?}", loaded.dataset), format!("{ds:?}"), "{file}");
        if let (Dataset::Field(a), Dataset::Field(b)) = (&loaded.dataset, ds)
            && let (Values::Float(x), Values::Float(y)) = (&a.values, &b.values)
        {
            assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()));
        }
        assert_eq!(loaded.fill_value, None);
        // the only dataset in the file is found without naming it
        let only = load_spec(&path.to_string_lossy()).unwrap();
        assert_eq!(format!("{:?}", only.dataset), format!("{ds:?}"));
        let name = format!("/{}", inner.trim_start_matches('/'));
        assert!(loaded.source.contains(&name), "{}", loaded.source);
        assert!(loaded.source.contains("HDF5"), "{}", loaded.source);
    }
    // stored in the original dtype, seen by the hdf5 crate itself
    let f = hdf5::File::open(dir.path().join("f32.h5")).unwrap();
    let d = f.dataset("/ocean/deep/temp").unwrap();
    assert_eq!(d.shape(), vec![2, 3, 4]);
    assert!(d.dtype().unwrap().is::<f32>());
    let f = hdf5::File::open(dir.path().join("u64.h5")).unwrap();
    let d = f.dataset("/ids").unwrap();
    assert!(d.dtype().unwrap().is::<u64>());
    assert_eq!(d.read_raw::<u64>().unwrap()[3], u64::MAX);
    let f = hdf5::File::open(dir.path().join("i16.h5")).unwrap();
    assert!(f.dataset("counts").unwrap().dtype().unwrap().is::<i16>());
    // no temporary files left
    let mut names: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    names.sort();
    assert_eq!(entries(dir.path()), names);
}

#[test]
fn hdf5_table_round_trip_keeps_names_and_dtypes() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table.h5");
    let table = Dataset::Table {
        rows: 4,
        columns: vec![
            Column {
                name: "pt".into(),
                dtype: DType::F32,
                values: Values::Float(vec![1.5, 2.25, -3.0, 1e-3f32 as f64]),
            },
            Column { name: "n jets".into(), dtype: DType::I32, values: Values::Int(vec![0, 3, -7, 2]) },
            Column {
                name: "énergie".into(),
                dtype: DType::F64,
                values: Values::Float(vec![0.1, 1e10, -2.5, 3.0]),
            },
        ],
    };
    save(&path.to_string_lossy(), &table, None).unwrap();
    let loaded = load_spec(&path.to_string_lossy()).unwrap();
    assert_eq!(loaded.dataset, table);
    assert!(loaded.source.contains("table"), "{}", loaded.source);

    // the layout: a 2-d float64 [rows, columns] dataset `/data` with a `columns` attribute
    let f = hdf5::File::open(&path).unwrap();
    let d = f.dataset("/data").unwrap();
    assert_eq!(d.shape(), vec![4, 3]);
    assert!(d.dtype().unwrap().is::<f64>());
    let names: Vec<String> = d
        .attr("columns")
        .unwrap()
        .read_raw::<VarLenUnicode>()
        .unwrap()
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(names, ["pt", "n jets", "énergie"]);

    // one shared dtype: stored in it
    let ints = Dataset::Table {
        rows: 2,
        columns: vec![
            Column { name: "a".into(), dtype: DType::U16, values: Values::Int(vec![1, 65535]) },
            Column { name: "b".into(), dtype: DType::U16, values: Values::Int(vec![7, 0]) },
        ],
    };
    let path2 = dir.path().join("ints.h5");
    save(&spec(&path2, "/t/ints"), &ints, Some(0.0)).unwrap();
    let loaded = load_spec(&spec(&path2, "/t/ints")).unwrap();
    assert_eq!(loaded.dataset, ints);
    assert_eq!(loaded.fill_value, Some(0.0));
    let f = hdf5::File::open(&path2).unwrap();
    assert!(f.dataset("/t/ints").unwrap().dtype().unwrap().is::<u16>());
}

#[test]
fn hdf5_fill_value_attribute_is_written_and_read() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fill.h5");
    let ds = field(DType::F32, &[2, 2], Values::Float(vec![f64::from(LAND), 1.0, 2.0, f64::from(LAND)]));
    save(&spec(&path, "/sea"), &ds, Some(f64::from(LAND))).unwrap();
    let loaded = load_spec(&spec(&path, "/sea")).unwrap();
    assert_eq!(loaded.fill_value, Some(f64::from(LAND)));
    assert_eq!(loaded.dataset, ds);
    assert!(loaded.source.contains("_FillValue -1e34"), "{}", loaded.source);
    // the attribute is in the data's own type
    let f = hdf5::File::open(&path).unwrap();
    let a = f.dataset("/sea").unwrap().attr("_FillValue").unwrap();
    assert!(a.dtype().unwrap().is::<f32>());
    assert_eq!(a.read_raw::<f32>().unwrap(), vec![LAND]);

    // a file written by someone else: float32 data with a float64 scalar `_FillValue`
    // (-1e34 as a double): the fill value is the float32 the data holds
    let other = dir.path().join("other.h5");
    {
        let f = hdf5::File::create(&other).unwrap();
        let g = f.create_group("ocean").unwrap();
        let d = g.new_dataset::<f32>().shape([3]).create("temp").unwrap();
        d.write_raw(&[LAND, 1.0, 2.0]).unwrap();
        let a = d.new_attr::<f64>().shape(()).create("_FillValue").unwrap();
        a.write_scalar(&-1e34f64).unwrap();
    }
    let loaded = load_spec(&spec(&other, "/ocean/temp")).unwrap();
    assert_eq!(loaded.fill_value, Some(f64::from(LAND)));
    assert_eq!(floats(&loaded.dataset)[0], f64::from(LAND));
}

#[test]
fn hdf5_compound_dataset_reads_as_a_table() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.h5");
    let events = [
        Event { pt: 10.5, charge: -1, energy: 100.25, id: 7 },
        Event { pt: 0.125, charge: 1, energy: -3.5, id: u32::MAX },
        Event { pt: 3.0, charge: 0, energy: 1e300, id: 0 },
    ];
    {
        let f = hdf5::File::create(&path).unwrap();
        let d = f.new_dataset::<Event>().shape([events.len()]).create("events").unwrap();
        d.write_raw(&events).unwrap();
    }
    let loaded = load_spec(&spec(&path, "/events")).unwrap();
    let expect = Dataset::Table {
        rows: 3,
        columns: vec![
            Column { name: "pt".into(), dtype: DType::F32, values: Values::Float(vec![10.5, 0.125, 3.0]) },
            Column { name: "charge".into(), dtype: DType::I8, values: Values::Int(vec![-1, 1, 0]) },
            Column {
                name: "energy".into(),
                dtype: DType::F64,
                values: Values::Float(vec![100.25, -3.5, 1e300]),
            },
            Column { name: "id".into(), dtype: DType::U32, values: Values::Int(vec![7, u32::MAX.into(), 0]) },
        ],
    };
    assert_eq!(loaded.dataset, expect);
}

#[test]
fn hdf5_failed_write_leaves_nothing_and_keeps_the_old_file() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.h5");
    let good = field(DType::U8, &[2], Values::Int(vec![1, 2]));
    save(&path.to_string_lossy(), &good, None).unwrap();
    let before = std::fs::read(&path).unwrap();
    let bad = field(DType::U8, &[2], Values::Int(vec![1, 300]));
    let err = save(&path.to_string_lossy(), &bad, None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("keep.h5") && msg.contains("300"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // an invalid dataset path
    let err = save(&spec(&path, "/a//b"), &good, None).unwrap_err();
    assert!(err.to_string().contains("invalid dataset path"), "{err}");
    assert_eq!(entries(dir.path()), ["keep.h5"]);
    // a missing directory names the file
    let nowhere = dir.path().join("no/such/dir/x.h5");
    let err = save(&nowhere.to_string_lossy(), &good, None).unwrap_err();
    assert!(err.to_string().contains("x.h5"), "{err}");
}

// ---------------------------------------------------------------- NetCDF

#[test]
fn netcdf_sst_with_fill_value_reads_exactly() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.nc");
    let values = make_sst_nc(&path);
    let loaded = load_spec(&spec(&path, "sst")).unwrap();
    assert_eq!(loaded.axes, ["time", "lat", "lon"]);
    let Dataset::Field(a) = &loaded.dataset else { panic!("expected a field") };
    assert_eq!(a.shape, [3, 20, 30]);
    assert_eq!(a.dtype, DType::F32);
    assert_eq!(loaded.fill_value, Some(f64::from(LAND)));
    let got = floats(&loaded.dataset);
    assert_eq!(got.len(), values.len());
    for (i, (&g, &v)) in got.iter().zip(&values).enumerate() {
        assert_eq!((g as f32).to_bits(), v.to_bits(), "value {i}");
        assert_eq!(g, f64::from(v), "value {i}");
    }
    assert_eq!(
        loaded.source,
        format!(
            "{}:sst (NetCDF, float32, dims time×lat×lon, _FillValue -1e34)",
            path.file_name().unwrap().to_string_lossy()
        )
    );
    // sst is the only data variable: time, lat and lon are coordinates
    let only = load_spec(&path.to_string_lossy()).unwrap();
    assert_eq!(only, loaded);
    // a coordinate variable can still be named
    let lat = load_spec(&spec(&path, "lat")).unwrap();
    assert_eq!(lat.dataset.shape(), [20]);
    assert_eq!(floats(&lat.dataset)[3], 1.5);
    assert_eq!(lat.fill_value, None);
}

#[test]
fn netcdf_classic_missing_value_and_packing_are_reported_not_applied() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.nc");
    let raw: Vec<i16> = (0..12).map(|i| if i % 5 == 0 { -32767 } else { i * 100 }).collect();
    {
        let mut f = netcdf::create_with(&path, netcdf::Options::empty()).unwrap();
        f.add_dimension("y", 3).unwrap();
        f.add_dimension("x", 4).unwrap();
        let mut v = f.add_variable::<i16>("t2m", &["y", "x"]).unwrap();
        v.put_attribute("missing_value", -32767i16).unwrap();
        v.put_attribute("scale_factor", 0.01f64).unwrap();
        v.put_attribute("add_offset", 273.15f64).unwrap();
        f.enddef().unwrap();
        f.variable_mut("t2m").unwrap().put_values(&raw, ..).unwrap();
    }
    let loaded = load_spec(&spec(&path, "t2m")).unwrap();
    assert_eq!(
        loaded.dataset,
        field(DType::I16, &[3, 4], Values::Int(raw.iter().map(|&x| x.into()).collect()))
    );
    assert_eq!(loaded.fill_value, Some(-32767.0));
    for needle in [
        "int16",
        "dims y×x",
        "missing_value -32767",
        "scale_factor 0.01 (not applied)",
        "add_offset 273.15 (not applied)",
    ] {
        assert!(loaded.source.contains(needle), "{needle}: {}", loaded.source);
    }
}

#[test]
fn netcdf_fill_value_wins_over_missing_value() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.nc");
    {
        let mut f = netcdf::create(&path).unwrap();
        f.add_dimension("n", 3).unwrap();
        let mut v = f.add_variable::<f64>("v", &["n"]).unwrap();
        v.set_fill_value(-999.0f64).unwrap();
        v.put_attribute("missing_value", -1.0f64).unwrap();
        v.put_values(&[1.0f64, -999.0, -1.0], ..).unwrap();
    }
    let loaded = load_spec(&spec(&path, "v")).unwrap();
    assert_eq!(loaded.fill_value, Some(-999.0));
    assert_eq!(floats(&loaded.dataset), [1.0, -999.0, -1.0]);
    assert!(loaded.source.contains("missing_value -1 (not used)"), "{}", loaded.source);
}

// ---------------------------------------------------------------- errors

#[test]
fn missing_dataset_or_variable_names_the_file_and_lists_what_exists() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let nc = dir.path().join("x.nc");
    make_sst_nc(&nc);
    let err = load_spec(&spec(&nc, "temperature")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}: ", nc.display())), "{msg}");
    assert!(msg.contains("no variable 'temperature'"), "{msg}");
    for name in ["sst (float32, time×lat×lon)", "lat (float64, lat)", "time"] {
        assert!(msg.contains(name), "{name}: {msg}");
    }

    let h5 = dir.path().join("x.h5");
    {
        let f = hdf5::File::create(&h5).unwrap();
        let g = f.create_group("ocean").unwrap();
        g.new_dataset::<f32>().shape([2, 3]).create("temp").unwrap();
        f.new_dataset::<i64>().shape([4]).create("time").unwrap();
    }
    let err = load_spec(&spec(&h5, "/ocean/salt")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}: ", h5.display())), "{msg}");
    assert!(msg.contains("no dataset '/ocean/salt'"), "{msg}");
    assert!(msg.contains("/ocean/temp (float32, [2, 3])"), "{msg}");
    assert!(msg.contains("/time (int64, [4])"), "{msg}");
    let err = load_spec(&spec(&h5, "/ocean")).unwrap_err();
    assert!(err.to_string().contains("'/ocean' is a group"), "{err}");
    // two datasets: the name is needed
    let err = load_spec(&h5.to_string_lossy()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("2 datasets"), "{msg}");
    assert!(msg.contains("/ocean/temp") && msg.contains("/time"), "{msg}");

    // the CLI says it on one line, no panic
    let out = dir.path().join("o.baler");
    fails(&["compress", &spec(&nc, "nosuch"), "-o", s(&out), "--abs", "0.1", "--no-model"], "sst");
    fails(&["compress", &spec(&h5, "/nosuch"), "-o", s(&out), "--abs", "0.1", "--no-model"], "/ocean/temp");
}

#[test]
fn wrong_files_give_clean_errors() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.h5");
    std::fs::write(&fake, "this is not HDF5, just text\n".repeat(100)).unwrap();
    let err = load_spec(&fake.to_string_lossy()).unwrap_err();
    assert!(matches!(err, IoError::Invalid { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("{}: not an HDF5 file (no HDF5 signature)", fake.display()));
    let fake_nc = dir.path().join("fake.nc");
    std::fs::write(&fake_nc, b"CDF? no").unwrap();
    let err = load_spec(&spec(&fake_nc, "sst")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{}: cannot open as NetCDF", fake_nc.display())), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");

    for missing in ["gone.h5", "gone.nc"] {
        let p = dir.path().join(missing);
        let err = load_spec(&p.to_string_lossy()).unwrap_err();
        assert!(matches!(err, IoError::NotFound { .. }), "{err:?}");
    }

    // an HDF5 dataset of strings is not data
    let strings = dir.path().join("strings.h5");
    {
        let f = hdf5::File::create(&strings).unwrap();
        let names: Vec<VarLenUnicode> = ["a", "b"].iter().map(|s| s.parse().unwrap()).collect();
        f.new_dataset_builder().with_data(names.as_slice()).create("names").unwrap();
    }
    let err = load_spec(&strings.to_string_lossy()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/names: unsupported element type"), "{msg}");

    let out = dir.path().join("o.baler");
    fails(&["compress", s(&fake), "-o", s(&out), "--abs", "0.1", "--no-model"], "not an HDF5 file");
    assert!(!out.exists());
}

// ---------------------------------------------------------------- end to end (the issue)

/// Every fill value back exactly; every other value within `bound`.
fn check_fill_and_bound(orig: &[f64], back: &[f64], fill: f64, bound: f64) {
    assert_eq!(orig.len(), back.len());
    let mut fills = 0;
    for (i, (&x, &y)) in orig.iter().zip(back).enumerate() {
        if x == fill {
            fills += 1;
            assert_eq!(y.to_bits(), x.to_bits(), "fill value {i} came back as {y}");
        } else {
            assert!((x - y).abs() <= bound, "value {i}: |{x} - {y}| = {} > {bound}", (x - y).abs());
        }
    }
    assert!(fills > 0, "the test data holds fill values");
}

/// The axis names an archive's notes give (`Metadata::axes`).
fn archive_axes(archive: &Path) -> Option<Vec<String>> {
    baler_codec::Archive::open(&std::fs::read(archive).unwrap(), None).unwrap().meta.axes()
}

fn non_fill_range(v: &[f64], fill: f64) -> f64 {
    let data = v.iter().copied().filter(|&x| x != fill);
    data.clone().fold(f64::MIN, f64::max) - data.fold(f64::MAX, f64::min)
}

#[test]
fn netcdf_end_to_end_fill_values_exact_rest_within_rel_bound() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let nc = dir.path().join("x.nc");
    make_sst_nc(&nc);
    let arc = dir.path().join("x.baler");
    let out = dir.path().join("y.npy");
    // the file's _FillValue is passed on by the CLI itself: no --fill-value; the variable is
    // read a slab (of its first dimension) at a time
    let json = ok(&["compress", &spec(&nc, "sst"), "-o", s(&arc), "--rel", "1e-3", "--no-model", "--json"]);
    let json: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(json["streamed"], true, "{json}");
    assert!(json["source"].as_str().unwrap().contains("_FillValue"), "{json}");
    // The variable's dimension names are kept for viewers; --axes names them otherwise.
    let names = |v: [&str; 3]| Some(v.map(String::from).to_vec());
    assert_eq!(archive_axes(&arc), names(["time", "lat", "lon"]));
    let renamed = dir.path().join("renamed.baler");
    ok(&["compress", &spec(&nc, "sst"), "-o", s(&renamed), "--rel", "1e-3", "--no-model", "--axes", "t,y,x"]);
    assert_eq!(archive_axes(&renamed), names(["t", "y", "x"]));
    ok(&["decompress", s(&arc), "-o", s(&out)]);
    let orig = load_spec(&spec(&nc, "sst")).unwrap().dataset;
    let back = read(&out);
    assert_eq!(back.shape(), [3, 20, 30]);
    let Dataset::Field(b) = &back else { panic!("a field") };
    assert_eq!(b.dtype, DType::F32);
    let fill = f64::from(LAND);
    let range = non_fill_range(floats(&orig), fill);
    assert!(range > 10.0, "range {range}");
    check_fill_and_bound(floats(&orig), floats(&back), fill, 1e-3 * range);
}

/// `x.h5:/ocean/temp`: float64 [4, 16, 24] with `_FillValue = -999` over "land" (x < 5).
fn make_temp_h5(path: &Path) -> Vec<f64> {
    let (nz, ny, nx) = (4, 16, 24);
    let mut v = Vec::with_capacity(nz * ny * nx);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                v.push(if x < 5 {
                    -999.0
                } else {
                    let (z, y, x) = (z as f64, y as f64, x as f64);
                    20.0 - 2.0 * z + 3.0 * (y / 4.0).sin() * (x / 6.0).cos()
                });
            }
        }
    }
    let f = hdf5::File::create(path).unwrap();
    let g = f.create_group("ocean").unwrap();
    let d = g.new_dataset::<f64>().shape([nz, ny, nx]).create("temp").unwrap();
    d.write_raw(&v).unwrap();
    d.new_attr::<f64>().shape(()).create("_FillValue").unwrap().write_scalar(&-999.0).unwrap();
    f.new_attr::<VarLenUnicode>()
        .shape(())
        .create("title")
        .unwrap()
        .write_scalar(&"test ocean".parse::<VarLenUnicode>().unwrap())
        .unwrap();
    v
}

#[test]
fn hdf5_end_to_end_fill_values_exact_rest_within_abs_bound_and_hdf5_output() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("x.h5");
    let orig = make_temp_h5(&h5);
    let arc = dir.path().join("x.baler");
    let out: PathBuf = dir.path().join("y.h5");
    let json =
        ok(&["compress", &spec(&h5, "/ocean/temp"), "-o", s(&arc), "--abs", "0.01", "--no-model", "--json"]);
    // A numeric dataset of ≤ 3 axes is read a slab (hyperslab) at a time, its _FillValue on.
    let json: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(json["streamed"], true, "{json}");
    assert!(json["source"].as_str().unwrap().contains("_FillValue -999"), "{json}");
    ok(&["decompress", s(&arc), "-o", s(&out)]);
    let back = load_spec(&out.to_string_lossy()).unwrap();
    assert_eq!(back.dataset.shape(), [4, 16, 24]);
    let Dataset::Field(b) = &back.dataset else { panic!("a field") };
    assert_eq!(b.dtype, DType::F64);
    check_fill_and_bound(&orig, floats(&back.dataset), -999.0, 0.01);
    // the output carries the fill value on
    assert_eq!(back.fill_value, Some(-999.0));
    // and reads like any dataset
    let again = read_dataset(&out, &ReadOptions::default()).unwrap();
    assert_eq!(again.shape(), [4, 16, 24]);
}

#[test]
fn h5_filter_output_is_an_hdf5_dataset_stored_through_the_baler_filter() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let nc = dir.path().join("x.nc");
    make_sst_nc(&nc);
    let out = dir.path().join("y.h5");
    let json = ok(&[
        "compress",
        &spec(&nc, "sst"),
        "-o",
        &spec(&out, "/ocean/sst"),
        "--h5-filter",
        "--rel",
        "1e-3",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(json["filter_id"], 305, "{json}");
    // rel means the whole array's range: the CLI turns it into an absolute bound.
    assert_eq!(json["bound_mode"], "abs", "{json}");
    let orig = load_spec(&spec(&nc, "sst")).unwrap().dataset;
    let fill = f64::from(LAND);
    let range = non_fill_range(floats(&orig), fill);
    assert!((json["bound"].as_f64().unwrap() - 1e-3 * range).abs() < 1e-9 * range, "{json}");

    // What any HDF5 program sees: a chunked float32 dataset, filter 305 with the completed parameters.
    let file = hdf5::File::open(&out).unwrap();
    let ds = file.dataset("/ocean/sst").unwrap();
    assert_eq!(ds.chunk(), Some(vec![3, 20, 30]));
    let filters = ds.filters();
    let Some(hdf5::filters::Filter::User(305, cd)) = filters.first() else { panic!("filters {filters:?}") };
    let opts = h5baler::ChunkOptions::from_cd_values(cd).unwrap();
    assert_eq!((opts.dtype, opts.shape.clone(), opts.fill_value), (DType::F32, vec![3, 20, 30], Some(fill)));
    drop(ds);
    drop(file);

    // Read back through the filter (baler-train registers it): fills exact, the rest within the bound.
    let back = load_spec(&spec(&out, "/ocean/sst")).unwrap();
    let Dataset::Field(b) = &back.dataset else { panic!("a field") };
    assert_eq!(b.dtype, DType::F32);
    check_fill_and_bound(floats(&orig), floats(&back.dataset), fill, 1e-3 * range);

    // Only HDF5 outputs, only arrays; nothing written otherwise.
    let npy = dir.path().join("y.npy");
    fails(&["compress", &spec(&nc, "sst"), "-o", s(&npy), "--h5-filter", "--abs", "0.1"], "writes .h5 files");
    assert!(!npy.exists());
}

/// A netCDF-4 file is an HDF5 file whose dimensions are HDF5 dimension scales: read as HDF5, a
/// variable's axes are named by them (a coordinate variable's dataset, or a dimension without one).
#[test]
fn hdf5_dimension_scales_name_the_axes() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let nc = dir.path().join("x.nc");
    make_sst_nc(&nc);
    let h5 = dir.path().join("x.h5");
    std::fs::copy(&nc, &h5).unwrap();
    assert_eq!(load_spec(&spec(&h5, "/sst")).unwrap().axes, ["time", "lat", "lon"]);
    // `station` has no coordinate variable: netCDF-4 gives its scale a placeholder NAME.
    let nc2 = dir.path().join("y.nc");
    let mut f = netcdf::create(&nc2).unwrap();
    f.add_dimension("time", 3).unwrap();
    f.add_dimension("station", 4).unwrap();
    let mut v = f.add_variable::<f64>("time", &["time"]).unwrap();
    v.put_values(&[0.0, 1.0, 2.0], ..).unwrap();
    let mut v = f.add_variable::<f32>("temp", &["time", "station"]).unwrap();
    v.put_values(&(0..12).map(|i| i as f32).collect::<Vec<_>>(), ..).unwrap();
    f.close().unwrap();
    let h52 = dir.path().join("y.h5");
    std::fs::copy(&nc2, &h52).unwrap();
    assert_eq!(load_spec(&spec(&h52, "/temp")).unwrap().axes, ["time", "station"]);
    // Streamed compression keeps them too; a dataset without scales has none.
    let arc = dir.path().join("y.baler");
    ok(&["compress", &spec(&h52, "/temp"), "-o", s(&arc), "--rel", "1e-2", "--no-model"]);
    assert_eq!(archive_axes(&arc), Some(vec!["time".to_string(), "station".to_string()]));
    let plain = dir.path().join("plain.h5");
    make_temp_h5(&plain);
    assert!(load_spec(&spec(&plain, "/ocean/temp")).unwrap().axes.is_empty());
    // Dimension labels (h5py's `dims[i].label`) name them where there are no scales; a label
    // missing for one axis names none.
    let label = |names: &[&str]| {
        let f = hdf5::File::open_rw(&plain).unwrap();
        let d = f.dataset("/ocean/temp").unwrap();
        if d.attr_names().unwrap().iter().any(|n| n == "DIMENSION_LABELS") {
            d.delete_attr("DIMENSION_LABELS").unwrap();
        }
        let v: Vec<hdf5::types::VarLenAscii> =
            names.iter().map(|n| hdf5::types::VarLenAscii::from_ascii(n).unwrap()).collect();
        d.new_attr::<hdf5::types::VarLenAscii>()
            .shape(3)
            .create("DIMENSION_LABELS")
            .unwrap()
            .write(&v)
            .unwrap();
    };
    label(&["depth", "y", "x"]);
    assert_eq!(load_spec(&spec(&plain, "/ocean/temp")).unwrap().axes, ["depth", "y", "x"]);
    label(&["depth", "", "x"]);
    assert!(load_spec(&spec(&plain, "/ocean/temp")).unwrap().axes.is_empty());
}

/// Writes the range-scan tests' field (NaN, −inf, −0 and the fill value −999 among smooth values)
/// with `write(values, shape, dtype)` in two shapes (one slab and several: 4.5 M values) and both
/// float dtypes, and checks that the range the source at `spec` scans from its slabs has the same
/// bits as `finite_range` of the rows it hands over, with and without the fill value.
fn scanned_ranges_equal_the_rows(spec: &str, write: impl Fn(&[f64], [usize; 3], DType)) {
    let bits = |r: Option<(f64, f64)>| r.map(|(a, b)| (a.to_bits(), b.to_bits()));
    for shape in [[2usize, 3, 4], [3, 1500, 1000]] {
        let n: usize = shape.iter().product();
        let values: Vec<f64> = (0..n)
            .map(|i| match i % 1009 {
                0 => f64::NAN,
                1 => f64::NEG_INFINITY,
                2 => -0.0,
                3 => -999.0,
                _ => ((i as f64) * 0.001).sin() * 50.0 + 20.0,
            })
            .collect();
        for dtype in [DType::F32, DType::F64] {
            write(&values, shape, dtype);
            for fill in [None, Some(-999.0)] {
                let mut rows = baler_train::io::open_rows(spec, &ReadOptions::default())
                    .unwrap()
                    .expect("read a slab at a time");
                let all = rows.reader.read_rows(0, shape[0]).unwrap();
                let want = baler_codec::preprocess::finite_range(all.stream_values()[0], fill, dtype);
                let got = rows.reader.field_range(fill).expect("a float field is scanned").unwrap();
                assert_eq!(bits(got), bits(want), "{spec} {shape:?} {dtype:?} fill {fill:?}");
                // The fill value is left out only where it is given; NaN and infinities always.
                let (lo, hi) = want.expect("values counted");
                assert_eq!(lo == -999.0, fill.is_none(), "{want:?}");
                assert!(hi <= 70.0, "{want:?}");
            }
        }
    }
}

/// A NetCDF float variable's range for streamed compression is scanned from slabs in its own
/// type, as HDF5's (see [`scanned_ranges_equal_the_rows`]); an integer variable is not scanned
/// (its rows are read).
#[test]
fn netcdf_field_ranges_scanned_from_slabs_equal_the_rows() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let nc = dir.path().join("r.nc");
    scanned_ranges_equal_the_rows(&spec(&nc, "v"), |values, shape, dtype| {
        let mut f = netcdf::create(&nc).unwrap();
        for (name, len) in ["t", "y", "x"].iter().zip(shape) {
            f.add_dimension(name, len).unwrap();
        }
        match dtype {
            DType::F32 => {
                let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
                f.add_variable::<f32>("v", &["t", "y", "x"]).unwrap().put_values(&v, ..).unwrap();
            }
            _ => f.add_variable::<f64>("v", &["t", "y", "x"]).unwrap().put_values(values, ..).unwrap(),
        }
        f.close().unwrap();
    });
    let mut f = netcdf::create(&nc).unwrap();
    f.add_dimension("x", 4).unwrap();
    f.add_variable::<i32>("n", &["x"]).unwrap().put_values(&[1, 2, 3, 4], ..).unwrap();
    f.close().unwrap();
    let mut rows = baler_train::io::open_rows(&spec(&nc, "n"), &ReadOptions::default()).unwrap().unwrap();
    assert!(rows.reader.field_range(None).is_none());
}

/// A float dataset's range for streamed compression is scanned from slabs in its own type (see
/// [`scanned_ranges_equal_the_rows`]).
#[test]
fn hdf5_field_ranges_scanned_from_slabs_equal_the_rows() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("r.h5");
    scanned_ranges_equal_the_rows(&spec(&h5, "/v"), |values, shape, dtype| {
        let f = hdf5::File::create(&h5).unwrap();
        match dtype {
            DType::F32 => {
                let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
                f.new_dataset::<f32>().shape(shape).create("v").unwrap().write_raw(&v).unwrap();
            }
            _ => f.new_dataset::<f64>().shape(shape).create("v").unwrap().write_raw(values).unwrap(),
        }
    });
}
