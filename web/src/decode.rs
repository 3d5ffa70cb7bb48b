//! Decoding an archive in the browser: the codec's own chunk decoder, one chunk section at a time
//! (fetched on its own), with the decoder network on WebGPU when an adapter exists (same integers
//! as the CPU, so the same bits), yielding to the event loop between chunks so the page stays
//! responsive. No DOM here: wasm tests drive it under Node too.

use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;

use baler_codec::network::gpu::GpuDecoder;
use baler_codec::npy::{self, common_dtype};
use baler_codec::{Archive, CodecError, DType, Dataset, DecodedChunk, StreamCheck, Values};
use wasm_bindgen::prelude::*;

use crate::decoded::{Decoded, Held, RunningStats};
use crate::lent::Lent;
use crate::worker::Pool;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, ms: i32) -> JsValue;
}

/// Milliseconds since an arbitrary origin (Node and browsers).
pub fn now_ms() -> f64 {
    let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok();
    match perf.and_then(|p| {
        let f = js_sys::Reflect::get(&p, &"now".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
        f.call0(&p).ok()?.as_f64()
    }) {
        Some(t) => t,
        None => js_sys::Date::now(),
    }
}

/// Lets the event loop run (input, painting) before going on.
pub async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, 0);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// What ran and how long it took.
#[derive(Clone, Debug, Default)]
pub struct DecodeSummary {
    /// Tiles whose prediction came from the decoder network.
    pub network_tiles: usize,
    /// Whether those ran on the GPU.
    pub on_gpu: bool,
    pub total_ms: f64,
}

/// The dtype the `.npy` holds: a field's own, a table's common one.
pub fn npy_dtype(archive: &Archive<'_>) -> DType {
    let dtypes: Vec<_> = archive.meta.streams.iter().map(|s| s.dtype).collect();
    common_dtype(&dtypes)
}

/// A store for the archive's decoded chunks, shaped like its data, holding at most `budget` bytes.
pub fn empty_output(archive: &Archive<'_>, budget: usize) -> Decoded {
    let m = &archive.meta;
    let [_, d1, d2] = archive.lattice();
    let sizes: Vec<usize> = archive.chunks.iter().map(|c| c.rows as usize * d1 * d2).collect();
    let dtype = npy_dtype(archive);
    let mut d = if m.table {
        let names = m.streams.iter().map(|s| s.name.clone()).collect();
        let rows = m.shape.first().copied().unwrap_or(0) as usize;
        Decoded::new(dtype, vec![rows, m.streams.len()], Some(names), m.fill_value, &sizes, budget)
    } else {
        let shape = m.shape.iter().map(|&d| d as usize).collect();
        Decoded::new(dtype, shape, None, m.fill_value, &sizes, budget)
    };
    d.name_axes(&m.axes().unwrap_or_default());
    // The metadata's range covers the finite, non-fill values: the colour range before any chunk.
    d.data_range = m.streams.first().filter(|s| !m.table && s.min <= s.max).map(|s| (s.min, s.max));
    d
}

/// One decoded chunk as the viewer keeps it: its values as the `.npy` lays them out, and, where
/// that differs (a table of mixed dtypes), as the content hash reads them.
pub struct ChunkOut {
    /// Empty for a chunk from a worker until [`Self::materialize`] copies it from `arrived`.
    pub npy: Vec<u8>,
    pub hashed: Option<Vec<u8>>,
    /// Tiles the decoder network predicted.
    pub tiles: usize,
    /// Statistics of its values (computed where it was decoded: a worker).
    pub stats: RunningStats,
    /// The same `.npy` bytes in the buffer a worker sent them in (None when decoded on the
    /// page): a download writes them from there, without another copy.
    pub arrived: Option<Lent>,
    /// Whether the decoder network ran on the GPU.
    pub on_gpu: bool,
}

