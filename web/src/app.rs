//! The viewer: loading archives (file picker, drag and drop, `#src=` links), decoding them, the
//! controls, and the URL hash that reproduces the view.

use std::cell::RefCell;
use std::rc::Rc;

use baler_codec::describe::describe as summarize;
use baler_codec::format::metadata::{BoundSpec, ModelUse, hex};
use baler_codec::format::model_file::read_model_file;
use baler_codec::network::gpu::{GpuDecoder, GpuDevice, request_adapter};
use baler_codec::{Archive, CodecError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{Event, HtmlButtonElement, HtmlInputElement, HtmlProgressElement, HtmlSelectElement};

use crate::colormap::Colormap;
use crate::colormap::color_range;
use crate::decode::{DecodeSummary, decode_into, empty_output};
use crate::decoded::Decoded;
use crate::dom::{self, el, set_text, show};
use crate::render::{self, fmt_num};
use crate::state::ViewState;

enum Gpu {
    NotChecked,
    Available(GpuDevice),
    Unavailable,
}

struct App {
    view: ViewState,
    /// The archive on screen (kept so that a model supplied later can decode it).
    archive: Option<(String, Rc<Vec<u8>>)>,
    /// Decoder payload of a model file the user supplied (online-mode archives).
    model: Option<Rc<Vec<u8>>>,
    decoded: Option<Decoded>,
    /// Bumped by every load: a decode still running for an older load stops.
    generation: u32,
    gpu: Gpu,
    play_timer: Option<i32>,
}

thread_local! {
    static APP: RefCell<App> = RefCell::new(App {
        view: ViewState::default(),
        archive: None,
        model: None,
        decoded: None,
        generation: 0,
        gpu: Gpu::NotChecked,
        play_timer: None,
    });
}

fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> R {
    APP.with(|a| f(&mut a.borrow_mut()))
}

pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("{info}").into());
        show_error(&format!("internal error: {info}"));
    }));
    dom::set_body_data("state", "idle");
    fill_colormap_select();
    wire_controls();
    spawn_local(async {
        detect_gpu().await;
    });
    apply_hash(true);
}

// ---------------------------------------------------------------- loading

/// Fetches `url` (relative URLs resolve against the page), reading the body as it arrives:
/// `progress(bytes so far, Content-Length if the server sent one)` after each part, and no
/// second copy of the whole archive in the JS heap.
async fn fetch_bytes(url: &str, progress: impl Fn(usize, Option<usize>)) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp = JsFuture::from(window.fetch_with_str(url)).await.map_err(|e| {
        format!(
            "could not fetch {url}: the request failed (offline, blocked by CORS — the server must \
             allow cross-origin requests — or no server answered): {}",
            js_error(&e)
        )
    })?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|_| "fetch returned no response")?;
    if !resp.ok() {
        return Err(format!("could not fetch {url}: HTTP {} {}", resp.status(), resp.status_text()));
    }
    let total =
        resp.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<usize>().ok());
    let Some(body) = resp.body() else { return Ok(Vec::new()) };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    // The length is the server's claim, and wasm memory never shrinks: the rest of it is reserved
    // only once the data received has justified half of it; until then the buffer grows with the
    // data.
    let mut bytes = Vec::new();
    loop {
        let part: web_sys::ReadableStreamReadResult = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("could not read {url}: {}", js_error(&e)))?
            .unchecked_into();
        if part.get_done().unwrap_or(true) {
            break;
        }
        let chunk = js_sys::Uint8Array::new(&part.get_value());
        if let Some(t) = total
            && bytes.capacity() < t
            && bytes.len() >= t / 2
        {
            bytes.reserve_exact(t - bytes.len());
        }
        let at = bytes.len();
        bytes.resize(at + chunk.length() as usize, 0);
        chunk.copy_to(&mut bytes[at..]);
        progress(bytes.len(), total);
    }
    Ok(bytes)
}

/// "3.2 of 10.6 MB" (or "3.2 MB" without a total).
fn fetched(done: usize, total: Option<usize>) -> String {
    let mb = |b: usize| b as f64 / 1e6;
    match total {
        Some(t) if t > 0 => format!("{:.1} of {:.1} MB", mb(done), mb(t)),
        _ => format!("{:.1} MB", mb(done)),
    }
}

async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("could not read {}: {}", file.name(), js_error(&e)))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

fn js_error(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| format!("{e:?}"))
}

fn file_name_of(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or(url).to_string()
}

