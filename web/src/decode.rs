//! Decoding an archive in the browser: the codec's own chunk decoder, one chunk section at a time
//! (fetched on its own), with the decoder network on WebGPU when an adapter exists (same integers
//! as the CPU, so the same bits), yielding to the event loop between chunks so the page stays
//! responsive. No DOM here: wasm tests drive it under Node too.

use std::rc::Rc;

use baler_codec::network::gpu::GpuDecoder;
use baler_codec::npy::common_dtype;
use baler_codec::{Archive, CodecError, Dataset, DecodedChunk, StreamCheck};
use wasm_bindgen::prelude::*;

use crate::decoded::Decoded;

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

/// A store for the archive's decoded chunks, shaped like its data, holding at most `budget` bytes.
pub fn empty_output(archive: &Archive<'_>, budget: usize) -> Decoded {
    let m = &archive.meta;
    let dtypes: Vec<_> = m.streams.iter().map(|s| s.dtype).collect();
    let [_, d1, d2] = archive.lattice();
    let sizes: Vec<usize> = archive.chunks.iter().map(|c| c.rows as usize * d1 * d2).collect();
    let mut d = if m.table {
        let names = m.streams.iter().map(|s| s.name.clone()).collect();
        let rows = m.shape.first().copied().unwrap_or(0) as usize;
        Decoded::new(
            common_dtype(&dtypes),
            vec![rows, dtypes.len()],
            Some(names),
            m.fill_value,
            &sizes,
            budget,
        )
    } else {
        let shape = m.shape.iter().map(|&d| d as usize).collect();
        Decoded::new(dtypes[0], shape, None, m.fill_value, &sizes, budget)
    };
    // The metadata's range covers the finite, non-fill values: the colour range before any chunk.
    d.data_range = m.streams.first().filter(|s| !m.table && s.min <= s.max).map(|s| (s.min, s.max));
    d
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

/// Decodes every chunk in order, each section from `read(i)`, and checks the content hash at the
/// end (an error means what `on_chunk` received must be discarded). `on_chunk(i, values)` runs
/// after each chunk; returning false cancels. Yields to the event loop every 30 ms.
pub async fn decode_in_order<F: Future<Output = Result<Rc<Vec<u8>>, String>>>(
    archive: &Archive<'_>,
    gpu: Option<&GpuDecoder>,
    mut read: impl FnMut(usize) -> F,
    mut on_chunk: impl FnMut(usize, &Dataset) -> bool,
) -> Result<DecodeSummary, CodecError> {
    let start = now_ms();
    let mut summary = DecodeSummary::default();
    let mut check = StreamCheck::new(archive);
    let mut last_yield = now_ms();
    for i in 0..archive.chunk_count() {
        let section = read(i).await.map_err(CodecError::Input)?;
        let (chunk, tiles) = decode_section(archive, i, &section, gpu).await?;
        drop(section);
        summary.network_tiles += tiles;
        if !on_chunk(i, &check.accept(archive, &chunk)?) {
            return Err(CodecError::Backend("cancelled".into()));
        }
        if now_ms() - last_yield > 30.0 {
            yield_now().await;
            last_yield = now_ms();
        }
    }
    check.finish(archive)?;
    summary.on_gpu = gpu.is_some() && summary.network_tiles > 0;
    summary.total_ms = now_ms() - start;
    Ok(summary)
}
