use super::*;
use crate::network::conv::LinearOp;
use crate::network::int_decoder::IntLayer;
use crate::network::stored::{StoredDecoder, StoredLayer};
use crate::testing::Rng;

/// Weights as large as validation allows for this input width (the full int8 range when
/// narrow), biases and shifts that make rounding, clamping and LeakyReLU all happen.
fn random_weights(rng: &mut Rng, n: usize, rows: usize) -> (Vec<i8>, Vec<i32>) {
    let w = (32000 / n as i64).min(127);
    let weights =
        (0..n * rows).map(|_| if rng.range(0, 9) == 0 { 0 } else { rng.range(-w - 1, w) as i8 }).collect();
    (weights, (0..rows).map(|_| rng.range(-1 << 20, 1 << 20) as i32).collect())
}

/// A random valid inverse GDN: sums over all of [0, 2^31), zero rows, β = 0 (isqrt(0)).
fn random_gdn(rng: &mut Rng, c: usize) -> IntGdn {
    let limit = (1i64 << 31) - 1;
    let mut beta = Vec::new();
    let mut gamma = Vec::new();
    for ch in 0..c {
        let budget = limit >> 15;
        let row: Vec<u16> = match rng.range(0, 3) {
            0 => vec![0; c],
            1 => {
                let mut row = vec![0u16; c];
                row[rng.range(0, c as i64 - 1) as usize] = rng.range(0, budget.min(65535)) as u16;
                row
            }
            _ => (0..c).map(|_| rng.range(0, (budget / c as i64).min(65535)) as u16).collect(),
        };
        let used = row.iter().map(|&g| g as i64).sum::<i64>() << 15;
        let b = match (ch, rng.range(0, 2)) {
            (0, _) if used == 0 => 0,
            (_, 0) => rng.range(0, 1 << 16),
            (_, 1) => limit - used,
            _ => rng.range(0, limit - used),
        };
        beta.push(b as i32);
        gamma.extend(row);
    }
    let shifts = (0..c).map(|_| [0, 30, rng.range(8, 24) as u8][rng.range(0, 5).min(2) as usize]).collect();
    IntGdn { channels: c as u32, beta, gamma, shifts }
}

/// A dense decoder of widths `dims`; `norms[i]`: the channels of an inverse GDN after layer i.
fn random_dense(rng: &mut Rng, dims: &[usize], norms: &[Option<usize>]) -> IntDecoder {
    let layers = dims
        .windows(2)
        .map(|d| {
            let (weights, bias) = random_weights(rng, d[0], d[1]);
            let shifts = (0..d[1]).map(|_| rng.range(0, 12) as u8).collect();
            IntLayer { in_dim: d[0] as u32, out_dim: d[1] as u32, weights, shifts, bias }
        })
        .collect();
    let norms = norms.iter().map(|c| c.map(|c| random_gdn(rng, c))).collect();
    let dec = IntDecoder { latent_frac_bits: 8, leaky_num: rng.range(0, 4096) as i32, layers, norms };
    dec.validate().expect("a valid random model");
    dec
}

/// A decoder of (transposed) convolutions, 2-D and 3-D, expanded to sparse matrices.
fn random_conv(rng: &mut Rng, ops: &[LinearOp], gdn: &[bool]) -> IntDecoder {
    let layers = ops
        .iter()
        .zip(gdn)
        .map(|(&op, &g)| {
            let c = op.out_channels();
            let w = (4000 / op.weight_len() as i64).clamp(3, 127);
            StoredLayer {
                op,
                weights: (0..op.weight_len()).map(|_| rng.range(-w, w) as i8).collect(),
                shifts: (0..c).map(|_| rng.range(0, 10) as u8).collect(),
                bias: (0..c).map(|_| rng.range(-1 << 16, 1 << 16) as i32).collect(),
                gdn: g.then(|| random_gdn(rng, c)),
            }
        })
        .collect();
    let dec = StoredDecoder { latent_frac_bits: 8, leaky_num: rng.range(0, 4096) as i32, layers };
    dec.expand().expect("a valid random conv model")
}

/// Latents over (beyond) the int16 range, extremes and zero among them.
fn random_latents(rng: &mut Rng, n: usize) -> Vec<i32> {
    (0..n)
        .map(|i| match i % 5 {
            0 => [32767, -32767, -32768, 0, 40_000, -40_000][rng.range(0, 5) as usize],
            _ => rng.range(-40_000, 40_000) as i32,
        })
        .collect()
}

/// [`Plan::run`] compiled for AVX2, as [`IntDecoder::predict_acc`] runs it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(plan: &Plan, k: Avx2, latents: &[i32], n: usize) -> Vec<i32> {
    plan.run(k, latents, n)
}

