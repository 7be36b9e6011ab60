//! Sandboxes: RunPodSandbox, StopPodSandbox and RemovePodSandbox, one pod after another on a
//! CNI bridge, timed server-side (berthd's own log line per call) and client-side; then the
//! RSS and PSS of the infra (`berth-pause`) and monitor processes per pod, and berthd's RSS,
//! with as many pods running.

use std::process::Stdio;
use std::time::Instant;

use berth_cri_client::cri;

use super::berthd::Berthd;
use super::{On, both};
use crate::procs::{berth_monitor, pss_kib, rss_kib};
use crate::scenarios::ms;
use crate::stats::Samples;
use crate::target::{Failure, Pod, failed};

/// The calls timed, in the order of their figures.
const RPCS: [&str; 3] = ["RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"];

/// Runs the benchmark with `pods` pods on bridge `bridge` and prints its figures.
pub async fn run(on: &On, pods: usize, bridge: &str) -> Result<(), Failure> {
    let work = on.work()?;
    let dir = work.path();
    let conf = dir.join("cni");
    std::fs::create_dir_all(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
    let conflist = serde_json::json!({"cniVersion": "1.0.0", "name": "bench", "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
         "ipam": {"type": "host-local", "dataDir": dir.join("ipam"), "ranges": [[{"subnet": "10.197.0.0/24"}]]}},
        {"type": "portmap", "capabilities": {"portMappings": true}}]});
    let conf_file = conf.join("10-bench.conflist");
    std::fs::write(&conf_file, conflist.to_string())
        .map_err(|e| format!("{}: {e}", conf_file.display()))?;
    let config = format!(
        "[network]\nconf_dir = \"{}\"\nbin_dirs = [\"/usr/lib/cni\", \"/opt/cni/bin\"]\n",
        conf.display()
    );
    let (daemon, client) = Berthd::start(&on.berthd, dir, &config).await?;
    let daemon_idle = rss_kib(daemon.pid());

    // Sequential: one pod at a time, as the kubelet's first pod sees it.
    let mut client_ms = vec![Samples::default(); RPCS.len()];
    for i in 0..pods {
        let t = Instant::now();
        let pod = Pod::run_with(&client, config_of(i)).await?;
        client_ms[0].0.push(ms(t));
        let t = Instant::now();
        pod.stop().await?;
        client_ms[1].0.push(ms(t));
        let t = Instant::now();
        pod.remove().await?;
        client_ms[2].0.push(ms(t));
    }

    let mut running = Vec::new();
    for i in 0..pods {
        running.push(Pod::run_with(&client, config_of(i)).await?);
    }
    let (mut infra_rss, mut infra_pss) = (Samples::default(), Samples::default());
    let (mut mon_rss, mut mon_pss) = (Samples::default(), Samples::default());
    for pod in &running {
        let infra = infra_pid(&client, &pod.id).await?;
        infra_rss.0.push(rss_kib(infra) as f64);
        infra_pss.0.push(pss_kib(infra) as f64);
        if let Some(monitor) = berth_monitor(&pod.id) {
            mon_rss.0.push(rss_kib(monitor) as f64);
            mon_pss.0.push(pss_kib(monitor) as f64);
        }
    }
    let daemon_loaded = rss_kib(daemon.pid());
    for pod in &running {
        pod.destroy().await?;
    }
    drop((running, client));
    let mut server_ms = daemon.stop(&RPCS).await?;
    // The bridge outlives the pods; the next run makes it again.
    let _ = std::process::Command::new("ip")
        .args(["link", "del", bridge])
        .stderr(Stdio::null())
        .status();

    println!("pods: {pods}, sequential, median ms (server-side / client-side)");
    for (i, rpc) in RPCS.iter().enumerate() {
        // The pods of the memory step were run and removed too: not timed.
        server_ms[i].0.truncate(pods);
        println!("{rpc:>18}: {}", both(&server_ms[i], &client_ms[i]));
    }
    println!(
        "infra (berth-pause) per pod: RSS {:.0} KiB, PSS {:.0} KiB",
        infra_rss.upper_median(),
        infra_pss.upper_median()
    );
    if !mon_rss.0.is_empty() {
        println!(
            "monitor per pod:             RSS {:.0} KiB, PSS {:.0} KiB",
            mon_rss.upper_median(),
            mon_pss.upper_median()
        );
    }
    println!(
        "berthd RSS: idle {:.1} MiB, with {pods} pods {:.1} MiB",
        daemon_idle as f64 / 1024.0,
        daemon_loaded as f64 / 1024.0
    );
    Ok(())
}

/// Pod `bench<i>`, on the pod network, with default namespaces.
fn config_of(i: usize) -> cri::PodSandboxConfig {
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

/// The PID of pod `id`'s infra process, from berthd's verbose PodSandboxStatus.
async fn infra_pid(client: &berth_cri_client::CriClient, id: &str) -> Result<i32, Failure> {
    let status = client
        .clone()
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_owned(),
            verbose: true,
        })
        .await
        .map_err(failed("PodSandboxStatus"))?
        .into_inner();
    let info = status
        .info
        .get("info")
        .ok_or_else(|| format!("pod {id}: no verbose info"))?;
    serde_json::from_str::<serde_json::Value>(info)
        .ok()
        .and_then(|v| v["pid"].as_i64())
        .map(|pid| pid as i32)
        .ok_or_else(|| format!("pod {id}: no pid in {info}"))
}
