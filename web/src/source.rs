//! Where an archive's bytes come from, read a range at a time: a link read with HTTP Range
//! requests (or whole, when the server ignores Range), a local file read with `Blob.slice`, or
//! bytes already in memory. Every byte that crosses the network is counted.

use std::cell::Cell;
use std::ops::Range;

use baler_codec::{HeadLen, head_len};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// What the first request asks for: most heads (metadata and chunk index, without a model) fit.
pub const PROBE_BYTES: u64 = 64 * 1024;

thread_local! {
    static FETCHED: Cell<u64> = const { Cell::new(0) };
}

/// Bytes received from the network since the page loaded (for `body[data-fetched]`).
pub fn fetched_bytes() -> u64 {
    FETCHED.with(Cell::get)
}

pub enum Source {
    /// A server that answers Range requests; `prefix` holds the file's first bytes.
    Ranged { url: String, len: u64, prefix: Vec<u8> },
    /// A local file.
    File { file: web_sys::File },
    /// The whole file (a server that ignored Range, or a small file).
    Whole(Vec<u8>),
}

impl Source {
    /// Opens a link: asks for the first [`PROBE_BYTES`]; a server that sends the whole file
    /// instead is read to the end, with `progress(bytes so far, Content-Length)`.
    pub async fn open_url(url: &str, progress: impl Fn(u64, Option<u64>)) -> Result<Self, String> {
        let resp = request(url, Some(0..PROBE_BYTES)).await?;
        if resp.status() == 206 {
            let total = resp
                .headers()
                .get("content-range")
                .ok()
                .flatten()
                .and_then(|v| v.rsplit_once('/').and_then(|(_, t)| t.trim().parse::<u64>().ok()));
            let prefix = read_body(url, &resp, None, &progress).await?;
            // Without the file's length (a server that hides Content-Range from scripts), the
            // rest cannot be addressed: read it whole.
            if let Some(len) = total.filter(|&len| len >= prefix.len() as u64) {
                return Ok(Self::Ranged { url: url.to_string(), len, prefix });
            }
            let resp = request(url, None).await?;
            return Ok(Self::Whole(read_body(url, &resp, None, &progress).await?));
        }
        Ok(Self::Whole(read_body(url, &resp, content_length(&resp), &progress).await?))
    }

    pub fn file(file: web_sys::File) -> Self {
        Self::File { file }
    }

    /// How the file is read, in words.
    pub fn how(&self) -> &'static str {
        match self {
            Self::Ranged { .. } => "HTTP Range requests: the head, then only the chunks needed",
            Self::File { .. } => "a local file, read in parts",
            Self::Whole(_) => "the whole archive: the server ignores Range requests",
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> u64 {
        match self {
            Self::Ranged { len, .. } => *len,
            Self::File { file } => file.size() as u64,
            Self::Whole(b) => b.len() as u64,
        }
    }

    /// Bytes `range` of the file (clamped to its length).
    pub async fn read(&self, range: Range<u64>) -> Result<Vec<u8>, String> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        match self {
            Self::Whole(b) => Ok(b[start as usize..end as usize].to_vec()),
            Self::Ranged { url, prefix, .. } => {
                // What the first request already brought is not asked for again.
                let have = (prefix.len() as u64).clamp(start, end);
                let mut out = prefix.get(start as usize..have as usize).unwrap_or_default().to_vec();
                if have < end {
                    let resp = request(url, Some(have..end)).await?;
                    if resp.status() != 206 {
                        return Err(format!(
                            "{url}: asked for bytes {have}–{end}, the server answered HTTP {} instead of a part",
                            resp.status()
                        ));
                    }
                    let part = read_body(url, &resp, None, &|_, _| {}).await?;
                    if part.len() as u64 != end - have {
                        return Err(format!(
                            "{url}: asked for {} bytes at {have}, the server sent {}",
                            end - have,
                            part.len()
                        ));
                    }
                    out.extend_from_slice(&part);
                }
                Ok(out)
            }
            Self::File { file } => {
                let blob = file
                    .slice_with_f64_and_f64(start as f64, end as f64)
                    .map_err(|e| format!("could not read {}: {}", file.name(), js_error(&e)))?;
                let buf = JsFuture::from(blob.array_buffer())
                    .await
                    .map_err(|e| format!("could not read {}: {}", file.name(), js_error(&e)))?;
                Ok(js_sys::Uint8Array::new(&buf).to_vec())
            }
        }
    }

