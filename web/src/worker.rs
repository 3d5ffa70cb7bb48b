//! Decoding in Web Workers, so that the page never waits on a chunk: a pool of module workers,
//! each running this same wasm module (compiled once by the page, handed to the workers), each
//! holding the archive opened from its head. The page posts a chunk section and gets back its
//! values as the `.npy` lays them out, transferred, not copied. The functions the workers call
//! are the `worker_*` exports below.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use baler_codec::{Archive, CodecError, ParsedChunk};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use baler_codec::network::gpu::GpuDecoder;

use crate::decode::ChunkOut;
use crate::decoded::RunningStats;
use crate::lent::{Lent, Spare};

// ---------------------------------------------------------------- inside a worker

thread_local! {
    static OPENED: RefCell<Option<Archive<'static>>> = const { RefCell::new(None) };
    /// Chunks waiting for the page's GPU to run their decoder network (see [`worker_decode`]),
    /// with the buffer their values will go into.
    static PARKED: RefCell<HashMap<u32, (ParsedChunk, Option<js_sys::Uint8Array>)>> = RefCell::new(HashMap::new());
}

/// Worker side: opens the archive from its head (as the page did) for the chunks that follow.
#[wasm_bindgen]
pub fn worker_open(head: &[u8], file_len: f64, model: Option<Vec<u8>>) -> Result<(), JsValue> {
    let archive = Archive::open_head(head, file_len as u64, model.as_deref()).map_err(|e| e.to_string())?;
    OPENED.with(|a| *a.borrow_mut() = Some(archive));
    // Chunks parked for the archive before are of no use now (their page moved on).
    PARKED.with(|p| p.borrow_mut().clear());
    Ok(())
}

/// Worker side: decodes chunk `index` from its section's bytes; returns `[npy bytes, hashed
/// bytes or null, network tiles, statistics]`. The npy bytes go into `reuse` (a buffer the page
/// handed back) when it is large enough: a new 8 MB buffer per chunk left the page's memory to
/// the garbage collector. With `split`, a chunk with decoder-network tiles stops before the
/// network: it is parked under `key` and `[latents, tiles]` returned, for the page's GPU to run the
/// network and [`worker_finish`] to complete it; otherwise the network runs here, on the CPU.
#[wasm_bindgen]
pub fn worker_decode(
    index: usize,
    section: &[u8],
    reuse: Option<js_sys::Uint8Array>,
    split: bool,
    key: u32,
) -> Result<js_sys::Array, JsValue> {
    OPENED.with(|a| {
        let a = a.borrow();
        let archive = a.as_ref().ok_or("no archive opened in this worker")?;
        let parsed = archive.parse_section(index, section).map_err(|e| e.to_string())?;
        if split && parsed.network_tiles() > 0 && archive.decoder.is_some() {
            let latents = js_sys::Int32Array::from(parsed.latents());
            let tiles = JsValue::from(parsed.network_tiles() as u32);
            PARKED.with(|p| p.borrow_mut().insert(key, (parsed, reuse)));
            return Ok(js_sys::Array::of2(&latents, &tiles));
        }
        let (out, tiles) = finish_parsed(archive, parsed, None).map_err(|e| e.to_string())?;
        Ok(reply(&out, tiles, reuse))
    })
}

/// Worker side: completes the chunk parked under `key` with the network's accumulators `acc`
/// (from the page's GPU), as [`worker_decode`] returns it; without `acc` the chunk is dropped
/// (the GPU failed: the page decodes it again) and `[]` returned.
#[wasm_bindgen]
pub fn worker_finish(key: u32, acc: Option<Vec<i32>>) -> Result<js_sys::Array, JsValue> {
    let (parsed, reuse) =
        PARKED.with(|p| p.borrow_mut().remove(&key)).ok_or("no chunk parked under that key")?;
    let Some(acc) = acc else { return Ok(js_sys::Array::new()) };
    OPENED.with(|a| {
        let a = a.borrow();
        let archive = a.as_ref().ok_or("no archive opened in this worker")?;
        let (out, tiles) = finish_parsed(archive, parsed, Some(acc)).map_err(|e| e.to_string())?;
        Ok(reply(&out, tiles, reuse))
    })
}

/// A decoded chunk as the page receives it (see [`worker_decode`]).
fn reply(out: &ChunkOut, tiles: usize, reuse: Option<js_sys::Uint8Array>) -> js_sys::Array {
    let hashed = out.hashed.as_deref().map_or(JsValue::NULL, |h| js_sys::Uint8Array::from(h).into());
    let stats = js_sys::Float64Array::from(out.stats.to_array().as_slice());
    let npy = match reuse {
        Some(buf) if buf.length() as usize >= out.npy.len() => {
            let part = buf.subarray(0, out.npy.len() as u32);
            part.copy_from(&out.npy);
            part
        }
        _ => js_sys::Uint8Array::from(out.npy.as_slice()),
    };
    js_sys::Array::of4(&npy, &hashed, &JsValue::from(tiles as u32), &stats)
}

