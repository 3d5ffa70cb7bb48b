//! The viewer: loading archives (file picker, drag and drop, `#src=` links), decoding them, the
//! controls, and the URL hash that reproduces the view.
//!
//! An archive is opened from its head alone (header, metadata, model, chunk index: one or two
//! Range requests), then its chunk sections are fetched as they are needed. A small archive is
//! read and decoded whole, in order, so its content hash is checked at once; a large one (or any
//! with `#lazy=1`) fetches only the chunks the current view shows, keeps the decoded ones within
//! a memory budget, and checks the hash when a download decodes it whole.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use baler_codec::format::metadata::hex;
use baler_codec::format::model_file::read_model_file;
use baler_codec::network::gpu::{GpuDecoder, GpuDevice, request_adapter};
use baler_codec::{Archive, CodecError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{Event, HtmlButtonElement, HtmlInputElement, HtmlProgressElement, HtmlSelectElement};

use crate::colormap::Colormap;
use crate::colormap::color_range;
use crate::decode::{DecodeSummary, Engine, InOrder, empty_output, now_ms, yield_now};
use crate::decoded::Decoded;
use crate::describe::describe;
use crate::dom::{self, el, set_text, show};
use crate::render::{self, fmt_num};
use crate::scale::Window;
use crate::source::{NpyFile, SectionCache, Source, fetch_whole, fetched_bytes, js_error};
use crate::state::ViewState;
use crate::tools;
use crate::worker::Pool;

/// Archives up to this size are read whole and checked at once; larger ones chunk by chunk.
const WHOLE_UP_TO_BYTES: u64 = 32 << 20;
/// Decoded values kept of a large archive (least recently used chunks dropped first).
const DECODED_BUDGET: usize = 256 << 20;
/// Compressed chunk sections kept, so that a download after browsing fetches less again.
const SECTION_BUDGET: usize = 64 << 20;

enum Gpu {
    NotChecked,
    Available(GpuDevice),
    Unavailable,
}

/// The archive on screen.
struct Loaded {
    name: String,
    source: Rc<Source>,
    archive: Rc<Archive<'static>>,
    sections: SectionCache,
    /// Fetch only what the view needs (else the whole archive was decoded in order).
    lazy: bool,
    /// The content hash has been checked (every chunk decoded in order).
    verified: bool,
    /// Where its chunks are decoded.
    engine: Engine,
    /// Why the GPU was given up, if it failed.
    gpu_note: String,
    summary: DecodeSummary,
    opened_ms: f64,
    first_view_ms: Option<f64>,
}

struct App {
    view: ViewState,
    loaded: Option<Loaded>,
    /// An online-mode archive waiting for its model.
    waiting: Option<(String, Rc<Source>)>,
    /// Decoder payload of a model file the user supplied (online-mode archives).
    model: Option<Rc<Vec<u8>>>,
    decoded: Option<Decoded>,
    /// Bumped by every load: work still running for an older load stops.
    generation: u32,
    /// Chunk loading for the view, or a whole pass, is running.
    busy: bool,
    /// When the current load began (performance.now).
    load_started_ms: f64,
    gpu: Gpu,
    /// CSS pixels per value of the heatmap drawn last, and the part of the slice it shows.
    px: f64,
    win: Window,
    /// A drag on the heatmap: where it started (CSS px), the window then, and whether it moved.
    drag: Option<(f64, f64, Window, bool)>,
    /// The decoding workers, started with the first archive (None where they cannot run).
    pool: Option<Option<Rc<Pool>>>,
    play_timer: Option<i32>,
}

thread_local! {
    static APP: RefCell<App> = RefCell::new(App {
        view: ViewState::default(),
        loaded: None,
        waiting: None,
        model: None,
        decoded: None,
        generation: 0,
        busy: false,
        load_started_ms: 0.0,
        gpu: Gpu::NotChecked,
        pool: None,
        px: 1.0,
        win: Window::whole(1, 1),
        drag: None,
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
    with_app(|a| tools::fill_speeds(&a.view));
    wire_controls();
    spawn_local(async {
        detect_gpu().await;
    });
    apply_hash(true);
}

// ---------------------------------------------------------------- loading

/// "3.2 of 10.6 MB" (or "3.2 MB" without a total; kB under a megabyte).
fn fetched(done: u64, total: Option<u64>) -> String {
    // kB below a megabyte, so that a small archive does not read "0.0 of 0.0 MB".
    let (unit, div) = if total.unwrap_or(done) < 1_000_000 { ("kB", 1e3) } else { ("MB", 1e6) };
    let size = |b: u64| b as f64 / div;
    match total {
        Some(t) if t > 0 => format!("{:.1} of {:.1} {unit}", size(done), size(t)),
        _ => format!("{:.1} {unit}", size(done)),
    }
}

/// The bytes this page has fetched so far, in the stats table and (for tests and scripts) in
/// `body[data-fetched]`.
fn count_fetched() {
    let done = fetched_bytes();
    dom::set_body_data("fetched", &done.to_string());
    if let Some((len, how)) = with_app(|a| a.loaded.as_ref().map(|l| (l.source.len(), l.source.how()))) {
        set_text("stat-fetched", &format!("{} ({how})", fetched(done, Some(len))));
    }
}

fn file_name_of(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or(url).to_string()
}

fn load_url(url: String) {
    let generation = begin_load(&format!("fetching {url} …"));
    spawn_local(async move {
        let progress = |done: u64, total: Option<u64>| {
            if is_current(generation) {
                show("progress", true);
                if let Some(t) = total.filter(|&t| t > 0) {
                    el::<HtmlProgressElement>("progress").set_value(done as f64 / t as f64);
                }
                set_text("progress-text", &format!("fetching {url}: {}", fetched(done, total)));
                count_fetched();
            }
        };
        match Source::open_url(&url, progress).await {
            Ok(source) if is_current(generation) => {
                count_fetched();
                open_source(file_name_of(&url), Rc::new(source), generation).await
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
    spawn_local(open_source(file.name(), Rc::new(Source::file(file)), generation));
}

fn begin_load(message: &str) -> u32 {
    stop_playing();
    let generation = with_app(|a| {
        a.generation += 1;
        a.decoded = None;
        a.loaded = None;
        a.busy = false;
        a.load_started_ms = now_ms();
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

/// Opens an archive from its head, describes it, and shows it: decoded whole when it is small,
/// else chunk by chunk for the view.
async fn open_source(name: String, source: Rc<Source>, generation: u32) {
    let opened_ms = with_app(|a| a.load_started_ms);
    with_app(|a| a.waiting = Some((name.clone(), source.clone())));
    let head = match source.head().await {
        Ok(h) => h,
        Err(e) => {
            show_error(&format!("{name}: {e}"));
            return;
        }
    };
    count_fetched();
    if !is_current(generation) {
        return;
    }
    let model = with_app(|a| a.model.clone());
    let archive = match Archive::open_head(&head, source.len(), model.as_deref().map(|m| m.as_slice())) {
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
    describe(&name, &archive, source.len(), model.as_ref().map(|m| m.len()));
    let table = archive.meta.table;
    show("viewer", true);
    show("field-view", !table);
    show("table-view", table);
    dom::set_body_data("kind", if table { "table" } else { "field" });
    dom::set_body_data("state", "decoding");
    set_text("stat-hash", "(verifying …)");

    // A decoder network goes to the GPU where there is one, on this thread; everything else to
    // the workers, each with the archive opened from the same head.
    let device = detect_gpu().await;
    let engine = match (&archive.decoder, device) {
        (Some(dec), Some(device)) => Engine::Here(Some(Rc::new(GpuDecoder::new(&device, dec)))),
        _ => match workers().await {
            Some(pool) => {
                match pool.open(&head, source.len(), model.as_deref().map(|m| m.as_slice())).await {
                    Ok(()) => Engine::Workers(pool),
                    Err(e) => {
                        web_sys::console::warn_1(&format!("workers could not open the archive: {e}").into());
                        Engine::Here(None)
                    }
                }
            }
            None => Engine::Here(None),
        },
    };
    drop(head);
    dom::set_body_data(
        "engine",
        &match &engine {
            Engine::Workers(p) => format!("workers:{}", p.len()),
            Engine::Here(_) => "page".into(),
        },
    );
    // Tables are read whole: their histograms need every row.
    let lazy = !table
        && (with_app(|a| a.view.lazy)
            || source.len() > WHOLE_UP_TO_BYTES
            || archive.meta.original_bytes > DECODED_BUDGET as u64);
    let decoded = empty_output(&archive, if lazy { DECODED_BUDGET } else { usize::MAX });
    if !is_current(generation) {
        return;
    }
    with_app(|a| {
        a.waiting = None;
        a.decoded = Some(decoded);
        a.loaded = Some(Loaded {
            name,
            source,
            archive: Rc::new(archive),
            sections: SectionCache::new(SECTION_BUDGET),
            lazy,
            verified: false,
            engine,
            gpu_note: String::new(),
            summary: DecodeSummary::default(),
            opened_ms,
            first_view_ms: None,
        });
    });
    setup_slider();
    if lazy {
        set_text(
            "stat-hash",
            "not checked yet: only the chunks shown are fetched; Download .npy decodes and checks it all",
        );
        request_view();
        if !with_app(|a| a.busy) {
            finish(generation); // nothing to fetch (no chunks)
        }
    } else {
        spawn_local(decode_whole(generation, false));
    }
}

/// Chunk section `i`, from the cache or fetched.
async fn section(generation: u32, i: usize) -> Result<Rc<Vec<u8>>, String> {
    let Some((source, range, cached)) = with_app(|a| {
        let l = a.loaded.as_ref().filter(|_| a.generation == generation)?;
        Some((l.source.clone(), l.archive.chunk_section_range(i)?, l.sections.get(i)))
    }) else {
        return Err("the archive was closed".into());
    };
    if let Some(s) = cached {
        return Ok(s);
    }
    let bytes = Rc::new(source.read(range).await?);
    count_fetched();
    with_app(|a| {
        if let Some(l) = a.loaded.as_mut().filter(|_| a.generation == generation) {
            l.sections.put(i, bytes.clone());
        }
    });
    Ok(bytes)
}

/// The loaded archive and where it decodes, if `generation` is still the current load.
fn current(generation: u32) -> Option<(Rc<Archive<'static>>, Engine)> {
    with_app(|a| {
        let l = a.loaded.as_ref().filter(|_| a.generation == generation)?;
        Some((l.archive.clone(), l.engine.clone()))
    })
}

/// The decoding workers: one per core the browser reports (2 to 8), started once.
async fn workers() -> Option<Rc<Pool>> {
    if let Some(known) = with_app(|a| a.pool.clone()) {
        return known;
    }
    let cores = web_sys::window().map_or(2.0, |w| w.navigator().hardware_concurrency());
    let pool = Pool::start((cores as usize).clamp(2, 8)).await.map(Rc::new);
    if pool.is_none() {
        web_sys::console::warn_1(&"decoding workers could not start: decoding on the page".into());
    }
    with_app(|a| a.pool.get_or_insert(pool).clone())
}

/// A GPU failure is not the archive's fault: the GPU is given up for this archive, with the
/// reason shown, and the work is done again on the CPU.
fn give_up_gpu(generation: u32, error: &str) {
    with_app(|a| {
        if let Some(l) = a.loaded.as_mut().filter(|_| a.generation == generation) {
            l.engine = Engine::Here(None);
            l.gpu_note = format!(" (WebGPU failed: {error}; decoded on the CPU)");
        }
    });
}

/// Decodes every chunk in order, checking the content hash and counting the statistics; each
/// chunk goes into the store (a lazy archive's budget still applies). With `download`, the
/// `.npy` is saved from the chunks as they come. Then the view and the statistics are shown.
async fn decode_whole(generation: u32, download: bool) {
    let Some((archive, engine)) = current(generation) else { return };
    let lazy = with_app(|a| {
        a.busy = true;
        if let Some(d) = a.decoded.as_mut() {
            d.stats = Default::default();
        }
        a.loaded.as_ref().is_some_and(|l| l.lazy)
    });
    dom::set_body_data("state", "decoding");
    show("progress", true);
    let mut file = match download {
        true => {
            let mut file = NpyFile::create().await;
            file.push(&with_app(|a| a.decoded.as_ref().map(Decoded::npy_header)).unwrap_or_default());
            Some(file)
        }
        false => None,
    };
    let total = archive.chunk_count();
    let doing = if download { "decoding for the download" } else { "decoding" };
    let mut chunks = InOrder::new(&archive, &engine, |i| section(generation, i));
    let mut last_yield = now_ms();
    let result = loop {
        let (i, out) = match chunks.next().await {
            Ok(Some(next)) => next,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        if !is_current(generation) {
            return;
        }
        el::<HtmlProgressElement>("progress").set_value((i + 1) as f64 / total.max(1) as f64);
        set_text("progress-text", &format!("{doing}: chunk {} of {total}", i + 1));
        if let Some(f) = file.as_mut() {
            f.write(&out.npy).await;
        }
        // A lazily read archive keeps only the view's chunks of a whole pass: the rest went
        // to the file.
        let view = with_app(|a| {
            let keep = a.decoded.as_ref().map_or(0..0, |d| d.chunks_for_slice(a.view.axis, a.view.frame));
            let d = a.decoded.as_mut()?;
            d.stats.merge(&out.stats);
            if !lazy || keep.contains(&i) {
                d.insert(i, out.npy, &keep);
            }
            Some(keep.contains(&i) && d.slice_ready(a.view.axis, a.view.frame))
        });
        if view == Some(true) {
            view_shown();
            render_view();
        }
        count_fetched();
        if now_ms() - last_yield > 30.0 {
            yield_now().await;
            last_yield = now_ms();
        }
    };
    if !is_current(generation) {
        return;
    }
    match result.and_then(|()| chunks.finish()) {
        Ok(summary) => {
            with_app(|a| {
                if let Some(l) = a.loaded.as_mut() {
                    l.verified = true;
                    l.summary.network_tiles = summary.network_tiles.max(l.summary.network_tiles);
                    l.summary.on_gpu |= summary.on_gpu;
                    l.summary.total_ms = summary.total_ms;
                }
                a.busy = false;
            });
            if let Some(file) = file {
                save_npy(file).await;
            }
            finish(generation);
        }
        Err(CodecError::Backend(e)) if matches!(engine, Engine::Here(Some(_))) => {
            give_up_gpu(generation, &e);
            Box::pin(decode_whole(generation, download)).await;
        }
        Err(e) => {
            let name = with_app(|a| a.loaded.as_ref().map(|l| l.name.clone())).unwrap_or_default();
            with_app(|a| a.busy = false);
            show_error(&format!("{name}: {e}"));
        }
    }
}

/// Records when the first view was complete.
fn view_shown() {
    with_app(|a| {
        if let Some(l) = a.loaded.as_mut()
            && l.first_view_ms.is_none()
        {
            l.first_view_ms = Some(now_ms() - l.opened_ms);
            // Since the page started (performance.now), for tests and scripts.
            dom::set_body_data("firstViewMs", &format!("{:.0}", now_ms()));
        }
    });
}

/// The view changed: fetches and decodes the chunks it needs (a lazy archive), then one chunk
/// either side of it while idle.
fn request_view() {
    render_view();
    let Some(generation) = with_app(|a| {
        let lazy = a.loaded.as_ref()?.lazy;
        (lazy && !a.busy && next_wanted(a).is_some()).then(|| {
            a.busy = true;
            a.generation
        })
    }) else {
        return;
    };
    spawn_local(load_view(generation));
}

/// The next chunk to load: the view's first, then its neighbours (not beyond the budget).
fn next_wanted(a: &App) -> Option<(usize, Range<usize>)> {
    let d = a.decoded.as_ref()?;
    let view = d.chunks_for_slice(a.view.axis, a.view.frame);
    if let Some(i) = view.clone().find(|&i| !d.has(i)) {
        return Some((i, view));
    }
    let around = [view.end, view.start.wrapping_sub(1)];
    let per_chunk = d.held_bytes() / view.len().max(1);
    let room = d.held_bytes() + per_chunk <= DECODED_BUDGET;
    around.into_iter().find(|&i| i < d.chunk_count() && !d.has(i) && room).map(|i| (i, view))
}

async fn load_view(generation: u32) {
    dom::set_body_data("state", "decoding");
    while let Some((i, view)) = with_app(|a| next_wanted(a).filter(|_| a.generation == generation)) {
        let Some((archive, engine)) = current(generation) else { return };
        set_text("progress-text", &format!("fetching chunk {} of {}", i + 1, archive.chunk_count()));
        let start = now_ms();
        let on_gpu = matches!(engine, Engine::Here(Some(_)));
        let decoded = match section(generation, i).await {
            Ok(s) => engine.decode(&archive, i, s).await.map_err(|e| (e, on_gpu)),
            Err(e) => Err((CodecError::Input(e), false)),
        };
        if !is_current(generation) {
            return;
        }
        match decoded {
            Ok(out) => {
                let shown = with_app(|a| {
                    let l = a.loaded.as_mut()?;
                    l.summary.network_tiles += out.tiles;
                    l.summary.on_gpu |= out.tiles > 0 && on_gpu;
                    l.summary.total_ms += now_ms() - start;
                    let d = a.decoded.as_mut()?;
                    d.insert(i, out.npy, &view);
                    Some(d.slice_ready(a.view.axis, a.view.frame))
                });
                count_fetched();
                if view.contains(&i) {
                    if shown == Some(true) {
                        view_shown();
                    }
                    render_view();
                }
            }
            Err((CodecError::Backend(e), true)) => give_up_gpu(generation, &e),
            Err((e, _)) => {
                let name = with_app(|a| a.loaded.as_ref().map(|l| l.name.clone())).unwrap_or_default();
                with_app(|a| a.busy = false);
                show_error(&format!("{name}: {e}"));
                return;
            }
        }
    }
    with_app(|a| a.busy = false);
    if is_current(generation) {
        finish(generation);
    }
}

/// Shows what ran, the statistics and the hash check; the page is idle again.
fn finish(generation: u32) {
    if with_app(|a| a.loaded.as_ref().is_some_and(|l| l.verified)) {
        view_shown(); // a table, or a 2-D field: its view is complete with the last chunk
    }
    let Some((archive, lazy, verified, s, first, engine, note)) = with_app(|a| {
        let l = a.loaded.as_ref().filter(|_| a.generation == generation)?;
        Some((
            l.archive.clone(),
            l.lazy,
            l.verified,
            l.summary.clone(),
            l.first_view_ms,
            l.engine.clone(),
            l.gpu_note.clone(),
        ))
    }) else {
        return;
    };
    let cpu = match &engine {
        Engine::Workers(p) => format!("CPU (WebAssembly, {} workers)", p.len()),
        Engine::Here(_) => "CPU (WebAssembly, on the page)".into(),
    };
    let path = match (s.on_gpu, engine) {
        (true, Engine::Here(Some(g))) => format!(
            "WebGPU ({}{}), decoder network on {} tiles",
            if g.adapter().name.is_empty() { "browser adapter" } else { &g.adapter().name },
            if g.adapter().fallback { ", software adapter" } else { "" },
            s.network_tiles
        ),
        _ if s.network_tiles > 0 => format!("{cpu}, decoder network on {} tiles{note}", s.network_tiles),
        _ => format!("{cpu}; no tile needs the decoder network{note}"),
    };
    set_text("decode-path", &path);
    set_text("decode-ms", &format!("{:.1}", s.total_ms));
    set_text("first-frame-ms", &first.map_or("—".into(), |f| format!("{f:.1}")));
    if verified {
        let mb = archive.meta.original_bytes as f64 / 1e6;
        set_text("decode-mbps", &format!("{:.1}", mb / (s.total_ms.max(0.01) / 1e3)));
        let st = with_app(|a| a.decoded.as_ref().map(|d| d.stats)).unwrap_or_default();
        set_text("stat-min", &st.mean().map_or("—".into(), |_| fmt_num(st.min)));
        set_text("stat-max", &st.mean().map_or("—".into(), |_| fmt_num(st.max)));
        set_text("stat-mean", &st.mean().map_or("—".into(), fmt_num));
        set_text("stat-nodata", &st.no_data.to_string());
        set_text("stat-hash", &hex(&archive.meta.content_hash[..archive.hash_kind.digest_len()]));
    } else if lazy {
        let range = with_app(|a| a.decoded.as_ref().and_then(|d| d.data_range));
        set_text("stat-min", &range.map_or("—".into(), |r| fmt_num(r.0)));
        set_text("stat-max", &range.map_or("—".into(), |r| fmt_num(r.1)));
        for id in ["stat-mean", "stat-nodata"] {
            set_text(id, "(after a whole decode: Download .npy)");
        }
        set_text("decode-mbps", "—");
    }
    show("progress", false);
    set_text("progress-text", "");
    count_fetched();
    setup_slider();
    dom::set_body_data("state", "done");
    // The view may have moved on while a whole pass ran.
    request_view();
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
    if let Some((name, src)) = with_app(|a| a.waiting.clone()) {
        let generation = begin_load("decoding with the model …");
        spawn_local(open_source(name, src, generation));
    }
}

fn load_model_url(url: String) {
    spawn_local(async move {
        let progress = |done: u64, total: Option<u64>| {
            set_text("progress-text", &format!("fetching the model {url}: {}", fetched(done, total)));
        };
        match fetch_whole(&url, progress).await {
            Ok(bytes) => use_model(&url, bytes),
            Err(e) => refuse_model(&e),
        }
    });
}

async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("could not read {}: {}", file.name(), js_error(&e)))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
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

// ---------------------------------------------------------------- view

fn render_view() {
    with_app(|a| {
        let Some(d) = &a.decoded else { return };
        if d.columns.is_some() {
            render::table(d, a.view.bins, a.view.log_y);
            tools::draw_scatter(d, &a.view);
            return;
        }
        let v = &a.view;
        let range = color_range(v.range, d.data_range, v.cmap);
        (a.px, a.win) = render::heatmap(d, v.axis, v.frame, v.cmap, range, v.log, v.window);
        tools::draw_profiles(d, v);
        el::<HtmlInputElement>("log").set_checked(v.log);
        let n = d.slices(v.axis);
        let axis_name = ["frame", "row", "column"][v.axis.min(2)];
        let missing = if d.slice_ready(v.axis, v.frame) { "" } else { " (fetching …)" };
        set_text("frame-label", &format!("{axis_name} {} of {n}{missing}", v.frame.min(n - 1) + 1));
        el::<HtmlInputElement>("range-lo").set_value(&fmt_num(range.0));
        el::<HtmlInputElement>("range-hi").set_value(&fmt_num(range.1));
        dom::set_body_data("held", &d.held_bytes().to_string());
        dom::set_body_data("wasmMemory", &wasm_memory_bytes().to_string());
    });
}

/// The size of this module's linear memory (it grows and never shrinks).
fn wasm_memory_bytes() -> f64 {
    let buffer = js_sys::Reflect::get(&wasm_bindgen::memory(), &"buffer".into()).ok();
    buffer
        .and_then(|b| js_sys::Reflect::get(&b, &"byteLength".into()).ok())
        .and_then(|n| n.as_f64())
        .unwrap_or(0.0)
}

fn setup_slider() {
    with_app(|a| {
        let Some(d) = &a.decoded else { return };
        if d.columns.is_some() {
            tools::setup_table_tools(d, &a.view);
            return;
        }
        show("table-tools", false);
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
    if new.src.is_some() && (initial || new.src != old.src || new.model != old.model || new.lazy != old.lazy)
    {
        if new.model != old.model {
            with_app(|a| a.model = None);
        }
        load_url(new.src.clone().unwrap_or_default());
    } else {
        setup_slider();
        request_view();
    }
}

fn update_view(change: impl FnOnce(&mut ViewState)) {
    with_app(|a| change(&mut a.view));
    setup_slider();
    request_view();
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
    let period_ms = 1000 / with_app(|a| a.view.fps).max(1) as i32;
    if let Ok(id) = window
        .set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), period_ms)
    {
        with_app(|a| a.play_timer = Some(id));
        el::<HtmlButtonElement>("play").set_text_content(Some("⏸ pause"));
    }
    tick.forget();
}

/// Zooms the heatmap by `factor` around `at` (else the picked point, else the window's centre).
fn zoom(factor: f64, at: Option<(usize, usize)>) {
    let Some((win, h, w)) = with_app(|a| {
        let (h, w) = tools::slice_size(a.decoded.as_ref()?, &a.view);
        let centre = at.or(a.view.point).unwrap_or((a.win.r0 + a.win.rows / 2, a.win.c0 + a.win.cols / 2));
        Some((a.win.zoom(factor, centre, h, w), h, w))
    }) else {
        return;
    };
    update_view(|v| v.window = (!win.is_whole(h, w)).then_some((win.r0, win.c0, win.rows, win.cols)));
}

/// Saves the `.npy`: at once from the chunks held when the archive was decoded whole and checked,
/// else after decoding it whole, in order, checking the content hash (the file is built from one
/// part per chunk, never one buffer of the whole array).
fn download() {
    let Some((generation, complete)) = with_app(|a| {
        let l = a.loaded.as_ref()?;
        let d = a.decoded.as_ref()?;
        let complete = l.verified && (0..d.chunk_count()).all(|i| d.has(i));
        (!a.busy).then_some((a.generation, complete))
    }) else {
        set_text("progress-text", "the download starts once the chunks being fetched are in");
        return;
    };
    if !complete {
        spawn_local(decode_whole(generation, true));
        return;
    }
    spawn_local(async move {
        let mut file = NpyFile::create().await;
        with_app(|a| {
            let d = a.decoded.as_ref().filter(|_| a.generation == generation)?;
            file.push(&d.npy_header());
            (0..d.chunk_count()).filter_map(|i| d.chunk_bytes(i)).for_each(|b| file.push(b));
            Some(())
        });
        save_npy(file).await;
    });
}

/// Offers the finished `.npy` as a download.
async fn save_npy(file: NpyFile) {
    let name = with_app(|a| a.loaded.as_ref().map_or("data".into(), |l| l.name.clone()));
    dom::set_body_data("npyOnDisk", if file.is_on_disk() { "1" } else { "0" });
    let blob = match file.finish().await {
        Ok(b) => b,
        Err(e) => {
            show_error(&format!("{name}: {e}"));
            return;
        }
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
    let a: web_sys::HtmlAnchorElement = dom::document().create_element("a").expect("a").unchecked_into();
    a.set_href(&url);
    let stem = name.strip_suffix(".baler").unwrap_or(&name);
    a.set_download(&format!("{stem}.npy"));
    a.click();
    // A large file is read by the download after the click returns: the URL is let go later.
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 120_000);
    }
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
            v.window = None;
            v.point = None;
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
    on("log", "change", |_| {
        let log = el::<HtmlInputElement>("log").checked();
        update_view(|v| v.log = log);
    });
    on("range-pct", "click", |_| {
        set_text("range-message", "");
        let range = with_app(|a| {
            let d = a.decoded.as_ref()?;
            let (_, _, values) = d.slice(a.view.axis, a.view.frame);
            crate::scale::percentiles(&values, |v| d.is_data(v), 1.0, 99.0).filter(|(lo, hi)| lo < hi)
        });
        match range {
            Some(r) => update_view(|v| v.range = Some(r)),
            None => set_text("range-message", "this slice has too few distinct values"),
        }
    });
    on("fps", "change", |_| {
        let fps = el::<HtmlSelectElement>("fps").value().parse().unwrap_or(crate::state::DEFAULT_FPS);
        update_view(|v| v.fps = fps);
        dom::set_body_data("fps", &fps.to_string());
        if with_app(|a| a.play_timer.is_some()) {
            stop_playing();
            toggle_play();
        }
    });
    on("png", "click", |_| {
        let (name, view) =
            with_app(|a| (a.loaded.as_ref().map_or("data".into(), |l| l.name.clone()), a.view.clone()));
        tools::export_png(&name, &view);
    });
    let cell_of = |e: &Event| {
        let m = e.dyn_ref::<web_sys::MouseEvent>()?;
        with_app(|a| tools::cell_at(a.px, a.win, m.offset_x() as f64, m.offset_y() as f64))
    };
    on("heatmap", "mousedown", |e| {
        if let Some(m) = e.dyn_ref::<web_sys::MouseEvent>() {
            e.prevent_default();
            with_app(|a| a.drag = Some((m.client_x() as f64, m.client_y() as f64, a.win, false)));
        }
    });
    on("heatmap", "mousemove", move |e| {
        let cell = cell_of(&e);
        with_app(|a| {
            if let Some(d) = a.decoded.as_ref() {
                tools::show_cursor(d, &a.view, cell);
            }
        });
        // Dragging with the button held pans the window, a cell per `px` pixels.
        let Some(m) = e.dyn_ref::<web_sys::MouseEvent>() else { return };
        let pan = with_app(|a| {
            let (x0, y0, start, _) = a.drag?;
            let (dx, dy) = (m.client_x() as f64 - x0, m.client_y() as f64 - y0);
            if m.buttons() & 1 == 0 || dx.abs().max(dy.abs()) < 3.0 {
                return None;
            }
            a.drag = Some((x0, y0, start, true));
            let (h, w) = tools::slice_size(a.decoded.as_ref()?, &a.view);
            let moved = start.pan(-(dy / a.px).round() as isize, -(dx / a.px).round() as isize, h, w);
            (moved != a.win).then_some((moved, h, w))
        });
        if let Some((win, h, w)) = pan {
            update_view(|v| v.window = (!win.is_whole(h, w)).then_some((win.r0, win.c0, win.rows, win.cols)));
        }
    });
    on("heatmap", "click", move |e| {
        let dragged = with_app(|a| a.drag.take().is_some_and(|d| d.3));
        if !dragged && let Some(cell) = cell_of(&e) {
            update_view(|v| v.point = Some(cell));
        }
    });
    on("heatmap", "wheel", move |e| {
        e.prevent_default();
        let Some(w) = e.dyn_ref::<web_sys::WheelEvent>() else { return };
        let factor = if w.delta_y() < 0.0 { 1.5 } else { 1.0 / 1.5 };
        zoom(factor, cell_of(&e));
    });
    on("zoom-in", "click", |_| zoom(2.0, None));
    on("zoom-out", "click", |_| zoom(0.5, None));
    on("zoom-reset", "click", |_| update_view(|v| v.window = None));
    on("bins", "change", |_| {
        let bins = el::<HtmlInputElement>("bins").value().parse::<usize>().unwrap_or(60).clamp(2, 1000);
        update_view(|v| v.bins = bins);
    });
    on("logy", "change", |_| {
        let log_y = el::<HtmlInputElement>("logy").checked();
        update_view(|v| v.log_y = log_y);
    });
    for id in ["scatter-x", "scatter-y"] {
        on(id, "change", |_| {
            let pick = |id| el::<HtmlSelectElement>(id).value().parse::<usize>().ok();
            let pair = pick("scatter-x").zip(pick("scatter-y"));
            update_view(|v| v.scatter = pair);
        });
    }
    let c = Closure::<dyn FnMut(Event)>::new(|_| apply_hash(false));
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("hashchange", c.as_ref().unchecked_ref());
    }
    c.forget();
}
