//! The autoencoder path end to end on data it can model: tiles drawn from a 2-parameter family of
//! high-frequency patterns, where Lorenzo is poor and a 2-latent linear decoder is nearly exact.
#![cfg(feature = "encode")]

use baler_codec::encode::{AeModel, CompressOptions, compress};
use baler_codec::network::{FloatLayer, quantize_decoder};
use baler_codec::{Array, BoundSpec, DType, Dataset, ModelUse, Values, decode};

pub const TILE: usize = 8;

fn patterns() -> [Vec<f32>; 2] {
    let p = |f: &dyn Fn(usize, usize) -> f32| -> Vec<f32> {
        (0..TILE * TILE).map(|i| f(i / TILE, i % TILE)).collect()
    };
    [
        p(&|r, c| if (r + c) % 2 == 0 { 0.3 } else { -0.3 }),
        p(&|r, c| ((r as f32 * 1.7).sin() * (c as f32 * 2.3).cos()) * 0.3),
    ]
}

/// frames × 32 × 32, each 8×8 tile = 0.5 + a·P1 + b·P2 with (a, b) varying per tile.
pub fn pattern_field(frames: usize) -> (Dataset, Vec<[f32; 2]>) {
    let [p1, p2] = patterns();
    let n = 32;
    let mut v = vec![0.0f64; frames * n * n];
    let mut coeffs = Vec::new();
    for f in 0..frames {
        for ti in 0..n / TILE {
            for tj in 0..n / TILE {
                let k = (f * 16 + ti * 4 + tj) as u64;
                let h = k.wrapping_mul(0x9e3779b97f4a7c15).rotate_left(29).wrapping_mul(0xbf58476d1ce4e5b9);
                let (a, b) = (
                    (h >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0,
                    ((h >> 16) & 0xff_ffff) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0,
                );
                coeffs.push([a, b]);
                for r in 0..TILE {
                    for c in 0..TILE {
                        let o = r * TILE + c;
                        v[(f * n + ti * TILE + r) * n + tj * TILE + c] = 0.5 + (a * p1[o] + b * p2[o]) as f64;
                    }
                }
            }
        }
    }
    (Dataset::Field(Array { dtype: DType::F64, shape: vec![frames, n, n], values: Values::Float(v) }), coeffs)
}

/// The exact linear decoder (weights = the patterns, bias 0.5) exported to integers, and an
/// encoder that projects a tile onto the patterns (least squares).
pub fn pattern_model() -> (Vec<u8>, impl Fn(&[f32], usize) -> Vec<f32> + Sync) {
    let [p1, p2] = patterns();
    let mut w = vec![0f32; TILE * TILE * 2];
    for o in 0..TILE * TILE {
        w[o * 2] = p1[o];
        w[o * 2 + 1] = p2[o];
    }
    let b = vec![0.5f32; TILE * TILE];
    let layer = FloatLayer::dense(2, TILE * TILE, &w, &b);
    let calib: Vec<f32> = (0..200).flat_map(|k| [(k as f32 * 0.37).sin(), (k as f32 * 0.61).cos()]).collect();
    let dec = quantize_decoder(&[layer], 0.01, &calib).unwrap();
    let payload = section_bytes(&dec);
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
    let (g11, g12, g22) = (dot(&p1, &p1), dot(&p1, &p2), dot(&p2, &p2));
    let det = g11 * g22 - g12 * g12;
    let encode = move |input: &[f32], n: usize| {
        let mut out = Vec::with_capacity(n * 2);
        for t in 0..n {
            let x: Vec<f32> = input[t * 64..(t + 1) * 64].iter().map(|v| v - 0.5).collect();
            let (r1, r2) = (dot(&x, &p1), dot(&x, &p2));
            out.push((g22 * r1 - g12 * r2) / det);
            out.push((g11 * r2 - g12 * r1) / det);
        }
        out
    };
    (payload, encode)
}

/// The pattern model as the compressor takes it (offline mode).
fn pattern_ae<'m>(payload: Vec<u8>, encode: &'m (dyn Fn(&[f32], usize) -> Vec<f32> + Sync)) -> AeModel<'m> {
    let decoder = baler_codec::parse_model(&payload).unwrap();
    AeModel { decoder, payload, tile: [1, TILE, TILE], norm: vec![[0.0, 1.0]], embed: true, encode }
}

