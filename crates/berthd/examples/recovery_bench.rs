//! Recovery benchmark: how long a restarted berthd takes to be ready (RPCs no longer
//! `Unavailable`) with 50 and with 200 running containers (2 per pod), and the recovery step
//! alone as berthd logs it. Recovery reads every record and reconnects every monitor once, so
//! the time should grow linearly with the count.
//!
//! Run: `bench/recovery.sh` (builds berthd, berth-pause and berth-monitor in release; pushes
//! a busybox image to a registry on loopback). Root.

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::time::Instant;

use bench_common::Berthd;
use berth_cri_client::{CriClient, cri};

/// Runs pods `from..to`, each with two `sleep` containers.
async fn fill(client: &mut CriClient, image: &str, from: usize, to: usize) {
    for i in from..to {
        let config = bench_common::host_network_pod(&format!("recover-{i}"));
        let pod = client
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .expect("run pod")
            .into_inner()
            .pod_sandbox_id;
        for c in 0..2 {
            let id = client
                .runtime
                .create_container(cri::CreateContainerRequest {
                    pod_sandbox_id: pod.clone(),
                    config: Some(cri::ContainerConfig {
                        metadata: Some(cri::ContainerMetadata {
                            name: format!("c{c}"),
                            attempt: 0,
                        }),
                        image: Some(cri::ImageSpec {
                            image: image.to_owned(),
                            ..Default::default()
                        }),
                        command: vec!["sleep".into(), "100000".into()],
                        ..Default::default()
                    }),
                    sandbox_config: Some(config.clone()),
                })
                .await
                .expect("create")
                .into_inner()
                .container_id;
            client
                .runtime
                .start_container(cri::StartContainerRequest { container_id: id })
                .await
                .expect("start");
        }
    }
}

/// The `elapsed_ms` of berthd's "records recovered" line.
fn recovery_ms(log: &str) -> f64 {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "records recovered")
        .and_then(|l| l["elapsed_ms"].as_f64())
        .unwrap_or(f64::NAN)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (_registry, reference, config) = bench_common::busybox_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, mut client) = Berthd::start(dir.path(), &config).await;
    bench_common::pull(&mut client, &reference).await;
    println!("| running containers | restart to ready (ms) | recovery step (ms) |");
    println!("|---:|---:|---:|");
    let mut pods = 0;
    for target_pods in [25, 100] {
        fill(&mut client, &reference, pods, target_pods).await;
        pods = target_pods;
        daemon.stop(&[]);
        let t = Instant::now();
        let (next, next_client) = Berthd::start(dir.path(), &config).await;
        let ready = t.elapsed().as_secs_f64() * 1e3;
        let log = std::fs::read_to_string(&next.log_path).unwrap_or_default();
        println!("| {} | {ready:.0} | {:.0} |", pods * 2, recovery_ms(&log));
        (daemon, client) = (next, next_client);
    }
    let listed = client
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .expect("list")
        .into_inner()
        .items;
    for pod in listed {
        client
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await
            .expect("stop pod");
        client
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod.id,
            })
            .await
            .expect("remove pod");
    }
    daemon.stop(&[]);
}
