//! The WGSL decoder network with inverse GDN (`igdn.wgsl` after `dense.wgsl`) gives exactly the
//! integers of [`IntDecoder::predict_acc`] on a native adapter (lavapipe in CI). No adapter is a
//! failure, not a skip: CI installs mesa-vulkan-drivers for this.
#![cfg(feature = "gpu")]

use baler_codec::network::gpu::{GpuDecoder, GpuDevice, request_adapter};
use baler_codec::network::{IntDecoder, IntGdn, IntLayer};

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

fn device() -> GpuDevice {
    let adapter = pollster::block_on(request_adapter()).unwrap_or_else(|e| {
        panic!(
            "no wgpu adapter ({e}): this test needs a Vulkan driver; install lavapipe \
             (apt-get install mesa-vulkan-drivers) or run on a machine with a GPU"
        )
    });
    let device = pollster::block_on(GpuDevice::new(&adapter)).expect("open the GPU device");
    eprintln!("adapter: {} ({})", device.adapter.name, device.adapter.backend);
    device
}

/// A random valid dense layer: weights over the whole int8 range, biases and shifts that make
/// rounding, clamping and (without a norm) LeakyReLU all happen.
fn random_layer(rng: &mut Rng, n_in: u32, n_out: u32) -> IntLayer {
    IntLayer {
        in_dim: n_in,
        out_dim: n_out,
        weights: (0..n_in * n_out).map(|_| rng.range(-128, 127) as i8).collect(),
        shifts: (0..n_out).map(|_| rng.range(0, 12) as u8).collect(),
        bias: (0..n_out).map(|_| rng.range(-1 << 20, 1 << 20) as i32).collect(),
    }
}

/// A random inverse GDN that `IntGdn::validate` accepts, with sums spread over the whole allowed
/// range [0, 2^31): some channels all but saturate it, some are sparse, one may be zero (isqrt 0).
fn random_gdn(rng: &mut Rng, channels: u32) -> IntGdn {
    let c = channels as usize;
    let limit = (1i64 << 31) - 1;
    let mut beta = Vec::with_capacity(c);
    let mut gamma = Vec::with_capacity(c * c);
    for ch in 0..c {
        let budget = (limit >> 15) as u64; // Σγ ≤ 65535 leaves room for β ≥ 0
        let row: Vec<u16> = match rng.range(0, 3) {
            // Zero row: s = β only (and β = 0 on the first channel: isqrt(0)).
            0 => vec![0; c],
            // Sparse: one large γ.
            1 => {
                let mut row = vec![0u16; c];
                row[rng.range(0, c as i64 - 1) as usize] = rng.range(0, budget as i64) as u16;
                row
            }
            // Dense, filling the budget.
            _ => (0..c).map(|_| rng.range(0, (budget / c as u64) as i64) as u16).collect(),
        };
        let used = row.iter().map(|&g| g as i64).sum::<i64>() << 15;
        let b = if ch == 0 && row.iter().all(|&g| g == 0) {
            0
        } else {
            match rng.range(0, 2) {
                0 => rng.range(0, 1 << 16),
                1 => limit - used,
                _ => rng.range(0, limit - used),
            }
        };
        beta.push(b as i32);
        gamma.extend(row);
    }
    let shifts = (0..c).map(|_| [0, 30, rng.range(8, 24) as u8][rng.range(0, 5).min(2) as usize]).collect();
    IntGdn { channels, beta, gamma, shifts }
}

/// Widths `dims`; `norms[i]` = the channel count of the inverse GDN after hidden layer `i`.
fn random_model(rng: &mut Rng, dims: &[u32], norms: &[Option<u32>]) -> IntDecoder {
    let layers = dims.windows(2).map(|w| random_layer(rng, w[0], w[1])).collect();
    let norms = norms.iter().map(|c| c.map(|c| random_gdn(rng, c))).collect();
    let dec = IntDecoder { latent_frac_bits: 8, leaky_num: rng.range(0, 4096) as i32, layers, norms };
    dec.validate().expect("random model is valid");
    dec
}

/// Latents over (beyond) the int16 range, with the extremes and zero among them.
fn random_latents(rng: &mut Rng, n: usize, z: usize) -> Vec<i32> {
    (0..n * z)
        .map(|i| match i % 7 {
            0 => [32767, -32767, -32768, 0, 40_000, -40_000][rng.range(0, 5) as usize],
            _ => rng.range(-40_000, 40_000) as i32,
        })
        .collect()
}

fn check(gpu: &GpuDevice, dec: &IntDecoder, latents: &[i32], n: usize, what: &str) -> Vec<i32> {
    let want = dec.predict_acc(latents, n);
    let got = pollster::block_on(GpuDecoder::new(gpu, dec).predict_acc(latents, n)).expect("GPU inference");
    assert_eq!(got.len(), want.len(), "{what}: output size");
    if let Some(i) = got.iter().zip(&want).position(|(g, w)| g != w) {
        panic!(
            "{what}: first difference at {i} (tile {}): GPU {} CPU {}",
            i / dec.output_dim(),
            got[i],
            want[i]
        );
    }
    want
}

