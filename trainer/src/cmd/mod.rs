//! The `baler-train` command line: one module per subcommand, each with its arguments and its
//! `run`; what they share is in [`common`].

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod bench;
pub mod common;
pub mod compress;
mod compress_h5;
mod compress_rows;
pub mod decompress;
pub mod demo;
pub mod eval;
pub mod info;
pub mod models;
pub mod new;
pub mod plot;
pub mod train;

#[derive(Parser)]
#[command(
    name = "baler-train",
    version,
    about = "Train autoencoders and compress scientific data under a strict error bound"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a commented baler.toml with every option and its default into DIR.
    New(new::NewArgs),
    /// Train a model on INPUT and save it (a .bmodel file) for online-mode compression.
    Train(train::TrainArgs),
    /// Compress INPUT into an archive whose every value is within the bound.
    Compress(compress::CompressArgs),
    /// Decode ARCHIVE to OUTPUT (.npy, .npz, .csv, or .h5[:/dataset] by extension).
    Decompress(decompress::DecompressArgs),
    /// Shape, dtype, bound, bytes per section, honest ratio and content hash of ARCHIVE.
    Info(info::InfoArgs),
    /// PSNR, max abs error, max error / range and RMSE of RECONSTRUCTED against ORIGINAL.
    Eval(eval::EvalArgs),
    /// Plots: original / reconstructed / difference per frame, error histograms, per-column
    /// distributions for tables, and the training loss curve of a model file.
    Plot(plot::PlotArgs),
    /// Generate a synthetic flow field, train, compress at three bounds, verify, print the table.
    Demo(demo::DemoArgs),
    /// Benchmark: training epochs of Baler's CFD setup, compress/decompress speed and ratio on INPUTs.
    Bench(bench::BenchArgs),
    /// Every model type (dense / conv2d / conv3d, LeakyReLU / GDN, MSE / SWAE) on INPUT with the same budget: network PSNR, ratio with the model counted, training time, model bytes.
    Models(models::ModelsArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::New(args) => new::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Compress(args) => compress::run(&args),
        Command::Decompress(args) => decompress::run(&args),
        Command::Info(args) => info::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Plot(args) => plot::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Models(args) => models::run(&args),
    }
}