    /// The archive's head (header, metadata, model, chunk index), read in as few requests as its
    /// own lengths allow; a length the file cannot hold is refused before anything is read for it.
    pub async fn head(&self) -> Result<Vec<u8>, String> {
        let len = self.len();
        let mut head = match self {
            Self::File { .. } => self.read(0..PROBE_BYTES).await?,
            Self::Ranged { prefix, .. } => prefix.clone(),
            Self::Whole(b) => b[..(PROBE_BYTES.min(len)) as usize].to_vec(),
        };
        loop {
            match head_len(&head, len).map_err(|e| e.to_string())? {
                HeadLen::Complete(n) => {
                    head.truncate(n as usize);
                    return Ok(head);
                }
                HeadLen::AtLeast(n) => {
                    // A little more than asked: the next section header usually comes with it.
                    let want = (n + 4096).min(len);
                    let more = self.read(head.len() as u64..want).await?;
                    if more.is_empty() {
                        return Err("the archive ends inside its head".into());
                    }
                    head.extend_from_slice(&more);
                }
            }
        }
    }
}

/// GET `url`, with a Range header for `range` when given.
async fn request(url: &str, range: Option<Range<u64>>) -> Result<web_sys::Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    if let Some(r) = &range {
        let headers = web_sys::Headers::new().map_err(|e| js_error(&e))?;
        headers
            .set("Range", &format!("bytes={}-{}", r.start, r.end.max(r.start + 1) - 1))
            .map_err(|e| js_error(&e))?;
        init.set_headers(&headers);
    }
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await.map_err(|e| {
        format!(
            "could not fetch {url}: the request failed (offline, blocked by CORS — the server must \
             allow cross-origin requests — or no server answered): {}",
            js_error(&e)
        )
    })?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "fetch returned no response")?;
    // 416: a range past the end of an empty file; it is read whole instead.
    if range.is_some() && resp.status() == 416 {
        return Box::pin(request(url, None)).await;
    }
    if !resp.ok() {
        return Err(format!("could not fetch {url}: HTTP {} {}", resp.status(), resp.status_text()));
    }
    Ok(resp)
}

/// Reads a response body as it arrives, counting it; `progress(bytes so far, total)` after each
/// part. A Content-Length is the server's claim and wasm memory never shrinks: the rest of it is
/// reserved only once the data received has justified half of it.
async fn read_body(
    url: &str,
    resp: &web_sys::Response,
    total: Option<u64>,
    progress: &impl Fn(u64, Option<u64>),
) -> Result<Vec<u8>, String> {
    let Some(body) = resp.body() else { return Ok(Vec::new()) };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    loop {
        let part: web_sys::ReadableStreamReadResult = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("could not read {url}: {}", js_error(&e)))?
            .unchecked_into();
        if part.get_done().unwrap_or(true) {
            break;
        }
        // A view of the part read (`new Uint8Array(typedArray)` would copy it).
        let chunk: js_sys::Uint8Array = part.get_value().unchecked_into();
        if let Some(t) = total.map(|t| t as usize)
            && bytes.capacity() < t
            && bytes.len() >= t / 2
        {
            bytes.reserve_exact(t - bytes.len());
        }
        let at = bytes.len();
        bytes.resize(at + chunk.length() as usize, 0);
        chunk.copy_to(&mut bytes[at..]);
        FETCHED.with(|f| f.set(f.get() + chunk.length() as u64));
        progress(bytes.len() as u64, total);
    }
    Ok(bytes)
}

pub fn js_error(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| format!("{e:?}"))
}

/// The whole of `url` (a model file), read as it arrives with `progress`.
pub async fn fetch_whole(url: &str, progress: impl Fn(u64, Option<u64>)) -> Result<Vec<u8>, String> {
    let resp = request(url, None).await?;
    read_body(url, &resp, content_length(&resp), &progress).await
}

/// The length a response claims (a claim: see [`read_body`]).
fn content_length(resp: &web_sys::Response) -> Option<u64> {
    resp.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse().ok())
}

