//! Encode side: a float decoder becomes the integer decoder (per-row power-of-two scales chosen
//! from the activations of sample inputs), and float latents become the integers it takes.

use crate::error::{CodecError, Result};
use crate::network::conv::LinearOp;
use crate::network::float_ref::*;
use crate::network::int_decoder::*;
use crate::network::stored::{StoredDecoder, StoredLayer};

/// Largest number of fractional bits (≤ 14) that keeps `max_abs` (with 50 % head-room) inside i16.
fn frac_bits_for(max_abs: f64) -> u8 {
    let mut a = 14u8;
    while a > 0 && max_abs * 1.5 * f64::from(1u32 << a) > ACT_MAX as f64 {
        a -= 1;
    }
    a
}

/// Output channel of each stored weight (a dense layer's rows are its channels).
fn weight_channels(op: &LinearOp) -> Vec<usize> {
    let mut ch = vec![0usize; op.weight_len()];
    let positions = op.out_positions();
    op.for_each_tap(|r, _, w| ch[w] = r / positions);
    ch
}

/// Quantizes one linear layer: int8 weights with one power-of-two scale per output channel (the
/// finest that keeps every row's accumulator bound), bias at the accumulator's scale, and the shift
/// from there to `a_out` fractional bits.
fn quantize_linear(l: &FloatLayer<'_>, a_in: i32, a_out: i32, last: bool) -> StoredLayer {
    let channels = l.op.out_channels();
    let positions = l.op.out_positions();
    let owner = weight_channels(&l.op);
    let mut max_w = vec![1e-30f64; channels];
    for (&w, &c) in l.weight.iter().zip(&owner) {
        max_w[c] = max_w[c].max((w as f64).abs());
    }
    let lo = if last { 0 } else { a_out - a_in };
    let hi = if last { 62 - a_in } else { 30 + a_out - a_in };
    let mut e: Vec<i32> = max_w
        .iter()
        .map(|&m| ((127.0 / m).log2().floor() as i32).clamp(-8, 24).clamp(lo, hi.max(lo)))
        .collect();
    loop {
        let weights: Vec<i8> = l
            .weight
            .iter()
            .zip(&owner)
            .map(|(&w, &c)| (w as f64 * 2f64.powi(e[c])).round().clamp(-127.0, 127.0) as i8)
            .collect();
        let bias: Vec<f64> =
            l.bias.iter().zip(&e).map(|(&b, &ec)| (b as f64 * 2f64.powi(a_in + ec)).round()).collect();
        let mut row_abs = vec![0i64; l.op.out_dim()];
        l.op.for_each_tap(|r, _, w| row_abs[r] += (weights[w] as i64).abs());
        // Room left for the bias in each channel's fullest row.
        let mut room = vec![ACC_LIMIT; channels];
        for (r, &a) in row_abs.iter().enumerate() {
            room[r / positions] = room[r / positions].min(ACC_LIMIT - a * 32768);
        }
        let mut tightened = false;
        for c in 0..channels {
            if (room[c] < 0 || bias[c].abs() > room[c] as f64) && e[c] > lo {
                e[c] -= 1;
                tightened = true;
            }
        }
        if !tightened {
            let bias =
                bias.iter().zip(&room).map(|(&b, &r)| b.clamp(-(r.max(0) as f64), r.max(0) as f64) as i32);
            let cap = if last { 62 } else { 30 };
            return StoredLayer {
                op: l.op,
                weights,
                shifts: e.iter().map(|&ec| (a_in + ec - a_out).clamp(0, cap) as u8).collect(),
                bias: bias.collect(),
                gdn: None,
            };
        }
    }
}

