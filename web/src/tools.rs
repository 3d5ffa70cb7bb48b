//! The field and table tools around the plots: the value under the cursor, the profile and the
//! time series through a picked point, PNG export of the slice, the playback speeds and the
//! scatter of two table columns. State lives in the view (`ViewState`); these draw from it.

use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, HtmlSelectElement};

use crate::decoded::Decoded;
use crate::dom::{self, el, set_text, show};
use crate::plots;
use crate::render::{axis_names, fmt_num};
use crate::scale::Window;
use crate::state::{SPEEDS, ViewState};

/// The slice cell under CSS pixel (`x`, `y`) of the heatmap showing `win` at `px` pixels per value.
pub fn cell_at(px: f64, win: Window, x: f64, y: f64) -> Option<(usize, usize)> {
    let (c, r) = ((x / px).floor(), (y / px).floor());
    (c >= 0.0 && r >= 0.0 && (c as usize) < win.cols && (r as usize) < win.rows)
        .then_some((win.r0 + r as usize, win.c0 + c as usize))
}

/// Rows and columns of the slice the view shows.
pub fn slice_size(d: &Decoded, view: &ViewState) -> (usize, usize) {
    let (w, h, _) = slice_dims(d, view.axis);
    (h, w)
}

fn slice_dims(d: &Decoded, axis: usize) -> (usize, usize, usize) {
    let [d0, d1, d2] = d.volume();
    match axis.min(2) {
        0 => (d2, d1, d0),
        1 => (d2, d0, d1),
        _ => (d1, d0, d2),
    }
}

/// Shows the value of cell (r, c) in `#cursor` (its full value in `data-value`).
pub fn show_cursor(d: &Decoded, view: &ViewState, cell: Option<(usize, usize)>) {
    let cursor: web_sys::HtmlElement = el("cursor");
    let Some((r, c)) = cell else {
        set_text("cursor", "point at the image for values; click for a profile and a time series");
        cursor.dataset().delete("value");
        return;
    };
    let (x_name, y_name) = axis_names(d, view.axis);
    let value = d.slice_value(view.axis, view.frame, r, c);
    let shown = match value {
        Some(v) if d.is_data(v) => fmt_num(v),
        Some(v) => format!("{v} (no data)"),
        None => "not fetched yet".into(),
    };
    let slice = &d.axes[view.axis.min(2)];
    let where_ = if d.volume()[0] > 1 { format!("{slice} {}, ", view.frame) } else { String::new() };
    set_text("cursor", &format!("{where_}{y_name} {r}, {x_name} {c}: {shown}"));
    let _ = cursor.dataset().set("value", &value.map_or(String::new(), |v| format!("{v:e}")));
    let _ = cursor.dataset().set("cell", &format!("{r},{c}"));
}

/// Draws the profile along the picked point's row and, for a stack of frames seen frame by frame,
/// its time series across frames (else the profile along its column).
pub fn draw_profiles(d: &Decoded, view: &ViewState) {
    let Some((r, c)) = view.point else {
        show("profiles", false);
        return;
    };
    let (w, h, _) = slice_dims(d, view.axis);
    if r >= h || c >= w {
        show("profiles", false);
        return;
    }
    show("profiles", true);
    let value = |e: usize| d.value(e).filter(|&v| d.is_data(v));
    let cell = |r: usize, c: usize| d.slice_value(view.axis, view.frame, r, c).filter(|&v| d.is_data(v));
    let (x_name, y_name) = axis_names(d, view.axis);
    let row: Vec<Option<f64>> = (0..w).map(|x| cell(r, x)).collect();
    plots::line("profile", &row, Some(c));
    set_text("profile-caption", &format!("profile along {y_name} {r} ({x_name} 0–{})", w - 1));
    let [d0, d1, d2] = d.volume();
    if view.axis == 0 && d0 > 1 {
        let series: Vec<Option<f64>> = (0..d0).map(|f| value((f * d1 + r) * d2 + c)).collect();
        let have = series.iter().filter(|v| v.is_some()).count();
        plots::line("series", &series, Some(view.frame.min(d0 - 1)));
        let fetched =
            if have < d0 { format!("; {have} of {d0} frames decoded so far") } else { String::new() };
        set_text(
            "series-caption",
            &format!("time series at {y_name} {r}, {x_name} {c} (frames 0–{}){fetched}", d0 - 1),
        );
    } else {
        let column: Vec<Option<f64>> = (0..h).map(|y| cell(y, c)).collect();
        plots::line("series", &column, Some(r));
        set_text("series-caption", &format!("profile along {x_name} {c} ({y_name} 0–{})", h - 1));
    }
}

/// Saves the heatmap canvas (one pixel per value) as `<stem>-<axis>-<index>.png`.
pub fn export_png(name: &str, view: &ViewState) {
    let canvas: HtmlCanvasElement = el("heatmap");
    let Ok(url) = canvas.to_data_url_with_type("image/png") else { return };
    let a: web_sys::HtmlAnchorElement = dom::document().create_element("a").expect("a").unchecked_into();
    a.set_href(&url);
    let stem = name.strip_suffix(".baler").unwrap_or(name);
    let slice = ["frame", "row", "column"][view.axis.min(2)];
    a.set_download(&format!("{stem}-{slice}{}.png", view.frame));
    a.click();
}

/// Fills the playback speed choices once.
pub fn fill_speeds(view: &ViewState) {
    let select = el::<HtmlSelectElement>("fps");
    let html: String = SPEEDS.iter().map(|f| format!("<option value=\"{f}\">{f} fps</option>")).collect();
    select.set_inner_html(&html);
    select.set_value(&view.fps.to_string());
}

/// Shows the table tools with the table's columns to choose from, as the view has them.
pub fn setup_table_tools(d: &Decoded, view: &ViewState) {
    let names = d.columns.clone().unwrap_or_default();
    show("table-tools", !names.is_empty());
    let mut html = String::from("<option value=\"\">—</option>");
    for (i, n) in names.iter().enumerate() {
        html.push_str(&format!("<option value=\"{i}\">{}</option>", escape(n)));
    }
    for (id, pick) in [("scatter-x", view.scatter.map(|s| s.0)), ("scatter-y", view.scatter.map(|s| s.1))] {
        let select = el::<HtmlSelectElement>(id);
        // Rebuilt only for another table: a choice made before its partner stays.
        if select.inner_html() != html {
            select.set_inner_html(&html);
        }
        if let Some(p) = pick {
            select.set_value(&p.to_string());
        }
    }
    el::<web_sys::HtmlInputElement>("bins").set_value(&view.bins.to_string());
    el::<web_sys::HtmlInputElement>("logy").set_checked(view.log_y);
}

/// Draws the scatter of the two columns the view names (hidden without them).
pub fn draw_scatter(d: &Decoded, view: &ViewState) {
    let names = d.columns.clone().unwrap_or_default();
    let Some((x, y)) = view.scatter.filter(|&(x, y)| x < names.len() && y < names.len()) else {
        show("scatter-panel", false);
        return;
    };
    show("scatter-panel", true);
    let drawn = plots::scatter("scatter", &d.column(x), &d.column(y), |v| d.is_data(v), 20_000);
    set_text(
        "scatter-caption",
        &format!("{} (vertical) against {} (horizontal): {drawn} rows", names[y], names[x]),
    );
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;")
}
