//! The compressor's encoder: an exported encoder ([`DenseLayer`]s) run on tiles. On the CPU a
//! plain f32 pass ([`forward_f32`]) whose sums have a fixed order, so the latents (and the
//! archives) are the same bits on every run and machine; on a GPU burn's [`Encoder`] module.

use anyhow::ensure;
use burn::prelude::*;
use rayon::prelude::*;

use super::{DenseLayer, Encoder, FloatNorm, tensor_to_vec};
use crate::device::{Compute, burn_gpu};

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 8;
    let mut acc = [0f32; L];
    let (ac, ar) = a.split_at(a.len() / L * L);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(L).zip(bc.chunks_exact(L)) {
        for k in 0..L {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

fn forward_row(
    layers: &[DenseLayer],
    norms: &[Option<FloatNorm>],
    slope: f32,
    input: &[f32],
    out: &mut [f32],
) {
    let mut cur = input.to_vec();
    let mut next = Vec::new();
    for (k, l) in layers.iter().enumerate() {
        next.clear();
        next.extend(l.weight.chunks_exact(l.in_dim).zip(&l.bias).map(|(w, b)| dot(w, &cur) + b));
        if k + 1 < layers.len() {
            match norms.get(k) {
                Some(Some(norm)) => norm.apply(&mut next),
                _ => next.iter_mut().filter(|v| **v < 0.0).for_each(|v| *v *= slope),
            }
        }
        std::mem::swap(&mut cur, &mut next);
    }
    out.copy_from_slice(&cur);
}

/// Plain f32 forward pass of a layer stack on the CPU (no burn), LeakyReLU (or the layer's entry
/// in `norms`, when there is one) between layers and none after the last. rows x in -> rows x out, row-major. An empty stack is the identity.
///
/// # Panics
/// If the layers are inconsistent (`weight`/`bias` lengths, chained widths) or
/// `input.len() != rows * layers[0].in_dim`.
pub fn forward_f32(
    layers: &[DenseLayer],
    norms: &[Option<FloatNorm>],
    leaky_slope: f64,
    input: &[f32],
    rows: usize,
) -> Vec<f32> {
    let Some(first) = layers.first() else {
        return input.to_vec();
    };
    let mut width = first.in_dim;
    for l in layers {
        assert!(
            l.in_dim == width
                && l.weight.len() == l.in_dim * l.out_dim
                && l.bias.len() == l.out_dim
                && l.in_dim > 0,
            "forward_f32: inconsistent layer ({} -> {}, {} weights, {} biases) after width {width}",
            l.in_dim,
            l.out_dim,
            l.weight.len(),
            l.bias.len()
        );
        width = l.out_dim;
    }
    let (in_dim, out_dim) = (first.in_dim, width);
    assert_eq!(input.len(), rows * in_dim, "forward_f32: input length != rows * in_dim");
    let mut out = vec![0f32; rows * out_dim];
    if out_dim == 0 {
        return out;
    }
    let slope = leaky_slope as f32;
    out.par_chunks_mut(out_dim)
        .zip(input.par_chunks(in_dim))
        .with_min_len(16)
        .for_each(|(o, x)| forward_row(layers, norms, slope, x, o));
    out
}

/// Rows per batch of [`forward_on`]'s GPU path.
const GPU_FORWARD_ROWS: usize = 16_384;

/// [`forward_f32`] on `compute`: with a GPU, the same layers run as burn's [`Encoder`] on the wgpu
/// backend, batch by batch (inputs of any size stream through). Float results may differ from the CPU's in the last
/// bits, which is fine for the encoder: its latents are stored, never recomputed by a decoder.
pub fn forward_on(
    compute: &Compute,
    layers: &[DenseLayer],
    norms: &[Option<FloatNorm>],
    leaky_slope: f64,
    input: &[f32],
    rows: usize,
) -> anyhow::Result<Vec<f32>> {
    // GDN layers run on the CPU path only.
    let (Compute::Gpu { .. }, Some(first), false) =
        (compute, layers.first(), norms.iter().any(Option::is_some))
    else {
        return Ok(forward_f32(layers, norms, leaky_slope, input, rows));
    };
    let device = burn_gpu()?;
    let encoder = Encoder::from_dense(layers, leaky_slope, &device);
    let in_dim = first.in_dim;
    ensure!(input.len() == rows * in_dim, "forward_on: input length != rows * in_dim");
    let mut out = Vec::with_capacity(rows * layers.last().map_or(0, |l| l.out_dim));
    for start in (0..rows).step_by(GPU_FORWARD_ROWS) {
        let n = GPU_FORWARD_ROWS.min(rows - start);
        let slice = input[start * in_dim..(start + n) * in_dim].to_vec();
        let x = Tensor::<2>::from_data(TensorData::new(slice, [n, in_dim]), &device);
        out.extend(tensor_to_vec(encoder.forward(x))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_f32_matches_hand_computation() {
        let layers = vec![
            DenseLayer { in_dim: 2, out_dim: 2, weight: vec![1.0, -2.0, 0.5, 0.5], bias: vec![0.0, 1.0] },
            DenseLayer { in_dim: 2, out_dim: 1, weight: vec![1.0, 1.0], bias: vec![-1.0] },
        ];
        // row (1, 1): h = (1-2, 0.5+0.5+1) = (-1, 2) -> leaky (-0.1, 2) -> 1.9 - 1 = 0.9
        // row (0, 2): h = (-4, 2) -> (-0.4, 2) -> 0.6
        let y = forward_f32(&layers, &[], 0.1, &[1.0, 1.0, 0.0, 2.0], 2);
        assert!((y[0] - 0.9).abs() < 1e-6 && (y[1] - 0.6).abs() < 1e-6, "{y:?}");
    }

    /// burn's encoder built from the exported layers computes what the CPU pass computes.
    #[test]
    fn burn_encoder_from_dense_matches_forward_f32() {
        let layers = vec![
            DenseLayer {
                in_dim: 3,
                out_dim: 2,
                weight: vec![0.5, -1.0, 0.25, 2.0, 0.0, -0.5],
                bias: vec![0.1, -0.2],
            },
            DenseLayer { in_dim: 2, out_dim: 2, weight: vec![1.0, -1.0, 0.5, 0.5], bias: vec![0.0, 0.3] },
        ];
        let x = [0.1f32, 0.7, 0.3, 0.9, 0.2, 0.5];
        let cpu = forward_f32(&layers, &[], 0.01, &x, 2);
        let device = Device::flex();
        let enc = Encoder::from_dense(&layers, 0.01, &device);
        let t = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [2, 3]), &device);
        let burn = tensor_to_vec(enc.forward(t)).unwrap();
        assert!(cpu.iter().zip(&burn).all(|(a, b)| (a - b).abs() < 1e-6), "{cpu:?} vs {burn:?}");
    }
}