/// The accumulators of every batched kernel set this CPU has, and of the public entry point.
fn every_path(dec: &IntDecoder, latents: &[i32], n: usize) -> Vec<(&'static str, Vec<i32>)> {
    let plan = Plan::new(dec);
    let mut paths =
        vec![("predict_acc", dec.predict_acc(latents, n)), ("portable", plan.run(Portable, latents, n))];
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    paths.push(("sse2", plan.run(Sse2, latents, n)));
    #[cfg(target_arch = "x86_64")]
    match Avx2::detect() {
        // SAFETY: the CPU has AVX2.
        Some(k) => paths.push(("avx2", unsafe { run_avx2(&plan, k, latents, n) })),
        None => eprintln!("no AVX2 here: its kernels are not tested"),
    }
    paths.push(("portable, plain remainder", predict_acc_with(dec, Portable, latents, n)));
    paths
}

fn check_batched(dec: &IntDecoder, rng: &mut Rng, what: &str) {
    for n in [0, 1, 4, 5, 15, 16, 17, 40] {
        let latents = random_latents(rng, n * dec.latent_dim());
        let want = predict_acc_plain(dec, &latents, n);
        assert_eq!(want.len(), n * dec.output_dim());
        for (path, got) in every_path(dec, &latents, n) {
            if let Some(i) = got.iter().zip(&want).position(|(g, w)| g != w) {
                panic!(
                    "{what}, {path}, n = {n}: tile {} output {}: {} ≠ {}",
                    i / dec.output_dim(),
                    i % dec.output_dim(),
                    got[i],
                    want[i]
                );
            }
            assert_eq!(got.len(), want.len(), "{what}, {path}, n = {n}");
        }
    }
}

/// Batched inference (every kernel set, tile counts around the batch size) gives the
/// accumulators of the plain per-tile definition, on dense, inverse-GDN and conv models.
#[test]
fn batched_inference_equals_the_plain_definition() {
    let mut rng = Rng(0x243f_6a88_85a3_08d3);
    let dense: [(&[usize], &[Option<usize>]); 6] = [
        (&[16, 64, 64, 256], &[Some(64), Some(64), None]),
        (&[5, 64, 48, 256], &[Some(4), Some(3), None]),
        (&[3, 24, 40, 10], &[Some(24), Some(40), None]),
        (&[4, 33, 30, 21, 7], &[Some(3), None, Some(1), None]),
        (&[7, 9, 130, 1], &[None, None, None]),
        (&[1, 1], &[]),
    ];
    for (dims, norms) in dense {
        for _ in 0..3 {
            let dec = random_dense(&mut rng, dims, norms);
            check_batched(&dec, &mut rng, &format!("dense {dims:?} norms {norms:?}"));
        }
    }
    use crate::network::conv::ConvGeom;
    let geom = |ci: u32, co: u32, n: [u32; 3], k: [u32; 3], s: [u32; 3], p: [u32; 3]| ConvGeom {
        in_channels: ci,
        out_channels: co,
        in_size: n,
        kernel: k,
        stride: s,
        padding: p,
    };
    let up2 = |ci, co, n| LinearOp::ConvTranspose(geom(ci, co, [1, n, n], [1, 4, 4], [1, 2, 2], [0, 1, 1]));
    let up3 = |ci, co, n| LinearOp::ConvTranspose(geom(ci, co, [n, n, n], [3, 3, 3], [2, 2, 2], [1, 1, 1]));
    let conv = |ci, co, n| LinearOp::Conv(geom(ci, co, [1, n, n], [1, 3, 3], [1, 1, 1], [0, 1, 1]));
    let cases: [(Vec<LinearOp>, &[bool]); 3] = [
        (
            vec![LinearOp::Dense { in_dim: 4, out_dim: 8 * 16 }, up2(8, 4, 4), up2(4, 1, 8)],
            &[true, true, false],
        ),
        (
            vec![LinearOp::Dense { in_dim: 5, out_dim: 3 * 27 }, up3(3, 2, 3), up3(2, 1, 5)],
            &[true, true, false],
        ),
        (
            vec![LinearOp::Dense { in_dim: 6, out_dim: 3 * 36 }, conv(3, 5, 6), up2(5, 1, 6)],
            &[false, true, false],
        ),
    ];
    for (ops, gdn) in cases {
        let dec = random_conv(&mut rng, &ops, gdn);
        check_batched(&dec, &mut rng, &format!("conv {ops:?}"));
    }
}

