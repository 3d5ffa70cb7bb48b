use std::process::ExitCode;

use clap::Parser;

/// See Cargo.toml: large buffers are reused instead of being mapped and faulted in anew.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc asks for transparent huge pages on its 1 GiB arenas (MADV_HUGEPAGE), and with the
/// kernel's usual `defrag = madvise` every first touch of such a page may stop to compact memory
/// and clear 2 MB: measured here, 0.5–1.1 s of system time in a 1.3–1.8 s single-thread compress
/// of a 16.8 MB field, 0.75–0.86 s in all with ordinary pages (the same archive).
fn use_ordinary_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    use_ordinary_pages();
    let cli = baler_train::cmd::Cli::parse();
    match baler_train::cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
