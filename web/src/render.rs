//! Drawing: heatmaps with a colour bar for fields, histograms for table columns.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::colormap::{Colormap, NO_DATA};
use baler_codec::colormap::histogram;

use crate::decoded::{Decoded, RunningStats};
use crate::dom;

fn context(canvas: &HtmlCanvasElement) -> CanvasRenderingContext2d {
    canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into().ok()).expect("2d canvas")
}

/// Paints slice `index` along `axis` into `#heatmap` (one canvas pixel per value, scaled by CSS
/// to about 560 px, without smoothing) and the colour bar.
pub fn heatmap(d: &Decoded, axis: usize, index: usize, cmap: Colormap, range: (f64, f64)) {
    let (w, h, values) = d.slice(axis, index);
    let table = cmap.table();
    let (lo, hi) = range;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut rgba = Vec::with_capacity(w * h * 4);
    for &v in &values {
        let c = if d.is_data(v) {
            table[(((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as usize]
        } else {
            NO_DATA
        };
        rgba.extend_from_slice(&[c[0], c[1], c[2], 255]);
    }
    let canvas: HtmlCanvasElement = dom::el("heatmap");
    canvas.set_width(w.max(1) as u32);
    canvas.set_height(h.max(1) as u32);
    let scale = display_scale(w, h);
    let style = canvas.style();
    let _ = style.set_property("width", &format!("{}px", (w as f64 * scale).round()));
    let _ = style.set_property("height", &format!("{}px", (h as f64 * scale).round()));
    if w * h > 0
        && let Ok(img) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), w as u32, h as u32)
    {
        let _ = context(&canvas).put_image_data(&img, 0.0, 0.0);
    }
    colorbar(cmap, range, (h as f64 * scale).round());
    let missing = values.iter().filter(|&&v| !d.is_data(v)).count();
    dom::set_text(
        "frame-nodata",
        &if missing > 0 { format!("{missing} values: no data") } else { String::new() },
    );
}

/// CSS pixels per value: small slices are magnified (up to 16×) to about 560 px, large ones
/// shrunk to fit 560 px (a 4 000-frame slice along the first axis was a 4 000 px tall image with a
/// colour bar as tall).
fn display_scale(w: usize, h: usize) -> f64 {
    (560.0 / w.max(h).max(1) as f64).min(16.0)
}

fn colorbar(cmap: Colormap, (lo, hi): (f64, f64), height_px: f64) {
    let canvas: HtmlCanvasElement = dom::el("colorbar");
    let _ = canvas.style().set_property("height", &format!("{}px", (height_px - 40.0).max(120.0)));
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
    dom::set_text("cb-max", &fmt_num(hi));
    dom::set_text("cb-min", &fmt_num(lo));
}

/// Builds one histogram card per table column in `#table-view`.
pub fn table(d: &Decoded) {
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
                "min {}  max {}  mean {}{}",
                fmt_num(s.min),
                fmt_num(s.max),
                fmt_num(mean),
                if s.no_data > 0 { format!("  ({} no data)", s.no_data) } else { String::new() }
            ),
            None => "no data".into(),
        }));
        let canvas: HtmlCanvasElement =
            doc.create_element("canvas").expect("canvas").dyn_into().expect("canvas");
        canvas.set_width(320);
        canvas.set_height(140);
        draw_histogram(&canvas, &histogram(&values, s.min, s.max, 60));
        let axis = doc.create_element("div").expect("div");
        axis.set_class_name("hist-axis");
        axis.set_inner_html(&format!("<span>{}</span><span>{}</span>", fmt_num(s.min), fmt_num(s.max)));
        for e in [title, info, canvas.dyn_into::<web_sys::Element>().expect("element"), axis] {
            let _ = card.append_child(&e);
        }
        let _ = view.append_child(&card);
    }
}

fn draw_histogram(canvas: &HtmlCanvasElement, counts: &[u64]) {
    let ctx = context(canvas);
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    ctx.clear_rect(0.0, 0.0, w, h);
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bw = w / counts.len().max(1) as f64;
    ctx.set_fill_style_str("#3b528b");
    for (i, &c) in counts.iter().enumerate() {
        let bh = (c as f64 / max) * (h - 4.0);
        ctx.fill_rect(i as f64 * bw + 0.5, h - bh, (bw - 1.0).max(1.0), bh);
    }
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
