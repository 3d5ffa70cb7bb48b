//! `baler-train info`: what an archive holds (see `baler_codec::describe`), as text or JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use baler_codec::ModelUse;
use baler_codec::describe::{ArchiveSummary, inspect};
use clap::Args;

use super::common::{load_model, read_file};

#[derive(Args)]
pub struct InfoArgs {
    pub archive: PathBuf,
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InfoArgs) -> Result<()> {
    let path = &args.archive;
    let bytes = read_file(path, "archive")?;
    let ext = args.model.as_deref().map(load_model).transpose()?;
    let ext_payload = ext.as_ref().map(|m| m.decoder_payload.as_slice());
    let name = path.display().to_string();
    let s = inspect(&name, &bytes, ext_payload).with_context(|| name.clone())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print_text(&s, path);
    }
    Ok(())
}

fn print_text(s: &ArchiveSummary, path: &Path) {
    println!("archive        {} (format v{})", path.display(), s.format_version);
    println!("data           {} {:?}", s.kind, s.shape);
    for st in &s.streams {
        let b = match st.bound {
            Some(bound) => format!("|err| <= {bound:.6e}"),
            None => "lossless (integer)".into(),
        };
        let name = if st.name.is_empty() { "values" } else { &st.name };
        let coded = st.code_bits.map(|bits| format!("  codes {bits:.2} bits/value")).unwrap_or_default();
        println!("  {name:<12} {:<8} range [{:.6e}, {:.6e}]  {b}{coded}", st.dtype.name(), st.min, st.max);
    }
    println!("bound          {:?}", s.bound);
    if let Some(f) = s.fill_value {
        println!("fill value     {f:e}");
    }
    println!("model          {}", s.model);
    if let Some(n) = &s.network {
        let dim: u64 = s.tile.iter().map(|&t| t as u64).product();
        println!("  network      {}", n.layers);
        println!(
            "  size         {} parameters; tile {:?} = {dim} values → {} latents: network ratio {:.2}",
            n.parameters,
            s.tile,
            n.latent_dim,
            dim as f64 / n.latent_dim.max(1) as f64
        );
    }
    println!("bytes          original {}  archive {}", s.original_bytes, s.archive_bytes);
    let z = &s.sections;
    println!(
        "  sections     header {}  metadata {}  model {}  model-ref {}  index {}  chunks {} ({})  end {}",
        z.header, z.metadata, z.model, z.model_ref, z.chunk_index, z.chunks, s.chunks, z.end
    );
    for c in &s.chunk_choices {
        println!("  chunks       {} × {}", c.chunks, c.choice);
    }
    println!("ratio          {:.3} (everything needed to decode)", s.ratio);
    println!("  w/o model    {:.3}", s.ratio_without_model);
    if let ModelUse::Referenced { .. } = s.model_use {
        match s.ratio_with_model_pack {
            Some(r) => println!("  with pack    {r:.3} (archive + model decoder)"),
            None => println!("  with pack    unknown: pass --model to count the model"),
        }
    }
    let check = if s.content_hash_verified {
        "verified by decoding"
    } else {
        "not verified: the model is needed to decode"
    };
    println!("content hash   {} {} ({check})", s.content_hash_kind, s.content_hash);
    for n in &s.notes {
        println!("note           {n}");
    }
}