fn load_url(url: String) {
    let generation = begin_load(&format!("fetching {url} …"));
    spawn_local(async move {
        let progress = |done: usize, total: Option<usize>| {
            if !is_current(generation) {
                return;
            }
            show("progress", true);
            if let Some(t) = total.filter(|&t| t > 0) {
                el::<HtmlProgressElement>("progress").set_value(done as f64 / t as f64);
            }
            set_text("progress-text", &format!("fetching {url}: {}", fetched(done, total)));
            // For tests and scripts: the bytes this page fetched for the archive.
            dom::set_body_data("fetched", &done.to_string());
        };
        match fetch_bytes(&url, progress).await {
            Ok(bytes) if is_current(generation) => {
                open_archive(file_name_of(&url), Rc::new(bytes), generation).await
            }
            Ok(_) => {}
            Err(e) if is_current(generation) => show_error(&e),
            Err(_) => {}
        }
    });
}

fn load_file(file: web_sys::File) {
    let generation = begin_load(&format!("reading {} …", file.name()));
    with_app(|a| a.view = ViewState { src: None, model: None, ..a.view.clone() });
    write_hash();
    spawn_local(async move {
        match file_bytes(&file).await {
            Ok(bytes) => open_archive(file.name(), Rc::new(bytes), generation).await,
            Err(e) => show_error(&e),
        }
    });
}

fn begin_load(message: &str) -> u32 {
    stop_playing();
    let generation = with_app(|a| {
        a.generation += 1;
        a.decoded = None;
        a.generation
    });
    show("error", false);
    show("model-panel", false);
    show("viewer", false);
    show("progress", false);
    set_text("progress-text", message);
    dom::set_body_data("state", "loading");
    generation
}

fn is_current(generation: u32) -> bool {
    with_app(|a| a.generation == generation)
}

pub fn show_error(message: &str) {
    set_text("error", message);
    show("error", true);
    show("progress", false);
    set_text("progress-text", "");
    dom::set_body_data("state", "error");
}

/// Opens, describes and decodes an archive.
async fn open_archive(name: String, bytes: Rc<Vec<u8>>, generation: u32) {
    with_app(|a| a.archive = Some((name.clone(), bytes.clone())));
    let model = with_app(|a| a.model.clone());
    let archive = match Archive::open(&bytes, model.as_deref().map(|m| m.as_slice())) {
        Ok(a) => a,
        Err(CodecError::ModelMissing { hash }) => {
            ask_for_model(&name, &hash);
            return;
        }
        Err(CodecError::ModelMismatch { expected, found }) => {
            set_text("model-needed", &expected);
            set_text("model-archive", &name);
            refuse_model(&format!(
                "that is a different model (hash {found}): {name} needs the model {expected}"
            ));
            return;
        }
        Err(e) => {
            show_error(&format!("{name}: {e}"));
            return;
        }
    };
    describe(&name, &archive, bytes.len(), model.as_ref().map(|m| m.len()));
    show("viewer", true);
    show("field-view", !archive.meta.table);
    show("table-view", archive.meta.table);
    dom::set_body_data("kind", if archive.meta.table { "table" } else { "field" });
    dom::set_body_data("state", "decoding");
    set_text("progress-text", "decoding …");
    show("progress", true);
    set_text("stat-hash", "(verifying …)");

    let device = detect_gpu().await;
    let gpu = match (&archive.decoder, device) {
        (Some(dec), Some(device)) => Some(GpuDecoder::new(&device, dec)),
        _ => None,
    };
    let mut out = empty_output(&archive);
    let is_field = !archive.meta.table;
    let mut first_shown = false;
    let view = with_app(|a| a.view.clone());
    let result = decode_into(&archive, gpu.as_ref(), &mut out, |d, done, total| {
        el::<HtmlProgressElement>("progress").set_value(done as f64 / total.max(1) as f64);
        set_text("progress-text", &format!("decoding chunk {done} of {total}"));
        if is_field
            && !first_shown
            && view.axis == 0
            && d.first_axis_slice_ready(view.frame.min(d.slices(0) - 1))
        {
            first_shown = true;
            let range = color_range(view.range, &d.stats, view.cmap);
            render::heatmap(d, 0, view.frame, view.cmap, range);
        }
        is_current(generation)
    })
    .await;
    if !is_current(generation) {
        return;
    }
    match result {
        Ok(summary) => finish(&archive, out, summary, gpu.as_ref(), ""),
        // A GPU failure is not the archive's fault: say so and decode on the CPU instead.
        Err(CodecError::Backend(e)) if gpu.is_some() => {
            let mut out = empty_output(&archive);
            match decode_into(&archive, None, &mut out, |_, _, _| is_current(generation)).await {
                Ok(summary) if is_current(generation) => finish(
                    &archive,
                    out,
                    summary,
                    None,
                    &format!(" (WebGPU failed: {e}; decoded on the CPU)"),
                ),
                Ok(_) => {}
                Err(e) => show_error(&format!("{name}: {e}")),
            }
        }
        Err(e) => show_error(&format!("{name}: {e}")),
    }
}

