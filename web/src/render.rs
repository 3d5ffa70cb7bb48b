//! Drawing: heatmaps with a colour bar for fields, histograms for table columns.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::colormap::{Colormap, NO_DATA};
use baler_codec::colormap::histogram;

use crate::decoded::{Decoded, RunningStats};
use crate::dom;
use crate::scale::{ColorScale, Window, ticks_that_fit};

fn context(canvas: &HtmlCanvasElement) -> CanvasRenderingContext2d {
    canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into().ok()).expect("2d canvas")
}

/// Names of the horizontal and vertical axes of a slice along `axis`.
pub fn axis_names(d: &Decoded, axis: usize) -> (&str, &str) {
    let [frames, rows, columns] = &d.axes;
    match axis {
        1 => (columns, frames),
        2 => (rows, frames),
        _ => (columns, rows),
    }
}

/// Pixels painted at once by [`heatmap`].
const BAND_PIXELS: usize = 1 << 16;

/// Paints slice `index` along `axis` into `#heatmap` (one canvas pixel per value, scaled by CSS
/// to about 560 px, without smoothing), its axis ticks and the colour bar, colours over `range`,
/// on a log scale with `log` (starting at the slice's smallest positive value when the range
/// does not). Returns the CSS pixels per value.
pub fn heatmap(
    d: &Decoded,
    axis: usize,
    index: usize,
    cmap: Colormap,
    range: (f64, f64),
    log: bool,
    window: Option<(usize, usize, usize, usize)>,
) -> (f64, Window) {
    let (sw, sh, all) = d.slice(axis, index);
    // The window shown (all of the slice unless zoomed): its cells only.
    let win = window
        .map_or(Window::whole(sh, sw), |(r0, c0, rows, cols)| Window { r0, c0, rows, cols }.fit(sh, sw));
    let (w, h) = (win.cols, win.rows);
    // The window's cells, read in place (no copy of the slice); an empty slice has none.
    let drawn = if sw * sh == 0 { 0 } else { h };
    let row = |r: usize| &all[r * sw + win.c0..r * sw + win.c0 + w];
    let values = || (win.r0..win.r0 + drawn).flat_map(|r| row(r).iter().copied());
    let min_positive = values().filter(|&v| v > 0.0 && d.is_data(v)).reduce(f64::min);
    let scale = ColorScale::new(range, log, min_positive);
    let table = cmap.table();
    let canvas: HtmlCanvasElement = dom::el("heatmap");
    canvas.set_width(w.max(1) as u32);
    canvas.set_height(h.max(1) as u32);
    let px = display_scale(w, h);
    let style = canvas.style();
    let _ = style.set_property("width", &format!("{}px", (w as f64 * px).round()));
    let _ = style.set_property("height", &format!("{}px", (h as f64 * px).round()));
    // Painted a band of rows at a time: a slice across thousands of frames would otherwise need
    // its whole RGBA image at once, here and again in the browser's ImageData.
    let band = (BAND_PIXELS / w.max(1)).max(1);
    let mut rgba = Vec::with_capacity(band.min(h) * w * 4);
    let ctx = context(&canvas);
    for top in (0..drawn).step_by(band) {
        let rows = band.min(drawn - top);
        rgba.clear();
        for r in win.r0 + top..win.r0 + top + rows {
            for &v in row(r) {
                let c = match scale.position(v).filter(|_| d.is_data(v)) {
                    Some(t) => table[(t * 255.0).round() as usize],
                    None => NO_DATA,
                };
                rgba.extend_from_slice(&[c[0], c[1], c[2], 255]);
            }
        }
        if w > 0
            && let Ok(img) =
                ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), w as u32, rows as u32)
        {
            let _ = ctx.put_image_data(&img, 0.0, top as f64);
        }
    }
    colorbar(cmap, scale, (h as f64 * px).round());
    let (x_name, y_name) = axis_names(d, axis);
    axis_ticks("x-ticks", win.c0, w, px, x_name, "x-name");
    axis_ticks("y-ticks", win.r0, h, px, y_name, "y-name");
    let missing = values().filter(|&v| !d.is_data(v) || scale.position(v).is_none()).count();
    dom::set_text(
        "frame-nodata",
        &if missing > 0 { format!("{missing} values: no data") } else { String::new() },
    );
    (px, win)
}

/// Tick labels at round cell indices along an axis showing cells `start..start + len`, `px` CSS
/// pixels each.
fn axis_ticks(id: &str, start: usize, len: usize, px: f64, name: &str, name_id: &str) {
    let horizontal = id.starts_with('x');
    // A label's room: its digits across, or a line's height down.
    let room = if horizontal { 8.0 * (start + len).max(1).to_string().len() as f64 + 12.0 } else { 22.0 };
    let html: String = ticks_that_fit(start, len, px, room)
        .into_iter()
        .map(|i| {
            let at = ((i - start) as f64 + 0.5) * px;
            let side = if horizontal { "left" } else { "top" };
            format!("<span style=\"{side}:{at:.1}px\">{i}</span>")
        })
        .collect();
    let el: web_sys::HtmlElement = dom::el(id);
    el.set_inner_html(&html);
    let size = if horizontal { "width" } else { "height" };
    let _ = el.style().set_property(size, &format!("{}px", (len as f64 * px).round()));
    dom::set_text(name_id, name);
}