/// Quantizes an inverse GDN from `a` to at most `a_next` fractional bits; returns it with the
/// fractional bits its output actually has (≤ `a_next`). The norm's sum is kept at scale 2^(2m)
/// with the largest `m` whose integers fit, so `isqrt` returns √s · 2^m exactly scaled.
fn quantize_igdn(g: &FloatGdn<'_>, a: i32, a_next: i32) -> (IntGdn, i32) {
    let c = g.beta.len();
    let quantize = |m: i32| -> Option<(Vec<i32>, Vec<u16>)> {
        let beta: Vec<f64> = g.beta.iter().map(|&b| (b as f64 * 2f64.powi(2 * m)).round()).collect();
        let gscale = 2f64.powi(2 * m + GDN_SQ_SHIFT as i32 - 2 * a);
        let gamma: Vec<f64> = g.gamma.iter().map(|&v| (v.max(0.0) as f64 * gscale).round()).collect();
        let fits = gamma.iter().all(|&v| v <= u16::MAX as f64)
            && beta.iter().zip(gamma.chunks_exact(c)).all(|(&b, row)| {
                b >= 0.0
                    && b + row.iter().sum::<f64>() * (1u64 << GDN_SQ_SHIFT) as f64 <= GDN_SUM_LIMIT as f64
            });
        fits.then(|| (beta.iter().map(|&b| b as i32).collect(), gamma.iter().map(|&v| v as u16).collect()))
    };
    // y = x·r / 2^(a + m) in real units; at a_out fractional bits the shift is a + m − a_out, which
    // must lie in [0, 30]: m ≤ a_next − a + 30, and a_out drops below a_next when m is small.
    let top = (a_next - a + 30).min(24);
    let (m, (beta, gamma)) = (-24..=top)
        .rev()
        .find_map(|m| quantize(m).map(|q| (m, q)))
        .unwrap_or((top.min(-24), (vec![0; c], vec![0; c * c])));
    let a_out = a_next.min(a + m);
    let shift = (a + m - a_out) as u8;
    (IntGdn { channels: c as u32, beta, gamma, shifts: vec![shift; c] }, a_out)
}

/// Turns a trained float decoder into a [`StoredDecoder`]. `calibration` holds latents (rows of
/// the first layer's input width) typical of the data; they fix the fixed-point scale of every
/// activation.
pub fn quantize_decoder(
    layers: &[FloatLayer<'_>],
    leaky_slope: f64,
    calibration: &[f32],
) -> Result<StoredDecoder> {
    if layers.is_empty() {
        return Err(CodecError::InvalidModel("no layers".into()));
    }
    for l in layers {
        l.check()?;
    }
    let expanded: Vec<Expanded> = layers.iter().map(|&l| Expanded::new(l)).collect();
    let z = layers[0].op.in_dim();
    let rows = calibration.len() / z.max(1);
    // Max |value| at the input of every layer (latents first) and before every inverse GDN.
    let mut max_in = vec![1e-6f64; layers.len()];
    let mut max_mid = vec![1e-6f64; layers.len()];
    let peak = |v: &[f64]| v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    for r in 0..rows {
        let input: Vec<f64> = calibration[r * z..(r + 1) * z].iter().map(|&v| v as f64).collect();
        let (acts, mids) = float_forward_expanded(&expanded, leaky_slope, &input);
        for l in 0..layers.len() {
            max_in[l] = max_in[l].max(peak(&acts[l]));
            max_mid[l] = max_mid[l].max(peak(&mids[l]));
        }
    }
    let mut frac: Vec<i32> = max_in.iter().map(|&m| frac_bits_for(m) as i32).collect();
    let last = layers.len() - 1;
    let mut out = Vec::with_capacity(layers.len());
    for (li, l) in layers.iter().enumerate() {
        let a_in = frac[li];
        let stored = match l.gdn.filter(|_| li < last) {
            Some(g) => {
                let a_mid = frac_bits_for(max_mid[li]) as i32;
                let (gdn, a_next) = quantize_igdn(&g, a_mid, frac[li + 1]);
                frac[li + 1] = a_next;
                StoredLayer { gdn: Some(gdn), ..quantize_linear(l, a_in, a_mid, false) }
            }
            None => quantize_linear(l, a_in, if li == last { 0 } else { frac[li + 1] }, li == last),
        };
        out.push(stored);
    }
    let dec = StoredDecoder {
        latent_frac_bits: frac[0] as u8,
        leaky_num: (leaky_slope * 4096.0).round().clamp(0.0, 4096.0) as i32,
        layers: out,
    };
    dec.expand()?;
    Ok(dec)
}

/// Latent floats to the integers the decoder takes (round to nearest, clamped to i16).
pub fn quantize_latents(latents: &[f32], frac_bits: u8) -> Vec<i32> {
    let s = f64::from(1u32 << frac_bits);
    latents.iter().map(|&v| (v as f64 * s).round().clamp(ACT_MIN as f64, ACT_MAX as f64) as i32).collect()
}
