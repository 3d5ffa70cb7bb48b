//! `--device gpu` on whatever adapter wgpu finds (Mesa's lavapipe in CI: a software Vulkan
//! driver): GPU decodes equal CPU decodes byte for byte, a short GPU training run learns, and
//! without an adapter `gpu` fails clearly while `auto` falls back. Built only with `--features gpu`.
#![cfg(feature = "gpu")]

mod common;

use std::process::Command;

use common::*;

/// One archive per kind the decoder network meets: a field with a few network tiles, a table,
/// and the golden pattern archive with many.
#[test]
fn gpu_decode_equals_cpu_decode_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = quick_config(dir.path());
    let cfd = dir.path().join("cfd.baler");
    let hzz = dir.path().join("hzz.baler");
    let base = ["--rel", "1e-3", "--force-model", "--quiet", "--config", s(&cfg)];
    ok(&[&["compress", &data("CFD_animation.npz"), "-o", s(&cfd)][..], &base].concat());
    ok(&[&["compress", &data("hzz_baler.npz"), "-o", s(&hzz)][..], &base].concat());
    // Many small chunks: their network tiles go to the one GPU decoder from several threads.
    let chunked_cfg = dir.path().join("chunked.toml");
    std::fs::write(
        &chunked_cfg,
        "[training]\nepochs = 15\nmax_seconds = 10.0\n[compression]\nchunk_elements = 1500\n",
    )
    .unwrap();
    let hzz_chunked = dir.path().join("hzz_chunked.baler");
    let args = ["compress", &data("hzz_baler.npz"), "-o", s(&hzz_chunked), "--rel", "1e-3", "--force-model"];
    ok(&[&args[..], &["--quiet", "--config", s(&chunked_cfg)]].concat());
    assert!(info_json(&hzz_chunked, &[])["chunks"].as_u64().unwrap() > 4);
    let goldens = ["pattern_autoencoder_rel1e-3", "conv2d_gdn_v2_rel1e-3", "conv3d_gdn_v2_rel1e-3"]
        .map(|g| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/golden/{g}.baler")));
    for arc in [&[cfd, hzz, hzz_chunked][..], &goldens[..]].concat() {
        let info = info_json(&arc, &[]);
        assert!(info["model"].as_str().unwrap().starts_with("embedded"), "{} keeps its model", arc.display());
        let mut outputs = Vec::new();
        for device in ["cpu", "gpu"] {
            let out = dir.path().join(format!("{}.{device}.npy", arc.file_stem().unwrap().to_string_lossy()));
            let report = ok(&["decompress", s(&arc), "-o", s(&out), "--device", device, "--json"]);
            let report: serde_json::Value = serde_json::from_str(&report).unwrap();
            assert!(report["device"].as_str().unwrap().starts_with(device), "{report}");
            outputs.push(std::fs::read(&out).unwrap());
        }
        assert!(outputs[0] == outputs[1], "{}: GPU and CPU decodes differ", arc.display());
    }
}

#[test]
fn short_gpu_training_run_learns() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gpu.toml");
    // Full-batch, no validation: one batch shape, so the shaders compile once (slow on lavapipe).
    std::fs::write(
        &cfg,
        "[model]\nhidden = [32]\nlatent = 4\n[training]\nepochs = 6\nbatch_size = 4096\nvalidation_fraction = 0.0\nlearning_rate = 0.01\n",
    )
    .unwrap();
    let model = dir.path().join("m.bmodel");
    let out = ok(&[
        "train",
        &data("CFD_animation.npz"),
        "-o",
        s(&model),
        "--config",
        s(&cfg),
        "--device",
        "gpu",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let losses: Vec<f64> = r["losses"].as_array().unwrap().iter().map(|l| l.as_f64().unwrap()).collect();
    assert_eq!(losses.len(), 6, "{r}");
    assert!(r["device"].as_str().unwrap().starts_with("gpu"), "{r}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(losses[5] < 0.7 * losses[0], "loss did not drop on the GPU: {losses:?}");
    // The model it wrote compresses under the bound like any other, with the encoder on the GPU.
    let arc = dir.path().join("a.baler");
    let input = data("CFD_animation.npz");
    let args = ["compress", &input, "-o", s(&arc), "--rel", "1e-3", "--model", s(&model), "--force-model"];
    ok(&[&args[..], &["--device", "gpu", "--quiet"]].concat());
    assert_eq!(info_json(&arc, &["--model", s(&model)])["content_hash_verified"], true);
    let back = dir.path().join("back.npy");
    ok(&["decompress", s(&arc), "-o", s(&back), "--model", s(&model), "--device", "gpu"]);
    check_rel_bound(&read(std::path::Path::new(&input)), &read(&back), 1e-3);
}

/// `WGPU_BACKEND=metal` on Linux: wgpu finds no adapter.
#[test]
fn no_adapter_gpu_fails_clearly_and_auto_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden/pattern_autoencoder_rel1e-3.baler");
    let run = |device: &str, out: &std::path::Path| {
        Command::new(binary())
            .args(["decompress", s(&golden), "-o", s(out), "--device", device])
            .env("WGPU_BACKEND", "metal")
            .output()
            .unwrap()
    };
    let out = dir.path().join("gpu.npy");
    let r = run("gpu", &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: --device gpu: no GPU adapter found") && !err.contains("panicked"),
        "{err}"
    );
    assert!(!out.exists(), "no output after the error");
    let out = dir.path().join("auto.npy");
    let r = run("auto", &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("no GPU adapter found") && err.contains("using the CPU"), "{err}");
    assert!(out.exists());
}
