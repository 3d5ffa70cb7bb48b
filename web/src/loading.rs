//! Loading and decoding: an archive is opened from its head alone (header, metadata, model,
//! chunk index: one or two Range requests), then its chunk sections are fetched as needed. A
//! small archive is read and decoded whole, in order, so its content hash is checked at once; a
//! large one (or any with `#lazy=1`) fetches only the chunks the view shows, keeps the decoded
//! ones within a memory budget, and checks the hash when a download decodes it whole. Also the
//! model an online-mode archive asks for, and saving the `.npy`.

use std::ops::Range;
use std::rc::Rc;

use baler_codec::format::metadata::hex;
use baler_codec::format::model_file::read_model_file;
use baler_codec::network::gpu::GpuDecoder;
use baler_codec::{Archive, CodecError};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlProgressElement;

use crate::adapter::detect_gpu;
use crate::decode::{DecodeSummary, Engine, InOrder, empty_output, now_ms, yield_now};
use crate::decoded::{Decoded, Held, MAX_SLICE_CELLS, too_many_values};
use crate::describe::describe;
use crate::display::*;
use crate::dom::{self, el, set_text, show};
use crate::render::fmt_num;
use crate::session::*;
use crate::source::{NpyFile, SectionCache, Source, fetch_whole};
use crate::state::ViewState;
use crate::worker::Pool;

pub(crate) fn file_name_of(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or(url).to_string()
}