impl ChunkOut {
    pub fn of(archive: &Archive<'_>, chunk: &DecodedChunk, tiles: usize) -> Result<Self, CodecError> {
        let fill = archive.meta.fill_value;
        let is_data = |v: f64| v.is_finite() && Some(v) != fill;
        // A field: its bytes straight from the grid (no f64 copy of the chunk).
        if let Some(npy) = archive.chunk_field_bytes(chunk)? {
            let stats = RunningStats::of_le_bytes(npy_dtype(archive), &npy, fill);
            return Ok(Self { npy, hashed: None, tiles, stats, arrived: None, on_gpu: false });
        }
        let part = archive.chunk_values(chunk)?;
        let dtype = npy_dtype(archive);
        let mut npy = Vec::new();
        npy::append_values(&mut npy, &part, dtype);
        let mixed = archive.meta.streams.iter().any(|s| s.dtype != dtype);
        let hashed = mixed.then(|| baler_codec::hash::value_bytes(&part));
        let mut stats = RunningStats::default();
        let values: Vec<&Values> = match &part {
            Dataset::Field(a) => vec![&a.values],
            Dataset::Table { columns, .. } => columns.iter().map(|c| &c.values).collect(),
        };
        for v in values {
            stats.merge(&match v {
                Values::Float(v) => RunningStats::of(v, is_data),
                Values::Int(v) => RunningStats::of_iter(v.iter().map(|&x| x as f64), is_data),
            });
        }
        Ok(Self { npy, hashed, tiles, stats, arrived: None, on_gpu: false })
    }

    /// Copies the `.npy` bytes a worker sent into this page's memory, where they are needed
    /// (the hash, the chunk store). Done when the chunk is taken, in order, not when it arrives:
    /// the chunks decoded ahead stay in their buffers, not in the page's memory, which never
    /// shrinks.
    pub fn materialize(&mut self) {
        if let Some(lent) = self.arrived.as_ref().filter(|_| self.npy.is_empty()) {
            self.npy = lent.view.to_vec();
        }
    }

    /// The chunk as the store holds it: in the worker's buffer it came in (a field), or in this
    /// page's memory (decoded here, or a table, read value by value).
    pub fn into_held(mut self, table: bool) -> Held {
        if !table && let Some(lent) = self.arrived.take() {
            return Held::There(Rc::new(lent));
        }
        self.materialize();
        Held::Here(self.npy)
    }

    /// The bytes the content hash reads (after [`Self::materialize`]).
    pub fn hashed(&self) -> &[u8] {
        self.hashed.as_deref().unwrap_or(&self.npy)
    }
}

/// Where chunks are decoded: on this thread (the decoder network on the GPU when given), or by
/// a pool of workers (the network on their CPU).
#[derive(Clone)]
pub enum Engine {
    Here(Option<Rc<GpuDecoder>>),
    /// The workers, and the GPU for the decoder network when given.
    Workers(Rc<Pool>, Option<Rc<GpuDecoder>>),
}

impl Engine {
    /// Chunks decoded at once.
    pub fn parallelism(&self) -> usize {
        match self {
            Engine::Here(_) => 1,
            Engine::Workers(p, _) => p.len(),
        }
    }

    /// The GPU the decoder network runs on, if any.
    pub fn gpu(&self) -> Option<&Rc<GpuDecoder>> {
        match self {
            Engine::Here(gpu) | Engine::Workers(_, gpu) => gpu.as_ref(),
        }
    }

    /// The same engine without its GPU (after a GPU failure).
    pub fn without_gpu(&self) -> Self {
        match self {
            Engine::Here(_) => Engine::Here(None),
            Engine::Workers(p, _) => Engine::Workers(p.clone(), None),
        }
    }

    /// Starts decoding chunk `i` from its section's bytes (a worker gets it at once); the future
    /// gives its values.
    pub fn decode(
        &self,
        archive: &Rc<Archive<'static>>,
        i: usize,
        section: Rc<Vec<u8>>,
    ) -> Pin<Box<dyn Future<Output = Result<ChunkOut, CodecError>>>> {
        match self {
            Engine::Here(gpu) => {
                let (archive, gpu) = (archive.clone(), gpu.clone());
                Box::pin(async move {
                    let (chunk, tiles) = decode_section(&archive, i, &section, gpu.as_deref()).await?;
                    let mut out = ChunkOut::of(&archive, &chunk, tiles)?;
                    out.on_gpu = tiles > 0 && gpu.is_some();
                    Ok(out)
                })
            }
            Engine::Workers(pool, gpu) => Box::pin(pool.decode(i, &section, gpu.clone())),
        }
    }
}

