//! SZ3's multilevel interpolation order, as runs of points that share one stencil.
//!
//! Anchors on a grid of spacing S (the largest power of two below the longest axis) come first, in
//! raster order, each predicted by the previous anchor (the first by the centre). Then for spacing
//! h = S/2, S/4, …, 1 and each axis a in turn (a *pass*), the points at odd multiples of h along a,
//! multiples of h along the axes before a and of 2h along the axes after, are predicted along a from
//! the known points at ±h (and ±3h). `reversed` takes the axes in the order 2, 1, 0 within a level.
//!
//! A pass only reads points of earlier passes, so its points may be computed in any order with the
//! same result: the decoder runs each pass as runs along the last axis, where the stencil is fixed
//! and the inner loop is a plain strided loop (no per-point neighbour lookup).

/// How a refined point is predicted from the known points along its pass's axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stencil {
    /// (−x[−3] + 9·x[−1] + 9·x[+1] − x[+3]) / 16.
    Cubic,
    /// (x[−1] + x[+1]) / 2.
    Linear,
    /// Past the last known point: (3·x[−1] − x[−3]) / 2.
    Extrapolate,
    /// Only x[−1] is known.
    Copy,
}

impl Stencil {
    /// The stencil at coordinate `c` (an odd multiple of `h`) of an axis of length `n`.
    fn at(c: usize, h: usize, n: usize, cubic: bool) -> Self {
        let (r1, l3, r3) = (c + h < n, c >= 3 * h, c + 3 * h < n);
        match (r1, l3, r3) {
            (true, true, true) if cubic => Stencil::Cubic,
            (true, _, _) => Stencil::Linear,
            (false, true, _) => Stencil::Extrapolate,
            (false, false, _) => Stencil::Copy,
        }
    }
}

/// `count` points from element `first`, `step` apart, predicted by `stencil` from the points
/// `d`, `3d` elements before and after; the pass is spacing `h` along `axis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub first: usize,
    pub count: usize,
    pub step: usize,
    pub d: usize,
    pub stencil: Stencil,
    pub h: usize,
    pub axis: usize,
}

/// Anchor spacing of a lattice: the largest power of two below the longest axis (1 at least).
fn anchor_spacing(dims: [usize; 3]) -> usize {
    let longest = dims.iter().copied().max().unwrap_or(0);
    let mut spacing = 1usize;
    while spacing * 2 < longest {
        spacing *= 2;
    }
    spacing
}

/// The anchors in raster order.
pub fn anchors(dims: [usize; 3], mut visit: impl FnMut(usize)) {
    if dims.contains(&0) {
        return;
    }
    let s = anchor_spacing(dims);
    for i in (0..dims[0]).step_by(s) {
        for j in (0..dims[1]).step_by(s) {
            for k in (0..dims[2]).step_by(s) {
                visit((i * dims[1] + j) * dims[2] + k);
            }
        }
    }
}

/// Points `start, start + step, …` below `n`.
fn count(start: usize, step: usize, n: usize) -> usize {
    if start >= n { 0 } else { (n - start - 1) / step + 1 }
}

/// Every refinement pass, in order, as runs (anchors excluded: see [`anchors`]). The runs of a
/// pass (same `h` and `axis`) come together; their order is free, the passes' is not.
pub fn runs(dims: [usize; 3], reversed: bool, cubic: bool, mut visit: impl FnMut(Run)) {
    if !dims.contains(&0) {
        levels_from_top(dims, reversed, cubic, 1, &mut visit);
    }
}

/// The passes of every level from the coarsest down to spacing `finest`, pass by pass.
fn levels_from_top(
    dims: [usize; 3],
    reversed: bool,
    cubic: bool,
    finest: usize,
    visit: &mut impl FnMut(Run),
) {
    let mut h = anchor_spacing(dims) / 2;
    while h >= finest.max(1) {
        for a in pass_axes(dims, h, reversed) {
            for i in 0..dims[0] {
                pass_runs(dims, h, a, reversed, cubic, i, visit);
            }
        }
        h /= 2;
    }
}

