//! Whether an autoencoder could pay on a dataset at all, estimated without training one.
//!
//! An autoencoder with `k` latents predicts a tile at best about as well as the best `k`-dimensional
//! linear model of the tiles — their top `k` principal components — plus what nonlinearity adds,
//! and never better than its int8 decoder's precision. So: the tiles' covariance, its top-`k`
//! subspace (subspace iteration), the residual variance per tile position, floored at the best
//! network precision measured ([`NETWORK_FLOOR_DB`]), gives the code bits of an ideal network per
//! element (Gaussian entropy at the quantization step), plus the latents' and the model's bytes.
//! Where even that estimate is not clearly below the classic archive, training cannot pay and the
//! search is skipped. It costs a covariance of at most [`GATE_TILES`] tiles: a fraction of a second.

use anyhow::Result;
use baler_codec::preprocess::dataset_tiles;
use baler_codec::{BoundSpec, Dataset};

use crate::pipeline::tile_for;

/// Tiles the covariance is taken over.
const GATE_TILES: usize = 4000;
/// Widest tile it is computed for (a d × d covariance and its subspace).
const MAX_DIM: usize = 512;
/// The best decoder-network PSNR measured on the normalized range (the sea-state field, dense +
/// GDN, docs/models.md: 54.2 dB), rounded up: no network is assumed to predict better.
const NETWORK_FLOOR_DB: f64 = 55.0;
/// Bits per stored latent, at least (they are quantized with a searched step and zstd'd).
const LATENT_BITS: f64 = 4.0;

/// The estimate for one (block, latent) candidate.
pub struct LinearEstimate {
    /// Archive bytes an ideal network would give the whole input, its model included.
    pub bytes: f64,
    pub latent: usize,
    pub block: Vec<usize>,
}

/// Estimates for `block` with each of `latents`, or None where the tile is too wide to estimate
/// (the caller then trains). `norm`: the per-stream normalization training would use
/// (`preprocess::normalization`); `hidden`: the dense layers' widths, for the model's size.
pub fn estimate(
    ds: &Dataset,
    norm: &[[f64; 2]],
    block: &[usize],
    latents: &[usize],
    hidden: &[usize],
    fill: Option<f64>,
    bound: BoundSpec,
) -> Result<Option<Vec<LinearEstimate>>> {
    let tile = tile_for(ds, block)?;
    let d: usize = tile.iter().product();
    if d > MAX_DIM || d == 0 {
        return Ok(None);
    }
    let (samples, n) = dataset_tiles(ds, tile, norm, fill, GATE_TILES)?;
    if n < 2 {
        return Ok(None);
    }
    // The quantization step of each tile position, in normalized units (a table's positions are
    // its columns, each with its own range).
    let table = matches!(ds, Dataset::Table { .. });
    let step: Vec<f64> = (0..d)
        .map(|j| {
            let [lo, hi] = norm[if table { j } else { 0 }];
            let range = (hi - lo).max(f64::MIN_POSITIVE);
            match bound {
                BoundSpec::Abs(e) => 2.0 * e / range,
                BoundSpec::Rel(r) => 2.0 * r,
            }
        })
        .collect();
    let cov = covariance(&samples, n, d);
    let floor = 10f64.powf(-NETWORK_FLOOR_DB / 20.0);
    let whole_tiles = ds.element_count() as f64 / d as f64;
    Ok(Some(
        latents
            .iter()
            .map(|&k| {
                let residual = residual_variances(&cov, d, k.min(d));
                let code_bits: f64 = residual
                    .iter()
                    .zip(&step)
                    .map(|(&r, &s)| {
                        let sigma = (r.max(0.0) + floor * floor).sqrt() / s.max(f64::MIN_POSITIVE);
                        // Entropy of a Gaussian quantized at step 1: log2(σ√(2πe)) for wide ones,
                        // → 0 for narrow ones.
                        0.5 * (1.0 + 2.0 * std::f64::consts::PI * std::f64::consts::E * sigma * sigma).log2()
                    })
                    .sum();
                let tile_bytes = (code_bits + k as f64 * LATENT_BITS) / 8.0;
                LinearEstimate {
                    bytes: tile_bytes * whole_tiles + model_bytes(k, hidden, d),
                    latent: k,
                    block: block.to_vec(),
                }
            })
            .collect(),
    ))
}

/// Bytes of a dense int8 decoder k → hidden (mirrored) → d: one byte per weight, four per bias.
fn model_bytes(k: usize, hidden: &[usize], d: usize) -> f64 {
    let widths: Vec<usize> =
        std::iter::once(k).chain(hidden.iter().rev().map(|&h| h.max(4 * k))).chain([d]).collect();
    widths.windows(2).map(|w| (w[0] * w[1] + 4 * w[1]) as f64).sum()
}

