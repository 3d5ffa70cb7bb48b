//! The linear operations of a decoder network: dense layers, convolutions and transposed
//! convolutions. A (transposed) convolution is stored as its small kernel (that is what the honest
//! ratio pays for) and run as the sparse dense matrix it equals, so every decoder backend — CPU,
//! WASM, WGSL — runs one kind of integer layer and gets the same bits.
//!
//! Tensors are channels-first: element `(c, y0, y1, y2)` of a `[C, d0, d1, d2]` activation is at
//! `c·d0·d1·d2 + (y0·d1 + y1)·d2 + y2`. Kernels use PyTorch's (and burn's) layouts: a convolution
//! `[out][in][k0][k1][k2]`, a transposed convolution `[in][out][k0][k1][k2]`. 2-D layers have
//! `d0 = k0 = stride0 = 1`, `padding0 = 0`.

use serde::{Deserialize, Serialize};

/// Largest channel count, kernel extent, stride and spatial extent a stored layer may claim.
const MAX_CHANNELS: u32 = 1024;
const MAX_KERNEL: u32 = 16;
const MAX_EXTENT: u32 = 4096;
/// Largest expanded matrix (out × in entries): bounds what a hostile model can make us allocate.
pub const MAX_DENSE_ENTRIES: u64 = 1 << 26;

/// Shape of a 3-D (transposed) convolution; see the module documentation for layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvGeom {
    pub in_channels: u32,
    pub out_channels: u32,
    /// Spatial extent of the input.
    pub in_size: [u32; 3],
    pub kernel: [u32; 3],
    pub stride: [u32; 3],
    pub padding: [u32; 3],
}

/// One linear layer's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinearOp {
    /// `y = W x`, `W` row-major [out][in].
    Dense { in_dim: u32, out_dim: u32 },
    /// `y[o, p] = Σ_{i, κ} W[o, i, κ] · x[i, p·stride − padding + κ]` (cross-correlation).
    Conv(ConvGeom),
    /// `y[o, p·stride − padding + κ] += W[i, o, κ] · x[i, p]` (the adjoint of a convolution).
    ConvTranspose(ConvGeom),
}

impl ConvGeom {
    fn kernel_len(&self) -> usize {
        self.kernel.iter().map(|&k| k as usize).product()
    }

    fn in_positions(&self) -> usize {
        self.in_size.iter().map(|&d| d as usize).product()
    }

    /// Output extent along each axis, or `None` when the kernel does not fit.
    fn out_size(&self, transposed: bool) -> Option<[u32; 3]> {
        let mut out = [0u32; 3];
        for (a, o) in out.iter_mut().enumerate() {
            let (n, k, s, p) = (self.in_size[a], self.kernel[a], self.stride[a], self.padding[a]);
            if s == 0 {
                return None;
            }
            *o = if transposed {
                n.checked_sub(1)?.checked_mul(s)?.checked_add(k)?.checked_sub(p.checked_mul(2)?)?
            } else {
                n.checked_add(p.checked_mul(2)?)?.checked_sub(k)? / s + 1
            };
            if *o == 0 {
                return None;
            }
        }
        Some(out)
    }

    fn check(&self, transposed: bool) -> Result<[u32; 3], String> {
        let ch_ok = |c: u32| (1..=MAX_CHANNELS).contains(&c);
        if !ch_ok(self.in_channels) || !ch_ok(self.out_channels) {
            return Err(format!("channels {}→{} out of range", self.in_channels, self.out_channels));
        }
        for a in 0..3 {
            let (n, k, s, p) = (self.in_size[a], self.kernel[a], self.stride[a], self.padding[a]);
            if !(1..=MAX_EXTENT).contains(&n) || !(1..=MAX_KERNEL).contains(&k) {
                return Err(format!("axis {a}: size {n} or kernel {k} out of range"));
            }
            if !(1..=MAX_KERNEL).contains(&s) || p >= k {
                return Err(format!("axis {a}: stride {s} or padding {p} out of range"));
            }
        }
        self.out_size(transposed).ok_or_else(|| "the kernel does not fit the input".to_string())
    }
}

impl LinearOp {
    /// Checks the geometry (sizes in range, kernel fits, expanded matrix not too large).
    pub fn check(&self) -> Result<(), String> {
        match self {
            LinearOp::Dense { .. } => {}
            LinearOp::Conv(g) => {
                g.check(false)?;
            }
            LinearOp::ConvTranspose(g) => {
                g.check(true)?;
            }
        }
        // In u128: a checked convolution's dims reach 2^46 each, whose product overflows u64.
        let entries = self.in_dim() as u128 * self.out_dim() as u128;
        if self.in_dim() == 0 || self.out_dim() == 0 || entries > u128::from(MAX_DENSE_ENTRIES) {
            return Err(format!("{}×{} layer out of range", self.out_dim(), self.in_dim()));
        }
        Ok(())
    }

