use std::process::ExitCode;

use clap::Parser;

/// See Cargo.toml: large buffers are reused instead of being mapped and faulted in anew.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = baler_train::cmd::Cli::parse();
    match baler_train::cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
