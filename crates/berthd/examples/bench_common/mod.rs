//! What the benchmarks share: starting a release `berthd` on temp dirs, reading its per-call
//! log lines for server-side times, and reading process memory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_cri_client::{CriClient, cri};
use berth_testkit::{Flavour, Registry, build_image, busybox_layer, default_config, push_image};

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn status_field(pid: i32, file: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resident set size, KiB.
pub fn rss_kib(pid: i32) -> u64 {
    status_field(pid, "status", "VmRSS:")
}

/// Proportional set size (shared pages divided among their users), KiB.
pub fn pss_kib(pid: i32) -> u64 {
    status_field(pid, "smaps_rollup", "Pss:")
}

/// The PID of the monitor of container or sandbox `id`.
pub fn monitor_pid(id: &str) -> Option<i32> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("berth-monitor --id {id}")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
}

/// A release berthd on `dir`, logging JSON to `dir/berthd.log`.
pub struct Berthd {
    child: Child,
    pub log_path: PathBuf,
}

impl Berthd {
    /// Starts berthd (`$BERTHD`, else `target/release/berthd`) with `config` and connects.
    pub async fn start(dir: &Path, config: &str) -> (Berthd, CriClient) {
        let berthd = std::env::var("BERTHD")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("target/release/berthd"));
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let log_path = dir.join("berthd.log");
        let child = Command::new(&berthd)
            .arg("--config")
            .arg(&config_path)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .args(["--log-format", "json"])
            .stderr(std::fs::File::create(&log_path).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .expect("start berthd");
        let socket = dir.join("state/berth.sock");
        let client = berth_cri_client::connect_ready(&socket, Duration::from_secs(60))
            .await
            .expect("berthd ready");
        (Berthd { child, log_path }, client)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Stops berthd with SIGTERM and returns the server-side milliseconds of each of `rpcs`,
    /// from its one log line per mutating call.
    pub fn stop(mut self, rpcs: &[&str]) -> Vec<Vec<f64>> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let mut out = vec![Vec::new(); rpcs.len()];
        for line in log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        {
            let (Some(ms), Some(rpc)) = (line["ms"].as_f64(), line["span"]["rpc"].as_str()) else {
                continue;
            };
            if let Some(slot) = rpcs.iter().position(|r| *r == rpc) {
                out[slot].push(ms);
            }
        }
        out
    }
}

/// A pod on the host's network with its own PID namespace per container, named `name`.
pub fn host_network_pod(name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.to_owned(),
            uid: format!("uid-{name}"),
            namespace: "bench".into(),
            attempt: 0,
        }),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Node as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A registry on loopback holding busybox as `busybox:bench`; returns it, the image
/// reference and the berthd config that lets berthd pull from it over plain HTTP.
pub async fn busybox_registry() -> (Registry, String, String) {
    let registry = Registry::start().await;
    let image = build_image(
        &[busybox_layer()],
        Flavour::Gzip,
        default_config("amd64", ""),
    );
    push_image(&registry, "busybox", "bench", &image).await;
    let reference = format!("{}/busybox:bench", registry.host());
    let config = format!("[registries.\"{}\"]\ninsecure = true\n", registry.host());
    (registry, reference, config)
}

/// Pulls `reference` through berthd.
pub async fn pull(client: &mut CriClient, reference: &str) {
    client
        .image
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: reference.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("pull");
}
