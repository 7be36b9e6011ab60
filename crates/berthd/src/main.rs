//! `berthd`: the berth CRI daemon. A thin binary: it parses flags, sets up logging and hands
//! over to [`daemon::run`]. Everything it does lives in the library crates.

mod authority;
mod cli;
mod daemon;
mod hpack;
mod lock;
mod logging;
mod notify;
mod socket;
mod trim;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = cli::Cli::parse();
    if let Err(e) = logging::init(&cli.log_level, cli.log_format) {
        eprintln!("berthd: {e}");
        return ExitCode::from(2);
    }
    let config = match cli.load_config() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("berthd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("berthd")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("berthd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives every thread that allocates its own arena (up to eight per core), and each
/// keeps pages resident after a burst of RPCs on the blocking pool. Two arenas serve berthd's
/// two workers; the rest share them.
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt before any thread exists; M_ARENA_MAX takes a count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