pub(crate) fn load_url(url: String) {
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

pub(crate) fn load_file(file: web_sys::File) {
    let generation = begin_load(&format!("reading {} …", file.name()));
    with_app(|a| a.view = ViewState { src: None, model: None, ..a.view.clone() });
    write_hash();
    spawn_local(open_source(file.name(), Rc::new(Source::file(file)), generation));
}

pub(crate) fn begin_load(message: &str) -> u32 {
    stop_playing();
    let generation = with_app(|a| {
        a.generation += 1;
        a.decoded = None;
        a.loaded = None;
        a.busy = false;
        a.download_queued = false;
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

/// Opens an archive from its head, describes it, and shows it: decoded whole when it is small,
/// else chunk by chunk for the view.
pub(crate) async fn open_source(name: String, source: Rc<Source>, generation: u32) {
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
    // The viewer indexes values with wasm32's usize: an archive claiming more is refused before
    // anything is reserved for it.
    if let Some(why) = too_many_values(&archive.meta.shape) {
        show_error(&format!("{name}: {why}"));
        return;
    }
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
    let gpu = match (&archive.decoder, device) {
        (Some(dec), Some(device)) => Some(Rc::new(GpuDecoder::new(&device, dec))),
        _ => None,
    };
    let engine = match workers().await {
        Some(pool) => match pool.open(&head, source.len(), model.as_deref().map(|m| m.as_slice())).await {
            Ok(()) => Engine::Workers(pool, gpu),
            Err(e) => {
                web_sys::console::warn_1(&format!("workers could not open the archive: {e}").into());
                Engine::Here(gpu)
            }
        },
        None => Engine::Here(gpu),
    };
    drop(head);
    dom::set_body_data(
        "engine",
        &match &engine {
            Engine::Workers(p, _) => format!("workers:{}", p.len()),
            Engine::Here(_) => "page".into(),
        },
    );
    // Tables are read whole: their histograms need every row.
    let lazy = !table
        && (with_app(|a| a.view.lazy)
            || source.len() > WHOLE_UP_TO_BYTES
            || archive.meta.original_bytes > DECODED_WHOLE_UP_TO);
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

/// Chunk section `i`, from the cache or fetched; kept in the cache when `keep`. Only sections
/// fetched for a frame are kept: a whole pass or a slice across frames passes every section
/// once, and caching them would fill the page's memory (which never shrinks) with sections
/// that evict the ones worth keeping.
pub(crate) async fn section(generation: u32, i: usize, keep: bool) -> Result<Rc<Vec<u8>>, String> {
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
    if !keep {
        return Ok(bytes);
    }
    with_app(|a| {
        if let Some(l) = a.loaded.as_mut().filter(|_| a.generation == generation) {
            l.sections.put(i, bytes.clone());
        }
    });
    Ok(bytes)
}

/// The decoding workers: one per core the browser reports (2 to 8), started once (by the page's start).
pub(crate) async fn workers() -> Option<Rc<Pool>> {
    // Started when the page starts; a load that comes first waits for that start.
    loop {
        match with_app(|a| (a.pool.clone(), a.pool_starting)) {
            (Some(known), _) => return known,
            (None, true) => yield_now().await,
            (None, false) => break,
        }
    }
    with_app(|a| a.pool_starting = true);
    let cores = web_sys::window().map_or(2.0, |w| w.navigator().hardware_concurrency());
    let pool = Pool::start((cores as usize).clamp(2, 8)).await.map(Rc::new);
    if pool.is_none() {
        web_sys::console::warn_1(&"decoding workers could not start: decoding on the page".into());
    }
    with_app(|a| {
        a.pool_starting = false;
        a.pool.get_or_insert(pool).clone()
    })
}

/// A GPU failure is not the archive's fault: the GPU is given up for this archive, with the
/// reason shown, and the work is done again on the CPU.
pub(crate) fn give_up_gpu(generation: u32, error: &str) {
    with_app(|a| {
        if let Some(l) = a.loaded.as_mut().filter(|_| a.generation == generation) {
            l.engine = l.engine.without_gpu();
            l.gpu_note = format!(" (WebGPU failed: {error}; decoded on the CPU)");
        }
    });
}

/// Decodes every chunk in order, checking the content hash and counting the statistics; each
/// chunk goes into the store (a lazy archive's budget still applies). With `download`, the
/// `.npy` is saved from the chunks as they come. Then the view and the statistics are shown.
pub(crate) async fn decode_whole(generation: u32, download: bool) {
    let Some((archive, engine)) = current(generation) else { return };
    let table = archive.meta.table;
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
    let mut chunks = InOrder::new(&archive, &engine, |i| section(generation, i, false));
    if download {
        chunks = chunks.lean();
    }
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
        let stats = out.stats;
        let held = out.into_held(table);
        if let Some(f) = file.as_mut() {
            match &held {
                Held::There(lent) => f.write_js(&lent.view, lent.clone()).await,
                Held::Here(bytes) => f.write(bytes).await,
            }
        }
        // A lazily read archive keeps only the view's chunks of a whole pass: the rest went
        // to the file.
        let view = with_app(|a| {
            let (axis, frame) = (a.view.axis, a.view.frame);
            let d = a.decoded.as_mut()?;
            let (keep, in_view) = (d.keep_for(axis, frame), d.chunks_for_slice(axis, frame).contains(&i));
            d.stats.merge(&stats);
            if !lazy || in_view {
                d.insert(i, held, &keep);
            }
            Some(in_view && d.slice_ready(axis, frame))
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
        Err(CodecError::Backend(e)) if engine.gpu().is_some() => {
            give_up_gpu(generation, &e);
            Box::pin(decode_whole(generation, download)).await;
        }
        Err(e) => {
            fail(&e);
        }
    }
}

/// Decoding the archive on screen failed: the work stops and the reason is shown.
fn fail(e: &CodecError) {
    let name = with_app(|a| {
        a.busy = false;
        a.loaded.as_ref().map(|l| l.name.clone())
    });
    show_error(&format!("{}: {e}", name.unwrap_or_default()));
}

/// The view changed: fetches and decodes the chunks it needs (a lazy archive), then one chunk
/// either side of it while idle.
pub(crate) fn request_view() {
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

/// The next chunk to load and the chunks to keep meanwhile: the view's first, then a frame's
/// neighbours (not beyond the budget).
pub(crate) fn next_wanted(a: &App) -> Option<(usize, Range<usize>)> {
    let d = a.decoded.as_ref()?;
    let (axis, frame) = (a.view.axis, a.view.frame);
    if d.slice_cells(axis) > MAX_SLICE_CELLS {
        return None; // not drawn (see render_view)
    }
    let view = d.chunks_for_slice(axis, frame);
    if let Some(i) = view.clone().find(|&i| !d.covers(axis, frame, i)) {
        return Some((i, d.keep_for(axis, frame)));
    }
    // Neighbours of a frame (a slice across frames has none).
    if d.keep_for(axis, frame).is_empty() {
        return None;
    }
    // While playing, the next frames come first, two chunks ahead.
    let around = if a.play_timer.is_some() {
        [view.end, view.end + 1, view.start.wrapping_sub(1)]
    } else {
        [view.end, view.start.wrapping_sub(1), usize::MAX]
    };
    let per_chunk = d.held_bytes() / view.len().max(1);
    let room = d.held_bytes() + per_chunk <= DECODED_BUDGET;
    around.into_iter().find(|&i| i < d.chunk_count() && !d.has(i) && room).map(|i| (i, view))
}

pub(crate) async fn load_view(generation: u32) {
    dom::set_body_data("state", "decoding");
    let mut last_render = now_ms();
    while let Some((i, keep)) = with_app(|a| next_wanted(a).filter(|_| a.generation == generation)) {
        let Some((archive, engine)) = current(generation) else { return };
        set_text("progress-text", &format!("fetching chunk {} of {}", i + 1, archive.chunk_count()));
        let start = now_ms();
        let on_gpu = engine.gpu().is_some();
        let for_frame = !keep.is_empty();
        let decoded = match section(generation, i, for_frame).await {
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
                    l.summary.on_gpu |= out.on_gpu;
                    l.summary.total_ms += now_ms() - start;
                    let d = a.decoded.as_mut()?;
                    // Only its part of a slice across frames, read from the worker's buffer.
                    if d.passes_through()
                        && let Some(lent) = &out.arrived
                    {
                        d.fill_cross_from(i, |r, into| lent.read(r, into));
                    } else {
                        d.insert(i, out.into_held(false), &keep);
                    }
                    let in_view = d.chunks_for_slice(a.view.axis, a.view.frame).contains(&i);
                    Some((in_view, d.slice_ready(a.view.axis, a.view.frame)))
                });
                count_fetched();
                // A slice across frames fills in chunk by chunk: redrawn a few times a second.
                if let Some((true, ready)) = shown
                    && (ready || now_ms() - last_render > 300.0)
                {
                    if ready {
                        view_shown();
                    }
                    render_view();
                    last_render = now_ms();
                }
            }
            Err((CodecError::Backend(e), true)) => give_up_gpu(generation, &e),
            Err((e, _)) => {
                fail(&e);
                return;
            }
        }
    }
    with_app(|a| a.busy = false);
    if is_current(generation) {
        finish(generation);
        if with_app(|a| std::mem::take(&mut a.download_queued)) {
            download();
        }
    }
}

/// Shows what ran, the statistics and the hash check; the page is idle again.
pub(crate) fn finish(generation: u32) {
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
        Engine::Workers(p, _) => format!("CPU (WebAssembly, {} workers)", p.len()),
        Engine::Here(_) => "CPU (WebAssembly, on the page)".into(),
    };
    let path = match (s.on_gpu, engine.gpu()) {
        (true, Some(g)) => format!(
            "WebGPU ({}{}), decoder network on {} tiles{}",
            if g.adapter().name.is_empty() { "browser adapter" } else { &g.adapter().name },
            if g.adapter().fallback { ", software adapter" } else { "" },
            s.network_tiles,
            match &engine {
                Engine::Workers(p, _) => format!("; the rest in {} workers", p.len()),
                Engine::Here(_) => String::new(),
            }
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

pub(crate) fn ask_for_model(name: &str, hash: &str) {
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
pub(crate) fn refuse_model(message: &str) {
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

pub(crate) fn use_model(source: &str, bytes: Vec<u8>) {
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

pub(crate) fn load_model_url(url: String) {
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

pub(crate) async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let source = Source::file(file.clone());
    source.read(0..source.len()).await
}

/// Offers the finished `.npy` as a download.
pub(crate) async fn save_npy(file: NpyFile) {
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

/// Saves the `.npy`: at once from the chunks held when the archive was decoded whole and checked,
/// else after decoding it whole, in order, checking the content hash (the file is built from one
/// part per chunk, never one buffer of the whole array).
pub(crate) fn download() {
    let Some((generation, complete)) = with_app(|a| {
        let l = a.loaded.as_ref()?;
        let d = a.decoded.as_ref()?;
        let complete = l.verified && (0..d.chunk_count()).all(|i| d.has(i));
        (!a.busy).then_some((a.generation, complete))
    }) else {
        // Chunks for the view are on their way: the download follows them.
        with_app(|a| a.download_queued = true);
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
            (0..d.chunk_count()).filter_map(|i| d.chunk(i)).for_each(|held| match held {
                Held::Here(bytes) => file.push(bytes),
                Held::There(lent) => file.push_copy(&lent.view),
            });
            Some(())
        });
        save_npy(file).await;
    });
}