    pub fn in_dim(&self) -> usize {
        match self {
            LinearOp::Dense { in_dim, .. } => *in_dim as usize,
            LinearOp::Conv(g) | LinearOp::ConvTranspose(g) => g.in_channels as usize * g.in_positions(),
        }
    }

    /// Output extent per channel (1 for a dense layer). Only meaningful after [`Self::check`].
    pub fn out_positions(&self) -> usize {
        match self {
            LinearOp::Dense { .. } => 1,
            LinearOp::Conv(g) => g.out_size(false).map_or(0, |s| s.iter().map(|&d| d as usize).product()),
            LinearOp::ConvTranspose(g) => {
                g.out_size(true).map_or(0, |s| s.iter().map(|&d| d as usize).product())
            }
        }
    }

    pub fn out_dim(&self) -> usize {
        self.out_channels() * self.out_positions()
    }

    /// Output channels; a dense layer's outputs are each their own channel.
    pub fn out_channels(&self) -> usize {
        match self {
            LinearOp::Dense { out_dim, .. } => *out_dim as usize,
            LinearOp::Conv(g) | LinearOp::ConvTranspose(g) => g.out_channels as usize,
        }
    }

    /// Number of stored weights.
    pub fn weight_len(&self) -> usize {
        match self {
            LinearOp::Dense { in_dim, out_dim } => *in_dim as usize * *out_dim as usize,
            LinearOp::Conv(g) | LinearOp::ConvTranspose(g) => {
                g.in_channels as usize * g.out_channels as usize * g.kernel_len()
            }
        }
    }

    /// Calls `f(row, column, weight index)` for every non-zero entry of the equivalent dense
    /// matrix ([out_dim][in_dim]); each (row, column) pair comes at most once.
    pub fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        match *self {
            LinearOp::Dense { in_dim, out_dim } => {
                let n = in_dim as usize;
                for w in 0..n * out_dim as usize {
                    f(w / n, w % n, w);
                }
            }
            LinearOp::Conv(g) => taps(&g, false, &mut f),
            LinearOp::ConvTranspose(g) => taps(&g, true, &mut f),
        }
    }

    /// The equivalent dense matrix, row-major [out_dim][in_dim], from weights in this op's layout.
    pub fn expand<T: Copy + Default>(&self, weights: &[T]) -> Vec<T> {
        let n = self.in_dim();
        let mut dense = vec![T::default(); n * self.out_dim()];
        self.for_each_tap(|r, c, w| dense[r * n + c] = weights[w]);
        dense
    }
}

