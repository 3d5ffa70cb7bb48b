//! Showing the state: the heatmap or the histograms, the slider, the link, errors and the bytes
//! fetched. Reads the session; starts nothing.

use wasm_bindgen::prelude::*;
use web_sys::{HtmlInputElement, HtmlSelectElement};

use crate::colormap::color_range;
use crate::decode::now_ms;
use crate::decoded::MAX_SLICE_CELLS;
use crate::dom::{self, el, set_text, show};
use crate::render::{self, fmt_num};
use crate::session::*;
use crate::source::fetched_bytes;
use crate::tools;

/// "3.2 of 10.6 MB" (or "3.2 MB" without a total; kB under a megabyte).
pub(crate) fn fetched(done: u64, total: Option<u64>) -> String {
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
pub(crate) fn count_fetched() {
    let done = fetched_bytes();
    dom::set_body_data("fetched", &done.to_string());
    if let Some((len, how)) = with_app(|a| a.loaded.as_ref().map(|l| (l.source.len(), l.source.how()))) {
        set_text("stat-fetched", &format!("{} ({how})", fetched(done, Some(len))));
    }
}

pub fn show_error(message: &str) {
    set_text("error", message);
    show("error", true);
    show("progress", false);
    set_text("progress-text", "");
    dom::set_body_data("state", "error");
}

/// Records when the first view was complete.
pub(crate) fn view_shown() {
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

pub(crate) fn render_view() {
    with_app(|a| {
        let (axis, frame) = (a.view.axis, a.view.frame);
        let Some(d) = a.decoded.as_mut() else { return };
        if d.columns.is_none() && d.slice_cells(axis) > MAX_SLICE_CELLS {
            set_text(
                "frame-label",
                &format!(
                    "a slice along this axis has {} values, more than the viewer draws ({MAX_SLICE_CELLS}): choose another axis",
                    d.slice_cells(axis)
                ),
            );
            return;
        }
        d.hold_slice(axis, frame);
        let d = &*d;
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
        let axis_name = &d.axes[v.axis.min(2)];
        let missing = if d.slice_ready(v.axis, v.frame) { "" } else { " (fetching …)" };
        set_text("frame-label", &format!("{axis_name} {} of {n}{missing}", v.frame.min(n - 1) + 1));
        el::<HtmlInputElement>("range-lo").set_value(&fmt_num(range.0));
        el::<HtmlInputElement>("range-hi").set_value(&fmt_num(range.1));
        dom::set_body_data("held", &d.held_bytes().to_string());
        dom::set_body_data("wasmMemory", &wasm_memory_bytes().to_string());
    });
}

/// The size of this module's linear memory (it grows and never shrinks).
pub(crate) fn wasm_memory_bytes() -> f64 {
    let buffer = js_sys::Reflect::get(&wasm_bindgen::memory(), &"buffer".into()).ok();
    buffer
        .and_then(|b| js_sys::Reflect::get(&b, &"byteLength".into()).ok())
        .and_then(|n| n.as_f64())
        .unwrap_or(0.0)
}

pub(crate) fn setup_slider() {
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
        let axis = el::<HtmlSelectElement>("axis");
        for (i, name) in d.axes.iter().enumerate() {
            if let Some(option) = axis.item(i as u32) {
                option.set_text_content(Some(&format!("axis {i} ({name})")));
            }
        }
        axis.set_value(&a.view.axis.to_string());
        el::<HtmlSelectElement>("cmap").set_value(a.view.cmap.name());
    });
}

/// Writes the view state to the URL hash (without a history entry or a hashchange event).
pub(crate) fn write_hash() {
    let hash = with_app(|a| a.view.to_hash());
    if let Some(w) = web_sys::window()
        && let Ok(h) = w.history()
    {
        let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(if hash == "#" { " " } else { &hash }));
    }
}

pub(crate) fn stop_playing() {
    if let Some(t) = with_app(|a| a.play_timer.take())
        && let Some(w) = web_sys::window()
    {
        w.clear_interval_with_handle(t);
    }
    if let Some(b) = dom::document().get_element_by_id("play") {
        b.set_text_content(Some("▶ play"));
    }
}
