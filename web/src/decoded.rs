//! Decoded data as the viewer keeps it: chunk by chunk, each chunk's values as the `.npy` file
//! stores them (little-endian, in the original dtype, exactly what `baler-train decompress`
//! writes), only the chunks the view needs, within a memory budget: the least recently used are
//! dropped first. Views read values straight from those bytes.

use std::borrow::Cow;
use std::ops::Range;

use baler_codec::data::DType;
use baler_codec::npy;

/// Values one slice may have to be drawn: a slice is built whole before it is drawn, and its size
/// comes from the archive's shape, which a crafted archive can make as large as it likes.
pub const MAX_SLICE_CELLS: usize = 1 << 26;

/// Why an archive of `shape` is too large for this viewer to index (wasm32's `usize`), if it is.
pub fn too_many_values(shape: &[u64]) -> Option<String> {
    let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n <= usize::MAX as u64 => None,
        Some(n) => Some(format!("{n} values, more than this viewer can index ({})", usize::MAX)),
        None => Some("more values than this viewer can index".into()),
    }
}

/// A decoded chunk's `.npy` bytes as the store holds them.
pub enum Held {
    /// In this page's memory (decoded here, or a table, whose columns are read value by value).
    Here(Vec<u8>),
    /// Still in the buffer a worker sent them in (shared with a download writing them).
    #[cfg(target_arch = "wasm32")]
    There(std::rc::Rc<crate::lent::Lent>),
}