/// CSS pixels per value: small slices are magnified (up to 16×) to about 560 px, large ones
/// shrunk to fit 560 px (a 4 000-frame slice along the first axis was a 4 000 px tall image with a
/// colour bar as tall).
fn display_scale(w: usize, h: usize) -> f64 {
    (560.0 / w.max(h).max(1) as f64).min(16.0)
}

fn colorbar(cmap: Colormap, scale: ColorScale, height_px: f64) {
    let canvas: HtmlCanvasElement = dom::el("colorbar");
    let bar = height_px.max(120.0);
    let _ = canvas.style().set_property("height", &format!("{bar}px"));
    canvas.set_width(1);
    canvas.set_height(256);
    let mut rgba = Vec::with_capacity(256 * 4);
    for i in (0..256).rev() {
        let c = cmap.rgb(i as f64 / 255.0);
        rgba.extend_from_slice(&[c[0], c[1], c[2], 255]);
    }
    if let Ok(img) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), 1, 256) {
        let _ = context(&canvas).put_image_data(&img, 0.0, 0.0);
    }
    // Five ticks, the high end at the top; on a log scale, geometrically spaced.
    let ticks = scale.ticks(5);
    let html: String = ticks
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let top = bar * (1.0 - i as f64 / (ticks.len() - 1) as f64) + 1.0;
            format!("<span style=\"top:{top:.1}px\">{}</span>", fmt_num(*v))
        })
        .collect();
    let el: web_sys::HtmlElement = dom::el("cb-ticks");
    el.set_inner_html(&html);
    let _ = el.style().set_property("height", &format!("{bar}px"));
}

/// Builds one histogram card per table column in `#table-view`: `bins` bins, counts on a log
/// scale with `log_y`, the largest count labelled on the count axis.
pub fn table(d: &Decoded, bins: usize, log_y: bool) {
    let doc = dom::document();
    let view = dom::el::<web_sys::HtmlElement>("table-view");
    view.set_inner_html("");
    let names = d.columns.clone().unwrap_or_default();
    for (c, name) in names.iter().enumerate() {
        let values = d.column(c);
        let s = RunningStats::of(&values, |v| d.is_data(v));
        let card = doc.create_element("div").expect("div");
        card.set_class_name("column-card");
        let title = doc.create_element("h3").expect("h3");
        title.set_text_content(Some(name));
        let info = doc.create_element("p").expect("p");
        info.set_text_content(Some(&match s.mean() {
            Some(mean) => format!(
                "min {}  max {}  mean {}  ({} values{})",
                fmt_num(s.min),
                fmt_num(s.max),
                fmt_num(mean),
                s.count,
                if s.no_data > 0 { format!(", {} no data", s.no_data) } else { String::new() }
            ),
            None => "no data".into(),
        }));
        let canvas: HtmlCanvasElement =
            doc.create_element("canvas").expect("canvas").dyn_into().expect("canvas");
        canvas.set_width(320);
        canvas.set_height(140);
        let counts = histogram(&values, s.min, s.max, bins);
        draw_histogram(&canvas, &counts, log_y);
        let _ = canvas.dataset().set("bins", &counts.len().to_string());
        let _ = canvas.dataset().set("total", &counts.iter().sum::<u64>().to_string());
        let axis = doc.create_element("div").expect("div");
        axis.set_class_name("hist-axis");
        axis.set_inner_html(&format!("<span>{}</span><span>{}</span>", fmt_num(s.min), fmt_num(s.max)));
        for e in [title, info, canvas.dyn_into::<web_sys::Element>().expect("element"), axis] {
            let _ = card.append_child(&e);
        }
        let _ = view.append_child(&card);
    }
}

fn draw_histogram(canvas: &HtmlCanvasElement, counts: &[u64], log_y: bool) {
    let ctx = context(canvas);
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    ctx.clear_rect(0.0, 0.0, w, h);
    let height = |c: u64| if log_y { (c as f64 + 1.0).log10() } else { c as f64 };
    let max_count = counts.iter().copied().max().unwrap_or(0);
    let max = height(max_count).max(1e-9);
    // The count axis: a 34 px margin with the largest count at the top and 0 at the bottom.
    let left = 34.0;
    let bw = (w - left) / counts.len().max(1) as f64;
    ctx.set_fill_style_str("#3b528b");
    for (i, &c) in counts.iter().enumerate() {
        let bh = (height(c) / max) * (h - 16.0);
        ctx.fill_rect(left + i as f64 * bw + 0.5, h - bh, (bw - 1.0).max(1.0), bh);
    }
    ctx.set_fill_style_str("#444");
    ctx.set_font("10px sans-serif");
    let _ = ctx.fill_text(&max_count.to_string(), 2.0, 10.0);
    let _ = ctx.fill_text(if log_y { "log" } else { "0" }, 2.0, h - 2.0);
    ctx.set_fill_style_str("#999");
    ctx.fill_rect(left - 2.0, 0.0, 1.0, h);
}

/// Compact number formatting for labels.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.4e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

#[cfg(test)]
mod tests {
    use super::display_scale;

    #[test]
    fn slices_fit_about_560_css_pixels() {
        assert_eq!(display_scale(10, 20), 16.0); // magnified at most 16×
        assert_eq!(display_scale(280, 140), 2.0);
        let s = display_scale(256, 4000); // a 4 000-frame slice: 560 px tall, not 4 000
        assert!(((4000.0 * s) - 560.0).abs() < 1e-9 && (256.0 * s).round() == 36.0, "{s}");
    }
}