/// The d × d covariance of `n` tiles.
fn covariance(samples: &[f32], n: usize, d: usize) -> Vec<f64> {
    let mut mean = vec![0f64; d];
    for t in samples.chunks_exact(d) {
        for (m, &x) in mean.iter_mut().zip(t) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0f64; d * d];
    let mut centered = vec![0f64; d];
    for t in samples.chunks_exact(d) {
        for ((c, &x), m) in centered.iter_mut().zip(t).zip(&mean) {
            *c = x as f64 - m;
        }
        for (i, &ci) in centered.iter().enumerate() {
            let row = &mut cov[i * d..(i + 1) * d];
            for (r, &cj) in row.iter_mut().zip(&centered) {
                *r += ci * cj;
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= n as f64);
    cov
}

/// The variance left at each position after projecting the tiles on the top-`k` principal
/// subspace of `cov` (found by subspace iteration): diag((I − QQᵀ) C (I − QQᵀ)).
fn residual_variances(cov: &[f64], d: usize, k: usize) -> Vec<f64> {
    let diag: Vec<f64> = (0..d).map(|j| cov[j * d + j]).collect();
    if k == 0 {
        return diag;
    }
    // Deterministic start: columns of a fixed pseudo-random matrix.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut q: Vec<f64> = (0..d * k)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    orthonormalize(&mut q, d, k);
    for _ in 0..40 {
        q = multiply(cov, &q, d, k);
        orthonormalize(&mut q, d, k);
    }
    // With M = C Q and B = Qᵀ C Q: diag = C_jj − 2 Σ_i Q_ji M_ji + Σ_il Q_ji B_il Q_jl.
    let m = multiply(cov, &q, d, k);
    let mut b = vec![0f64; k * k];
    for i in 0..k {
        for l in 0..k {
            b[i * k + l] = (0..d).map(|j| q[j * k + i] * m[j * k + l]).sum();
        }
    }
    (0..d)
        .map(|j| {
            let qj = &q[j * k..(j + 1) * k];
            let mj = &m[j * k..(j + 1) * k];
            let cross: f64 = qj.iter().zip(mj).map(|(a, b)| a * b).sum();
            let mut quad = 0.0;
            for i in 0..k {
                for l in 0..k {
                    quad += qj[i] * b[i * k + l] * qj[l];
                }
            }
            diag[j] - 2.0 * cross + quad
        })
        .collect()
}

/// C · Q for a d × d C and a d × k Q (row-major).
fn multiply(c: &[f64], q: &[f64], d: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0f64; d * k];
    for j in 0..d {
        let row = &c[j * d..(j + 1) * d];
        let o = &mut out[j * k..(j + 1) * k];
        for (x, &cjx) in row.iter().enumerate() {
            for (oi, &qx) in o.iter_mut().zip(&q[x * k..(x + 1) * k]) {
                *oi += cjx * qx;
            }
        }
    }
    out
}

/// Modified Gram–Schmidt on the k columns of a d × k matrix; a column that vanishes stays zero.
fn orthonormalize(q: &mut [f64], d: usize, k: usize) {
    for i in 0..k {
        for l in 0..i {
            let dot: f64 = (0..d).map(|j| q[j * k + i] * q[j * k + l]).sum();
            for j in 0..d {
                q[j * k + i] -= dot * q[j * k + l];
            }
        }
        let norm = (0..d).map(|j| q[j * k + i] * q[j * k + i]).sum::<f64>().sqrt();
        for j in 0..d {
            q[j * k + i] = if norm > 1e-300 { q[j * k + i] / norm } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_is_what_the_top_components_leave() {
        // Variances 9, 4, 1 along the axes: one component leaves 4 + 1, two leave 1.
        let cov = vec![9.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 1.0];
        let one = residual_variances(&cov, 3, 1);
        assert!((one.iter().sum::<f64>() - 5.0).abs() < 1e-9, "{one:?}");
        let two = residual_variances(&cov, 3, 2);
        assert!((two.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{two:?}");
        assert!((two[2] - 1.0).abs() < 1e-9, "the smallest axis is left: {two:?}");
    }

    #[test]
    fn tiles_of_a_low_dimensional_family_leave_nothing() {
        // Tiles a·u + b·v of two fixed patterns: two components explain them all.
        let d = 16;
        let u: Vec<f32> = (0..d).map(|j| (j as f32 * 0.7).sin()).collect();
        let v: Vec<f32> = (0..d).map(|j| (j as f32 * 0.3).cos()).collect();
        let samples: Vec<f32> = (0..500)
            .flat_map(|t| {
                let (a, b) = ((t as f32 * 0.37).sin(), (t as f32 * 0.11).cos());
                (0..d).map(|j| a * u[j] + b * v[j]).collect::<Vec<_>>()
            })
            .collect();
        let cov = covariance(&samples, 500, d);
        let total: f64 = (0..d).map(|j| cov[j * d + j]).sum();
        let left: f64 = residual_variances(&cov, d, 2).iter().sum();
        assert!(left < 1e-6 * total, "{left} of {total}");
        assert!(residual_variances(&cov, d, 1).iter().sum::<f64>() > 0.01 * total);
    }
}