/// The runs of [`runs`] in another order that computes the same values: the finest level (7/8
/// of a 3-d field's points) plane by plane along axis 0 instead of pass by pass, so that its
/// passes meet each plane while it is still in cache (a chunk's arrays are tens of MB). Every
/// point still reads only points of earlier passes: in the axis order 0-1-2, a plane's pass along
/// axis 0 reads coarser points only, and its other passes read its own plane; in the order 2-1-0
/// the pass along axis 0 of an odd plane reads the even planes up to 3 on, which come first.
pub fn runs_by_plane(dims: [usize; 3], reversed: bool, cubic: bool, mut visit: impl FnMut(Run)) {
    // No level at all where the anchors are every point (spacing 1).
    if dims.contains(&0) || anchor_spacing(dims) < 2 {
        return;
    }
    levels_from_top(dims, reversed, cubic, 2, &mut visit);
    let axes = pass_axes(dims, 1, reversed);
    if !reversed {
        for i in 0..dims[0] {
            for &a in &axes {
                pass_runs(dims, 1, a, reversed, cubic, i, &mut visit);
            }
        }
        return;
    }
    // Axis 0's pass (last in this order) of plane t − 3 once plane t's others are done.
    for t in 0..dims[0] + 3 {
        if t < dims[0] {
            for &a in axes.iter().filter(|&&a| a != 0) {
                pass_runs(dims, 1, a, reversed, cubic, t, &mut visit);
            }
        }
        if t >= 3 && axes.contains(&0) {
            pass_runs(dims, 1, 0, reversed, cubic, t - 3, &mut visit);
        }
    }
}

/// The axes with a pass at spacing `h`, in order.
fn pass_axes(dims: [usize; 3], h: usize, reversed: bool) -> Vec<usize> {
    let order = if reversed { [2, 1, 0] } else { [0, 1, 2] };
    order.into_iter().filter(|&a| dims[a] > h).collect()
}

/// The runs of the pass at spacing `h` along axis `a` in plane `i` (none where the pass has no
/// points there).
fn pass_runs(
    dims: [usize; 3],
    h: usize,
    a: usize,
    reversed: bool,
    cubic: bool,
    i: usize,
    visit: &mut impl FnMut(Run),
) {
    let strides = [dims[1] * dims[2], dims[2], 1];
    let rank = |x: usize| if reversed { 2 - x } else { x };
    // Per axis: (first coordinate, step) of the points refined in this pass.
    let range = |b: usize| -> (usize, usize) {
        match rank(b).cmp(&rank(a)) {
            std::cmp::Ordering::Less => (0, h),
            std::cmp::Ordering::Equal => (h, 2 * h),
            std::cmp::Ordering::Greater => (0, 2 * h),
        }
    };
    let (r0, r1, r2) = (range(0), range(1), range(2));
    if i < r0.0 || !(i - r0.0).is_multiple_of(r0.1) {
        return;
    }
    let d = h * strides[a];
    let along = count(r2.0, r2.1, dims[2]);
    for j in (r1.0..dims[1]).step_by(r1.1) {
        let base = i * strides[0] + j * strides[1];
        if a < 2 {
            // The whole row shares the coordinate along a, hence the stencil.
            let stencil = Stencil::at([i, j][a], h, dims[a], cubic);
            if along > 0 {
                visit(Run { first: base + r2.0, count: along, step: r2.1, d, stencil, h, axis: a });
            }
            continue;
        }
        // Along the row itself: the first point lacks x[−3] and the last two may lack x[+3] /
        // x[+1]; every point between has all four neighbours.
        let tail = along.saturating_sub(1).min(2);
        let single = |m: usize| {
            let c = h + 2 * h * m;
            let stencil = Stencil::at(c, h, dims[2], cubic);
            Run { first: base + c, count: 1, step: 2 * h, d, stencil, h, axis: a }
        };
        visit(single(0));
        if along > 1 + tail {
            let stencil = if cubic { Stencil::Cubic } else { Stencil::Linear };
            let mid = along - 1 - tail;
            visit(Run { first: base + 3 * h, count: mid, step: 2 * h, d, stencil, h, axis: a });
        }
        for m in along - tail..along {
            visit(single(m));
        }
    }
}

