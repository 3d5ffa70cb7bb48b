//! Geometry: every dataset is viewed as a 3-d lattice [d0, d1, d2] that is cut into chunks along
//! d0 and into autoencoder tiles.
//!
//! 1-d [n] → [n, 1, 1]; 2-d [h, w] → [h, w, 1]; 3-d as is; n-d → [∏ leading, h, w];
//! a table [rows, cols] → [rows, cols, 1] with one stream per column (index along d1).

use crate::error::{Result, corrupt};

/// Largest number of elements a dataset may claim; checked before anything is allocated.
pub const MAX_ELEMENTS: u64 = 1 << 40;

pub fn lattice(shape: &[u64], table: bool) -> Result<[usize; 3]> {
    let total = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    match total {
        Some(t) if t <= MAX_ELEMENTS => {}
        _ => return corrupt(format!("shape {shape:?} has more than 2^40 elements")),
    }
    let s: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    Ok(match (s.len(), table) {
        (2, true) => [s[0], s[1], 1],
        (_, true) => return corrupt(format!("a table must be 2-d, shape is {shape:?}")),
        (0, _) => [1, 1, 1],
        (1, _) => [s[0], 1, 1],
        (2, _) => [s[0], s[1], 1],
        (n, _) => [s[..n - 2].iter().product(), s[n - 2], s[n - 1]],
    })
}

/// A chunk: the rows [start, start + rows) of d0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkDims {
    pub start: usize,
    pub dims: [usize; 3],
}

impl ChunkDims {
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of tiles along each axis.
    pub fn tile_grid(&self, tile: [usize; 3]) -> [usize; 3] {
        [0, 1, 2].map(|a| self.dims[a].div_ceil(tile[a]))
    }

    pub fn tile_count(&self, tile: [usize; 3]) -> usize {
        self.tile_grid(tile).iter().product()
    }

    /// Tile index (raster order) of each element of the chunk.
    pub fn element_tiles(&self, tile: [usize; 3]) -> Vec<u32> {
        let g = self.tile_grid(tile);
        let [n0, n1, n2] = self.dims;
        let mut out = Vec::with_capacity(self.len());
        for i in 0..n0 {
            for j in 0..n1 {
                for k in 0..n2 {
                    out.push((((i / tile[0]) * g[1] + j / tile[1]) * g[2] + k / tile[2]) as u32);
                }
            }
        }
        out
    }

    /// The elements of tile `t` inside the chunk, a row at a time: `visit(offset, element, len)`
    /// for the `len` consecutive elements from `element`, at offsets `offset..` in the tile
    /// (tile-raster order). These are the elements the tile owns, and each offset is the first at
    /// which [`Self::tile_elements`] lists the element.
    pub fn for_each_tile_row(&self, tile: [usize; 3], t: usize, mut visit: impl FnMut(usize, usize, usize)) {
        let g = self.tile_grid(tile);
        let (t0, t1, t2) = (t / (g[1] * g[2]), (t / g[2]) % g[1], t % g[2]);
        let [n0, n1, n2] = self.dims;
        let (i0, j0, k0) = (t0 * tile[0], t1 * tile[1], t2 * tile[2]);
        let inside = |first: usize, len: usize, n: usize| len.min(n.saturating_sub(first));
        let (a_end, b_end, c_end) =
            (inside(i0, tile[0], n0), inside(j0, tile[1], n1), inside(k0, tile[2], n2));
        if c_end == 0 {
            return;
        }
        for a in 0..a_end {
            for b in 0..b_end {
                let o = (a * tile[1] + b) * tile[2];
                let e = ((i0 + a) * n1 + j0 + b) * n2 + k0;
                visit(o, e, c_end);
            }
        }
    }

    /// Element offsets (within the chunk) of tile `t`, in tile-raster order; positions outside the
    /// chunk are clamped to the edge (edge replication), so every tile has exactly ∏tile entries.
    pub fn tile_elements(&self, tile: [usize; 3], t: usize) -> Vec<usize> {
        let g = self.tile_grid(tile);
        let (t0, t1, t2) = (t / (g[1] * g[2]), (t / g[2]) % g[1], t % g[2]);
        let [n0, n1, n2] = self.dims;
        let mut out = Vec::with_capacity(tile.iter().product());
        for a in 0..tile[0] {
            let i = (t0 * tile[0] + a).min(n0 - 1);
            for b in 0..tile[1] {
                let j = (t1 * tile[1] + b).min(n1 - 1);
                for c in 0..tile[2] {
                    let k = (t2 * tile[2] + c).min(n2 - 1);
                    out.push((i * n1 + j) * n2 + k);
                }
            }
        }
        out
    }
}

/// Cuts d0 into chunks of about `target` elements, each a whole number of tiles along d0.
pub fn plan_chunks(lattice: [usize; 3], tile0: usize, target: usize) -> Vec<ChunkDims> {
    let plane = (lattice[1] * lattice[2]).max(1);
    let rows = (target / plane).max(1).div_ceil(tile0) * tile0;
    let mut out = Vec::new();
    let mut start = 0;
    while start < lattice[0] {
        let n = rows.min(lattice[0] - start);
        out.push(ChunkDims { start, dims: [n, lattice[1], lattice[2]] });
        start += n;
    }
    out
}

