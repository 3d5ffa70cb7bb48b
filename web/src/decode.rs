//! Decoding an archive in the browser: the codec's own chunk decoder, chunk by chunk, with the
//! decoder network on WebGPU when an adapter exists (same integers as the CPU, so the same bits),
//! yielding to the event loop between chunks so the page stays responsive and the first frame
//! shows before the last chunk is decoded. No DOM here: wasm tests drive it under Node too.

use baler_codec::network::gpu::GpuDecoder;
use baler_codec::npy::common_dtype;
use baler_codec::{Archive, CodecError, StreamCheck};
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
    /// Time until slice 0 along the first axis was fully decoded.
    pub first_frame_ms: Option<f64>,
}

/// An empty output shaped like the archive's data.
pub fn empty_output(archive: &Archive<'_>) -> Decoded {
    let m = &archive.meta;
    let dtypes: Vec<_> = m.streams.iter().map(|s| s.dtype).collect();
    if m.table {
        let names = m.streams.iter().map(|s| s.name.clone()).collect();
        let rows = m.shape.first().copied().unwrap_or(0) as usize;
        Decoded::new(common_dtype(&dtypes), vec![rows, dtypes.len()], Some(names), m.fill_value)
    } else {
        let shape = m.shape.iter().map(|&d| d as usize).collect();
        Decoded::new(dtypes[0], shape, None, m.fill_value)
    }
}

/// Decodes every chunk in order into `out`, checking the content hash at the end (an error
/// means `out` must be discarded). `on_chunk(out, chunks_done, chunks_total)` runs after each
/// chunk; returning false cancels. With `gpu`, network tiles run on it.
pub async fn decode_into(
    archive: &Archive<'_>,
    gpu: Option<&GpuDecoder>,
    out: &mut Decoded,
    mut on_chunk: impl FnMut(&Decoded, usize, usize) -> bool,
) -> Result<DecodeSummary, CodecError> {
    let start = now_ms();
    let mut summary = DecodeSummary::default();
    let mut check = StreamCheck::new(archive);
    let total = archive.chunk_count();
    let mut last_yield = now_ms();
    for i in 0..total {
        let parsed = archive.parse_chunk(i)?;
        let tiles = parsed.network_tiles();
        let acc = match (tiles, gpu, &archive.decoder) {
            (0, _, _) => Vec::new(),
            (_, Some(g), _) => g.predict_acc(parsed.latents(), tiles).await?,
            (_, None, Some(dec)) => dec.predict_acc(parsed.latents(), tiles),
            (_, None, None) => return Err(CodecError::Backend("network tiles without a decoder".into())),
        };
        summary.network_tiles += tiles;
        let chunk = archive.finish_chunk(parsed, &acc)?;
        out.push(&check.accept(archive, &chunk)?);
        if summary.first_frame_ms.is_none() && out.first_axis_slice_ready(0) {
            summary.first_frame_ms = Some(now_ms() - start);
        }
        if !on_chunk(out, i + 1, total) {
            return Err(CodecError::Backend("cancelled".into()));
        }
        if now_ms() - last_yield > 30.0 {
            yield_now().await;
            last_yield = now_ms();
        }
    }
    check.finish(archive)?;
    summary.on_gpu = gpu.is_some() && summary.network_tiles > 0;
    summary.first_frame_ms.get_or_insert(now_ms() - start);
    summary.total_ms = now_ms() - start;
    Ok(summary)
}
