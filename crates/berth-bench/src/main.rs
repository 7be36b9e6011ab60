//! `berth-bench`: drives any CRI v1 runtime through the same client and compares them, side
//! by side, in one run; and measures berth alone on a berthd of its own.
//!
//! `berth-bench --socket A [--socket B ...] [--image REF] [--rounds N] [--concurrency C]
//! [--json FILE]` compares (see [`compare`]): the table gives the median and p90 per runtime
//! and the ratio A/B. It exits non-zero only when a scenario fails (the table is still
//! printed, with what was measured).
//!
//! `berth-bench containers|sandbox|pull|recovery --berthd BIN [--work DIR] ...` starts a
//! berthd and measures it alone (see [`solo`]): server-side times from its own log, its
//! helpers' memory, pulls against skopeo, restarts.

mod compare;
mod procs;
mod scenarios;
mod solo;
mod stats;
mod target;
mod targets;

use clap::Parser;

use compare::CompareArgs;
use solo::Solo;

/// Compare CRI runtimes on the same work, or measure berth alone.
#[derive(Debug, Parser)]
#[command(
    name = "berth-bench",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    /// A benchmark of berth alone; without one, the runtimes behind `--socket` are compared.
    #[command(subcommand)]
    solo: Option<Solo>,
    #[command(flatten)]
    compare: CompareArgs,
}

fn main() {
    let args = Args::parse();
    match args.solo {
        // Two workers: the scenarios run pods concurrently (throughput).
        None => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(compare::compare(args.compare)),
        // One thread, as these benchmarks have always run: their client-side times stay
        // comparable with the recorded ones.
        Some(bench) => {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(solo::run(bench));
            if let Err(e) = outcome {
                eprintln!("berth-bench: {e}");
                std::process::exit(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn comparing_needs_a_socket_and_a_benchmark_does_not() {
        Args::command().debug_assert();
        let compare = Args::try_parse_from(["berth-bench", "--socket", "/a", "--socket", "/b"])
            .expect("compare");
        assert!(compare.solo.is_none());
        assert!(Args::try_parse_from(["berth-bench"]).is_err());
        let solo = Args::try_parse_from(["berth-bench", "recovery", "--pods", "2", "--pods", "4"])
            .expect("recovery");
        assert!(matches!(solo.solo, Some(Solo::Recovery { pods, .. }) if pods == [2, 4]));
        let solo = Args::try_parse_from(["berth-bench", "containers"]).expect("containers");
        assert!(matches!(
            solo.solo,
            Some(Solo::Containers { rounds: 20, .. })
        ));
        assert!(Args::try_parse_from(["berth-bench", "--socket", "/a", "pull"]).is_err());
    }
}
