//! `baler-train decompress`: an archive back to a data file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use baler_codec::format::metadata::hex;
use baler_codec::{Archive, NetworkRunner};
use clap::Args;
use serde_json::json;

use super::common::{load_model, read_file, refuse_inputs, spinner};
use crate::device::{DeviceChoice, network_on, resolve as use_device};
use crate::io::{Format, npy_dtype, save, spec_file, split_spec, write_npy_parts};

#[derive(Args)]
pub struct DecompressArgs {
    pub archive: PathBuf,
    #[arg(short, long)]
    pub output: String,
    /// The model file an online-mode archive names.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where the decoder network runs: cpu, gpu or auto. Every device gives the same bits.
    #[arg(long, value_enum, default_value_t)]
    pub device: DeviceChoice,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: &DecompressArgs) -> Result<()> {
    let DecompressArgs { archive, output, model, device, json, quiet } = args;
    let (json, quiet) = (*json, *quiet);
    refuse_inputs(spec_file(output), &[], &[Some(archive), model.as_deref()])?;
    let compute = use_device(*device, quiet || json)?;
    let started = Instant::now();
    let spin = spinner("decoding", quiet || json);
    let bytes = read_file(archive, "archive")?;
    let ext = model.as_deref().map(load_model).transpose()?;
    let a = Archive::open(&bytes, ext.as_ref().map(|m| m.decoder_payload.as_slice()))
        .with_context(|| format!("{}", archive.display()))?;
    let shape: Vec<usize> = a.meta.shape.iter().map(|&d| d as usize).collect();
    let gpu_net = network_on(&compute, a.decoder.as_ref())?;
    let net: Option<&dyn NetworkRunner> = gpu_net.as_deref();
    let streaming =
        split_spec(output).1.is_none() && Format::of(Path::new(output)).is_ok_and(|f| f == Format::Npy);
    if streaming {
        // .npy: decode and write chunk by chunk, memory bounded by a few chunks.
        let dtypes: Vec<_> = a.meta.streams.iter().map(|s| s.dtype).collect();
        let mut failure = None;
        let written = write_npy_parts(Path::new(output), npy_dtype(&dtypes), &shape, |emit| {
            a.decode_each_on(
                |part| emit(&part).map_err(|e| baler_codec::CodecError::InvalidInput(e.to_string())),
                net,
            )
            .map_err(|e| {
                let msg = e.to_string();
                failure = Some(e);
                std::io::Error::other(msg)
            })
        });
        if let Some(e) = failure {
            return Err(e).with_context(|| format!("{}", archive.display()));
        }
        written?;
    } else {
        let ds = a.decode_on(net).with_context(|| format!("{}", archive.display()))?;
        save(output, &ds, a.meta.fill_value)?;
    }
    spin.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            json!({"archive": archive, "output": output, "shape": shape, "original_bytes": a.meta.original_bytes,
                "seconds": secs, "content_hash": hex(&a.meta.content_hash[..a.hash_kind.digest_len()]), "device": compute.describe()})
        );
    } else {
        println!("{} -> {}: shape {:?}, {:.2}s", archive.display(), output, shape, secs);
    }
    Ok(())
}