fn finish(archive: &Archive<'_>, out: Decoded, s: DecodeSummary, gpu: Option<&GpuDecoder>, gpu_note: &str) {
    let path = match (s.on_gpu, gpu) {
        (true, Some(g)) => format!(
            "WebGPU ({}{}), decoder network on {} tiles",
            if g.adapter().name.is_empty() { "browser adapter" } else { &g.adapter().name },
            if g.adapter().fallback { ", software adapter" } else { "" },
            s.network_tiles
        ),
        _ if s.network_tiles > 0 => {
            format!("CPU (WebAssembly), decoder network on {} tiles{gpu_note}", s.network_tiles)
        }
        _ => format!("CPU (WebAssembly); no tile needs the decoder network{gpu_note}"),
    };
    set_text("decode-path", &path);
    set_text("decode-ms", &format!("{:.1}", s.total_ms));
    set_text("first-frame-ms", &format!("{:.1}", s.first_frame_ms.unwrap_or(s.total_ms)));
    let mb = archive.meta.original_bytes as f64 / 1e6;
    set_text("decode-mbps", &format!("{:.1}", mb / (s.total_ms.max(0.01) / 1e3)));
    let st = out.stats;
    set_text("stat-min", &st.mean().map_or("—".into(), |_| fmt_num(st.min)));
    set_text("stat-max", &st.mean().map_or("—".into(), |_| fmt_num(st.max)));
    set_text("stat-mean", &st.mean().map_or("—".into(), fmt_num));
    let no_data = out.len_done() as u64 - st.count;
    set_text("stat-nodata", &format!("{no_data}"));
    set_text("stat-hash", &hex(&archive.meta.content_hash[..archive.hash_kind.digest_len()]));
    show("progress", false);
    set_text("progress-text", "");
    with_app(|a| a.decoded = Some(out));
    setup_slider();
    render_view();
    dom::set_body_data("state", "done");
}

fn ask_for_model(name: &str, hash: &str) {
    set_text("model-needed", hash);
    set_text("model-archive", name);
    // A `#model=` link supplies it at once; otherwise the user is asked for it.
    if let Some(url) = with_app(|a| a.view.model.clone()) {
        set_text("progress-text", &format!("fetching the model {url} …"));
        load_model_url(url);
        return;
    }
    show("model-panel", true);
    set_text("progress-text", "");
    dom::set_body_data("state", "need-model");
}

/// The model given cannot decode the archive on screen: it is dropped (and its `#model=` link),
/// the reason shown, and the model panel stays open for another.
fn refuse_model(message: &str) {
    with_app(|a| {
        a.model = None;
        a.view.model = None;
    });
    write_hash();
    set_text("error", message);
    show("error", true);
    show("model-panel", true);
    show("progress", false);
    set_text("progress-text", "");
    dom::set_body_data("state", "need-model");
}

fn use_model(source: &str, bytes: Vec<u8>) {
    let payload = match read_model_file(&bytes) {
        Ok(m) => m.decoder.to_vec(),
        Err(e) => {
            refuse_model(&format!("{source} is not a model file: {e}"));
            return;
        }
    };
    with_app(|a| a.model = Some(Rc::new(payload)));
    if let Some((name, bytes)) = with_app(|a| a.archive.clone()) {
        let generation = begin_load("decoding with the model …");
        spawn_local(open_archive(name, bytes, generation));
    }
}

fn load_model_url(url: String) {
    spawn_local(async move {
        let progress = |done: usize, total: Option<usize>| {
            set_text("progress-text", &format!("fetching the model {url}: {}", fetched(done, total)));
        };
        match fetch_bytes(&url, progress).await {
            Ok(bytes) => use_model(&url, bytes),
            Err(e) => refuse_model(&e),
        }
    });
}

