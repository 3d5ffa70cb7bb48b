//! Training: losses, schedules, repeatability, and the export's agreement with burn.

use super::*;
use crate::model::infer::forward_f32;
use crate::model::{ConvArch, dense_layers};

/// `n` smooth 64-dim patterns `0.5 + 0.4 sin(f x + p)` with random frequency and phase.
fn sines(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed, 99);
    let mut v = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let f = 1.0 + 3.0 * rng.next_f64();
        let p = std::f64::consts::TAU * rng.next_f64();
        for j in 0..dim {
            let x = j as f64 / dim as f64 * std::f64::consts::TAU;
            v.push((0.5 + 0.4 * (f * x + p).sin()) as f32);
        }
    }
    v
}

fn small_cfg() -> TrainConfig {
    TrainConfig {
        hidden: vec![32, 16],
        latent: 4,
        epochs: 60,
        batch_size: 32,
        learning_rate: 3e-3,
        validation_fraction: 0.0,
        early_stopping_patience: 0,
        lr_patience: 0,
        seed: 7,
        ..TrainConfig::default()
    }
}

fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len() as f64
}

#[test]
fn loss_decreases_and_export_matches() {
    let (n, dim) = (256, 64);
    let data = sines(n, dim, 1);
    let cfg = small_cfg();
    let mut seen = 0;
    let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| seen += 1).unwrap();
    assert_eq!(seen, ae.history.len());
    assert_eq!(ae.stop_reason, "epochs");
    assert_eq!(ae.history.len(), 60);
    let first = ae.history[0].train_loss;
    let last = ae.history.last().unwrap().train_loss;
    assert!(last < 0.3 * first, "first {first}, last {last}");
    assert_eq!(ae.latent(), 4);
    assert_eq!(ae.dim(), dim);
    let (enc, enc_norms) = dense_layers(&ae.encoder);
    let (dec, dec_norms) = dense_layers(&ae.decoder);
    let z = forward_f32(&enc, &enc_norms, ae.leaky_slope, &data, n);
    assert_eq!(z.len(), n * 4);
    let rec = forward_f32(&dec, &dec_norms, ae.leaky_slope, &z, n);
    let m = mse(&rec, &data);
    let best = ae.history[ae.best_epoch - 1].train_loss;
    assert!(m < 2.0 * best && m > best / 2.0, "reconstruction mse {m} vs best-epoch loss {best}");
}

#[test]
fn validation_and_schedule() {
    let (n, dim) = (200, 64);
    let data = sines(n, dim, 2);
    let cfg = TrainConfig {
        epochs: 12,
        validation_fraction: 0.2,
        lr_patience: 1,
        lr_factor: 0.5,
        learning_rate: 0.5, // too large: plateaus quickly
        min_learning_rate: 0.1,
        ..small_cfg()
    };
    let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
    assert!(ae.history.iter().all(|s| s.val_loss.is_some()));
    let best = ae.history.iter().map(|s| s.val_loss.unwrap()).fold(f64::INFINITY, f64::min);
    assert_eq!(ae.history[ae.best_epoch - 1].val_loss.unwrap(), best);
    let lrs: Vec<f64> = ae.history.iter().map(|s| s.learning_rate).collect();
    assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "{lrs:?}");
    assert!(lrs.iter().all(|&l| l >= 0.1), "{lrs:?}");
    assert!(lrs.iter().any(|&l| l < 0.5), "{lrs:?}");
}

#[test]
fn repeatable_with_seed() {
    let (n, dim) = (96, 32);
    let data = sines(n, dim, 3);
    let cfg = TrainConfig { epochs: 5, batch_size: 16, validation_fraction: 0.25, ..small_cfg() };
    let a = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
    let b = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
    assert_eq!(a.encoder, b.encoder);
    assert_eq!(a.decoder, b.decoder);
    assert_eq!(a.history[4].train_loss, b.history[4].train_loss);
    let c = train_autoencoder(&data, n, dim, &TrainConfig { seed: 8, ..cfg }, &mut |_| {}).unwrap();
    assert_ne!(a.encoder, c.encoder);
    assert_ne!(a.decoder, c.decoder);
}

#[test]
fn early_stopping_on_constant_data() {
    let (n, dim) = (64, 16);
    let data = vec![0.5f32; n * dim];
    let cfg = TrainConfig { epochs: 200, learning_rate: 1e-9, early_stopping_patience: 2, ..small_cfg() };
    let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
    assert!(ae.history.len() < 200, "ran {} epochs", ae.history.len());
    let e = ae.history.len();
    assert_eq!(ae.stop_reason, format!("early stopping at epoch {e}"));
    assert!(ae.best_epoch <= e - 2);
}

#[test]
fn l1_penalty_shrinks_latent() {
    let (n, dim) = (128, 32);
    let data = sines(n, dim, 4);
    let mean_abs_latent = |l1: f64| {
        let cfg = TrainConfig { epochs: 30, l1_weight: l1, ..small_cfg() };
        let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
        let (enc, norms) = dense_layers(&ae.encoder);
        let z = forward_f32(&enc, &norms, ae.leaky_slope, &data, n);
        z.iter().map(|v| v.abs() as f64).sum::<f64>() / z.len() as f64
    };
    let plain = mean_abs_latent(0.0);
    let sparse = mean_abs_latent(1.0);
    assert!(sparse < 0.5 * plain, "l1 {sparse} vs plain {plain}");
}

