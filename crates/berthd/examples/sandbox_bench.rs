//! Sandbox benchmark: RunPodSandbox, StopPodSandbox and RemovePodSandbox over 20 pods,
//! timed server-side (berthd's own per-call log line) and client-side, plus the RSS of the
//! infra (`berth-pause`) and monitor processes per pod with 20 pods running.
//!
//! Run: `bench/sandbox.sh` (builds berthd, berth-pause and berth-monitor in release). Root.

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::process::{Command, Stdio};
use std::time::Instant;

use bench_common::{Berthd, median, monitor_pid, pss_kib, rss_kib};
use berth_cri_client::cri;

const PODS: usize = 20;

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
    let (daemon, mut client) = Berthd::start(
        dir.path(),
        &format!(
            "[network]\nconf_dir = \"{}\"\nbin_dirs = [\"/usr/lib/cni\", \"/opt/cni/bin\"]\n",
            conf.display()
        ),
    )
    .await;
    let daemon_idle = rss_kib(daemon.pid());

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
        if let Some(mpid) = monitor_pid(id) {
            mon_rss.push(rss_kib(mpid) as f64);
            mon_pss.push(pss_kib(mpid) as f64);
        }
    }
    let daemon_20 = rss_kib(daemon.pid());
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
    let server_ms = daemon.stop(&["RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"]);
    let _ = Command::new("ip")
        .args(["link", "del", &bridge])
        .stderr(Stdio::null())
        .status();

    println!("pods: {PODS}, sequential, median ms (server-side / client-side)");
    for (i, rpc) in ["RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"]
        .iter()
        .enumerate()
    {
        let server = server_ms[i].iter().take(PODS).cloned().collect::<Vec<_>>();
        println!(
            "{rpc:>18}: {:6.1} / {:6.1}",
            median(server),
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