/// Checks once for a WebGPU adapter and opens its device (an adapter gives only one); records
/// the answer in `body[data-gpu]`.
async fn detect_gpu() -> Option<GpuDevice> {
    if let Some(known) = with_app(|a| match &a.gpu {
        Gpu::Available(d) => Some(Some(d.clone())),
        Gpu::Unavailable => Some(None),
        Gpu::NotChecked => None,
    }) {
        return known;
    }
    let navigator = web_sys::window().map(|w| w.navigator());
    let has_api = navigator
        .as_ref()
        .and_then(|n| js_sys::Reflect::get(n, &"gpu".into()).ok())
        .is_some_and(|g| !g.is_undefined() && !g.is_null());
    let mut failure = None;
    let adapter = if has_api { request_adapter().await.ok() } else { None };
    let device = match &adapter {
        Some(ad) => match GpuDevice::new(ad).await {
            Ok(d) => Some(d),
            Err(e) => {
                failure = Some(e.to_string());
                None
            }
        },
        None => None,
    };
    // Another call may have finished first: keep the first answer.
    let device = with_app(|a| {
        if let Gpu::NotChecked = a.gpu {
            a.gpu = match &device {
                Some(d) => Gpu::Available(d.clone()),
                None => Gpu::Unavailable,
            };
        }
        match &a.gpu {
            Gpu::Available(d) => Some(d.clone()),
            _ => None,
        }
    });
    let status = match (&device, adapter) {
        (Some(_), Some(ad)) => {
            let info = ad.get_info();
            let kind = match info.device_type {
                wgpu::DeviceType::Cpu => "software adapter (runs on the CPU)",
                wgpu::DeviceType::IntegratedGpu => "integrated GPU",
                wgpu::DeviceType::DiscreteGpu => "discrete GPU",
                wgpu::DeviceType::VirtualGpu => "virtual GPU",
                wgpu::DeviceType::Other => "adapter",
            };
            // Browsers usually hide the adapter's name.
            if info.name.is_empty() {
                format!("WebGPU: {kind}")
            } else {
                format!("WebGPU: {}, {kind}", info.name)
            }
        }
        (_, _) if failure.is_some() => format!("WebGPU: {}; the CPU decodes", failure.unwrap_or_default()),
        _ if has_api => "WebGPU: no adapter; the CPU decodes".into(),
        _ => "WebGPU: not in this browser; the CPU decodes".into(),
    };
    set_text("gpu-status", &status);
    dom::set_body_data("gpu", if device.is_some() { "available" } else { "unavailable" });
    device
}

// ---------------------------------------------------------------- description

fn describe(name: &str, a: &Archive<'_>, archive_bytes: usize, model_bytes: Option<usize>) {
    let s = summarize(name, a, archive_bytes as u64, model_bytes.map(|b| b as u64));
    set_text("stat-file", &s.archive);
    set_text("stat-kind", s.kind);
    let shape: Vec<String> = s.shape.iter().map(|d| d.to_string()).collect();
    set_text("stat-shape", &format!("{} ({} values)", shape.join(" × "), s.element_count()));
    let mut dtypes: Vec<&str> = s.streams.iter().map(|st| st.dtype.name()).collect();
    dtypes.dedup();
    set_text("stat-dtype", &dtypes.join(", "));
    let abs: Vec<String> = s.streams.iter().map(|st| st.bound.map_or("lossless".into(), fmt_num)).collect();
    let spec = match s.bound {
        BoundSpec::Abs(v) => format!("absolute {}", fmt_num(v)),
        BoundSpec::Rel(v) => format!("{v} × range{}", if s.is_table() { " (per column)" } else { "" }),
    };
    set_text("stat-bound", &format!("{spec}; |x − x′| ≤ {}", abs.join(", ")));
    set_text("stat-ratio", &format!("{:.2} ({} → {} bytes)", s.ratio, s.original_bytes, s.archive_bytes));
    let model_text = match &s.model_use {
        ModelUse::None => "none: classic predictors only".to_string(),
        ModelUse::Embedded { hash } => {
            format!("embedded, {} bytes ({}…)", s.sections.model, &hex(hash)[..12])
        }
        ModelUse::Referenced { hash } => format!(
            "referenced {}…{}",
            &hex(hash)[..12],
            s.ratio_with_model_pack.map_or(String::new(), |r| format!("; ratio with the model: {r:.2}"))
        ),
    };
    set_text("stat-model", &model_text);
    set_text("stat-ratio-nomodel", &format!("{:.2}", s.ratio_without_model));
    set_text("stat-chunks", &s.chunks.to_string());
    let z = &s.sections;
    set_text(
        "stat-sizes",
        &format!(
            "metadata {}, model {}, chunk index {}, chunks {}, header+end {}",
            z.metadata,
            z.model + z.model_ref,
            z.chunk_index,
            z.chunks,
            z.header + z.end
        ),
    );
    set_text("stat-notes", &s.notes.join("\n"));
    for id in [
        "stat-min",
        "stat-max",
        "stat-mean",
        "stat-nodata",
        "decode-path",
        "decode-ms",
        "first-frame-ms",
        "decode-mbps",
    ] {
        set_text(id, "…");
    }
}