/// Runs `run` over `v`: each point gets `set(e, prediction)`. The f64 operations are those of the
/// format (IEEE, this order, no FMA), so every platform computes the same bits.
#[inline]
pub fn refine_f64(v: &mut [f64], run: Run, mut set: impl FnMut(usize, f64) -> f64) {
    let Run { first, count, step, d, stencil, .. } = run;
    match stencil {
        Stencil::Cubic => {
            for e in (0..count).map(|m| first + m * step) {
                let p = (9.0 * (v[e - d] + v[e + d]) - (v[e - 3 * d] + v[e + 3 * d])) * 0.0625;
                v[e] = set(e, p);
            }
        }
        Stencil::Linear => {
            for e in (0..count).map(|m| first + m * step) {
                let p = (v[e - d] + v[e + d]) * 0.5;
                v[e] = set(e, p);
            }
        }
        Stencil::Extrapolate => {
            for e in (0..count).map(|m| first + m * step) {
                let p = (3.0 * v[e - d] - v[e - 3 * d]) * 0.5;
                v[e] = set(e, p);
            }
        }
        Stencil::Copy => {
            for e in (0..count).map(|m| first + m * step) {
                let p = v[e - d];
                v[e] = set(e, p);
            }
        }
    }
}

/// The predictions [`refine_f64`] makes for `run`'s points, in order, into `out`. A run reads
/// only points of earlier passes, so they may all be computed before any point is set (the
/// encoder's batched loop; the same operations, so the same bits).
#[cfg(feature = "encode")]
pub fn predict_run(v: &[f64], run: Run, out: &mut Vec<f64>) {
    let Run { first, count: n, step: s, d, stencil, .. } = run;
    out.clear();
    let at = |j: isize| -> &[f64] {
        let start = (first as isize + j * d as isize) as usize;
        &v[start..start + (n - 1) * s + 1]
    };
    let lane = |x: &[f64], m: usize| x[m * s];
    match stencil {
        Stencil::Cubic => {
            let (l1, r1, l3, r3) = (at(-1), at(1), at(-3), at(3));
            if s == 1 {
                out.extend((0..n).map(|m| (9.0 * (l1[m] + r1[m]) - (l3[m] + r3[m])) * 0.0625));
            } else {
                out.extend(
                    (0..n)
                        .map(|m| (9.0 * (lane(l1, m) + lane(r1, m)) - (lane(l3, m) + lane(r3, m))) * 0.0625),
                );
            }
        }
        Stencil::Linear => {
            let (l1, r1) = (at(-1), at(1));
            out.extend((0..n).map(|m| (lane(l1, m) + lane(r1, m)) * 0.5));
        }
        Stencil::Extrapolate => {
            let (l1, l3) = (at(-1), at(-3));
            out.extend((0..n).map(|m| (3.0 * lane(l1, m) - lane(l3, m)) * 0.5));
        }
        Stencil::Copy => {
            let l1 = at(-1);
            out.extend((0..n).map(|m| lane(l1, m)));
        }
    }
}

/// The decoder's [`refine_f64`] for chunks without exceptions: `v[e] = prediction + codes[e]·step`.
/// A contiguous run across rows (its pass's axis is not the last) reads only rows at ±d, ±3d,
/// outside the points it writes: those are split off as slices of the run's length, so the loop
/// has no index checks and vectorizes (the same operations, so the same bits).
pub fn decode_run_f64(v: &mut [f64], run: Run, codes: &[i64], step: f64) {
    let Run { first, count: n, step: s, d, stencil, .. } = run;
    let reach = if matches!(stencil, Stencil::Cubic | Stencil::Extrapolate) { 3 * d } else { d };
    let right = !matches!(stencil, Stencil::Extrapolate | Stencil::Copy);
    if s != 1 || n == 0 || d < n || first < reach || (right && first + n - 1 + reach >= v.len()) {
        return refine_f64(v, run, |e, p| p + codes[e] as f64 * step);
    }
    let (before, rest) = v.split_at_mut(first);
    let (row, after) = rest.split_at_mut(n);
    let code = &codes[first..first + n];
    let left = |j: usize| &before[first - j * d..first - j * d + n];
    let right = |j: usize| &after[j * d - n..j * d];
    match stencil {
        Stencil::Cubic => {
            let (l1, r1, l3, r3) = (left(1), right(1), left(3), right(3));
            for m in 0..n {
                row[m] = (9.0 * (l1[m] + r1[m]) - (l3[m] + r3[m])) * 0.0625 + code[m] as f64 * step;
            }
        }
        Stencil::Linear => {
            let (l1, r1) = (left(1), right(1));
            for m in 0..n {
                row[m] = (l1[m] + r1[m]) * 0.5 + code[m] as f64 * step;
            }
        }
        Stencil::Extrapolate => {
            let (l1, l3) = (left(1), left(3));
            for m in 0..n {
                row[m] = (3.0 * l1[m] - l3[m]) * 0.5 + code[m] as f64 * step;
            }
        }
        Stencil::Copy => {
            let l1 = left(1);
            for m in 0..n {
                row[m] = l1[m] + code[m] as f64 * step;
            }
        }
    }
}