/// Chunk `index` of `archive` from its section's bytes, as the page gets it.
fn decode_chunk(
    archive: &Archive<'_>,
    index: usize,
    section: &[u8],
) -> Result<(ChunkOut, usize), CodecError> {
    finish_parsed(archive, archive.parse_section(index, section)?, None)
}

/// A parsed chunk completed: the network's accumulators `acc` given, or computed here.
fn finish_parsed(
    archive: &Archive<'_>,
    parsed: ParsedChunk,
    acc: Option<Vec<i32>>,
) -> Result<(ChunkOut, usize), CodecError> {
    let tiles = parsed.network_tiles();
    let acc = match (acc, &archive.decoder) {
        (Some(acc), _) => acc,
        (None, Some(dec)) if tiles > 0 => dec.predict_acc(parsed.latents(), tiles),
        _ => Vec::new(),
    };
    let chunk = archive.finish_chunk(parsed, &acc)?;
    Ok((ChunkOut::of(archive, &chunk, tiles)?, tiles))
}

/// Small archives decoded by each worker as it starts, covering the usual paths (feedback
/// interpolation with per-level coding and a learned pass, grid interpolation, per-stream
/// Huffman, f32 and f64).
const WARM_UP: [&[u8]; 3] = [
    include_bytes!("../../tests/golden/sea_learned_pass_v5_rel1e-4.baler"),
    include_bytes!("../../tests/golden/wave_interp_v2_rel1e-2.baler"),
    include_bytes!("../../tests/golden/wave_feedback_v2_rel1e-2.baler"),
];

/// Rounds of [`WARM_UP`]: measured in Chromium, the third round ran at the optimised speed.
const WARM_UP_ROUNDS: usize = 6;

/// Worker side, once at its start: decodes [`WARM_UP`] a few times (within about `ms`
/// milliseconds). Browsers
/// first run wasm from a quick baseline compile and optimise a function only after it has run
/// a while (and only for its later calls); without this a worker's first chunks of an archive
/// took 3–4 times as long as the rest. The workers share the page's compiled module, so the
/// optimised code serves them all and the page.
#[wasm_bindgen]
pub fn worker_warm_up(ms: f64) {
    let start = crate::decode::now_ms();
    for _ in 0..WARM_UP_ROUNDS {
        if crate::decode::now_ms() - start > ms {
            break;
        }
        for bytes in WARM_UP {
            let Ok(archive) = Archive::open(bytes, None) else { continue };
            for i in 0..archive.chunk_count() {
                if let Some(r) = archive.chunk_section_range(i) {
                    let _ = decode_chunk(&archive, i, &bytes[r.start as usize..r.end as usize]);
                }
            }
        }
    }
}

/// The worker's script: loads the page's wasm-bindgen glue and module, then answers messages.
const WORKER_JS: &str = r#"
let glue = null;
self.onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.kind === 'init') {
      glue = await import(m.glue);
      await glue.default({ module_or_path: m.module });
      postMessage({ id: m.id });
      glue.worker_warm_up(m.warmUpMs);
    } else if (m.kind === 'open') {
      glue.worker_open(m.head, m.fileLen, m.model ?? undefined);
      postMessage({ id: m.id });
    } else {
      const r = m.kind === 'decode'
        ? glue.worker_decode(m.index, m.section, m.reuse ?? undefined, !!m.split, m.key ?? 0)
        : glue.worker_finish(m.key, m.acc ?? undefined);
      if (r.length === 4) {
        const [npy, hashed, tiles, stats] = r;
        postMessage({ id: m.id, npy, hashed, tiles, stats }, hashed ? [npy.buffer, hashed.buffer] : [npy.buffer]);
      } else if (r.length === 2) {
        postMessage({ id: m.id, latents: r[0], tiles: r[1] }, [r[0].buffer]);
      } else {
        postMessage({ id: m.id });
      }
    }
  } catch (err) {
    postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
};
"#;

// ---------------------------------------------------------------- the page's side

/// How long each worker warms up (see [`worker_warm_up`]).
const WARM_UP_MS: f64 = 150.0;

type Pending = Rc<RefCell<HashMap<u32, (js_sys::Function, js_sys::Function)>>>;