// ---------------------------------------------------------------- view

fn render_view() {
    with_app(|a| {
        let Some(d) = &a.decoded else { return };
        if d.columns.is_some() {
            render::table(d);
            return;
        }
        let v = &a.view;
        let range = color_range(v.range, &d.stats, v.cmap);
        render::heatmap(d, v.axis, v.frame, v.cmap, range);
        let n = d.slices(v.axis);
        let axis_name = ["frame", "row", "column"][v.axis.min(2)];
        set_text("frame-label", &format!("{axis_name} {} of {n}", v.frame.min(n - 1) + 1));
        el::<HtmlInputElement>("range-lo").set_value(&fmt_num(range.0));
        el::<HtmlInputElement>("range-hi").set_value(&fmt_num(range.1));
    });
}

fn setup_slider() {
    with_app(|a| {
        let Some(d) = &a.decoded else { return };
        if d.columns.is_some() {
            return;
        }
        let three_d = d.volume()[0] > 1;
        show("axis-control", three_d);
        if !three_d {
            a.view.axis = 0;
        }
        let n = d.slices(a.view.axis);
        a.view.frame = a.view.frame.min(n.saturating_sub(1));
        let slider = el::<HtmlInputElement>("frame");
        slider.set_max(&(n.saturating_sub(1)).to_string());
        slider.set_value(&a.view.frame.to_string());
        show("frame-control", n > 1);
        el::<HtmlSelectElement>("axis").set_value(&a.view.axis.to_string());
        el::<HtmlSelectElement>("cmap").set_value(a.view.cmap.name());
    });
}

/// Writes the view state to the URL hash (without a history entry or a hashchange event).
fn write_hash() {
    let hash = with_app(|a| a.view.to_hash());
    if let Some(w) = web_sys::window()
        && let Ok(h) = w.history()
    {
        let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(if hash == "#" { " " } else { &hash }));
    }
}

fn current_hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// Reads the URL hash: a new `src` loads it; otherwise the view follows the hash.
fn apply_hash(initial: bool) {
    let new = ViewState::parse(&current_hash());
    let old = with_app(|a| std::mem::replace(&mut a.view, new.clone()));
    if new.src.is_some() && (initial || new.src != old.src || new.model != old.model) {
        if new.model != old.model {
            with_app(|a| a.model = None);
        }
        load_url(new.src.clone().unwrap_or_default());
    } else {
        setup_slider();
        render_view();
    }
}

fn update_view(change: impl FnOnce(&mut ViewState)) {
    with_app(|a| change(&mut a.view));
    setup_slider();
    render_view();
    write_hash();
}

fn stop_playing() {
    if let Some(t) = with_app(|a| a.play_timer.take())
        && let Some(w) = web_sys::window()
    {
        w.clear_interval_with_handle(t);
    }
    if let Some(b) = dom::document().get_element_by_id("play") {
        b.set_text_content(Some("▶ play"));
    }
}

fn toggle_play() {
    if with_app(|a| a.play_timer.is_some()) {
        stop_playing();
        return;
    }
    let tick = Closure::<dyn FnMut()>::new(|| {
        let n = with_app(|a| a.decoded.as_ref().map_or(1, |d| d.slices(a.view.axis)));
        update_view(|v| v.frame = (v.frame + 1) % n.max(1));
    });
    let window = web_sys::window().expect("window");
    if let Ok(id) =
        window.set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), 120)
    {
        with_app(|a| a.play_timer = Some(id));
        el::<HtmlButtonElement>("play").set_text_content(Some("⏸ pause"));
    }
    tick.forget();
}