#[test]
fn time_limit_stops() {
    let (n, dim) = (64, 16);
    let data = sines(n, dim, 5);
    let cfg = TrainConfig { epochs: 1_000_000, batch_size: 1, max_seconds: Some(0.2), ..small_cfg() };
    let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
    assert_eq!(ae.stop_reason, "time limit");
    assert!(ae.best_epoch >= 1 && ae.best_epoch <= ae.history.len());
}

#[test]
fn bad_input_is_an_error() {
    let cfg = small_cfg();
    let mut data = sines(8, 4, 6);
    assert!(train_autoencoder(&data, 8, 5, &cfg, &mut |_| {}).is_err());
    assert!(train_autoencoder(&data[..31], 8, 4, &cfg, &mut |_| {}).is_err());
    assert!(train_autoencoder(&[], 0, 4, &cfg, &mut |_| {}).is_err());
    assert!(train_autoencoder(&[], 1, 0, &cfg, &mut |_| {}).is_err());
    let bad = TrainConfig { batch_size: 0, ..cfg.clone() };
    assert!(train_autoencoder(&data, 8, 4, &bad, &mut |_| {}).is_err());
    data[5] = f32::NAN;
    let err = train_autoencoder(&data, 8, 4, &cfg, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("non-finite"), "{err}");
    data[5] = f32::INFINITY;
    assert!(train_autoencoder(&data, 8, 4, &cfg, &mut |_| {}).is_err());
}

fn conv_cfg(three_d: bool, tile: [usize; 3], gdn: bool) -> TrainConfig {
    TrainConfig {
        conv: Some(ConvArch { three_d, channels: vec![4, 6], kernel: 4, stride: 2 }),
        tile: Some(tile),
        gdn,
        ..small_cfg()
    }
}

/// Smooth 2-D / 3-D patterns over a tile.
fn waves(n: usize, tile: [usize; 3], seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed, 98);
    let mut v = Vec::new();
    for _ in 0..n {
        let (f, g, p) = (0.3 + rng.next_f64(), 0.2 + rng.next_f64(), rng.next_f64() * 6.0);
        for a in 0..tile[0] {
            for b in 0..tile[1] {
                for c in 0..tile[2] {
                    v.push((0.5 + 0.3 * (f * b as f64 + g * c as f64 + 0.4 * a as f64 + p).sin()) as f32);
                }
            }
        }
    }
    v
}

/// The exported layers (kernels expanded by the codec) compute what burn computed: the layouts
/// of convolutions, transposed convolutions and GDN agree between the trainer and the codec.
#[test]
fn exported_conv_networks_match_burn() {
    for (three_d, tile, gdn) in [
        (false, [1, 8, 8], false),
        (false, [1, 8, 12], true),
        (true, [4, 8, 4], false),
        (true, [4, 4, 8], true),
    ] {
        let dim: usize = tile.iter().product();
        let cfg = conv_cfg(three_d, tile, gdn);
        let arch = architecture(dim, &cfg).unwrap();
        let device = Device::flex();
        let net = AutoencoderConfig::new(arch, cfg.leaky_slope, 3).init(&device);
        let n = 5;
        let x = waves(n, tile, 9);
        let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, dim]), &device);
        let f = net.forward(t, false);
        let burn_out = tensor_to_vec(f.output).unwrap();
        let burn_lat = tensor_to_vec(f.latent).unwrap();
        let (enc, dec) = net.export().unwrap();
        assert_eq!(enc.iter().filter(|l| l.norm.is_some()).count(), if gdn { 2 } else { 0 });
        let (enc, en) = dense_layers(&enc);
        let (dec, dn) = dense_layers(&dec);
        let lat = forward_f32(&enc, &en, cfg.leaky_slope, &x, n);
        let out = forward_f32(&dec, &dn, cfg.leaky_slope, &lat, n);
        let close =
            |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()));
        assert!(close(&lat, &burn_lat), "{three_d} {tile:?} {gdn}: latents differ");
        assert!(close(&out, &burn_out), "{three_d} {tile:?} {gdn}: outputs differ");
    }
}

#[test]
fn conv_models_train_with_gdn_and_swae() {
    let tile = [1, 8, 8];
    let (n, dim) = (192, 64);
    let data = waves(n, tile, 5);
    for (gdn, swae) in [(true, 0.0), (false, 0.05)] {
        let cfg = TrainConfig { epochs: 40, latent: 4, swae_weight: swae, ..conv_cfg(false, tile, gdn) };
        let ae = train_autoencoder(&data, n, dim, &cfg, &mut |_| {}).unwrap();
        let (first, last) = (ae.history[0].train_loss, ae.history.last().unwrap().train_loss);
        assert!(last.is_finite() && last < 0.5 * first, "gdn {gdn} swae {swae}: {first} -> {last}");
        assert_eq!(ae.latent(), 4);
        assert!(
            ae.decoder.iter().any(|l| matches!(l.op, baler_codec::network::conv::LinearOp::ConvTranspose(_)))
        );
    }
    // A tile the strides cannot halve twice is refused with the reason.
    let cfg = conv_cfg(false, [1, 6, 6], false);
    let err = train_autoencoder(&waves(8, [1, 6, 6], 1), 8, 36, &cfg, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("divisible by 4"), "{err}");
}