/// The page's line to its workers: messages posted, their answers as promises.
#[derive(Clone)]
struct Link {
    workers: Rc<Vec<web_sys::Worker>>,
    pending: Pending,
    next_id: Rc<std::cell::Cell<u32>>,
}

impl Link {
    /// Sends `message` to worker `w`; the answer's promise.
    fn send(&self, w: usize, message: &js_sys::Object, transfer: &js_sys::Array) -> js_sys::Promise {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let _ = js_sys::Reflect::set(message, &"id".into(), &id.into());
        let pending = self.pending.clone();
        let promise = js_sys::Promise::new(&mut |resolve, reject| {
            pending.borrow_mut().insert(id, (resolve, reject));
        });
        if let Err(e) = self.workers[w].post_message_with_transfer(message, transfer)
            && let Some((_, reject)) = self.pending.borrow_mut().remove(&id)
        {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
        promise
    }
}

/// Workers decoding chunks for the page.
pub struct Pool {
    link: Link,
    /// Requests sent to each worker and not yet answered.
    load: Rc<RefCell<Vec<usize>>>,
    /// Value buffers back from the workers, to be handed out again (each chunk's values travel
    /// in one of these instead of a new buffer).
    spare: Spare,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Pool {
    /// Starts `n` workers running this page's module; None where that cannot be done (no module
    /// workers, or a page without trunk's module preload to find the glue by).
    pub async fn start(n: usize) -> Option<Self> {
        let document = web_sys::window()?.document()?;
        let link = document.query_selector("link[rel=modulepreload]").ok()??;
        let href = link.get_attribute("href")?;
        let glue = web_sys::Url::new_with_base(&href, &document.base_uri().ok()??).ok()?.href();
        let blob =
            web_sys::Blob::new_with_str_sequence_and_options(&js_sys::Array::of1(&WORKER_JS.into()), &{
                let o = web_sys::BlobPropertyBag::new();
                o.set_type("text/javascript");
                o
            })
            .ok()?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
        let pending: Pending = Rc::default();
        let answers = pending.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let data = e.data();
            let id = js_sys::Reflect::get(&data, &"id".into()).ok().and_then(|v| v.as_f64()).unwrap_or(-1.0);
            if let Some((resolve, reject)) = answers.borrow_mut().remove(&(id as u32)) {
                let error = js_sys::Reflect::get(&data, &"error".into()).unwrap_or(JsValue::UNDEFINED);
                let _ = if error.is_undefined() {
                    resolve.call1(&JsValue::NULL, &data)
                } else {
                    reject.call1(&JsValue::NULL, &error)
                };
            }
        });
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        let mut workers = Vec::new();
        for _ in 0..n {
            let w = web_sys::Worker::new_with_options(&url, &options).ok()?;
            w.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            workers.push(w);
        }
        let _ = web_sys::Url::revoke_object_url(&url);
        let pool = Self {
            load: Rc::new(RefCell::new(vec![0; workers.len()])),
            spare: Rc::default(),
            link: Link { workers: Rc::new(workers), pending, next_id: Rc::default() },
            _on_message: on_message,
        };
        let init = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&init, &"kind".into(), &"init".into());
        let _ = js_sys::Reflect::set(&init, &"glue".into(), &glue.into());
        let _ = js_sys::Reflect::set(&init, &"module".into(), &wasm_bindgen::module());
        let _ = js_sys::Reflect::set(&init, &"warmUpMs".into(), &WARM_UP_MS.into());
        pool.all(&init).await.ok()?;
        Some(pool)
    }

    pub fn len(&self) -> usize {
        self.link.workers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.link.workers.is_empty()
    }

    /// The same message to every worker; done when all have answered.
    async fn all(&self, message: &js_sys::Object) -> Result<(), String> {
        let answers = js_sys::Array::new();
        for w in 0..self.len() {
            answers.push(&self.link.send(w, message, &js_sys::Array::new()));
        }
        JsFuture::from(js_sys::Promise::all(&answers))
            .await
            .map(|_| ())
            .map_err(|e| crate::source::js_error(&e))
    }

    /// Opens the archive in every worker from its head.
    pub async fn open(&self, head: &[u8], file_len: u64, model: Option<&[u8]>) -> Result<(), String> {
        let m = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&m, &"kind".into(), &"open".into());
        let _ = js_sys::Reflect::set(&m, &"head".into(), &js_sys::Uint8Array::from(head));
        let _ = js_sys::Reflect::set(&m, &"fileLen".into(), &(file_len as f64).into());
        if let Some(model) = model {
            let _ = js_sys::Reflect::set(&m, &"model".into(), &js_sys::Uint8Array::from(model));
        }
        self.all(&m).await
    }

    /// Posts chunk `index`'s section to the least busy worker now; the result arrives later.
    /// With `gpu`, a chunk with decoder-network tiles comes back from the worker before the
    /// network: the network runs on the page's GPU and the worker completes the chunk; the rest
    /// of the decode stays in the workers.
    pub fn decode(
        &self,
        index: usize,
        section: &[u8],
        gpu: Option<Rc<GpuDecoder>>,
    ) -> impl Future<Output = Result<ChunkOut, CodecError>> + use<> {
        let w = {
            let load = self.load.borrow();
            (0..load.len()).min_by_key(|&w| load[w]).unwrap_or(0)
        };
        self.load.borrow_mut()[w] += 1;
        let m = js_sys::Object::new();
        let bytes = js_sys::Uint8Array::from(section);
        let key = self.link.next_id.get();
        let _ = js_sys::Reflect::set(&m, &"kind".into(), &"decode".into());
        let _ = js_sys::Reflect::set(&m, &"index".into(), &(index as u32).into());
        let _ = js_sys::Reflect::set(&m, &"section".into(), &bytes);
        let _ = js_sys::Reflect::set(&m, &"split".into(), &gpu.is_some().into());
        let _ = js_sys::Reflect::set(&m, &"key".into(), &key.into());
        let transfer = js_sys::Array::of1(&bytes.buffer());
        if let Some(buf) = self.spare.borrow_mut().pop() {
            let _ = js_sys::Reflect::set(&m, &"reuse".into(), &js_sys::Uint8Array::new(&buf));
            transfer.push(&buf);
        }
        let answer = JsFuture::from(self.link.send(w, &m, &transfer));
        let (load, spare, link) = (self.load.clone(), self.spare.clone(), self.link.clone());
        async move {
            let answered = network_on_gpu(answer.await, gpu.as_deref(), &link, w, key).await;
            load.borrow_mut()[w] -= 1;
            let (data, on_gpu) = answered?;
            let get = |k: &str| js_sys::Reflect::get(&data, &k.into()).unwrap_or(JsValue::NULL);
            // Left in its buffer until the chunk is taken (`ChunkOut::materialize`); the buffer
            // carries another chunk once this one is done with it.
            let arrived = Some(Lent::new(get("npy").unchecked_into(), spare));
            let hashed = get("hashed");
            let hashed = (!hashed.is_null() && !hashed.is_undefined())
                .then(|| hashed.unchecked_into::<js_sys::Uint8Array>().to_vec());
            let tiles = get("tiles").as_f64().unwrap_or(0.0) as usize;
            let mut stats = [0.0; 5];
            get("stats").unchecked_into::<js_sys::Float64Array>().copy_to(&mut stats);
            let stats = RunningStats::from_array(stats);
            Ok(ChunkOut { npy: Vec::new(), hashed, tiles, stats, arrived, on_gpu })
        }
    }
}