/// [`decode_run_f64`] in a chunk with exceptions (`stored`): their points keep the prediction.
/// Exceptions are rare, so a run without any (most) takes the fast loop.
pub fn decode_run_f64_stored(v: &mut [f64], run: Run, codes: &[i64], step: f64, stored: &[bool]) {
    if (0..run.count).any(|m| stored[run.first + m * run.step]) {
        refine_f64(v, run, |e, p| if stored[e] { p } else { p + codes[e] as f64 * step });
    } else {
        decode_run_f64(v, run, codes, step);
    }
}

/// The same stencils on the integer grid, rounded half up and wrapping (predictors 8 and 9).
#[inline]
pub fn refine_i64(q: &mut [i64], run: Run, mut set: impl FnMut(usize, i64, i64) -> i64) {
    let Run { first, count, step, d, stencil, .. } = run;
    for e in (0..count).map(|m| first + m * step) {
        let p = predict_i64(q, e, d, stencil);
        q[e] = set(e, p, q[e]);
    }
}

/// The prediction of point e by `stencil` from the points `d`, `3d` before and after.
#[inline(always)]
fn predict_i64(q: &[i64], e: usize, d: usize, stencil: Stencil) -> i64 {
    predict_i64_with(|k| q[k], e, d, stencil)
}

/// [`predict_i64`] with the grid values read through `q`.
#[inline(always)]
pub(crate) fn predict_i64_with(q: impl Fn(usize) -> i64, e: usize, d: usize, stencil: Stencil) -> i64 {
    match stencil {
        Stencil::Cubic => {
            q(e - d)
                .wrapping_add(q(e + d))
                .wrapping_mul(9)
                .wrapping_sub(q(e - 3 * d).wrapping_add(q(e + 3 * d)))
                .wrapping_add(8)
                >> 4
        }
        Stencil::Linear => q(e - d).wrapping_add(q(e + d)).wrapping_add(1) >> 1,
        Stencil::Extrapolate => q(e - d).wrapping_mul(3).wrapping_sub(q(e - 3 * d)).wrapping_add(1) >> 1,
        Stencil::Copy => q(e - d),
    }
}

/// The codes [`refine_i64`] gives `run`'s points when every point keeps its own value (a chunk
/// without exceptions): `codes[e] = q[e] − prediction`, q only read.
#[cfg(feature = "encode")]
pub fn codes_i64(q: &[i64], run: Run, codes: &mut [i64]) {
    let Run { first, count, step, d, stencil, .. } = run;
    // One loop per stencil, so that the match is not inside it.
    macro_rules! each {
        ($s:expr) => {
            for e in (0..count).map(|m| first + m * step) {
                codes[e] = q[e].wrapping_sub(predict_i64(q, e, d, $s));
            }
        };
    }
    match stencil {
        Stencil::Cubic => each!(Stencil::Cubic),
        Stencil::Linear => each!(Stencil::Linear),
        Stencil::Extrapolate => each!(Stencil::Extrapolate),
        Stencil::Copy => each!(Stencil::Copy),
    }
}

