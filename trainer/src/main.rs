use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = baler_train::cli::Cli::parse();
    match baler_train::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
