//! `baler-train new`: a commented configuration file with every option and its default.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::common::write_bytes;
use crate::config::TEMPLATE;

#[derive(Args)]
pub struct NewArgs {
    pub dir: PathBuf,
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &NewArgs) -> Result<()> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let path = dir.join("baler.toml");
    if path.exists() && !args.force {
        bail!("{}: already exists (use --force to overwrite)", path.display());
    }
    write_bytes(&path, TEMPLATE.as_bytes())?;
    println!("wrote {}", path.display());
    Ok(())
}