/// [`codes_i64`] in a chunk with exceptions (`stored`): their points take the prediction as
/// their value (and code 0), as the encoder's sweep has them.
#[cfg(feature = "encode")]
pub fn codes_i64_stored(q: &mut [i64], run: Run, codes: &mut [i64], stored: &[bool]) {
    let Run { first, count, step, d, stencil, .. } = run;
    macro_rules! each {
        ($s:expr) => {
            for e in (0..count).map(|m| first + m * step) {
                let p = predict_i64(q, e, d, $s);
                if stored[e] {
                    q[e] = p;
                } else {
                    codes[e] = q[e].wrapping_sub(p);
                }
            }
        };
    }
    match stencil {
        Stencil::Cubic => each!(Stencil::Cubic),
        Stencil::Linear => each!(Stencil::Linear),
        Stencil::Extrapolate => each!(Stencil::Extrapolate),
        Stencil::Copy => each!(Stencil::Copy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order as first written: one visit per point with its neighbours spelled out. The runs
    /// must cover the same points, pass by pass, with the same neighbours.
    fn reference(dims: [usize; 3], reversed: bool, cubic: bool) -> Vec<Vec<(usize, Stencil, usize)>> {
        let strides = [dims[1] * dims[2], dims[2], 1];
        let mut passes = Vec::new();
        let mut h = anchor_spacing(dims) / 2;
        while h >= 1 {
            let order = if reversed { [2, 1, 0] } else { [0, 1, 2] };
            let rank = |x: usize| if reversed { 2 - x } else { x };
            for a in order {
                if dims[a] <= h {
                    continue;
                }
                let mut pass = Vec::new();
                for i in 0..dims[0] {
                    for j in 0..dims[1] {
                        for k in 0..dims[2] {
                            let c = [i, j, k];
                            let on = (0..3).all(|b| match rank(b).cmp(&rank(a)) {
                                std::cmp::Ordering::Less => c[b] % h == 0,
                                std::cmp::Ordering::Equal => c[b] % (2 * h) == h,
                                std::cmp::Ordering::Greater => c[b] % (2 * h) == 0,
                            });
                            if on {
                                let idx = i * strides[0] + j * strides[1] + k;
                                pass.push((idx, Stencil::at(c[a], h, dims[a], cubic), h * strides[a]));
                            }
                        }
                    }
                }
                passes.push(pass);
            }
            h /= 2;
        }
        passes
    }

    #[test]
    fn runs_cover_each_pass_like_the_pointwise_order() {
        let shapes =
            [[60, 50, 50], [1, 1, 7], [3, 1, 1], [5, 9, 2], [1, 33, 17], [2, 2, 2], [1, 1, 2], [7, 1, 13]];
        for dims in shapes {
            for reversed in [false, true] {
                for cubic in [false, true] {
                    let want = reference(dims, reversed, cubic);
                    let mut got: Vec<(usize, Stencil, usize)> = Vec::new();
                    let mut last_h = usize::MAX;
                    runs(dims, reversed, cubic, |r| {
                        assert!(r.h <= last_h, "levels go from coarse to fine");
                        last_h = r.h;
                        got.extend((0..r.count).map(|m| (r.first + m * r.step, r.stencil, r.d)));
                    });
                    let mut want: Vec<_> = want.into_iter().flatten().collect();
                    // Within a pass the order is free: compare as sets per (point).
                    want.sort_unstable_by_key(|p| p.0);
                    got.sort_unstable_by_key(|p| p.0);
                    assert_eq!(got, want, "{dims:?} reversed {reversed} cubic {cubic}");
                    let mut all: Vec<usize> = got.iter().map(|p| p.0).collect();
                    anchors(dims, |e| all.push(e));
                    all.sort_unstable();
                    let n: usize = dims.iter().product();
                    assert_eq!(all, (0..n).collect::<Vec<_>>(), "{dims:?}: every element once");
                }
            }
        }
    }

    #[test]
    fn the_plane_order_computes_what_the_pass_order_does() {
        for dims in
            [[9, 10, 11], [1, 17, 5], [33, 1, 1], [6, 20, 30], [5, 9, 2], [2, 2, 2], [16, 8, 8], [7, 1, 13]]
        {
            for reversed in [false, true] {
                for cubic in [false, true] {
                    let n: usize = dims.iter().product();
                    let codes: Vec<i64> = (0..n as i64).map(|i| (i * 7919 % 23) - 11).collect();
                    let start: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
                    let (mut by_pass, mut by_plane) = (start.clone(), start);
                    let (mut q_pass, mut q_plane) = (codes.clone(), codes.clone());
                    let mut seen = vec![0u8; n];
                    runs(dims, reversed, cubic, |r| {
                        refine_f64(&mut by_pass, r, |e, p| p + codes[e] as f64 * 0.01 * r.h as f64);
                        refine_i64(&mut q_pass, r, |_, p, c| p.wrapping_add(c));
                    });
                    runs_by_plane(dims, reversed, cubic, |r| {
                        refine_f64(&mut by_plane, r, |e, p| p + codes[e] as f64 * 0.01 * r.h as f64);
                        refine_i64(&mut q_plane, r, |_, p, c| p.wrapping_add(c));
                        (0..r.count).for_each(|m| seen[r.first + m * r.step] += 1);
                    });
                    anchors(dims, |e| seen[e] += 1);
                    assert!(seen.iter().all(|&s| s == 1), "{dims:?}: every point once");
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&by_plane), bits(&by_pass), "{dims:?} reversed {reversed} cubic {cubic}");
                    assert_eq!(q_plane, q_pass, "{dims:?} reversed {reversed} cubic {cubic}");
                }
            }
        }
    }

    #[test]
    fn runs_with_stored_points_keep_their_predictions() {
        for dims in [[9, 10, 11], [1, 17, 5], [33, 1, 1], [6, 20, 30]] {
            let n: usize = dims.iter().product();
            let codes: Vec<i64> = (0..n as i64).map(|i| (i * 7919 % 23) - 11).collect();
            let stored: Vec<bool> = (0..n).map(|i| i % 37 == 5).collect();
            let start: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
            let (mut slow, mut fast) = (start.clone(), start);
            runs(dims, false, true, |r| {
                let step = 0.01 * r.h as f64;
                refine_f64(&mut slow, r, |e, p| if stored[e] { p } else { p + codes[e] as f64 * step });
                decode_run_f64_stored(&mut fast, r, &codes, step, &stored);
            });
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "{dims:?}");
        }
    }

    #[cfg(feature = "encode")]
    #[test]
    fn encoder_batches_match_the_sweeps() {
        for dims in [[9, 10, 11], [1, 17, 5], [33, 1, 1], [6, 20, 30], [5, 9, 2]] {
            for cubic in [false, true] {
                let n: usize = dims.iter().product();
                let q: Vec<i64> = (0..n as i64).map(|i| (i * 7919 % 1000) - 500 + i / 3).collect();
                let v: Vec<f64> = q.iter().map(|&x| x as f64 * 0.37).collect();
                runs(dims, false, cubic, |r| {
                    // f64: the batched predictions are those refine_f64 makes.
                    let mut batch = Vec::new();
                    predict_run(&v, r, &mut batch);
                    let mut seen = Vec::new();
                    refine_f64(&mut v.clone(), r, |_, p| {
                        seen.push(p.to_bits());
                        p
                    });
                    assert_eq!(batch.iter().map(|p| p.to_bits()).collect::<Vec<_>>(), seen, "{dims:?} {r:?}");
                    // i64: the codes of a chunk whose points keep their values.
                    let mut codes = vec![0i64; n];
                    codes_i64(&q, r, &mut codes);
                    refine_i64(&mut q.clone(), r, |e, p, x| {
                        assert_eq!(codes[e], x.wrapping_sub(p), "{dims:?} {r:?} {e}");
                        x
                    });
                });
            }
        }
    }

    #[test]
    fn the_decoders_fast_runs_compute_the_same_bits() {
        for dims in [[9, 10, 11], [1, 17, 5], [33, 1, 1], [6, 20, 30], [5, 9, 2]] {
            for reversed in [false, true] {
                for cubic in [false, true] {
                    let n: usize = dims.iter().product();
                    let codes: Vec<i64> = (0..n as i64).map(|i| (i * 7919 % 23) - 11).collect();
                    let start: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
                    let (mut slow, mut fast) = (start.clone(), start);
                    runs(dims, reversed, cubic, |r| {
                        let step = 0.01 * r.h as f64;
                        refine_f64(&mut slow, r, |e, p| p + codes[e] as f64 * step);
                        decode_run_f64(&mut fast, r, &codes, step);
                    });
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&fast), bits(&slow), "{dims:?} reversed {reversed} cubic {cubic}");
                }
            }
        }
    }

    #[test]
    fn passes_only_read_earlier_passes() {
        // Run every pass on a marker array: a point may only read points already marked.
        for dims in [[9, 10, 11], [1, 17, 5], [33, 1, 1]] {
            for reversed in [false, true] {
                let n: usize = dims.iter().product();
                let mut known = vec![0.0f64; n];
                anchors(dims, |e| known[e] = 1.0);
                let mut pass = (usize::MAX, 0);
                let mut pending: Vec<usize> = Vec::new();
                runs(dims, reversed, true, |r| {
                    if (r.h, r.axis) != pass {
                        for &e in &pending {
                            known[e] = 1.0;
                        }
                        pending.clear();
                        pass = (r.h, r.axis);
                    }
                    let mut probe = known.clone();
                    refine_f64(&mut probe, r, |e, p| {
                        assert_eq!(p, 1.0, "{dims:?}: point {e} read an unknown neighbour");
                        p
                    });
                    pending.extend((0..r.count).map(|m| r.first + m * r.step));
                });
            }
        }
    }
}