/// Chunk sections already fetched, kept up to a budget (oldest dropped first), so that decoding
/// a chunk again (the `.npy` download after browsing) does not fetch it again.
pub struct SectionCache {
    map: std::collections::HashMap<usize, std::rc::Rc<Vec<u8>>>,
    order: std::collections::VecDeque<usize>,
    bytes: usize,
    budget: usize,
}

impl SectionCache {
    pub fn new(budget: usize) -> Self {
        Self { map: Default::default(), order: Default::default(), bytes: 0, budget }
    }

    pub fn get(&self, i: usize) -> Option<std::rc::Rc<Vec<u8>>> {
        self.map.get(&i).cloned()
    }

    pub fn put(&mut self, i: usize, section: std::rc::Rc<Vec<u8>>) {
        if section.len() > self.budget || self.map.contains_key(&i) {
            return;
        }
        self.bytes += section.len();
        self.map.insert(i, section);
        self.order.push_back(i);
        while self.bytes > self.budget
            && let Some(old) = self.order.pop_front()
        {
            if let Some(s) = self.map.remove(&old) {
                self.bytes -= s.len();
            }
        }
    }
}

/// A file built part by part in the browser's blob store (the `.npy` download): parts are folded
/// into one Blob every 32 MB, so the page holds at most that much of it in its own memory
/// (browsers keep large blobs out of the page, on disk).
pub struct BlobBuilder {
    blob: Option<web_sys::Blob>,
    pending: js_sys::Array,
    pending_bytes: usize,
}

impl Default for BlobBuilder {
    fn default() -> Self {
        Self { blob: None, pending: js_sys::Array::new(), pending_bytes: 0 }
    }
}

impl BlobBuilder {
    const FOLD_BYTES: usize = 32 << 20;

    pub fn push(&mut self, bytes: &[u8]) {
        self.push_owned(js_sys::Uint8Array::from(bytes));
    }

    /// Appends `part`, which the blob keeps (nothing else may write to its buffer).
    pub fn push_owned(&mut self, part: js_sys::Uint8Array) {
        self.pending_bytes += part.length() as usize;
        self.pending.push(&part);
        if self.pending_bytes >= Self::FOLD_BYTES {
            self.fold();
        }
    }

    fn fold(&mut self) {
        if let Some(b) = self.blob.take() {
            self.pending.unshift(&b);
        }
        let opts = web_sys::BlobPropertyBag::new();
        opts.set_type("application/octet-stream");
        self.blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&self.pending, &opts).ok();
        self.pending = js_sys::Array::new();
        self.pending_bytes = 0;
    }

    pub fn finish(mut self) -> Option<web_sys::Blob> {
        self.fold();
        self.blob
    }
}

/// The `.npy` a download saves, written part by part: into a file of the origin's private file
/// system where the browser has one (on disk, so a GB-sized download never sits in memory:
/// Chromium refused blobs over ~500 MB here), else into a [`BlobBuilder`].
pub struct NpyFile {
    /// The file handle and the writer of its stream.
    opfs: Option<(JsValue, JsValue)>,
    blob: BlobBuilder,
    /// The write under way from a lent buffer, and what owns that buffer (kept till it is done).
    writing: Option<(js_sys::Promise, Box<dyn std::any::Any>)>,
}

/// Bytes handed to the private file system's stream at once by [`NpyFile::write_js`].
const WRITE_PART_BYTES: u32 = 4 << 20;

/// The one file downloads use in the private file system (a new download replaces it).
const OPFS_NAME: &str = "baler-download.npy";

/// `obj.method(arg)` called now; the promise it returned, if any.
fn call_now(obj: &JsValue, method: &str, arg: &JsValue) -> Option<js_sys::Promise> {
    let f: js_sys::Function = js_sys::Reflect::get(obj, &method.into()).ok()?.dyn_into().ok()?;
    f.call1(obj, arg).ok()?.dyn_into().ok()
}

/// `obj.method(...args)`, awaited when it returns a promise.
async fn call(obj: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = js_sys::Reflect::get(obj, &method.into())?.dyn_into()?;
    let r = f.apply(obj, &args.iter().collect::<js_sys::Array>())?;
    match r.dyn_into::<js_sys::Promise>() {
        Ok(p) => JsFuture::from(p).await,
        Err(v) => Ok(v),
    }
}