/// The first chunk element of each run of `b[2]` consecutive elements that make a box `b` at the
/// centre of a chunk of `dims` (the box the encoder prices candidates on), in the box's order.
#[cfg(feature = "encode")]
fn central_box_runs(dims: [usize; 3], b: [usize; 3]) -> impl Iterator<Item = usize> {
    let [_, d1, d2] = dims;
    let o = [(dims[0] - b[0]) / 2, (d1 - b[1]) / 2, (d2 - b[2]) / 2];
    (0..b[0]).flat_map(move |i| (0..b[1]).map(move |j| ((o[0] + i) * d1 + o[1] + j) * d2 + o[2]))
}

/// The chunk elements of that box, in the box's order.
#[cfg(feature = "encode")]
pub(crate) fn central_box(dims: [usize; 3], b: [usize; 3]) -> impl Iterator<Item = usize> {
    central_box_runs(dims, b).flat_map(move |start| start..start + b[2])
}

/// A chunk's `elements` on that box, in the box's order: a copy per run (the box is built for
/// every chunk, and an index computed per element cost 22 ns a value).
#[cfg(feature = "encode")]
pub(crate) fn on_central_box<T: Copy>(elements: &[T], dims: [usize; 3], b: [usize; 3]) -> Vec<T> {
    let mut out = Vec::with_capacity(b.iter().product());
    for start in central_box_runs(dims, b) {
        out.extend_from_slice(&elements[start..start + b[2]]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "encode")]
    #[test]
    fn central_boxes_are_the_boxes_at_the_centre() {
        for (dims, b) in
            [([6, 7, 8], [2, 3, 4]), ([5, 9, 10], [5, 9, 10]), ([1, 1, 9], [1, 1, 3]), ([9, 4, 4], [3, 1, 2])]
        {
            let o = [(dims[0] - b[0]) / 2, (dims[1] - b[1]) / 2, (dims[2] - b[2]) / 2];
            let mut want = Vec::new();
            for i in 0..b[0] {
                for j in 0..b[1] {
                    for k in 0..b[2] {
                        want.push(((o[0] + i) * dims[1] + o[1] + j) * dims[2] + o[2] + k);
                    }
                }
            }
            assert_eq!(central_box(dims, b).collect::<Vec<_>>(), want, "{dims:?} {b:?}");
            let elements: Vec<u32> = (0..dims.iter().product::<usize>() as u32).map(|e| e * 3).collect();
            let on_box: Vec<u32> = want.iter().map(|&e| elements[e]).collect();
            assert_eq!(on_central_box(&elements, dims, b), on_box);
        }
    }

    #[test]
    fn lattices() {
        assert_eq!(lattice(&[7], false).unwrap(), [7, 1, 1]);
        assert_eq!(lattice(&[4, 5], false).unwrap(), [4, 5, 1]);
        assert_eq!(lattice(&[2, 3, 4, 5], false).unwrap(), [6, 4, 5]);
        assert_eq!(lattice(&[10, 3], true).unwrap(), [10, 3, 1]);
        assert!(lattice(&[1 << 30, 1 << 30], false).is_err());
        assert!(lattice(&[u64::MAX, 2], false).is_err());
    }

    #[test]
    fn tiles_cover_and_replicate_edges() {
        let c = ChunkDims { start: 0, dims: [2, 5, 3] };
        let tile = [1, 2, 2];
        assert_eq!(c.tile_grid(tile), [2, 3, 2]);
        let owner = c.element_tiles(tile);
        for t in 0..c.tile_count(tile) {
            let els = c.tile_elements(tile, t);
            assert_eq!(els.len(), 4);
            assert!(els.iter().all(|&e| e < c.len()));
            assert!(els.iter().any(|&e| owner[e] as usize == t));
        }
        // Last tile of the first frame: rows 4 (and 4 again), cols 2 (and 2 again).
        assert_eq!(c.tile_elements(tile, 5), vec![14, 14, 14, 14]);
    }

    #[test]
    fn tile_element_visits_are_the_owned_elements_at_their_first_offset() {
        for (dims, tile) in [
            ([2, 5, 3], [1, 2, 2]),
            ([5, 7, 9], [2, 4, 4]),
            ([3, 16, 16], [1, 16, 16]),
            ([1, 3, 1], [4, 4, 4]),
        ] {
            let c = ChunkDims { start: 0, dims };
            let owner = c.element_tiles(tile);
            let mut seen = vec![0u8; c.len()];
            for t in 0..c.tile_count(tile) {
                let listed = c.tile_elements(tile, t);
                c.for_each_tile_row(tile, t, |o, first, len| {
                    for (o, e) in (o..o + len).zip(first..first + len) {
                        assert_eq!(owner[e] as usize, t, "{dims:?}");
                        assert_eq!(listed.iter().position(|&x| x == e), Some(o), "{dims:?} tile {t}");
                        seen[e] += 1;
                    }
                });
            }
            assert!(seen.iter().all(|&s| s == 1), "{dims:?}: every element once");
        }
    }

    #[test]
    fn chunks_partition_d0() {
        let ch = plan_chunks([10, 4, 4], 3, 50);
        assert_eq!(ch.iter().map(|c| c.dims[0]).sum::<usize>(), 10);
        assert!(ch[..ch.len() - 1].iter().all(|c| c.dims[0] % 3 == 0));
        assert_eq!(ch[1].start, ch[0].dims[0]);
    }
}
