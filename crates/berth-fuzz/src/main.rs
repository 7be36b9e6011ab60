//! `berth-fuzz`: the CRI fuzzer's command line. Everything else is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_fuzz::{FuzzConfig, run};
use clap::Parser;

/// Sends hostile CRI requests to a live berthd and checks it and the host after each batch.
/// Exits 1 on any violation or crash, 2 when the run cannot start.
#[derive(Debug, Parser)]
#[command(name = "berth-fuzz", version)]
struct Args {
    /// berthd's CRI socket.
    #[arg(long)]
    socket: PathBuf,
    /// A pullable busybox image, `host:port/busybox:latest`.
    #[arg(long)]
    image: String,
    /// Hostile requests to send.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// RNG seed; the time when unset (printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Requests per batch; the host checks run after each.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// A directory where files may appear (repeatable). berthd's root and state and the
    /// fuzzer's work dir are allowed anyway.
    #[arg(long = "allowed-dir")]
    allowed_dirs: Vec<PathBuf>,
    /// berthd's PID, to check it stays alive.
    #[arg(long)]
    pid: Option<i32>,
    /// berthd's --root.
    #[arg(long)]
    root: Option<PathBuf>,
    /// berthd's --state (default: the socket's directory).
    #[arg(long)]
    state: Option<PathBuf>,
    /// The fuzzer's own dir for pod log directories and mount sources (a temp dir if unset).
    #[arg(long)]
    work: Option<PathBuf>,
    /// RPCs allowed to answer Unimplemented, comma-separated (default: those berth has not
    /// built).
    #[arg(long, value_delimiter = ',')]
    unimplemented: Option<Vec<String>>,
    /// Pods may use their own network namespace (berthd has a CNI network).
    #[arg(long)]
    pod_network: bool,
    /// The host-local IPAM data dir, to check that no IP lease is left.
    #[arg(long)]
    cni_leases: Option<PathBuf>,
    /// Seconds one call may take before it counts as a hang.
    #[arg(long, default_value_t = 60)]
    call_limit: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    eprintln!(
        "berth-fuzz: seed {seed}, {} requests against {}",
        args.requests,
        args.socket.display()
    );
    let mut cfg = FuzzConfig::new(&args.socket, &args.image);
    cfg.requests = args.requests;
    cfg.seed = seed;
    cfg.concurrency = args.concurrency;
    cfg.batch = args.batch;
    cfg.allowed_dirs = args.allowed_dirs;
    cfg.pid = args.pid;
    cfg.root = args.root;
    cfg.state = args.state;
    cfg.work = args.work;
    if let Some(u) = args.unimplemented {
        cfg.unimplemented = u;
    }
    cfg.pod_network = args.pod_network;
    cfg.cni_leases = args.cni_leases;
    cfg.call_limit = Duration::from_secs(args.call_limit);
    let report = match run(cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth-fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if let Some(path) = args.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&path, json));
        if let Err(e) = written {
            eprintln!("berth-fuzz: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