/// Enumerates the taps of a (transposed) convolution: for every input position and kernel offset,
/// the output position they meet at (the relation `out = in_pos·s − p + κ` for a transposed
/// convolution, `in_pos = out·s − p + κ` for a convolution).
fn taps(g: &ConvGeom, transposed: bool, f: &mut impl FnMut(usize, usize, usize)) {
    let Some(out) = g.out_size(transposed) else { return };
    let out = out.map(|d| d as i64);
    let inp = g.in_size.map(|d| d as i64);
    let (n_in, n_out) = (inp.iter().product::<i64>() as usize, out.iter().product::<i64>() as usize);
    let k = g.kernel.map(|d| d as i64);
    let (s, p) = (g.stride.map(|d| d as i64), g.padding.map(|d| d as i64));
    let klen = g.kernel_len();
    let (ci, co) = (g.in_channels as usize, g.out_channels as usize);
    // The "small" side: positions the kernel is anchored at (outputs of a convolution, inputs of a
    // transposed one); the "large" side: where each tap lands.
    let (anchor, land) = if transposed { (inp, out) } else { (out, inp) };
    for a0 in 0..anchor[0] {
        for a1 in 0..anchor[1] {
            for a2 in 0..anchor[2] {
                let a_flat = ((a0 * anchor[1] + a1) * anchor[2] + a2) as usize;
                for k0 in 0..k[0] {
                    let l0 = a0 * s[0] - p[0] + k0;
                    if !(0..land[0]).contains(&l0) {
                        continue;
                    }
                    for k1 in 0..k[1] {
                        let l1 = a1 * s[1] - p[1] + k1;
                        if !(0..land[1]).contains(&l1) {
                            continue;
                        }
                        for k2 in 0..k[2] {
                            let l2 = a2 * s[2] - p[2] + k2;
                            if !(0..land[2]).contains(&l2) {
                                continue;
                            }
                            let l_flat = ((l0 * land[1] + l1) * land[2] + l2) as usize;
                            let kk = ((k0 * k[1] + k1) * k[2] + k2) as usize;
                            let (out_pos, in_pos) =
                                if transposed { (l_flat, a_flat) } else { (a_flat, l_flat) };
                            for i in 0..ci {
                                for o in 0..co {
                                    let w = if transposed { i * co + o } else { o * ci + i } * klen + kk;
                                    f(o * n_out + out_pos, i * n_in + in_pos, w);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(ci: u32, co: u32, size: [u32; 3], k: [u32; 3], s: [u32; 3], p: [u32; 3]) -> ConvGeom {
        ConvGeom { in_channels: ci, out_channels: co, in_size: size, kernel: k, stride: s, padding: p }
    }

    /// Direct evaluation of the defining sums, for comparison with the expanded matrix.
    fn direct(op: &LinearOp, w: &[f64], x: &[f64]) -> Vec<f64> {
        let (LinearOp::Conv(g) | LinearOp::ConvTranspose(g)) = op else { unreachable!() };
        let t = matches!(op, LinearOp::ConvTranspose(_));
        let o_sz = g.out_size(t).unwrap().map(|d| d as i64);
        let i_sz = g.in_size.map(|d| d as i64);
        let k = g.kernel.map(|d| d as i64);
        let (ci, co) = (g.in_channels as i64, g.out_channels as i64);
        let idx =
            |c: i64, p: [i64; 3], sz: [i64; 3]| (((c * sz[0] + p[0]) * sz[1] + p[1]) * sz[2] + p[2]) as usize;
        let mut y = vec![0.0; op.out_dim()];
        for o in 0..co {
            for i in 0..ci {
                for kk in 0..k.iter().product::<i64>() {
                    let kv = [kk / (k[1] * k[2]), (kk / k[2]) % k[1], kk % k[2]];
                    let wi =
                        (if t { i * co + o } else { o * ci + i } * k.iter().product::<i64>() + kk) as usize;
                    let (small, large) = if t { (i_sz, o_sz) } else { (o_sz, i_sz) };
                    for a in 0..small.iter().product::<i64>() {
                        let av = [a / (small[1] * small[2]), (a / small[2]) % small[1], a % small[2]];
                        let lv: [i64; 3] =
                            [0, 1, 2].map(|d| av[d] * g.stride[d] as i64 - g.padding[d] as i64 + kv[d]);
                        if (0..3).any(|d| lv[d] < 0 || lv[d] >= large[d]) {
                            continue;
                        }
                        let (yo, xi) = if t {
                            (idx(o, lv, o_sz), idx(i, av, i_sz))
                        } else {
                            (idx(o, av, o_sz), idx(i, lv, i_sz))
                        };
                        y[yo] += w[wi] * x[xi];
                    }
                }
            }
        }
        y
    }

    #[test]
    fn expanded_matrices_equal_the_defining_sums() {
        let ops = [
            LinearOp::Conv(geom(1, 3, [1, 8, 8], [1, 4, 4], [1, 2, 2], [0, 1, 1])),
            LinearOp::ConvTranspose(geom(3, 2, [1, 4, 4], [1, 4, 4], [1, 2, 2], [0, 1, 1])),
            LinearOp::Conv(geom(2, 2, [4, 6, 5], [3, 3, 3], [1, 2, 1], [1, 1, 0])),
            LinearOp::ConvTranspose(geom(2, 3, [2, 3, 3], [4, 4, 2], [2, 2, 1], [1, 1, 0])),
        ];
        for op in ops {
            op.check().unwrap();
            let w: Vec<f64> = (0..op.weight_len()).map(|i| ((i * 37 % 23) as f64) - 11.0).collect();
            let x: Vec<f64> = (0..op.in_dim()).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
            let m = op.expand(&w);
            let y: Vec<f64> =
                m.chunks_exact(op.in_dim()).map(|row| row.iter().zip(&x).map(|(a, b)| a * b).sum()).collect();
            assert_eq!(y, direct(&op, &w, &x), "{op:?}");
        }
    }

    #[test]
    fn stride_two_halves_and_doubles() {
        let down = LinearOp::Conv(geom(1, 4, [1, 16, 16], [1, 4, 4], [1, 2, 2], [0, 1, 1]));
        let up = LinearOp::ConvTranspose(geom(4, 1, [1, 8, 8], [1, 4, 4], [1, 2, 2], [0, 1, 1]));
        assert_eq!((down.in_dim(), down.out_dim()), (256, 4 * 64));
        assert_eq!((up.in_dim(), up.out_dim()), (4 * 64, 256));
    }

    #[test]
    fn hostile_geometry_is_rejected() {
        let g = geom(1, 1, [1, 4, 4], [1, 8, 8], [1, 1, 1], [0, 0, 0]);
        assert!(LinearOp::Conv(g).check().is_err(), "kernel larger than the input");
        let g = geom(1, 1, [1, 4, 4], [1, 3, 3], [1, 0, 1], [0, 1, 1]);
        assert!(LinearOp::Conv(g).check().is_err(), "zero stride");
        let g = geom(1024, 1024, [1, 64, 64], [1, 3, 3], [1, 1, 1], [0, 1, 1]);
        assert!(LinearOp::Conv(g).check().is_err(), "expanded matrix too large");
        assert!(LinearOp::Dense { in_dim: 0, out_dim: 3 }.check().is_err());
    }
}