fn download() {
    let Some((name, bytes)) = with_app(|a| {
        let d = a.decoded.as_ref()?;
        let name = a.archive.as_ref().map_or("data".into(), |(n, _)| n.clone());
        Some((name, js_sys::Uint8Array::from(d.npy_bytes())))
    }) else {
        return;
    };
    let parts = js_sys::Array::of1(&bytes);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/octet-stream");
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts) else { return };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let a: web_sys::HtmlAnchorElement = dom::document().create_element("a").expect("a").unchecked_into();
    a.set_href(&url);
    let stem = name.strip_suffix(".baler").unwrap_or(&name);
    a.set_download(&format!("{stem}.npy"));
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
}

// ---------------------------------------------------------------- wiring

fn on(id: &str, event: &str, f: impl FnMut(Event) + 'static) {
    let target = el::<web_sys::EventTarget>(id);
    let c = Closure::<dyn FnMut(Event)>::new(f);
    let _ = target.add_event_listener_with_callback(event, c.as_ref().unchecked_ref());
    c.forget();
}

fn fill_colormap_select() {
    let select = el::<HtmlSelectElement>("cmap");
    let html: String =
        Colormap::ALL.iter().map(|c| format!("<option value=\"{0}\">{0}</option>", c.name())).collect();
    select.set_inner_html(&html);
}

fn wire_controls() {
    on("file-input", "change", |_| {
        if let Some(f) = el::<HtmlInputElement>("file-input").files().and_then(|l| l.get(0)) {
            load_file(f);
        }
    });
    on("url-form", "submit", |e| {
        e.prevent_default();
        let url = el::<HtmlInputElement>("url-input").value().trim().to_string();
        if !url.is_empty() {
            with_app(|a| a.view = ViewState { src: Some(url.clone()), ..ViewState::default() });
            write_hash();
            load_url(url);
        }
    });
    on("app", "dragover", |e| {
        e.prevent_default();
        dom::set_body_data("drag", "over");
    });
    on("app", "dragleave", |_| dom::set_body_data("drag", ""));
    on("app", "drop", |e| {
        e.prevent_default();
        dom::set_body_data("drag", "");
        let file = e
            .dyn_ref::<web_sys::DragEvent>()
            .and_then(|d| d.data_transfer())
            .and_then(|t| t.files())
            .and_then(|l| l.get(0));
        if let Some(f) = file {
            load_file(f);
        }
    });
    on("model-file", "change", |_| {
        if let Some(f) = el::<HtmlInputElement>("model-file").files().and_then(|l| l.get(0)) {
            spawn_local(async move {
                match file_bytes(&f).await {
                    Ok(b) => use_model(&f.name(), b),
                    Err(e) => show_error(&e),
                }
            });
        }
    });
    on("model-load", "click", |_| {
        let url = el::<HtmlInputElement>("model-url").value().trim().to_string();
        if !url.is_empty() {
            with_app(|a| a.view.model = Some(url.clone()));
            write_hash();
            load_model_url(url);
        }
    });
    on("cmap", "change", |_| {
        let name = el::<HtmlSelectElement>("cmap").value();
        update_view(|v| {
            v.cmap = Colormap::from_name(&name).unwrap_or(Colormap::Viridis);
            v.range = None;
        });
    });
    on("axis", "change", |_| {
        let axis = el::<HtmlSelectElement>("axis").value().parse().unwrap_or(0);
        update_view(|v| {
            v.axis = axis;
            v.frame = 0;
        });
    });
    on("frame", "input", |_| {
        let f = el::<HtmlInputElement>("frame").value().parse().unwrap_or(0);
        update_view(|v| v.frame = f);
    });
    on("play", "click", |_| toggle_play());
    on("range-apply", "click", |_| {
        let lo = el::<HtmlInputElement>("range-lo").value().trim().parse::<f64>();
        let hi = el::<HtmlInputElement>("range-hi").value().trim().parse::<f64>();
        match (lo, hi) {
            (Ok(lo), Ok(hi)) if lo.is_finite() && hi.is_finite() && lo < hi => {
                update_view(|v| v.range = Some((lo, hi)))
            }
            _ => set_text("range-message", "enter two numbers, low < high"),
        }
    });
    on("range-auto", "click", |_| {
        set_text("range-message", "");
        update_view(|v| v.range = None);
    });
    on("download", "click", |_| download());
    let c = Closure::<dyn FnMut(Event)>::new(|_| apply_hash(false));
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("hashchange", c.as_ref().unchecked_ref());
    }
    c.forget();
}
