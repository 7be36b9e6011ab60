//! A short run of the CRI fuzzer (`berth-fuzz`) against a real berthd with a real registry
//! and a CNI network: a few thousand hostile requests for every RPC, then clean-up, and no
//! violation allowed. Seeded: BERTH_FUZZ_SEED and BERTH_FUZZ_REQUESTS override the seed and
//! the count. The long run is `bench/fuzz.sh`. Needs root.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use berth_fuzz::FuzzConfig;
use berth_testkit::{Flavour, Registry, build_image, busybox_layer, default_config, push_image};
use common::{Daemon, clean_leftovers, setup};

/// The seed CI uses; any other is printed so a failure can be replayed.
const SEED: u64 = 19;
const REQUESTS: u64 = 2500;

/// The node's dir and bridge, cleaned up even when the run fails midway.
struct Guard {
    dir: tempfile::TempDir,
    bridge: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        clean_leftovers(self.dir.path());
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A CNI network of the test's own (bridge + host-local + portmap), leases under `dir/ipam`.
fn use_cni(dir: &Path, bridge: &str) {
    let conflist = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "fuzz",
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
             "ipam": {"type": "host-local", "dataDir": dir.join("ipam"),
                      "ranges": [[{"subnet": format!("10.213.{}.0/24", std::process::id() % 250)}]]}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    std::fs::write(dir.join("cni-conf/10-fuzz.conflist"), conflist.to_string()).unwrap();
    let config = std::fs::read_to_string(dir.join("config.toml"))
        .unwrap()
        .replace(
            &format!("bin_dirs = [\"{}/cni-bin\"]", dir.display()),
            "bin_dirs = [\"/usr/lib/cni\", \"/opt/cni/bin\"]",
        );
    std::fs::write(dir.join("config.toml"), config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_leave_berthd_up_and_the_host_clean() {
    let seed = env_u64("BERTH_FUZZ_SEED", SEED);
    let requests = env_u64("BERTH_FUZZ_REQUESTS", REQUESTS);
    eprintln!(
        "fuzz: seed {seed}, {requests} requests (BERTH_FUZZ_SEED / BERTH_FUZZ_REQUESTS to change)"
    );
    let started = Instant::now();
    let registry = Registry::start().await;
    let image = build_image(
        &[busybox_layer()],
        Flavour::Gzip,
        default_config("amd64", ""),
    );
    push_image(&registry, "busybox", "latest", &image).await;
    let guard = Guard {
        dir: setup(&format!(
            "[registries.\"{}\"]\ninsecure = true\n",
            registry.host()
        )),
        bridge: format!("bfz{}", std::process::id() % 100_000),
    };
    let dir = guard.dir.path();
    use_cni(dir, &guard.bridge);
    // BERTH_FUZZ_LOG sets berthd's log filter (e.g. "info,h2=debug" to see the HTTP/2 frames).
    let level = std::env::var("BERTH_FUZZ_LOG").unwrap_or_else(|_| "info".into());
    let mut daemon = Daemon::spawn(dir, &["--log-level", &level]);
    daemon.ready_client().await;

    let mut cfg = FuzzConfig::new(
        &daemon.socket,
        format!("{}/busybox:latest", registry.host()),
    );
    cfg.requests = requests;
    cfg.seed = seed;
    cfg.concurrency = 4;
    cfg.pid = Some(daemon.pid());
    cfg.root = Some(dir.join("root"));
    cfg.state = Some(dir.join("state"));
    cfg.work = Some(dir.join("fuzz"));
    cfg.allowed_dirs = vec![dir.join("root"), dir.join("state"), dir.join("fuzz")];
    cfg.pod_network = true;
    cfg.cni_leases = Some(dir.join("ipam"));
    let report = berth_fuzz::run(cfg).await.expect("fuzz run");
    eprintln!("{report}");
    eprintln!(
        "fuzz: whole test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::fs::write(
        std::env::temp_dir().join("berth-fuzz-daemon.log"),
        daemon.log(),
    )
    .ok();
    assert!(
        report.clean(),
        "seed {seed}: {} violations, {} crashes (table above); berthd log tail:\n{}",
        report.violations_total,
        report.crashes.len(),
        tail(&daemon.log(), 40)
    );
    // A panic caught inside berthd (a task's, a handler's) leaves it up but is still a bug.
    let log = daemon.log();
    let panics = log_lines_with(&log, "panicked at");
    assert!(panics.is_empty(), "berthd panicked: {panics:?}");
    daemon.terminate().await;
}

fn log_lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
