//! Small charts beside the heatmap and the histograms: a line chart (a profile through the picked
//! point, or its time series across frames) and a scatter of two table columns. Labels give the
//! value range and the index range; values without data leave gaps.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use crate::dom;
use crate::render::fmt_num;

fn context(canvas: &HtmlCanvasElement) -> CanvasRenderingContext2d {
    canvas.get_context("2d").ok().flatten().and_then(|c| c.dyn_into().ok()).expect("2d canvas")
}

/// Margins: left for the value labels, bottom for the index labels.
const LEFT: f64 = 58.0;
const BOTTOM: f64 = 16.0;

/// Min and max of the values that pass `keep`.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |r, v| match r {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Draws `values` (None = no data: a gap) against their index in `#id`; `mark` is drawn as a
/// vertical line (the picked point). Returns how many values were drawn.
pub fn line(id: &str, values: &[Option<f64>], mark: Option<usize>) -> usize {
    let canvas: HtmlCanvasElement = dom::el(id);
    let ctx = context(&canvas);
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    ctx.clear_rect(0.0, 0.0, w, h);
    let drawn = values.iter().flatten().count();
    let _ = canvas.dataset().set("points", &drawn.to_string());
    let _ = canvas.dataset().set("length", &values.len().to_string());
    let Some((lo, hi)) = extent(values.iter().flatten().copied()) else { return 0 };
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = values.len().max(2) - 1;
    let x = |i: usize| LEFT + (w - LEFT - 4.0) * i as f64 / n as f64;
    let y = |v: f64| 4.0 + (h - BOTTOM - 8.0) * (1.0 - (v - lo) / span);
    if let Some(m) = mark {
        ctx.set_fill_style_str("#d4a017");
        ctx.fill_rect(x(m), 0.0, 1.0, h - BOTTOM);
    }
    ctx.set_stroke_style_str("#3b528b");
    ctx.set_line_width(1.5);
    ctx.begin_path();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) if pen_down => ctx.line_to(x(i), y(*v)),
            Some(v) => {
                ctx.move_to(x(i), y(*v));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    ctx.stroke();
    if drawn == 1 {
        let (i, v) = values.iter().enumerate().find_map(|(i, v)| v.map(|v| (i, v))).expect("one value");
        ctx.fill_rect(x(i) - 1.5, y(v) - 1.5, 3.0, 3.0);
    }
    ctx.set_fill_style_str("#444");
    ctx.set_font("10px sans-serif");
    let _ = ctx.fill_text(&fmt_num(hi), 2.0, 10.0);
    let _ = ctx.fill_text(&fmt_num(lo), 2.0, h - BOTTOM);
    let _ = ctx.fill_text("0", LEFT, h - 3.0);
    let last = (values.len().saturating_sub(1)).to_string();
    let _ = ctx.fill_text(&last, w - 6.0 * last.len() as f64 - 4.0, h - 3.0);
    ctx.set_fill_style_str("#999");
    ctx.fill_rect(LEFT - 2.0, 0.0, 1.0, h - BOTTOM);
    drawn
}

/// Draws `ys` against `xs` (pairs where both have data) in `#id`, at most `limit` points spread
/// evenly over the rows. Returns how many points were drawn.
pub fn scatter(id: &str, xs: &[f64], ys: &[f64], is_data: impl Fn(f64) -> bool, limit: usize) -> usize {
    let canvas: HtmlCanvasElement = dom::el(id);
    let ctx = context(&canvas);
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    ctx.clear_rect(0.0, 0.0, w, h);
    let pairs: Vec<(f64, f64)> =
        xs.iter().zip(ys).map(|(&x, &y)| (x, y)).filter(|&(x, y)| is_data(x) && is_data(y)).collect();
    let step = pairs.len().div_ceil(limit.max(1)).max(1);
    let shown: Vec<(f64, f64)> = pairs.iter().copied().step_by(step).collect();
    let _ = canvas.dataset().set("points", &shown.len().to_string());
    let (Some((x0, x1)), Some((y0, y1))) =
        (extent(shown.iter().map(|p| p.0)), extent(shown.iter().map(|p| p.1)))
    else {
        return 0;
    };
    let (sx, sy) = (if x1 > x0 { x1 - x0 } else { 1.0 }, if y1 > y0 { y1 - y0 } else { 1.0 });
    ctx.set_fill_style_str("rgba(59, 82, 139, 0.45)");
    for &(x, y) in &shown {
        let px = LEFT + (w - LEFT - 4.0) * (x - x0) / sx;
        let py = 4.0 + (h - BOTTOM - 8.0) * (1.0 - (y - y0) / sy);
        ctx.fill_rect(px - 1.0, py - 1.0, 2.0, 2.0);
    }
    ctx.set_fill_style_str("#444");
    ctx.set_font("10px sans-serif");
    let _ = ctx.fill_text(&fmt_num(y1), 2.0, 10.0);
    let _ = ctx.fill_text(&fmt_num(y0), 2.0, h - BOTTOM);
    let _ = ctx.fill_text(&fmt_num(x0), LEFT, h - 3.0);
    let right = fmt_num(x1);
    let _ = ctx.fill_text(&right, w - 6.0 * right.len() as f64 - 4.0, h - 3.0);
    shown.len()
}