/// The batched GDN's offsets (γ − 2^15, q − 2^14) at their extremes: x = −32768 (q = 2^15),
/// γ = 0 and 65535, sums at 2^31 − 1.
#[test]
fn batched_gdn_is_exact_at_the_extremes() {
    let c = 4;
    let layer = IntLayer {
        in_dim: 1,
        out_dim: c as u32,
        weights: vec![1, -1, 1, -1],
        shifts: vec![0; c],
        bias: vec![0; c],
    };
    let last = IntLayer {
        in_dim: c as u32,
        out_dim: 2,
        weights: vec![1, 2, 3, 4, -4, -3, -2, -1],
        shifts: vec![0; 2],
        bias: vec![0; 2],
    };
    // Channels 0 and 1: sums up to 2^31 − 1 (γ summing to 65534, or one γ of 65535).
    let gamma = [[16384, 16383, 16384, 16383], [65535, 0, 0, 0], [0; 4], [1, 65532, 1, 1]];
    let gdn = IntGdn {
        channels: c as u32,
        beta: vec![i32::MAX - (65534 << 15), i32::MAX - (65535 << 15), 0, 12345],
        gamma: gamma.concat(),
        shifts: vec![16, 30, 0, 8],
    };
    let dec = IntDecoder {
        latent_frac_bits: 0,
        leaky_num: 0,
        layers: vec![layer, last],
        norms: vec![Some(gdn), None],
    };
    dec.validate().unwrap();
    let latents: Vec<i32> = [-32768, 32767, -32767, 0, 1, -1, 181, -181, 40000, -40000]
        .iter()
        .copied()
        .cycle()
        .take(37)
        .collect();
    let want = predict_acc_plain(&dec, &latents, latents.len());
    for (path, got) in every_path(&dec, &latents, latents.len()) {
        assert_eq!(got, want, "{path}");
    }
}

/// `isqrt` is ⌊√s⌋ for every u32: perfect squares, their neighbours, the extremes and a
/// sample; the AVX2 form too on [0, 2^31). (The exhaustive check is `isqrt_is_exact_everywhere`.)
#[test]
fn isqrt_is_exact() {
    let exact = |s: u32| {
        let r = s.isqrt();
        assert!(r as u64 * r as u64 <= s as u64 && (r as u64 + 1).pow(2) > s as u64);
        r
    };
    let mut samples: Vec<u32> = vec![0, 1, 2, 3, u32::MAX, u32::MAX - 1, 1 << 31, (1 << 31) - 1];
    for k in 1..=65535u32 {
        samples.extend([k * k - 1, k * k, k * k + 1]);
    }
    samples.extend((0..1u64 << 32).step_by(65_521).map(|s| s as u32));
    for &s in &samples {
        assert_eq!(isqrt(s), exact(s), "isqrt({s})");
    }
    let below: Vec<i32> = samples.iter().filter(|&&s| s < 1 << 31).map(|&s| s as i32).collect();
    let check = |k: &dyn Fn(&mut [i32; BATCH])| {
        for c in below.chunks(BATCH) {
            let mut s = [0i32; BATCH];
            s[..c.len()].copy_from_slice(c);
            k(&mut s);
            for (&v, &r) in c.iter().zip(&s) {
                assert_eq!(r as u32, exact(v as u32), "isqrt({v})");
            }
        }
    };
    check(&|s| Portable.isqrt(s));
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = Avx2::detect() {
        check(&|s| k.isqrt(s));
    }
}

/// Every 257th input and the neighbourhood of every square (where an f64 / f32 square root
/// would round the wrong way). Checked once over all of u32 too (half a minute): the same
/// loops with a step of 1.
#[test]
fn isqrt_is_exact_on_a_stride_and_around_every_square() {
    let check = |s: u32| {
        let r = isqrt(s) as u64;
        assert!(r * r <= s as u64 && (r + 1) * (r + 1) > s as u64, "isqrt({s})");
    };
    (0..=u32::MAX).step_by(257).for_each(check);
    for r in 1..=65_535u64 {
        (r * r - 1..=(r * r + 1).min(u32::MAX as u64)).for_each(|s| check(s as u32));
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = Avx2::detect() {
        let squares = (1..46_341u32).flat_map(|r| [r * r - 1, r * r, r * r + 1]);
        let inputs: Vec<u32> = (0..1u32 << 31).step_by(257).chain(squares).filter(|&s| s < 1 << 31).collect();
        for chunk in inputs.chunks(BATCH) {
            let mut s: [i32; BATCH] = std::array::from_fn(|i| chunk.get(i).copied().unwrap_or(0) as i32);
            k.isqrt(&mut s);
            for (&x, &r) in chunk.iter().zip(&s) {
                assert_eq!(r as u32, isqrt(x), "AVX2 isqrt({x})");
            }
        }
    }
}
