//! Pull benchmark: time to pull a ~50 MB four-layer image from a loopback `docker-registry`
//! with berthd (download, verify, unpack), against `skopeo copy docker://… dir:…` (download
//! and verify only) on the same image in the same run, and berthd's peak RSS.
//!
//! Run: `bench/pull.sh` (builds berthd in release first). Needs root, docker-registry,
//! skopeo.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_cri_client::cri;
use berth_testkit::{Registry, push_big};

const ROUNDS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let berthd = std::env::var("BERTHD")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target/release/berthd"));
    let registry = Registry::start().await;
    let image = push_big(&registry, "big").await;
    let size_mb = image.total_layer_bytes as f64 / 1e6;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[registries.\"{}\"]\ninsecure = true\n", registry.host()),
    )
    .unwrap();
    let mut child = Command::new(&berthd)
        .arg("--config")
        .arg(&config)
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start berthd (build it with cargo build --release -p berthd)");
    let pid = child.id();
    let socket = dir.path().join("state/berth.sock");
    let mut client = berth_cri_client::connect_ready(&socket, Duration::from_secs(60))
        .await
        .expect("berthd ready");
    let idle_kib = status_kib(pid, "VmRSS:");
    let spec = Some(cri::ImageSpec {
        image: image.reference.clone(),
        ..Default::default()
    });
    let mut berth_times = Vec::new();
    let mut skopeo_times = Vec::new();
    let scratch = dir.path().join("skopeo");
    for _ in 0..ROUNDS {
        let start = Instant::now();
        client
            .image
            .pull_image(cri::PullImageRequest {
                image: spec.clone(),
                ..Default::default()
            })
            .await
            .expect("berth pull");
        berth_times.push(start.elapsed());
        client
            .image
            .remove_image(cri::RemoveImageRequest {
                image: spec.clone(),
            })
            .await
            .expect("remove");

        let _ = std::fs::remove_dir_all(&scratch);
        let start = Instant::now();
        let status = Command::new("skopeo")
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{}", image.reference))
            .arg(format!("dir:{}", scratch.display()))
            .status()
            .expect("run skopeo (apt-get install skopeo)");
        assert!(status.success(), "skopeo copy failed");
        skopeo_times.push(start.elapsed());
    }
    let peak_kib = status_kib(pid, "VmHWM:");
    drop(client);
    terminate(pid);
    let _ = child.wait();

    let (b, s) = (median(berth_times), median(skopeo_times));
    println!(
        "image: {} ({size_mb:.1} MB compressed, 4 layers)",
        image.reference
    );
    println!("rounds: {ROUNDS} (median)");
    println!(
        "berth pull (download + verify + unpack): {:.0} ms",
        b.as_secs_f64() * 1e3
    );
    println!(
        "skopeo copy to dir: (download + verify):  {:.0} ms",
        s.as_secs_f64() * 1e3
    );
    println!(
        "ratio berth/skopeo: {:.2}",
        b.as_secs_f64() / s.as_secs_f64()
    );
    println!(
        "berthd RSS idle: {:.1} MiB, peak over the pulls: {:.1} MiB",
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0
    );
}

fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}