/// A worker's answer to a decode, completed: where it stopped before the decoder network (it
/// sent the latents), the network runs on `gpu` and the worker finishes the chunk. Returns the
/// answer with the chunk's values, and whether the GPU ran the network.
async fn network_on_gpu(
    answer: Result<JsValue, JsValue>,
    gpu: Option<&GpuDecoder>,
    link: &Link,
    w: usize,
    key: u32,
) -> Result<(JsValue, bool), CodecError> {
    // The worker's message is the codec's own error, already worded.
    let worded = |e: JsValue| CodecError::Input(crate::source::js_error(&e));
    let data = answer.map_err(worded)?;
    let latents = js_sys::Reflect::get(&data, &"latents".into()).unwrap_or(JsValue::UNDEFINED);
    let Some(gpu) = gpu.filter(|_| !latents.is_undefined()) else { return Ok((data, false)) };
    let latents = latents.unchecked_into::<js_sys::Int32Array>().to_vec();
    let tiles = js_sys::Reflect::get(&data, &"tiles".into()).ok().and_then(|t| t.as_f64()).unwrap_or(0.0);
    let acc = gpu.predict_acc(&latents, tiles as usize).await;
    let m = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&m, &"kind".into(), &"finish".into());
    let _ = js_sys::Reflect::set(&m, &"key".into(), &key.into());
    let transfer = js_sys::Array::new();
    if let Ok(acc) = &acc {
        let acc = js_sys::Int32Array::from(acc.as_slice());
        transfer.push(&acc.buffer());
        let _ = js_sys::Reflect::set(&m, &"acc".into(), &acc);
    }
    // Without accumulators the worker drops the chunk, and the GPU's error goes up.
    let done = JsFuture::from(link.send(w, &m, &transfer)).await.map_err(worded)?;
    acc.map(|_| (done, true))
}