fn section_bytes(dec: &baler_codec::network::StoredDecoder) -> Vec<u8> {
    // A dense decoder's model section is format 1 (the postcard encoding of the decoder);
    // parse_model must accept it.
    let bytes = dec.to_bytes();
    assert!(bytes[0] <= 24, "format 1 starts with the latent scale");
    baler_codec::parse_model(&bytes).unwrap();
    bytes
}

#[test]
fn autoencoder_tiles_win_and_decode_within_the_bound() {
    let (ds, _) = pattern_field(6);
    let (payload, encode) = pattern_model();
    let ae = pattern_ae(payload.clone(), &encode);
    for rel in [1e-2, 1e-3] {
        let opts = CompressOptions { bound: BoundSpec::Rel(rel), ..Default::default() };
        let with = compress(&ds, &opts, Some(&ae)).unwrap();
        let without = compress(&ds, &opts, None).unwrap();
        assert!(
            matches!(with.metadata.model, ModelUse::Embedded { .. }),
            "the model pays here: {:?}",
            with.metadata.notes
        );
        assert!(with.ae_tiles * 4 > with.total_tiles, "{} of {} tiles", with.ae_tiles, with.total_tiles);
        eprintln!(
            "rel {rel}: {} of {} tiles, {} vs {} bytes",
            with.ae_tiles,
            with.total_tiles,
            with.bytes.len(),
            without.bytes.len()
        );
        assert!(with.bytes.len() < without.bytes.len());
        let back = decode(&with.bytes, None).unwrap();
        let (Dataset::Field(a), Dataset::Field(b)) = (&ds, &back) else { unreachable!() };
        let (Values::Float(x), Values::Float(y)) = (&a.values, &b.values) else { unreachable!() };
        let (lo, hi) = x.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        for (p, q) in x.iter().zip(y) {
            assert!((p - q).abs() <= rel * (hi - lo));
        }
        // Online mode: same bytes minus the model, which must then be supplied.
        let online = compress(&ds, &opts, Some(&AeModel { embed: false, ..ae_clone(&ae) })).unwrap();
        assert!(decode(&online.bytes, None).is_err());
        assert_eq!(decode(&online.bytes, Some(&payload)).unwrap(), back);
    }
}

fn ae_clone<'m>(m: &AeModel<'m>) -> AeModel<'m> {
    AeModel {
        decoder: m.decoder.clone(),
        payload: m.payload.clone(),
        tile: m.tile,
        norm: m.norm.clone(),
        embed: m.embed,
        encode: m.encode,
    }
}

#[test]
fn any_damage_to_an_autoencoder_archive_is_caught() {
    let (ds, _) = pattern_field(1);
    let (payload, encode) = pattern_model();
    let ae = pattern_ae(payload, &encode);
    let opts = CompressOptions { bound: BoundSpec::Rel(1e-3), force_model: true, ..Default::default() };
    let c = compress(&ds, &opts, Some(&ae)).unwrap();
    assert!(c.ae_tiles > 0);
    for i in 0..c.bytes.len() {
        let mut b = c.bytes.clone();
        b[i] ^= 0x04;
        assert!(decode(&b, None).is_err(), "flip at {i} decoded");
    }
}

/// Regenerates tests/golden/pattern_autoencoder_rel1e-3.baler (run with BALER_WRITE_GOLDEN=1);
/// otherwise checks that today's compressor still produces an archive today's decoder reads.
#[test]
fn golden_autoencoder_archive() {
    let (ds, _) = pattern_field(2);
    let (payload, encode) = pattern_model();
    let ae = pattern_ae(payload, &encode);
    let opts = CompressOptions {
        bound: BoundSpec::Rel(1e-3),
        force_model: true,
        notes: vec!["golden: pattern field".into()],
        ..Default::default()
    };
    let c = compress(&ds, &opts, Some(&ae)).unwrap();
    assert!(c.ae_tiles > 0);
    if std::env::var_os("BALER_WRITE_GOLDEN").is_some() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden");
        std::fs::write(format!("{dir}/pattern_autoencoder_rel1e-3.baler"), &c.bytes).unwrap();
    }
    decode(&c.bytes, None).unwrap();
}