#[test]
fn wgsl_inverse_gdn_equals_the_cpu_bit_for_bit() {
    let gpu = device();
    let mut rng = Rng(0x243f_6a88_85a3_08d3);
    let cases: [(&[u32], &[Option<u32>]); 5] = [
        // Channels-first outputs of several positions per channel.
        (&[5, 64, 48, 256], &[Some(4), Some(3), None]),
        // One position per channel (channels = width).
        (&[3, 24, 40, 10], &[Some(24), Some(40), None]),
        // Norms and LeakyReLU mixed; a single channel.
        (&[4, 32, 30, 20, 7], &[Some(2), None, Some(1), None]),
        (&[6, 36, 9], &[Some(36), None]),
        // Norms listed but none present: LeakyReLU everywhere.
        (&[2, 16, 16, 5], &[None, None, None]),
    ];
    for (dims, norms) in cases {
        for _ in 0..3 {
            let dec = random_model(&mut rng, dims, norms);
            let n = 300;
            let latents = random_latents(&mut rng, n, dec.latent_dim());
            let want = check(&gpu, &dec, &latents, n, &format!("model {dims:?} norms {norms:?}"));
            assert!(want.iter().any(|&a| a < 0) && want.iter().any(|&a| a > 0), "{dims:?}: trivial output");
            // The norms matter: the same layers with LeakyReLU everywhere give other outputs.
            if norms.iter().any(Option::is_some) {
                let plain = IntDecoder { norms: vec![], ..dec.clone() };
                assert_ne!(plain.predict_acc(&latents, n), want, "{dims:?}: norms had no effect");
            }
        }
    }
}

/// An identity last layer exposes the normalized activations themselves: they must cover
/// clamping at both ends, zero and values in between, each computed exactly.
#[test]
fn normalized_activations_are_exact_across_their_range() {
    let gpu = device();
    let mut rng = Rng(0x1319_8a2e_0370_7344);
    for (width, channels) in [(32u32, 4u32), (12, 12), (24, 8)] {
        let mut dec = random_model(&mut rng, &[3, width, width], &[Some(channels), None]);
        // Shifts from saturating to small outputs, whatever the draw.
        let norm = dec.norms[0].as_mut().expect("norm");
        norm.shifts = (0..channels as usize).map(|c| [0, 14, 18, 30][c % 4]).collect();
        let last = &mut dec.layers[1];
        last.weights = (0..width * width).map(|i| (i % (width + 1) == 0) as i8).collect();
        last.bias = vec![0; width as usize];
        last.shifts = vec![0; width as usize];
        dec.validate().expect("valid");
        let n = 400;
        let latents = random_latents(&mut rng, n, 3);
        let acts = check(&gpu, &dec, &latents, n, &format!("identity probe {width}/{channels}"));
        assert!(acts.iter().all(|a| (-32768..=32767).contains(a)));
        assert!(acts.contains(&32767) && acts.contains(&-32768), "{width}/{channels}: no clamping");
        assert!(acts.iter().any(|&a| a != 0 && a.abs() < 30_000), "{width}/{channels}: nothing in range");
    }
}

/// Every s in [0, 2^31) the norm's sum can take is square-rooted exactly: perfect squares, their
/// neighbours and the top of the range, through norms with γ = 0 and β = s. The activation is the
/// latent itself (a one-input layer of weight 1); with shift 1, latent 1 gives ⌈r/2⌉ and latent −1
/// gives −⌊r/2⌋, so r = isqrt(s) is their difference, exact even where r itself exceeds int16.
#[test]
fn integer_square_root_is_exact() {
    let gpu = device();
    let mut s: Vec<i64> =
        vec![0, 1, 2, 3, 4, (1 << 31) - 1, (1 << 31) - 2, 1 << 24, (1 << 24) + 1, (1 << 30) - 1];
    for r in [1i64, 2, 3, 4095, 4096, 4097, 3037, 23170, 32767, 32768, 40000, 46339, 46340] {
        s.extend([r * r - 1, r * r, r * r + 1, (r + 1) * (r + 1) - 1].into_iter().filter(|&v| v < 1 << 31));
    }
    let mut rng = Rng(0xa409_3822_299f_31d0);
    s.extend((0..200).map(|_| rng.range(1 << 24, (1 << 31) - 1)));
    s.extend((0..50).map(|_| rng.range(0, 1 << 24)));
    for chunk in s.chunks(64) {
        let width = chunk.len() as u32;
        let w = width as usize;
        let norm = IntGdn {
            channels: width,
            beta: chunk.iter().map(|&v| v as i32).collect(),
            gamma: vec![0; w * w],
            shifts: vec![1; w],
        };
        let hidden =
            IntLayer { in_dim: 1, out_dim: width, weights: vec![1; w], shifts: vec![0; w], bias: vec![0; w] };
        let identity = IntLayer {
            in_dim: width,
            out_dim: width,
            weights: (0..w * w).map(|i| (i % (w + 1) == 0) as i8).collect(),
            shifts: vec![0; w],
            bias: vec![0; w],
        };
        let dec = IntDecoder {
            latent_frac_bits: 0,
            leaky_num: 0,
            layers: vec![hidden, identity],
            norms: vec![Some(norm), None],
        };
        dec.validate().expect("valid");
        let got = check(&gpu, &dec, &[1, -1], 2, "isqrt");
        for (i, &v) in chunk.iter().enumerate() {
            assert_eq!((got[i] - got[w + i]) as u64, (v as u64).isqrt(), "isqrt({v})");
        }
    }
}
