//! The archive's description in the page's stats table: what `baler-train info` prints.

use baler_codec::Archive;
use baler_codec::describe::describe as summarize;
use baler_codec::format::metadata::{BoundSpec, ModelUse, hex};

use crate::dom::set_text;
use crate::render::fmt_num;

pub fn describe(name: &str, a: &Archive<'_>, archive_bytes: u64, model_bytes: Option<usize>) {
    let s = summarize(name, a, archive_bytes, model_bytes.map(|b| b as u64));
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
