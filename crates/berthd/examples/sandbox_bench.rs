//! Sandbox benchmark: RunPodSandbox, StopPodSandbox and RemovePodSandbox over 20 pods,
//! timed server-side (berthd's own per-call log line) and client-side, plus the RSS of the
//! infra (`berth-pause`) and monitor processes per pod with 20 pods running.
//!
//! Run: `bench/sandbox.sh` (builds berthd, berth-pause and berth-monitor in release). Root.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_cri_client::{connect, cri};

const PODS: usize = 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn config(i: usize) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: format!("bench{i}"),
            uid: format!("uid-bench{i}"),
            namespace: "bench".into(),
            attempt: 0,
        }),
        hostname: format!("bench{i}"),
        ..Default::default()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let berthd = std::env::var("BERTHD")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target/release/berthd"));
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("cni");
    std::fs::create_dir(&conf).unwrap();
    let bridge = format!("bbench{}", std::process::id() % 1000);
    std::fs::write(
        conf.join("10-bench.conflist"),
        serde_json::json!({"cniVersion": "1.0.0", "name": "bench", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
             "ipam": {"type": "host-local", "dataDir": dir.path().join("ipam"), "ranges": [[{"subnet": "10.197.0.0/24"}]]}},
            {"type": "portmap", "capabilities": {"portMappings": true}}]})
        .to_string(),
    )
    .unwrap();
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "[network]\nconf_dir = \"{}\"\nbin_dirs = [\"/usr/lib/cni\", \"/opt/cni/bin\"]\n",
            conf.display()
        ),
    )
    .unwrap();
    let log_path = dir.path().join("berthd.log");
    let mut child = Command::new(&berthd)
        .arg("--config")
        .arg(&config_path)
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .args(["--log-format", "json"])
        .stderr(std::fs::File::create(&log_path).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .expect("start berthd");
    let socket = dir.path().join("state/berth.sock");
    let mut client = loop {
        if let Ok(mut c) = connect(&socket).await
            && c.runtime
                .version(cri::VersionRequest::default())
                .await
                .is_ok()
        {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let daemon_idle = rss_kib(child.id() as i32);

    // Sequential: one pod at a time, as the kubelet's first pod sees it.
    let mut client_ms = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..PODS {
        let t = Instant::now();
        let id = client
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config(i)),
                runtime_handler: String::new(),
            })
            .await
            .expect("run")
            .into_inner()
            .pod_sandbox_id;
        client_ms[0].push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        client
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.clone(),
            })
            .await
            .expect("stop");
        client_ms[1].push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        client
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
            .expect("remove");
        client_ms[2].push(t.elapsed().as_secs_f64() * 1e3);
    }

    // Memory with 20 pods up.
    let mut ids = Vec::new();
    for i in 0..PODS {
        let id = client
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config(i)),
                runtime_handler: String::new(),
            })
            .await
            .expect("run")
            .into_inner()
            .pod_sandbox_id;
        ids.push(id);
    }
    let (mut infra_rss, mut infra_pss, mut mon_rss, mut mon_pss) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        let st = client
            .runtime
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.clone(),
                verbose: true,
            })
            .await
            .unwrap()
            .into_inner();
        let info: serde_json::Value = serde_json::from_str(&st.info["info"]).unwrap();
        let pid = info["pid"].as_i64().unwrap() as i32;
        infra_rss.push(rss_kib(pid) as f64);
        infra_pss.push(pss_kib(pid) as f64);
        let out = Command::new("pgrep")
            .args(["-f", &format!("berth-monitor --id {id}")])
            .output()
            .unwrap();
        if let Some(mpid) = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<i32>().ok())
        {
            mon_rss.push(rss_kib(mpid) as f64);
            mon_pss.push(pss_kib(mpid) as f64);
        }
    }
    let daemon_20 = rss_kib(child.id() as i32);
    for id in ids {
        client
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.clone(),
            })
            .await
            .unwrap();
        client
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id })
            .await
            .unwrap();
    }
    drop(client);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let _ = Command::new("ip")
        .args(["link", "del", &bridge])
        .stderr(Stdio::null())
        .status();

    // Server-side times from berthd's one line per mutating call.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut server_ms = [Vec::new(), Vec::new(), Vec::new()];
    for line in log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        let (Some(ms), Some(rpc)) = (line["ms"].as_f64(), line["span"]["rpc"].as_str()) else {
            continue;
        };
        let slot = match rpc {
            "RunPodSandbox" => 0,
            "StopPodSandbox" => 1,
            "RemovePodSandbox" => 2,
            _ => continue,
        };
        server_ms[slot].push(ms);
    }
    println!("pods: {PODS}, sequential, median ms (server-side / client-side)");
    for (i, rpc) in ["RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"]
        .iter()
        .enumerate()
    {
        let server = server_ms[i].iter().take(PODS).cloned().collect::<Vec<_>>();
        println!(
            "{rpc:>18}: {:6.1} / {:6.1}",
            if server.is_empty() {
                f64::NAN
            } else {
                median(server)
            },
            median(client_ms[i].clone())
        );
    }
    println!(
        "infra (berth-pause) per pod: RSS {:.0} KiB, PSS {:.0} KiB",
        median(infra_rss),
        median(infra_pss)
    );
    if !mon_rss.is_empty() {
        println!(
            "monitor per pod:             RSS {:.0} KiB, PSS {:.0} KiB",
            median(mon_rss),
            median(mon_pss)
        );
    }
    println!(
        "berthd RSS: idle {:.1} MiB, with {PODS} pods {:.1} MiB",
        daemon_idle as f64 / 1024.0,
        daemon_20 as f64 / 1024.0
    );
}
