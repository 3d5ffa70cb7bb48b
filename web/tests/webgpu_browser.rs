//! In headless Chromium with WebGPU (SwiftShader; flags in web/webdriver.json): the WGSL decoder
//! network gives exactly the CPU's integers, and archives decoded on WebGPU match the reference.
#![cfg(target_arch = "wasm32")]

mod common;

use baler_codec::network::gpu::{GpuDecoder, GpuDevice, request_adapter};
use baler_codec::network::{IntDecoder, IntGdn, IntLayer};
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

/// A random inverse GDN that the validator accepts, its sums spread over all of [0, 2^31): rows that
/// fill the γ budget, sparse ones, zero ones, and β up to the limit (exercising the exact isqrt).
fn random_gdn(rng: &mut Rng, channels: u32) -> IntGdn {
    let c = channels as usize;
    let limit = (1i64 << 31) - 1;
    let budget = limit >> 15;
    let mut beta = Vec::with_capacity(c);
    let mut gamma = Vec::with_capacity(c * c);
    for _ in 0..c {
        let mut row = vec![0u16; c];
        match rng.range(0, 2) {
            0 => {}
            1 => row[rng.range(0, c as i64 - 1) as usize] = rng.range(0, budget) as u16,
            _ => row.iter_mut().for_each(|g| *g = rng.range(0, budget / c as i64) as u16),
        }
        let room = limit - (row.iter().map(|&g| g as i64).sum::<i64>() << 15);
        beta.push([rng.range(0, 1 << 16), room, rng.range(0, room)][rng.range(0, 2) as usize] as i32);
        gamma.extend(row);
    }
    let shifts = (0..c).map(|_| [0, 30, rng.range(8, 24) as u8][rng.range(0, 5).min(2) as usize]).collect();
    IntGdn { channels, beta, gamma, shifts }
}

/// A random valid model: widths `dims`, weights over the whole int8 range, biases and shifts near
/// the limits the validator allows (so rounding, clamping and LeakyReLU all happen), and after
/// hidden layer `i` an inverse GDN of `norms[i]` channels where that is given.
fn random_model(rng: &mut Rng, dims: &[u32], norms: &[Option<u32>]) -> IntDecoder {
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
    let norms = norms.iter().map(|c| c.map(|c| random_gdn(rng, c))).collect();
    let dec = IntDecoder { latent_frac_bits: 8, leaky_num: rng.range(0, 4096) as i32, layers, norms };
    dec.validate().expect("random model is valid");
    dec
}

#[wasm_bindgen_test]
async fn wgsl_network_equals_the_cpu_bit_for_bit() {
    let adapter = request_adapter().await.expect("WebGPU adapter (run with --enable-unsafe-webgpu)");
    let device = GpuDevice::new(&adapter).await.expect("device");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases: [(&[u32], &[Option<u32>]); 5] = [
        (&[6, 16, 64], &[]),
        (&[3, 40, 20, 25], &[]),
        (&[1, 1], &[]),
        // Inverse GDN: channels-first with several positions, and one position per channel.
        (&[5, 64, 48, 96], &[Some(4), Some(3), None]),
        (&[4, 24, 20, 16], &[Some(24), None, None]),
    ];
    for (dims, norms) in cases {
        let dec = random_model(&mut rng, dims, norms);
        let gpu = GpuDecoder::new(&device, &dec);
        let n = 300;
        // Over (beyond) the int16 range, with its extremes among them.
        let latents: Vec<i32> = (0..n * dec.latent_dim())
            .map(|i| match i % 7 {
                0 => [32767, -32767, -32768, 0][rng.range(0, 3) as usize],
                _ => rng.range(-40_000, 40_000) as i32,
            })
            .collect();
        let want = dec.predict_acc(&latents, n);
        let got = gpu.predict_acc(&latents, n).await.expect("GPU inference");
        assert_eq!(got, want, "model {dims:?} norms {norms:?}");
        assert!(want.iter().any(|&a| a < 0) && want.iter().any(|&a| a > 0));
    }
}

/// The inverse GDN's integer square root is exact where an f32 estimate is not: perfect squares,
/// their neighbours and the top of [0, 2^31), as β of norms with γ = 0. The activation is the
/// latent itself; with shift 1, latent 1 gives ⌈r/2⌉ and latent −1 gives −⌊r/2⌋, so their
/// difference is r = isqrt(s), exact even where r exceeds int16.
#[wasm_bindgen_test]
async fn wgsl_isqrt_is_exact() {
    let adapter = request_adapter().await.expect("WebGPU adapter");
    let device = GpuDevice::new(&adapter).await.expect("device");
    let mut s: Vec<i64> = vec![0, 1, 2, 3, (1 << 31) - 1, (1 << 31) - 2, (1 << 24) + 1];
    for r in [2i64, 3, 4095, 4097, 23170, 32767, 32768, 40000, 46339, 46340] {
        s.extend([r * r - 1, r * r, r * r + 1].into_iter().filter(|&v| v < 1 << 31));
    }
    let mut rng = Rng(0xa409_3822_299f_31d0);
    s.extend((0..64).map(|_| rng.range(1 << 24, (1 << 31) - 1)));
    for chunk in s.chunks(64) {
        let w = chunk.len();
        let norm = IntGdn {
            channels: w as u32,
            beta: chunk.iter().map(|&v| v as i32).collect(),
            gamma: vec![0; w * w],
            shifts: vec![1; w],
        };
        let hidden = IntLayer {
            in_dim: 1,
            out_dim: w as u32,
            weights: vec![1; w],
            shifts: vec![0; w],
            bias: vec![0; w],
        };
        let identity = IntLayer {
            in_dim: w as u32,
            out_dim: w as u32,
            weights: (0..w * w).map(|i| (i % (w + 1) == 0) as i8).collect(),
            shifts: vec![0; w],
            bias: vec![0; w],
        };
        let layers = vec![hidden, identity];
        let dec = IntDecoder { latent_frac_bits: 0, leaky_num: 0, layers, norms: vec![Some(norm), None] };
        dec.validate().expect("valid");
        let got = GpuDecoder::new(&device, &dec).predict_acc(&[1, -1], 2).await.expect("GPU inference");
        assert_eq!(got, dec.predict_acc(&[1, -1], 2));
        for (i, &v) in chunk.iter().enumerate() {
            assert_eq!((got[i] - got[w + i]) as u64, (v as u64).isqrt(), "isqrt({v})");
        }
    }
}

#[wasm_bindgen_test]
async fn archives_decode_on_webgpu_to_the_reference_bytes() {
    let adapter = request_adapter().await.expect("WebGPU adapter");
    let device = GpuDevice::new(&adapter).await.expect("device");
    for (name, bytes) in common::GOLDEN {
        let archive = baler_codec::Archive::open(bytes, None).expect("open");
        let gpu = archive.decoder.as_ref().map(|dec| std::rc::Rc::new(GpuDecoder::new(&device, dec)));
        let (npy, summary) =
            common::viewer_decode(bytes, gpu).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(npy, common::reference_npy(bytes), "{name}");
        let has_network_tiles = matches!(name, "pattern_autoencoder" | "conv2d_gdn_v2" | "conv3d_gdn_v2");
        assert_eq!(summary.on_gpu, has_network_tiles, "{name}");
    }
}