/// Decodes chunk `i` from its section's bytes (see `Archive::chunk_section_range`), the decoder
/// network's tiles on `gpu` when given. Returns the chunk and how many network tiles it had.
pub async fn decode_section(
    archive: &Archive<'_>,
    i: usize,
    section: &[u8],
    gpu: Option<&GpuDecoder>,
) -> Result<(DecodedChunk, usize), CodecError> {
    let parsed = archive.parse_section(i, section)?;
    let tiles = parsed.network_tiles();
    let acc = match (tiles, gpu, &archive.decoder) {
        (0, _, _) => Vec::new(),
        (_, Some(g), _) => g.predict_acc(parsed.latents(), tiles).await?,
        (_, None, Some(dec)) => dec.predict_acc(parsed.latents(), tiles),
        (_, None, None) => return Err(CodecError::Backend("network tiles without a decoder".into())),
    };
    Ok((archive.finish_chunk(parsed, &acc)?, tiles))
}

type Decoding = Pin<Box<dyn Future<Output = Result<ChunkOut, CodecError>>>>;

/// Every chunk of an archive in order, each section from `read(i)`, as many decoding at once as
/// the engine runs (two per worker: one decoding, one waiting, so none idles); the content hash
/// is checked by [`Self::finish`], after the last chunk (until then, what [`Self::next`] gave
/// must not be trusted).
pub struct InOrder<'a, R> {
    archive: &'a Rc<Archive<'static>>,
    engine: &'a Engine,
    read: R,
    check: StreamCheck,
    queue: VecDeque<(usize, Decoding)>,
    /// Chunks decoding or decoded ahead of the one taken next.
    ahead: usize,
    next: usize,
    summary: DecodeSummary,
    start: f64,
}

impl<'a, R, F> InOrder<'a, R>
where
    R: FnMut(usize) -> F,
    F: Future<Output = Result<Rc<Vec<u8>>, String>>,
{
    pub fn new(archive: &'a Rc<Archive<'static>>, engine: &'a Engine, read: R) -> Self {
        let check = StreamCheck::new(archive);
        Self {
            archive,
            engine,
            read,
            check,
            queue: VecDeque::new(),
            ahead: 2 * engine.parallelism(),
            next: 0,
            summary: DecodeSummary::default(),
            start: now_ms(),
        }
    }

    /// One chunk per worker ahead instead of two: each holds a buffer of its values (a
    /// download, whose file takes the values slower than the workers decode them, gains nothing
    /// from more and would hold them in memory).
    pub fn lean(mut self) -> Self {
        self.ahead = self.engine.parallelism();
        self
    }

    /// The next chunk's index and values; None after the last.
    pub async fn next(&mut self) -> Result<Option<(usize, ChunkOut)>, CodecError> {
        while self.queue.len() < self.ahead && self.next < self.archive.chunk_count() {
            let section = (self.read)(self.next).await.map_err(CodecError::Input)?;
            self.queue.push_back((self.next, self.engine.decode(self.archive, self.next, section)));
            self.next += 1;
        }
        let Some((i, decoding)) = self.queue.pop_front() else { return Ok(None) };
        let mut out = decoding.await?;
        out.materialize();
        self.check.accept_value_bytes(self.archive, i, out.hashed())?;
        self.summary.network_tiles += out.tiles;
        Ok(Some((i, out)))
    }

    /// After the last chunk: the content hash checked, and what ran.
    pub fn finish(self) -> Result<DecodeSummary, CodecError> {
        self.check.finish(self.archive)?;
        let mut summary = self.summary;
        summary.on_gpu = self.engine.gpu().is_some() && summary.network_tiles > 0;
        summary.total_ms = now_ms() - self.start;
        Ok(summary)
    }
}
