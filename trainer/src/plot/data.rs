//! Values out of datasets, and the numbers the figures are drawn from.

use anyhow::{Result, bail};
use baler_codec::{Dataset, Values};

pub(super) fn to_f64(values: &Values) -> Vec<f64> {
    match values {
        Values::Float(v) => v.clone(),
        Values::Int(v) => v.iter().map(|&x| x as f64).collect(),
    }
}

/// A dataset's values in row-major order (a table as rows × columns).
pub(super) fn field_values(ds: &Dataset) -> Vec<f64> {
    match ds {
        Dataset::Field(a) => to_f64(&a.values),
        Dataset::Table { rows, columns } => {
            let cols: Vec<Vec<f64>> = columns.iter().map(|c| to_f64(&c.values)).collect();
            (0..*rows).flat_map(|r| cols.iter().map(move |c| c[r])).collect()
        }
    }
}

/// A dataset's columns (a 2-d field's columns; any other field is one column).
pub(super) fn table_columns(ds: &Dataset) -> Vec<Vec<f64>> {
    match ds {
        Dataset::Table { columns, .. } => columns.iter().map(|c| to_f64(&c.values)).collect(),
        Dataset::Field(a) if a.shape.len() == 2 => {
            let (rows, cols) = (a.shape[0], a.shape[1]);
            let v = to_f64(&a.values);
            (0..cols).map(|c| (0..rows).map(|r| v[r * cols + c]).collect()).collect()
        }
        Dataset::Field(a) => vec![to_f64(&a.values)],
    }
}

/// One bound per stream, `None` where unknown or unusable (≤ 0, non-finite).
pub(super) fn stream_bounds(bounds: Option<&[f64]>, streams: usize) -> Result<Vec<Option<f64>>> {
    match bounds {
        None => Ok(vec![None; streams]),
        Some(b) if b.len() != streams => {
            bail!("expected {streams} error bound(s), one per stream, got {}", b.len())
        }
        Some(b) => Ok(b.iter().map(|&x| (x.is_finite() && x > 0.0).then_some(x)).collect()),
    }
}

/// `column_<name>` for each column: characters other than ASCII letters, digits, `-`, `_` and
/// `.` become `_`; an empty or repeated name gets the column index appended.
pub(super) fn file_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, name) in names.enumerate() {
        let clean: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
            .collect();
        let mut stem = format!("column_{clean}");
        if clean.is_empty() || out.contains(&stem) {
            stem = format!("column_{clean}_{i}");
        }
        out.push(stem);
    }
    out
}

/// How a field splits into frames: (frames, rows, columns) of a 2-d or higher field.
pub(super) fn frame_layout(shape: &[usize]) -> Option<(usize, usize, usize)> {
    match shape.len() {
        0 | 1 => None,
        n => Some((shape[..n - 2].iter().product(), shape[n - 2], shape[n - 1])),
    }
}

/// The frames to draw: the requested ones (checked), or first, middle and last.
pub(super) fn choose_frames(requested: &[usize], frames: usize) -> Result<Vec<usize>> {
    if let Some(&bad) = requested.iter().find(|&&f| f >= frames) {
        bail!("frame {bad} out of range: the field has {frames} frame(s)");
    }
    let mut chosen =
        if requested.is_empty() { vec![0, frames / 2, frames.saturating_sub(1)] } else { requested.to_vec() };
    chosen.sort_unstable();
    chosen.dedup();
    Ok(chosen)
}

/// (min, max) of the finite values, if any.
pub(super) fn finite_range<'a>(values: impl IntoIterator<Item = &'a f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, &v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A non-empty interval around [lo, hi] (a constant gets ±0.5, or ±1% of its size).
pub(super) fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        let pad = (lo.abs() * 0.01).max(0.5);
        (lo - pad, hi + pad)
    }
}

/// max |v| over the finite values (0 if none).
pub(super) fn max_abs(values: &[f64]) -> f64 {
    values.iter().filter(|v| v.is_finite()).fold(0.0, |m, v| m.max(v.abs()))
}

/// (x′ − x) / scale for each pair where both are finite.
pub(super) fn scaled_errors(orig: &[f64], recon: &[f64], scale: f64) -> Vec<f64> {
    orig.iter()
        .zip(recon)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (y - x) / scale)
        .collect()
}

/// (x′ − x) / x for each pair where both are finite and x ≠ 0.
pub(super) fn relative_errors(orig: &[f64], recon: &[f64]) -> Vec<f64> {
    orig.iter()
        .zip(recon)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **x != 0.0)
        .map(|(x, y)| (y - x) / x)
        .collect()
}

/// The `q` quantile (0..=1) of |v| over `values` (0 if empty).
pub(super) fn abs_quantile(values: &[f64], q: f64) -> f64 {
    let mut a: Vec<f64> = values.iter().map(|v| v.abs()).collect();
    if a.is_empty() {
        return 0.0;
    }
    let k = ((a.len() - 1) as f64 * q).round() as usize;
    *a.select_nth_unstable_by(k, f64::total_cmp).1
}

/// Splits points into runs of finite, positive-if-`positive` y values (a line breaks at gaps).
pub(super) fn segments<X: Copy>(
    points: impl IntoIterator<Item = (X, f64)>,
    positive: bool,
) -> Vec<Vec<(X, f64)>> {
    let mut runs = vec![Vec::new()];
    for (x, y) in points {
        if y.is_finite() && (!positive || y > 0.0) {
            runs.last_mut().expect("never empty").push((x, y));
        } else if !runs.last().expect("never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// At most about `2 · max_buckets` points that keep the shape of a long series: per bucket of
/// consecutive indices, its minimum and maximum in index order. Short series come back whole.
pub(super) fn envelope(values: &[f64], max_buckets: usize) -> Vec<(f64, f64)> {
    let n = values.len();
    if n <= 2 * max_buckets {
        return values.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect();
    }
    let per = n.div_ceil(max_buckets);
    let mut out = Vec::with_capacity(2 * max_buckets);
    for start in (0..n).step_by(per) {
        let chunk = &values[start..(start + per).min(n)];
        let finite = chunk.iter().enumerate().filter(|(_, v)| v.is_finite());
        let lo = finite.clone().min_by(|a, b| a.1.total_cmp(b.1));
        let hi = finite.max_by(|a, b| a.1.total_cmp(b.1));
        match (lo, hi) {
            (Some(lo), Some(hi)) => {
                let (a, b) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
                out.push(((start + a.0) as f64, *a.1));
                out.push(((start + b.0) as f64, *b.1));
            }
            _ => out.push((start as f64, f64::NAN)),
        }
    }
    out
}
