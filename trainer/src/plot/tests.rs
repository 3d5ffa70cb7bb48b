//! The figures: sizes, names, golden counts and colours.

use super::data::*;
use super::draw::*;
use super::font::*;
use super::*;
use baler_codec::{Array, Column, DType, Values};

/// (width, height) from a PNG's signature and IHDR chunk; panics if the bytes are no PNG.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 24, "{}: too short for a PNG", path.display());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}: no PNG signature", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}: first chunk is not IHDR", path.display());
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

fn names(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

fn field(shape: &[usize], values: Vec<f64>) -> Dataset {
    Dataset::Field(Array { dtype: DType::F64, shape: shape.to_vec(), values: Values::Float(values) })
}

#[test]
fn font_lookup_reports_what_to_install() {
    let missing = [PathBuf::from("/nonexistent/a.ttf"), PathBuf::from("/nonexistent/b.ttf")];
    let err = register_first_font(&missing).unwrap_err();
    assert!(err.starts_with("no TTF font found: install fonts-dejavu-core or set BALER_FONT"), "{err}");
    assert!(err.contains("/nonexistent/b.ttf"), "{err}");
    // A file that is not a font is refused by name.
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.ttf");
    std::fs::write(&bogus, b"not a font").unwrap();
    let err = register_first_font(&[missing[0].clone(), bogus.clone()]).unwrap_err();
    assert!(err.contains("bogus.ttf: not a TrueType"), "{err}");
    // $BALER_FONT comes first among the candidates.
    assert_eq!(font_candidates().last().unwrap(), Path::new(FONT_PATHS[2]));
}

#[test]
fn helpers_choose_frames_names_and_ticks() {
    assert_eq!(choose_frames(&[], 4).unwrap(), vec![0, 2, 3]);
    assert_eq!(choose_frames(&[], 1).unwrap(), vec![0]);
    assert_eq!(choose_frames(&[3, 1, 3], 4).unwrap(), vec![1, 3]);
    assert!(choose_frames(&[4], 4).is_err());
    assert_eq!(frame_layout(&[2, 3, 4, 5]), Some((6, 4, 5)));
    assert_eq!(frame_layout(&[7]), None);
    assert_eq!(
        file_names(["pt", "eta/phi", "", "eta_phi"].into_iter()),
        vec!["column_pt", "column_eta_phi", "column__2", "column_eta_phi_3"]
    );
    assert_eq!(fmt_tick(0.30000000000000004, 1), "0.3");
    assert_eq!(fmt_tick(-2.5e-5, 3), "-2.5e-5");
    assert_eq!(fmt_tick(120000.0, 0), "1.2e5");
    assert_eq!(tick_formatter(-1.0, 1.0)(&-0.4), "-0.4");
    assert_eq!(tick_formatter(-5e-4, 5e-4)(&-1.08e-19), "0");
    // One style per axis: ±9.99e-4 is all scientific, even the tick at 1e-3.
    let f = tick_formatter(-9.99e-4, 9.99e-4);
    assert_eq!([f(&-1e-3), f(&5e-4), f(&0.0)], ["-1e-3", "5e-4", "0"]);
    assert_eq!(tick_formatter(0.0, 2000.0)(&1500.0), "1500");
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x / y - 1.0).abs() < 1e-12)
    };
    assert!(close(&log_ticks(5e-4, 0.2), &[1e-3, 1e-2, 1e-1]));
    assert!(close(&log_ticks(0.004, 0.06), &[0.005, 0.01, 0.02, 0.05]));
    let t = log_ticks(0.0061, 0.029);
    assert!(close(&t, &[0.007, 0.008, 0.009, 0.01, 0.02]), "{t:?}");
    assert_eq!(
        segments([(0, 1.0), (1, f64::NAN), (2, 2.0), (3, -1.0), (4, 3.0)], true),
        vec![vec![(0, 1.0)], vec![(2, 2.0)], vec![(4, 3.0)]]
    );
    assert_eq!(envelope(&[1.0, 5.0, 2.0, 0.0, 3.0, 4.0], 1).len(), 2);
}

