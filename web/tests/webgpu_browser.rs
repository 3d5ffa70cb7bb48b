//! In headless Chromium with WebGPU (SwiftShader; flags in web/webdriver.json): the WGSL decoder
//! network gives exactly the CPU's integers, and archives decoded on WebGPU match the reference.
#![cfg(target_arch = "wasm32")]

mod common;

use baler_codec::gpu::{GpuDecoder, GpuDevice, request_adapter};
use baler_codec::model::{IntDecoder, IntLayer};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// xorshift64*: reproducible test data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// A random valid model: widths `dims`, weights over the whole int8 range, biases and shifts near
/// the limits the validator allows (so rounding, clamping and LeakyReLU all happen).
fn random_model(rng: &mut Rng, dims: &[u32]) -> IntDecoder {
    let layers = dims
        .windows(2)
        .map(|w| {
            let (n_in, n_out) = (w[0], w[1]);
            let weights: Vec<i8> = (0..n_in * n_out).map(|_| rng.range(-128, 127) as i8).collect();
            IntLayer {
                in_dim: n_in,
                out_dim: n_out,
                weights,
                shifts: (0..n_out).map(|_| rng.range(0, 14) as u8).collect(),
                bias: (0..n_out).map(|_| rng.range(-1 << 20, 1 << 20) as i32).collect(),
            }
        })
        .collect();
    let dec = IntDecoder { latent_frac_bits: 8, leaky_num: rng.range(0, 4096) as i32, layers };
    dec.validate().expect("random model is valid");
    dec
}

#[wasm_bindgen_test]
async fn wgsl_network_equals_the_cpu_bit_for_bit() {
    let adapter = request_adapter().await.expect("WebGPU adapter (run with --enable-unsafe-webgpu)");
    let device = GpuDevice::new(&adapter).await.expect("device");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for dims in [vec![6u32, 16, 64], vec![3, 40, 20, 25], vec![1, 1]] {
        let dec = random_model(&mut rng, &dims);
        let gpu = GpuDecoder::new(&device, &dec);
        let n = 300;
        let latents: Vec<i32> =
            (0..n * dec.latent_dim()).map(|_| rng.range(-40_000, 40_000) as i32).collect();
        let want = dec.predict_acc(&latents, n);
        let got = gpu.predict_acc(&latents, n).await.expect("GPU inference");
        assert_eq!(got, want, "model {dims:?}");
        assert!(want.iter().any(|&a| a < 0) && want.iter().any(|&a| a > 0));
    }
}

#[wasm_bindgen_test]
async fn archives_decode_on_webgpu_to_the_reference_bytes() {
    let adapter = request_adapter().await.expect("WebGPU adapter");
    let device = GpuDevice::new(&adapter).await.expect("device");
    for (name, bytes) in common::GOLDEN {
        let archive = baler_codec::Archive::open(bytes, None).expect("open");
        let gpu = archive.decoder.as_ref().map(|dec| GpuDecoder::new(&device, dec));
        let (npy, summary) =
            common::viewer_decode(bytes, gpu.as_ref()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(npy, common::reference_npy(bytes), "{name}");
        assert_eq!(summary.on_gpu, name == "pattern_autoencoder", "{name}");
    }
}
