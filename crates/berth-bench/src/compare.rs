//! Comparing runtimes: each scenario runs on each socket in turn, alternating round by round
//! (A B A B), and the table gives the median and p90 per runtime and the ratio A/B.

use std::path::PathBuf;
use std::sync::Arc;

use crate::scenarios::{self, Figures};
use crate::stats::Results;
use crate::target::{Failure, Target};
use crate::targets;

/// What to compare, and how much.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// A CRI socket (path or unix:// URL); give it once per runtime to compare.
    #[arg(long = "socket", required = true)]
    sockets: Vec<PathBuf>,
    /// The image every container runs (pulled first on each runtime).
    #[arg(long, default_value = "docker.io/library/busybox:latest")]
    image: String,
    /// Rounds per scenario and runtime.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Pods started at once in the throughput scenario.
    #[arg(long, default_value_t = 20)]
    concurrency: usize,
    /// Also write every sample as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Helper-process pattern (regex on the command line) per runtime, in socket order;
    /// defaults by runtime name (berth, containerd, cri-o).
    #[arg(long = "helper-regex")]
    helper_regex: Vec<String>,
    /// Scenarios to run (default: all): pod, container, cold-start, stop-latency,
    /// streaming, sessions, throughput, status-list, memory, floor.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// The OCI runtime binary for the floor scenario.
    #[arg(long, default_value = "/usr/sbin/runc")]
    oci_runtime: PathBuf,
}

const ALL: [&str; 10] = [
    "pod",
    "container",
    "cold-start",
    "stop-latency",
    "streaming",
    "sessions",
    "throughput",
    "status-list",
    "memory",
    "floor",
];

/// Runs the chosen scenarios on every socket and prints the table; exits the process with 2
/// when a runtime cannot be reached, 1 when a scenario failed.
pub async fn compare(args: CompareArgs) {
    let work = tempfile::tempdir().expect("a temp dir");
    let mut targets = Vec::new();
    for (i, socket) in args.sockets.iter().enumerate() {
        let helpers = args.helper_regex.get(i).map(String::as_str);
        match Target::open(i, socket, &args.image, helpers, work.path()).await {
            Ok(t) => targets.push(Arc::new(t)),
            Err(e) => {
                eprintln!("berth-bench: {}: {e}", socket.display());
                std::process::exit(2);
            }
        }
    }
    let chosen: Vec<&str> = if args.scenarios.is_empty() {
        ALL.to_vec()
    } else {
        ALL.iter()
            .copied()
            .filter(|s| args.scenarios.iter().any(|c| c == s))
            .collect()
    };
    let mut results = Results::default();
    let mut errors = Vec::new();
    for scenario in chosen {
        eprintln!("berth-bench: {scenario} …");
        if let Err(e) = run(scenario, &args, &targets, work.path(), &mut results).await {
            eprintln!("berth-bench: {scenario} failed: {e}");
            errors.push(format!("{scenario}: {e}"));
        }
    }
    print!("{}", table(&targets, &results, args.rounds));
    print!("{}", targets::table(&results, targets.len()));
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "runtimes": targets.iter().map(|t| serde_json::json!({
                "socket": t.socket, "name": t.name, "daemon_pid": t.daemon,
            })).collect::<Vec<_>>(),
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "image": args.image,
            "results": results,
            "errors": errors,
        });
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default())
        {
            eprintln!("berth-bench: {}: {e}", path.display());
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("berth-bench: error: {e}");
        }
        std::process::exit(1);
    }
}

fn record(results: &mut Results, scenario: &str, runtime: usize, n: usize, figures: Figures) {
    for (metric, value) in figures {
        results.add(scenario, metric, runtime, n, value);
    }
}

/// Runs one scenario on every runtime, alternating.
async fn run(
    scenario: &str,
    args: &CompareArgs,
    targets: &[Arc<Target>],
    work: &std::path::Path,
    results: &mut Results,
) -> Result<(), Failure> {
    use scenarios::*;
    let n = targets.len();
    match scenario {
        "status-list" => {
            let mut fleets = Vec::new();
            for t in targets {
                fleets.push(status_list::setup(t).await?);
            }
            let mut outcome = Ok(());
            'rounds: for _ in 0..args.rounds {
                for (i, t) in targets.iter().enumerate() {
                    match status_list::round(t, &fleets[i]).await {
                        Ok(f) => record(results, scenario, i, n, f),
                        Err(e) => {
                            outcome = Err(e);
                            break 'rounds;
                        }
                    }
                }
            }
            if outcome.is_ok() {
                for (i, t) in targets.iter().enumerate() {
                    match status_list::kubelet_loop(t).await {
                        Ok(f) => record(results, scenario, i, n, f),
                        Err(e) => {
                            outcome = Err(e);
                            break;
                        }
                    }
                }
            }
            for fleet in fleets {
                status_list::teardown(fleet).await?;
            }
            outcome
        }
        "memory" | "sessions" => {
            for (i, t) in targets.iter().enumerate() {
                let f = match scenario {
                    "memory" => memory::round(t).await?,
                    _ => streaming::sessions(t).await?,
                };
                record(results, scenario, i, n, f);
            }
            Ok(())
        }
        "floor" => {
            for r in 0..args.rounds {
                let f = floor::round(&args.oci_runtime, work, r).await?;
                record(results, scenario, 0, n, f);
            }
            Ok(())
        }
        _ => {
            for _ in 0..args.rounds {
                for (i, t) in targets.iter().enumerate() {
                    let f = match scenario {
                        "pod" => pod::round(t).await?,
                        "container" => container::round(t).await?,
                        "cold-start" => cold_start::round(t).await?,
                        "stop-latency" => stop_latency::round(t).await?,
                        "streaming" => streaming::round(t).await?,
                        "throughput" => throughput::round(t, args.concurrency).await?,
                        other => return Err(format!("unknown scenario {other:?}")),
                    };
                    record(results, scenario, i, n, f);
                }
            }
            Ok(())
        }
    }
}

/// The results as a Markdown table.
fn table(targets: &[Arc<Target>], results: &Results, rounds: usize) -> String {
    let letters = ["A", "B", "C", "D", "E", "F"];
    let mut out = String::new();
    for (i, t) in targets.iter().enumerate() {
        out += &format!(
            "- {}: {} on {}\n",
            letters.get(i).unwrap_or(&"?"),
            t.name,
            t.socket.display()
        );
    }
    out += &format!(
        "- rounds per scenario: {rounds}; times in ms unless the figure says otherwise\n\n"
    );
    let mut header = "| scenario | figure |".to_owned();
    let mut rule = "|---|---|".to_owned();
    for i in 0..targets.len() {
        let l = letters.get(i).unwrap_or(&"?");
        header += &format!(" {l} median | {l} p90 |");
        rule += "---:|---:|";
    }
    if targets.len() > 1 {
        header += " A/B |";
        rule += "---:|";
    }
    out += &format!("{header}\n{rule}\n");
    for scenario in &results.order {
        for (metric, per_runtime) in &results.scenarios[scenario] {
            let mut row = format!("| {scenario} | {metric} |");
            for s in per_runtime {
                row += &format!(" {} | {} |", fmt(s.median()), fmt(s.p90()));
            }
            if per_runtime.len() > 1 {
                let ratio = per_runtime[0].median() / per_runtime[1].median();
                row += &format!(
                    " {} |",
                    if ratio.is_finite() {
                        format!("{ratio:.2}")
                    } else {
                        "-".into()
                    }
                );
            }
            out += &format!("{row}\n");
        }
    }
    out
}

/// A figure as the tables show it: `-` for none, whole numbers from 100 up, else one decimal.
pub fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