#[test]
fn field_writes_frames_and_error_histogram() {
    let (f, h, w) = (4, 20, 30);
    let mut orig: Vec<f64> = (0..f * h * w).map(|i| ((i % 97) as f64 * 0.37).sin() * 10.0).collect();
    orig[5 * w + 7] = f64::NAN;
    let recon: Vec<f64> =
        orig.iter().enumerate().map(|(i, v)| v + 0.01 * ((i % 7) as f64 - 3.0) / 3.0).collect();
    let dir = tempfile::tempdir().unwrap();
    let opts = PlotOptions { frames: vec![], svg: true };
    let out = plot_comparison(
        &field(&[f, h, w], orig),
        &field(&[f, h, w], recon),
        Some(&[0.01]),
        dir.path(),
        &opts,
    )
    .unwrap();
    let mut got = names(&out);
    got.sort();
    assert_eq!(
        got,
        [
            "error_histogram.png",
            "error_histogram.svg",
            "frame_0.png",
            "frame_0.svg",
            "frame_2.png",
            "frame_2.svg",
            "frame_3.png",
            "frame_3.svg"
        ]
    );
    for p in &out {
        assert!(p.starts_with(dir.path()) && p.is_file(), "{}", p.display());
        match p.extension().unwrap().to_str().unwrap() {
            "png" if p.ends_with("error_histogram.png") => assert_eq!(png_size(p), SINGLE_SIZE),
            "png" => assert_eq!(png_size(p), PANELS_SIZE),
            _ => {
                let text = std::fs::read_to_string(p).unwrap();
                assert!(text.contains("<svg"), "{}", p.display());
            }
        }
    }
    // Wrong bound count and out-of-range frames are errors.
    let ds = field(&[f, h, w], vec![0.0; f * h * w]);
    assert!(plot_comparison(&ds, &ds, Some(&[1.0, 2.0]), dir.path(), &PlotOptions::default()).is_err());
    let opts = PlotOptions { frames: vec![4], svg: false };
    assert!(plot_comparison(&ds, &ds, None, dir.path(), &opts).is_err());
    assert!(
        plot_comparison(
            &ds,
            &field(&[f, h, w - 1], vec![0.0; f * h * (w - 1)]),
            None,
            dir.path(),
            &PlotOptions::default()
        )
        .is_err()
    );
}

#[test]
fn one_d_field_writes_series() {
    let orig: Vec<f64> = (0..500).map(|i| (i as f64 * 0.05).sin()).collect();
    let recon: Vec<f64> = orig.iter().map(|v| v + 0.001).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = plot_comparison(
        &field(&[500], orig),
        &field(&[500], recon),
        None,
        dir.path(),
        &PlotOptions::default(),
    )
    .unwrap();
    assert_eq!(names(&out), ["series.png", "error_histogram.png"]);
    assert_eq!(png_size(&out[0]), PANELS_SIZE);
}

#[test]
fn table_writes_one_png_per_column() {
    let rows = 300;
    let col = |name: &str, v: Vec<f64>| Column {
        name: name.to_string(),
        dtype: DType::F64,
        values: Values::Float(v),
    };
    let a: Vec<f64> = (0..rows).map(|i| (i as f64 * 0.1).exp().ln() + 1.0).collect();
    let b: Vec<f64> = (0..rows).map(|i| (i % 13) as f64 - 6.0).collect();
    let orig = Dataset::Table { rows, columns: vec![col("pt", a.clone()), col("eta/phi", b.clone())] };
    let recon = Dataset::Table {
        rows,
        columns: vec![
            col("pt", a.iter().map(|x| x * 1.001).collect()),
            col("eta/phi", b.iter().map(|x| x + 0.05).collect()),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let out = plot_comparison(&orig, &recon, Some(&[0.5, 0.1]), dir.path(), &PlotOptions::default()).unwrap();
    assert_eq!(names(&out), ["column_pt.png", "column_eta_phi.png"]);
    for p in &out {
        assert_eq!(png_size(p), PANELS_SIZE);
    }
    // A reconstruction saved as a plain 2-d array still plots by column.
    let flat: Vec<f64> = (0..rows).flat_map(|r| [a[r], b[r]]).collect();
    let out = plot_comparison(
        &orig,
        &field(&[rows, 2], flat),
        None,
        &dir.path().join("mixed"),
        &PlotOptions::default(),
    )
    .unwrap();
    assert_eq!(names(&out), ["column_pt.png", "column_eta_phi.png"]);
    assert!(
        plot_comparison(
            &orig,
            &field(&[rows, 3], vec![0.0; rows * 3]),
            None,
            dir.path(),
            &PlotOptions::default()
        )
        .is_err()
    );
}

#[test]
fn loss_plot_has_expected_size() {
    let history: Vec<EpochStats> = (1..=30)
        .map(|e| EpochStats {
            epoch: e,
            train_loss: 0.5 / e as f64,
            val_loss: (e != 7).then(|| 0.6 / e as f64),
            learning_rate: 1e-3,
            seconds: 0.1,
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = plot_loss(&history, &dir.path().join("sub").join("loss"), true).unwrap();
    assert_eq!(names(&out), ["loss.png", "loss.svg"]);
    assert_eq!(png_size(&out[0]), SINGLE_SIZE);
    // One epoch still draws; no epochs is an error.
    let out = plot_loss(&history[..1], &dir.path().join("one.png"), false).unwrap();
    assert_eq!(names(&out), ["one.png"]);
    assert!(plot_loss(&[], &dir.path().join("none"), false).is_err());
}