impl NpyFile {
    pub async fn create() -> Self {
        let opfs = async {
            let storage = js_sys::Reflect::get(&web_sys::window()?.navigator(), &"storage".into()).ok()?;
            let root = call(&storage, "getDirectory", &[]).await.ok()?;
            let options = js_sys::Object::new();
            js_sys::Reflect::set(&options, &"create".into(), &true.into()).ok()?;
            let handle = call(&root, "getFileHandle", &[OPFS_NAME.into(), options.into()]).await.ok()?;
            let stream = call(&handle, "createWritable", &[]).await.ok()?;
            let writer = call(&stream, "getWriter", &[]).await.ok()?;
            Some((handle, writer))
        }
        .await;
        Self { opfs, blob: BlobBuilder::default(), writing: None }
    }

    /// Whether the file goes to disk (the private file system), not into memory.
    pub fn is_on_disk(&self) -> bool {
        self.opfs.is_some()
    }

    /// Appends `bytes` once the file's stream has room for them (so the page does not pile up
    /// what the disk has not taken yet).
    pub async fn write(&mut self, bytes: &[u8]) {
        self.wait_ready().await;
        self.push(bytes);
    }

    /// Until the file's stream has room (the page does not pile up what the disk has not taken).
    async fn wait_ready(&self) {
        if let Some((_, writer)) = &self.opfs
            && let Ok(ready) = js_sys::Reflect::get(writer, &"ready".into())
            && let Ok(ready) = ready.dyn_into::<js_sys::Promise>()
        {
            let _ = JsFuture::from(ready).await;
        }
    }

    /// Appends the bytes `view` shows, without copying them where the file is on disk; `keep` is
    /// held until the file has taken them (it owns the buffer `view` is in). One such write is
    /// under way at a time: each holds a chunk's buffer, and the disk is the slower side anyway.
    pub async fn write_js(&mut self, view: &js_sys::Uint8Array, keep: impl std::any::Any) {
        self.settle().await;
        let Some((_, writer)) = self.opfs.clone() else {
            self.push_copy(view);
            return;
        };
        // In parts, each once the stream has room: the browser copies what a write is given
        // before it reaches the disk, so a chunk at once was another 8 MB in the renderer.
        let mut last = None;
        for start in (0..view.length()).step_by(WRITE_PART_BYTES as usize) {
            self.wait_ready().await;
            let end = (start + WRITE_PART_BYTES).min(view.length());
            last = call_now(&writer, "write", &view.subarray(start, end)).or(last);
        }
        if let Some(p) = last {
            self.writing = Some((p, Box::new(keep)));
        }
    }

    /// Waits for the write under way (a failed one fails [`Self::finish`]), then lets its
    /// buffer go.
    async fn settle(&mut self) {
        if let Some((written, keep)) = self.writing.take() {
            let _ = JsFuture::from(written).await;
            drop(keep);
        }
    }

    /// Appends a copy of the bytes `view` shows (queued in order like [`Self::push`]).
    pub fn push_copy(&mut self, view: &js_sys::Uint8Array) {
        self.push_owned(view.slice(0, view.length()));
    }

    /// Appends `bytes` (queued in order; a failed write fails [`Self::finish`]).
    pub fn push(&mut self, bytes: &[u8]) {
        self.push_owned(js_sys::Uint8Array::from(bytes));
    }

    /// Appends `part`, a buffer of its own that the file's stream (or blob) may keep.
    fn push_owned(&mut self, part: js_sys::Uint8Array) {
        match &self.opfs {
            Some((_, writer)) => {
                call_now(writer, "write", &part);
            }
            None => self.blob.push_owned(part),
        }
    }

    /// The finished file.
    pub async fn finish(mut self) -> Result<web_sys::Blob, String> {
        self.settle().await;
        match self.opfs {
            Some((handle, writer)) => {
                call(&writer, "close", &[])
                    .await
                    .map_err(|e| format!("writing the .npy failed: {}", js_error(&e)))?;
                let file = call(&handle, "getFile", &[]).await.map_err(|e| js_error(&e))?;
                file.dyn_into().map_err(|_| "the private file system gave no file".to_string())
            }
            None => self.blob.finish().ok_or_else(|| "the browser could not build the .npy".to_string()),
        }
    }
}
