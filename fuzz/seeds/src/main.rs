//! Small archives of the current format version for the fuzz corpus: a field with NaN and Inf, a
//! 3-d float32 field, one with fill values, a table of int and float columns (several chunks each),
//! and the golden pattern model's decoder embedded and forced on (zero latents: every tile uses
//! the network, residuals carry the rest); that model also as a `.bmodel` in ../model/.

use baler_codec::encode::{AeModel, CompressOptions, compress};
use baler_codec::{Archive, Array, BoundSpec, Column, DType, Dataset, Values};

fn field(dtype: DType, shape: &[usize], f: impl Fn(usize) -> f64) -> Dataset {
    let n = shape.iter().product();
    Dataset::Field(Array { dtype, shape: shape.to_vec(), values: Values::Float((0..n).map(f).collect()) })
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: baler-fuzz-seeds DIR"));
    let version = baler_codec::format::container::FORMAT_VERSION;
    let opts = |bound, chunk_elements| CompressOptions { bound, chunk_elements, ..Default::default() };
    let write = |name: &str, ds: &Dataset, o: &CompressOptions, m: Option<&AeModel<'_>>| {
        let c = compress(ds, o, m).expect("compresses");
        Archive::open(&c.bytes, None).unwrap().decode().expect("decodes");
        let path = dir.join(format!("v{version}_{name}.baler"));
        std::fs::write(&path, &c.bytes).unwrap();
        println!("{} ({} bytes)", path.display(), c.bytes.len());
    };

    let nan = field(DType::F64, &[32, 24], |i| match i {
        5 => f64::NAN,
        77 => f64::INFINITY,
        300 => f64::NEG_INFINITY,
        _ => ((i as f64) * 0.13).sin() * 100.0,
    });
    write("field_f64_nan_rel1e-3", &nan, &opts(BoundSpec::Rel(1e-3), 256), None);
    let cube = field(DType::F32, &[6, 8, 8], |i| ((i % 64) as f64 * 0.2).cos() + (i / 64) as f64);
    write("field_f32_3d_abs1e-2", &cube, &opts(BoundSpec::Abs(1e-2), 128), None);
    let fill = field(DType::F32, &[16, 16], |i| if i % 7 == 0 { -1e34 } else { (i as f64).sqrt() });
    write(
        "field_fill_rel1e-2",
        &fill,
        &CompressOptions { fill_value: Some(-1e34), ..opts(BoundSpec::Rel(1e-2), 64) },
        None,
    );
    let rows = 120;
    let table = Dataset::Table {
        rows,
        columns: vec![
            Column {
                name: "id".into(),
                dtype: DType::I32,
                values: Values::Int((0..rows as i64).map(|r| r * 3 - 50).collect()),
            },
            Column {
                name: "flag".into(),
                dtype: DType::U8,
                values: Values::Int((0..rows as i64).map(|r| r % 2).collect()),
            },
            Column {
                name: "pt".into(),
                dtype: DType::F64,
                values: Values::Float((0..rows).map(|r| 20.0 + (r as f64 * 0.7).sin() * 5.0).collect()),
            },
            Column {
                name: "eta".into(),
                dtype: DType::F32,
                values: Values::Float((0..rows).map(|r| ((r as f64) * 0.3).cos()).collect()),
            },
        ],
    };
    write("table_rel1e-2", &table, &opts(BoundSpec::Rel(1e-2), 160), None);
    // Learned column models (predictor 18): pT = hypot(px, py) and φ = atan2(py, px) from px, py.
    let rows = 200;
    let px: Vec<f64> = (0..rows).map(|r| ((r * 37 % 101) as f64 - 50.0) * 1.7).collect();
    let py: Vec<f64> = (0..rows).map(|r| ((r * 53 % 97) as f64 - 48.0) * 2.3).collect();
    let float = |name: &str, values: Vec<f64>| Column { name: name.into(), dtype: DType::F32, values: Values::Float(values) };
    let kinematics = Dataset::Table {
        rows,
        columns: vec![
            float("pt", px.iter().zip(&py).map(|(x, y)| x.hypot(*y)).collect()),
            float("px", px.clone()),
            float("py", py.clone()),
            float("phi", px.iter().zip(&py).map(|(x, y)| y.atan2(*x)).collect()),
        ],
    };
    write("table_columns_rel1e-3", &kinematics, &opts(BoundSpec::Rel(1e-3), 800), None);
    // A learned last pass (predictor 19): short waves travelling across frames.
    let waves = field(DType::F32, &[8, 40, 48], |e| {
        let (i, j, k) = ((e / 1920) as f64, ((e / 48) % 40) as f64, (e % 48) as f64);
        (0.9 * k + 0.4 * j - 0.3 * i).sin() + 0.5 * (1.3 * j - 0.7 * k + 0.2 * i).cos()
    });
    write("field_learned_pass_rel1e-4", &waves, &opts(BoundSpec::Rel(1e-4), 1 << 16), None);

    // A period along axis 0 (predictor 20): a pattern that comes round every 5 frames.
    let cycle = field(DType::F32, &[16, 24, 20], |e| {
        let (i, j, k) = ((e / 480) as f64, ((e / 20) % 24) as f64, (e % 20) as f64);
        let phase = (i % 5.0) * std::f64::consts::TAU / 5.0;
        (0.5 * j + phase).sin() * (0.4 * k - phase).cos() + 0.01 * i
    });
    write("field_periodic_rel1e-3", &cycle, &opts(BoundSpec::Rel(1e-3), 1 << 16), None);

    // The golden pattern model, embedded and forced on.
    let golden = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/golden/pattern_autoencoder_rel1e-3.baler"
    ))
    .unwrap();
    let g = Archive::open(&golden, None).unwrap();
    let payload = baler_codec::format::container::read_sections(&golden)
        .unwrap()
        .iter()
        .find(|s| s.kind == baler_codec::format::container::SectionKind::Model)
        .unwrap()
        .payload
        .to_vec();
    // ... and as a model file of the current version, next to the archive seeds' model folder.
    let model_file =
        baler_codec::format::model_file::write_model_file(&payload, b"training data: opaque to the codec");
    let model_path = dir.join(format!("../model/v{version}_pattern.bmodel"));
    std::fs::write(&model_path, model_file).unwrap();
    println!("{}", model_path.display());
    let decoder = baler_codec::parse_model(&payload).unwrap();
    let z = decoder.latent_dim();
    let encode = move |_: &[f32], n: usize| vec![0.0f32; n * z];
    let tile = g.meta.tile.map(|t| t as usize);
    let ae = AeModel { decoder, payload, tile, norm: g.meta.ae_norm.clone(), embed: true, encode: &encode };
    let shape: Vec<usize> = g.meta.shape.iter().map(|&d| d as usize).collect();
    let ds = field(DType::F32, &shape, |i| ((i % 61) as f64 * 0.1).sin());
    write(
        "autoencoder_forced_rel1e-2",
        &ds,
        &CompressOptions { force_model: true, ..opts(BoundSpec::Rel(1e-2), 1 << 12) },
        Some(&ae),
    );
}