impl Held {
    pub fn len(&self) -> usize {
        match self {
            Held::Here(b) => b.len(),
            #[cfg(target_arch = "wasm32")]
            Held::There(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All the bytes: where they are, or copied into `part`.
    #[cfg_attr(not(target_arch = "wasm32"), allow(unused_variables, clippy::ptr_arg))]
    pub fn bytes<'a>(&'a self, part: &'a mut Vec<u8>) -> &'a [u8] {
        match self {
            Held::Here(b) => b,
            #[cfg(target_arch = "wasm32")]
            Held::There(l) => {
                part.resize(l.len(), 0);
                l.read(0..l.len(), part);
                part
            }
        }
    }

    /// Copies bytes `range` into `into` (of the same length).
    pub fn read(&self, range: Range<usize>, into: &mut [u8]) {
        match self {
            Held::Here(b) => into.copy_from_slice(&b[range]),
            #[cfg(target_arch = "wasm32")]
            Held::There(l) => l.read(range, into),
        }
    }
}

pub struct Decoded {
    pub dtype: DType,
    /// Shape of the written array (a table: `[rows, columns]`).
    pub shape: Vec<usize>,
    /// Column names of a table; None for a field.
    pub columns: Option<Vec<String>>,
    /// Values equal to this are "no data" (besides NaN and ±Inf).
    pub fill_value: Option<f64>,
    /// Min and max of the data values (the archive's metadata has them before any chunk).
    pub data_range: Option<(f64, f64)>,
    /// First element of each chunk, then the total.
    bounds: Vec<usize>,
    chunks: Vec<Option<Held>>,
    last_used: Vec<u64>,
    clock: u64,
    held: usize,
    budget: usize,
    /// Statistics of the chunks decoded in a whole pass (merged chunk by chunk by the caller).
    pub stats: RunningStats,
    /// The slice across frames being shown, kept as its chunks pass through.
    cross: Option<Assembled>,
    /// Names of the volume's axes (frames, rows, columns): the archive's own where it names them.
    pub axes: [String; 3],
}

/// A slice along the rows or columns of a stack of frames: it crosses every chunk, so it is
/// assembled as they are decoded and stays whole when they are dropped (holding them all could
/// be the whole field).
struct Assembled {
    axis: usize,
    index: usize,
    values: Vec<f64>,
    filled: Vec<bool>,
}

impl Decoded {
    /// An empty store for chunks of `chunk_elements` values each, holding at most `budget` bytes
    /// of them (at least the chunks one view needs).
    pub fn new(
        dtype: DType,
        shape: Vec<usize>,
        columns: Option<Vec<String>>,
        fill_value: Option<f64>,
        chunk_elements: &[usize],
        budget: usize,
    ) -> Self {
        let mut bounds = vec![0];
        for &n in chunk_elements {
            bounds.push(bounds.last().copied().unwrap_or(0) + n);
        }
        let n = chunk_elements.len();
        Self {
            dtype,
            shape,
            columns,
            fill_value,
            data_range: None,
            bounds,
            chunks: (0..n).map(|_| None).collect(),
            last_used: vec![0; n],
            clock: 0,
            held: 0,
            budget,
            stats: RunningStats::default(),
            cross: None,
            axes: ["frame", "row", "column"].map(String::from),
        }
    }

    /// Takes the names of the array's axes (one per axis of its shape, as `Metadata::axes` gives
    /// them) for the volume's: a 2-D field's two are its rows and columns, a 1-D field's one its
    /// columns, the last two of more its rows and columns (the leading ones stack into frames).
    pub fn name_axes(&mut self, names: &[String]) {
        if names.len() != self.shape.len() || self.columns.is_some() {
            return;
        }
        match names {
            [] => {}
            [columns] => self.axes[2] = columns.clone(),
            [rows, columns] => self.axes[1..].clone_from_slice(&[rows.clone(), columns.clone()]),
            [frames, rows, columns] => self.axes = [frames.clone(), rows.clone(), columns.clone()],
            [.., rows, columns] => self.axes[1..].clone_from_slice(&[rows.clone(), columns.clone()]),
        }
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Stores chunk `i`'s values (`bytes`: as the `.npy` holds them), then drops the least
    /// recently used chunks (never `i` or those in `keep`) while more than the budget is held.
    /// While a slice across frames is shown, a store with a budget only lets the chunk fill it in
    /// and does not keep it: such a view passes every chunk through, and keeping them would fill
    /// the budget for nothing. (A store without a budget, an archive read whole, keeps all.)
    pub fn insert(&mut self, i: usize, bytes: Held, keep: &Range<usize>) {
        self.forget(i);
        self.held += bytes.len();
        self.chunks[i] = Some(bytes);
        self.touch(i);
        self.fill_cross(i);
        if self.cross.is_some() && self.budget != usize::MAX {
            self.forget(i);
            return;
        }
        while self.held > self.budget {
            let oldest = (0..self.chunks.len())
                .filter(|&c| c != i && !keep.contains(&c) && self.chunks[c].is_some())
                .min_by_key(|&c| self.last_used[c]);
            match oldest {
                Some(c) => self.forget(c),
                None => break,
            }
        }
    }

    /// [`Self::insert`] of a chunk's values as a dataset of its rows (the tests build chunks so).
    #[cfg(test)]
    pub fn insert_part(&mut self, i: usize, part: &baler_codec::data::Dataset, keep: &Range<usize>) {
        let mut bytes = Vec::with_capacity((self.bounds[i + 1] - self.bounds[i]) * self.dtype.size_bytes());
        npy::append_values(&mut bytes, part, self.dtype);
        self.insert(i, Held::Here(bytes), keep);
    }

    /// Shows slice `index` along `axis` from now on: a slice across frames is assembled from the
    /// chunks held now and those decoded later.
    pub fn hold_slice(&mut self, axis: usize, index: usize) {
        let axis = axis.min(2);
        let index = index.min(self.slices(axis).saturating_sub(1));
        if axis == 0 || self.volume()[0] <= 1 || self.slice_cells(axis) > MAX_SLICE_CELLS {
            self.cross = None;
            return;
        }
        if self.cross.as_ref().is_some_and(|c| (c.axis, c.index) == (axis, index)) {
            return;
        }
        let (h, w) = self.slice_dims(axis);
        self.cross = None; // before the next is made: two at once could be tens of MB
        self.cross = Some(Assembled {
            axis,
            index,
            values: vec![f64::NAN; h * w],
            filled: vec![false; self.chunks.len()],
        });
        for i in 0..self.chunks.len() {
            self.fill_cross(i);
            // With a budget, the chunks held for frames go once they have filled the slice in:
            // what it needs next passes through, and they would only take memory meanwhile.
            if self.budget != usize::MAX {
                self.forget(i);
            }
        }
    }

    /// Copies chunk `i`'s cells of the slice across frames, if it is held.
    fn fill_cross(&mut self, i: usize) {
        if let Some(b) = self.chunks[i].take() {
            self.fill_cross_from(i, |r, into| b.read(r, into));
            self.chunks[i] = Some(b);
        }
    }

    /// Whether a chunk decoded now would only fill the slice across frames in (see
    /// [`Self::insert`]): then [`Self::fill_cross_from`] can take just its part of the slice.
    pub fn passes_through(&self) -> bool {
        self.cross.is_some() && self.budget != usize::MAX
    }

    /// Copies chunk `i`'s cells of the slice across frames, reading the chunk's `.npy` bytes a
    /// frame's part at a time with `read(byte range in the chunk, into)`: a row of each frame,
    /// or a whole frame for a column. A chunk still in a worker's buffer is so never copied
    /// whole into this page's memory, which never shrinks.
    pub fn fill_cross_from(&mut self, i: usize, mut read: impl FnMut(Range<usize>, &mut [u8])) {
        let Some(mut cross) = self.cross.take() else { return };
        let [_, d1, d2] = self.volume();
        let frame = (d1 * d2).max(1);
        let (start, end) = (self.bounds[i], self.bounds[i + 1]);
        let (_, w) = self.slice_dims(cross.axis);
        let size = self.dtype.size_bytes();
        let mut part = Vec::new();
        for f in start / frame..end.div_ceil(frame) {
            let (lo, hi) = match cross.axis {
                1 => ((f * d1 + cross.index) * d2, (f * d1 + cross.index + 1) * d2),
                _ => (f * frame, (f + 1) * frame),
            };
            let (lo, hi) = (lo.max(start), hi.min(end));
            if lo >= hi {
                continue;
            }
            part.resize((hi - lo) * size, 0);
            read((lo - start) * size..(hi - start) * size, &mut part);
            for x in 0..w {
                let e = match cross.axis {
                    1 => (f * d1 + cross.index) * d2 + x,
                    _ => (f * d1 + x) * d2 + cross.index,
                };
                if (lo..hi).contains(&e) {
                    cross.values[f * w + x] =
                        value_of(self.dtype, &part[(e - lo) * size..(e - lo + 1) * size]);
                }
            }
        }
        cross.filled[i] = true;
        self.cross = Some(cross);
    }

    /// The assembled slice, when it is slice `index` along `axis`.
    fn assembled(&self, axis: usize, index: usize) -> Option<&Assembled> {
        let index = index.min(self.slices(axis.min(2)).saturating_sub(1));
        self.cross.as_ref().filter(|c| (c.axis, c.index) == (axis.min(2), index))
    }

    /// Whether slice `index` along `axis` has chunk `i`'s values (held, or assembled).
    pub fn covers(&self, axis: usize, index: usize, i: usize) -> bool {
        self.has(i) || self.assembled(axis, index).is_some_and(|c| c.filled[i])
    }

    /// The chunks to keep while slice `index` along `axis` is shown: those of a frame; none for a
    /// slice across frames (it is assembled).
    pub fn keep_for(&self, axis: usize, index: usize) -> Range<usize> {
        if self.assembled(axis, index).is_some() { 0..0 } else { self.chunks_for_slice(axis, index) }
    }

    fn forget(&mut self, i: usize) {
        if let Some(b) = self.chunks[i].take() {
            self.held -= b.len();
        }
    }

    /// Marks chunk `i` as just used (the last to be dropped).
    pub fn touch(&mut self, i: usize) {
        self.clock += 1;
        self.last_used[i] = self.clock;
    }

    pub fn has(&self, i: usize) -> bool {
        self.chunks.get(i).is_some_and(Option::is_some)
    }

    /// Bytes of decoded values held.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Chunk `i`'s values as the `.npy` stores them, when held.
    pub fn chunk(&self, i: usize) -> Option<&Held> {
        self.chunks.get(i)?.as_ref()
    }

    /// The `.npy` header of the whole array (the chunks' bytes in order follow it).
    pub fn npy_header(&self) -> Vec<u8> {
        npy::header_bytes(npy::descr(self.dtype), &self.shape)
    }

    pub fn len_total(&self) -> usize {
        self.shape.iter().product()
    }

    /// Element `i` (row-major) as f64, when its chunk is held.
    pub fn value(&self, i: usize) -> Option<f64> {
        let c = self.bounds.partition_point(|&b| b <= i).checked_sub(1)?;
        let b = self.chunks.get(c)?.as_ref()?;
        let w = self.dtype.size_bytes();
        let at = (i - self.bounds[c]) * w;
        let mut v = [0u8; 8];
        b.read(at..at + w, &mut v[..w]);
        Some(value_of(self.dtype, &v[..w]))
    }

    /// Elements `lo..lo + n` (row-major) as f64 onto `out`, NaN where their chunk is not held:
    /// read a chunk's part at a time (one copy out of a worker's buffer, not one per value).
    fn push_run(&self, lo: usize, n: usize, part: &mut Vec<u8>, out: &mut Vec<f64>) {
        let w = self.dtype.size_bytes();
        let mut e = lo;
        while e < lo + n {
            let Some(c) =
                self.bounds.partition_point(|&b| b <= e).checked_sub(1).filter(|&c| c < self.chunks.len())
            else {
                out.extend(std::iter::repeat_n(f64::NAN, lo + n - e));
                return;
            };
            let end = self.bounds[c + 1].min(lo + n);
            match &self.chunks[c] {
                Some(b) => {
                    part.resize((end - e) * w, 0);
                    b.read((e - self.bounds[c]) * w..(end - self.bounds[c]) * w, part);
                    out.extend(part.chunks_exact(w).map(|v| value_of(self.dtype, v)));
                }
                None => out.extend(std::iter::repeat_n(f64::NAN, end - e)),
            }
            e = end;
        }
    }

    /// Not NaN, ±Inf or the fill value.
    pub fn is_data(&self, v: f64) -> bool {
        v.is_finite() && Some(v) != self.fill_value
    }

    /// The field seen as a volume `[slices along axis 0, rows, columns]`: 2-D fields are one
    /// frame, 1-D fields one row, higher ranks stack their leading axes.
    pub fn volume(&self) -> [usize; 3] {
        match self.shape.as_slice() {
            [] => [1, 1, 1],
            [n] => [1, 1, *n],
            [h, w] => [1, *h, *w],
            [lead @ .., h, w] => [lead.iter().product(), *h, *w],
        }
    }

    /// How many slices there are along `axis` of the volume.
    pub fn slices(&self, axis: usize) -> usize {
        self.volume()[axis.min(2)]
    }

    /// Row-major index of element (r, c) of slice `index` along `axis`.
    fn slice_element(&self, axis: usize, index: usize, r: usize, c: usize) -> usize {
        let [_, d1, d2] = self.volume();
        match axis {
            0 => (index * d1 + r) * d2 + c,
            1 => (r * d1 + index) * d2 + c,
            _ => (r * d1 + c) * d2 + index,
        }
    }

    /// Height and width of a slice along `axis`.
    /// Values in a slice along `axis` (saturating).
    pub fn slice_cells(&self, axis: usize) -> usize {
        let (h, w) = self.slice_dims(axis);
        h.saturating_mul(w)
    }

    fn slice_dims(&self, axis: usize) -> (usize, usize) {
        let [d0, d1, d2] = self.volume();
        match axis.min(2) {
            0 => (d1, d2),
            1 => (d0, d2),
            _ => (d0, d1),
        }
    }

    /// The chunks that hold slice `index` along `axis` (a slice along the first axis lies in one
    /// or a few chunks; one along another axis crosses them all).
    pub fn chunks_for_slice(&self, axis: usize, index: usize) -> Range<usize> {
        let axis = axis.min(2);
        let index = index.min(self.slices(axis).saturating_sub(1));
        let (h, w) = self.slice_dims(axis);
        if h * w == 0 || self.chunks.is_empty() {
            return 0..0;
        }
        let first = self.slice_element(axis, index, 0, 0);
        let last = self.slice_element(axis, index, h - 1, w - 1);
        let chunk_of = |e: usize| self.bounds.partition_point(|&b| b <= e).saturating_sub(1);
        chunk_of(first)..(chunk_of(last) + 1).min(self.chunks.len())
    }

    /// The 2-D slice at `index` along `axis`: (width, height, values row-major). Values whose
    /// chunk is not held are NaN.
    pub fn slice(&self, axis: usize, index: usize) -> (usize, usize, Cow<'_, [f64]>) {
        let axis = axis.min(2);
        let index = index.min(self.slices(axis).saturating_sub(1));
        let (h, w) = self.slice_dims(axis);
        // An assembled slice is lent, not copied (it can be tens of MB, drawn a few times a second).
        if let Some(c) = self.assembled(axis, index) {
            return (w, h, Cow::Borrowed(&c.values));
        }
        let mut out = Vec::with_capacity(h * w);
        let mut part = Vec::new();
        for r in 0..h {
            if axis < 2 {
                // A row of a slice along the first two axes is a run of elements.
                self.push_run(self.slice_element(axis, index, r, 0), w, &mut part, &mut out);
            } else {
                out.extend(
                    (0..w).map(|c| self.value(self.slice_element(axis, index, r, c)).unwrap_or(f64::NAN)),
                );
            }
        }
        (w, h, Cow::Owned(out))
    }

    /// Cell (r, c) of slice `index` along `axis`, when decoded.
    pub fn slice_value(&self, axis: usize, index: usize, r: usize, c: usize) -> Option<f64> {
        let index = index.min(self.slices(axis.min(2)).saturating_sub(1));
        if let Some(cross) = self.assembled(axis, index) {
            let (_, w) = self.slice_dims(axis.min(2));
            let chunk =
                self.bounds.partition_point(|&b| b <= self.slice_element(axis.min(2), index, r, c)) - 1;
            return cross.filled.get(chunk).copied().unwrap_or(false).then(|| cross.values[r * w + c]);
        }
        self.value(self.slice_element(axis.min(2), index, r, c))
    }

    /// Whether every chunk of slice `index` along `axis` is held.
    pub fn slice_ready(&self, axis: usize, index: usize) -> bool {
        self.chunks_for_slice(axis, index).all(|c| self.covers(axis, index, c))
    }

    /// Column `c` of a table (the rows held), read chunk by chunk: the rows a table claims cost
    /// nothing until their chunks are there.
    pub fn column(&self, c: usize) -> Vec<f64> {
        let cols = self.shape.get(1).copied().unwrap_or(1).max(1);
        let w = self.dtype.size_bytes();
        let mut out = Vec::new();
        let mut part = Vec::new();
        for held in self.chunks.iter().flatten() {
            let bytes = held.bytes(&mut part);
            out.extend(bytes.chunks_exact(w).skip(c).step_by(cols).map(|b| value_of(self.dtype, b)));
        }
        out
    }
}

/// One little-endian value of `dtype` as f64.
pub fn value_of(dtype: DType, b: &[u8]) -> f64 {
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    match dtype {
        DType::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
        DType::F64 => f64::from_le_bytes(a),
        DType::I8 => a[0] as i8 as f64,
        DType::I16 => i16::from_le_bytes([a[0], a[1]]) as f64,
        DType::I32 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
        DType::I64 => i64::from_le_bytes(a) as f64,
        DType::U8 => a[0] as f64,
        DType::U16 => u16::from_le_bytes([a[0], a[1]]) as f64,
        DType::U32 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
        DType::U64 => u64::from_le_bytes(a) as f64,
    }
}

/// Min, max and mean of the data values seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunningStats {
    pub count: u64,
    pub no_data: u64,
    pub min: f64,
    pub max: f64,
    sum: f64,
}

impl RunningStats {
    pub fn add(&mut self, v: f64) {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        }
        if v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
        self.sum += v;
        self.count += 1;
    }

    /// As five numbers (count, no-data count, min, max, sum), to pass between threads.
    pub fn to_array(&self) -> [f64; 5] {
        [self.count as f64, self.no_data as f64, self.min, self.max, self.sum]
    }

    pub fn from_array([count, no_data, min, max, sum]: [f64; 5]) -> Self {
        Self { count: count as u64, no_data: no_data as u64, min, max, sum }
    }

    /// Adds the statistics of other values (another chunk's).
    pub fn merge(&mut self, other: &RunningStats) {
        if other.count > 0 {
            if self.count == 0 {
                (self.min, self.max) = (other.min, other.max);
            }
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
            self.sum += other.sum;
            self.count += other.count;
        }
        self.no_data += other.no_data;
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    pub fn of(values: &[f64], is_data: impl Fn(f64) -> bool) -> Self {
        Self::of_iter(values.iter().copied(), is_data)
    }

    /// The statistics of little-endian values of `dtype` (NaN, ±Inf and `fill` are no data), in
    /// one tight loop per float dtype: a worker runs this on every 2^21-value chunk, where the
    /// value-by-value path took longer than decoding the chunk.
    pub fn of_le_bytes(dtype: DType, bytes: &[u8], fill: Option<f64>) -> Self {
        fn fold(values: impl ExactSizeIterator<Item = f64>, fill: f64) -> RunningStats {
            let total = values.len() as u64;
            let (mut min, mut max, mut sum, mut count) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0u64);
            for v in values {
                // NaN fails both comparisons; the fill value (NaN when none) never equals NaN.
                // Comparisons, not `f64::min`: on wasm32 that is a call to `fmin` per value,
                // which made this loop slower than decoding the chunk.
                let data = v.is_finite() & (v != fill);
                if data {
                    if v < min {
                        min = v;
                    }
                    if v > max {
                        max = v;
                    }
                    sum += v;
                }
                count += data as u64;
            }
            let no_data = total - count;
            if count == 0 {
                (min, max) = (0.0, 0.0);
            }
            RunningStats { count, no_data, min, max, sum }
        }
        let fill_f = fill.unwrap_or(f64::NAN);
        match dtype {
            DType::F32 => fold(
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
                fill_f,
            ),
            DType::F64 => fold(
                bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
                fill_f,
            ),
            _ => Self::of_iter(bytes.chunks_exact(dtype.size_bytes()).map(|b| value_of(dtype, b)), |v| {
                v.is_finite() && Some(v) != fill
            }),
        }
    }

    pub fn of_iter(values: impl Iterator<Item = f64>, is_data: impl Fn(f64) -> bool) -> Self {
        let mut s = Self::default();
        for v in values {
            if is_data(v) { s.add(v) } else { s.no_data += 1 }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baler_codec::data::{Array, Column, Dataset, Values};

    /// A field of `shape` with values 0, 1, 2 … in chunks of `per_chunk` elements, and its parts.
    fn field(shape: Vec<usize>, dtype: DType, per_chunk: usize, budget: usize) -> (Decoded, Vec<Dataset>) {
        let n: usize = shape.iter().product();
        let sizes: Vec<usize> = (0..n).step_by(per_chunk).map(|s| per_chunk.min(n - s)).collect();
        let parts = sizes
            .iter()
            .scan(0, |start, &len| {
                let values = (*start..*start + len).map(|i| i as f64).collect::<Vec<_>>();
                *start += len;
                let values = if dtype.is_float() {
                    Values::Float(values)
                } else {
                    Values::Int(values.iter().map(|&v| v as i64).collect())
                };
                Some(Dataset::Field(Array { dtype, shape: vec![len], values }))
            })
            .collect();
        (Decoded::new(dtype, shape, None, None, &sizes, budget), parts)
    }

    fn part_values(part: &Dataset) -> Vec<f64> {
        let as_f64 = |v: &Values| match v {
            Values::Float(v) => v.clone(),
            Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
        };
        match part {
            Dataset::Field(a) => as_f64(&a.values),
            Dataset::Table { columns, .. } => columns.iter().flat_map(|c| as_f64(&c.values)).collect(),
        }
    }

    fn insert_all(d: &mut Decoded, parts: &[Dataset]) {
        for (i, p) in parts.iter().enumerate() {
            d.insert_part(i, p, &(0..0));
            let s = RunningStats::of(&part_values(p), |v| d.is_data(v));
            d.stats.merge(&s);
        }
    }

    #[test]
    fn slices_along_each_axis() {
        let (mut d, parts) = field(vec![2, 3, 4], DType::F32, 12, usize::MAX);
        insert_all(&mut d, &parts);
        let whole = Dataset::Field(Array {
            dtype: DType::F32,
            shape: vec![2, 3, 4],
            values: Values::Float((0..24).map(f64::from).collect()),
        });
        let mut npy_bytes = d.npy_header();
        (0..2).for_each(|i| {
            let Some(Held::Here(b)) = d.chunk(i) else { panic!("chunk {i} held here") };
            npy_bytes.extend_from_slice(b)
        });
        assert_eq!(npy_bytes, npy::to_npy(&whole));
        assert_eq!(d.slice(0, 1), (4, 3, (12..24).map(f64::from).collect()));
        assert_eq!(d.slice(1, 2), (4, 2, vec![8., 9., 10., 11., 20., 21., 22., 23.].into()));
        assert_eq!(d.slice(2, 3), (3, 2, vec![3., 7., 11., 15., 19., 23.].into()));
        assert_eq!(d.slices(2), 4);
        assert_eq!(d.stats.mean(), Some(11.5));
    }

    #[test]
    fn a_frame_needs_only_its_chunks_and_missing_ones_show_as_no_data() {
        // 10 frames of 2×3, chunks of 2 frames: frame 7 lies in chunk 3 only.
        let (mut d, parts) = field(vec![10, 2, 3], DType::I16, 12, usize::MAX);
        assert_eq!(d.chunks_for_slice(0, 7), 3..4);
        assert_eq!(d.chunks_for_slice(1, 0), 0..5);
        assert_eq!(d.chunks_for_slice(0, 99), 4..5);
        d.insert_part(3, &parts[3], &(0..0));
        assert!(d.slice_ready(0, 7) && d.slice_ready(0, 6) && !d.slice_ready(0, 8));
        assert_eq!(d.slice(0, 7).2, (42..48).map(f64::from).collect::<Vec<_>>());
        assert!(d.slice(0, 1).2.iter().all(|v| v.is_nan()));
        assert_eq!(d.value(0), None);
        assert_eq!(field(vec![5], DType::F64, 5, 0).0.volume(), [1, 1, 5]);
        assert_eq!(field(vec![2, 3, 4, 5], DType::F64, 5, 0).0.volume(), [6, 4, 5]);
        assert_eq!(field(vec![], DType::F64, 1, 0).0.volume(), [1, 1, 1]);
    }

    #[test]
    fn the_budget_drops_the_least_recently_used_chunks_but_never_the_view() {
        // Chunks of 12 f64 values = 96 bytes; a budget of 3 chunks.
        let (mut d, parts) = field(vec![10, 2, 3], DType::F64, 12, 3 * 96);
        for (i, part) in parts.iter().enumerate().take(3) {
            d.insert_part(i, part, &(0..0));
        }
        d.touch(0); // chunk 1 is now the least recently used
        d.insert_part(3, &parts[3], &(0..0));
        assert!(d.has(0) && !d.has(1) && d.has(2) && d.has(3));
        assert_eq!(d.held_bytes(), 3 * 96);
        // A view that needs more than the budget keeps what it needs.
        d.insert_part(4, &parts[4], &(0..5));
        assert_eq!(d.held_bytes(), 4 * 96);
        assert!(d.has(4));
        // Inserting a chunk again does not count it twice.
        d.insert_part(4, &parts[4], &(0..5));
        assert_eq!(d.held_bytes(), 4 * 96);
    }

    #[test]
    fn a_slice_across_frames_is_assembled_within_the_budget() {
        // 10 frames of 2×3 in chunks of 2 frames (12 f64 = 96 bytes), a budget of one chunk.
        let (mut d, parts) = field(vec![10, 2, 3], DType::F64, 12, 96);
        // A chunk held for a frame fills the slice in, then goes.
        d.insert_part(3, &parts[3], &(3..4));
        d.hold_slice(1, 1); // row 1 of every frame
        assert!(d.covers(1, 1, 3) && !d.has(3) && d.held_bytes() == 0);
        for (i, p) in parts.iter().enumerate() {
            d.insert_part(i, p, &d.keep_for(1, 1));
        }
        assert_eq!(d.held_bytes(), 0, "chunks kept for a slice across frames");
        assert!(d.slice_ready(1, 1) && (0..5).all(|i| d.covers(1, 1, i)));
        // Row 1 of frame f holds 6f + 3, 6f + 4, 6f + 5.
        let (w, h, v) = d.slice(1, 1);
        assert_eq!((w, h), (3, 10));
        assert_eq!(v, (0..10).flat_map(|f| (3..6).map(move |x| (6 * f + x) as f64)).collect::<Vec<_>>());
        // Axis names: the archive's, one per axis of the shape, or none at all.
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        d.name_axes(&names(&["time", "lat"]));
        assert_eq!(d.axes, names(&["frame", "row", "column"]).as_slice());
        d.name_axes(&names(&["time", "lat", "lon"]));
        assert_eq!(d.axes, names(&["time", "lat", "lon"]).as_slice());
        // A chunk read in parts fills the slice in as inserting it does.
        let mut e = field(vec![10, 2, 3], DType::F64, 12, 96).0;
        e.hold_slice(1, 1);
        for (i, p) in parts.iter().enumerate() {
            let mut bytes = Vec::new();
            npy::append_values(&mut bytes, p, DType::F64);
            assert!(e.passes_through());
            e.fill_cross_from(i, |r, into| into.copy_from_slice(&bytes[r]));
        }
        assert_eq!(e.slice(1, 1), d.slice(1, 1));
        assert_eq!(e.held_bytes(), 0);
        // Column 2 along the other axis: nothing is held, so it starts empty, then fills in.
        d.hold_slice(2, 2);
        assert!(!d.slice_ready(2, 2) && !d.covers(2, 2, 4));
        d.insert_part(4, &parts[4], &d.keep_for(2, 2));
        assert!(d.covers(2, 2, 4) && !d.covers(2, 2, 0));
        assert_eq!(d.slice(2, 2).2[8 * 2..], [50.0, 53.0, 56.0, 59.0]);
        // Back to frames: nothing assembled, the frame's chunk is kept.
        d.hold_slice(0, 3);
        assert_eq!(d.keep_for(0, 3), 1..2);
        d.insert_part(1, &parts[1], &d.keep_for(0, 3));
        assert!(d.has(1) && d.slice_ready(0, 3));
    }

    #[test]
    fn statistics_from_bytes_equal_value_by_value() {
        for dtype in [DType::F32, DType::F64, DType::I16] {
            let values: Vec<f64> = (0..1000)
                .map(|i| match i % 50 {
                    3 if dtype.is_float() => f64::NAN,
                    4 if dtype.is_float() => f64::NEG_INFINITY,
                    5 => -99.0,
                    _ => ((i * 37) % 201) as f64 - 100.0,
                })
                .collect();
            let v = if dtype.is_float() {
                Values::Float(values.clone())
            } else {
                Values::Int(values.iter().map(|&x| x as i64).collect())
            };
            let mut bytes = Vec::new();
            npy::append_values(
                &mut bytes,
                &Dataset::Field(Array { dtype, shape: vec![1000], values: v }),
                dtype,
            );
            let fast = RunningStats::of_le_bytes(dtype, &bytes, Some(-99.0));
            let slow = RunningStats::of(&values, |x| x.is_finite() && x != -99.0);
            assert_eq!(fast, slow, "{dtype:?}");
            assert_eq!(RunningStats::of_le_bytes(dtype, &[], None), RunningStats::default());
        }
    }

    #[test]
    fn slices_larger_than_the_viewer_draws_are_not_built() {
        // A shape a crafted archive may claim: row slices of 2^14 × 2^14 values (2^28).
        let d = Decoded::new(DType::F32, vec![1 << 14, 2, 1 << 14], None, None, &[1 << 29], 1 << 20);
        assert!(d.slice_cells(1) > MAX_SLICE_CELLS && d.slice_cells(0) == 2 << 14);
        let mut d = d;
        d.hold_slice(1, 0); // nothing reserved for it
        assert!(d.assembled(1, 0).is_none());
        assert_eq!(too_many_values(&[1 << 20, 2]), None);
        assert!(too_many_values(&[u64::MAX, 2]).is_some());
    }

    #[test]
    fn tables_and_fill_values() {
        let t = Dataset::Table {
            rows: 3,
            columns: vec![
                Column { name: "e".into(), dtype: DType::F64, values: Values::Float(vec![1.0, -1e34, 3.0]) },
                Column {
                    name: "n".into(),
                    dtype: DType::F64,
                    values: Values::Float(vec![f64::NAN, 5.0, 6.0]),
                },
            ],
        };
        let mut d = Decoded::new(
            DType::F64,
            vec![3, 2],
            Some(vec!["e".into(), "n".into()]),
            Some(-1e34),
            &[6],
            1 << 20,
        );
        d.insert_part(0, &t, &(0..0));
        d.stats.merge(&RunningStats::of(&part_values(&t), |v| d.is_data(v)));
        assert_eq!(d.column(0), vec![1.0, -1e34, 3.0]);
        let s = RunningStats::of(&d.column(0), |v| d.is_data(v));
        assert_eq!((s.count, s.no_data, s.min, s.max), (2, 1, 1.0, 3.0));
        assert_eq!((d.stats.count, d.stats.no_data), (4, 2));
    }
}
