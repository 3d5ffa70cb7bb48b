//! The viewer's page: starting it, the controls and what they change, and the URL hash that
//! reproduces the view (`session.rs` holds the state, `loading.rs` the archive, `display.rs`
//! what is shown).

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Event, HtmlButtonElement, HtmlInputElement, HtmlSelectElement};

use crate::adapter::detect_gpu;
use crate::colormap::Colormap;
use crate::display::*;
use crate::dom::{self, el, set_text};
use crate::loading::*;
use crate::session::*;
use crate::state::ViewState;
use crate::tools;

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
    // The decoding workers start with the page, while the first archive's head is fetched.
    spawn_local(async {
        workers().await;
    });
    apply_hash(true);
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
