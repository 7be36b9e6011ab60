//! Container benchmark: CreateContainer, StartContainer, StopContainer (a container that
//! exits on SIGTERM) and RemoveContainer, 20 rounds in one pod, timed server-side (berthd's
//! own per-call log line) and client-side; then the RSS and PSS of the monitor per container
//! with 20 containers running.
//!
//! Run: `bench/containers.sh` (builds berthd, berth-pause and berth-monitor in release; pushes
//! a busybox image to a registry on loopback). Root.

#[path = "bench_common/mod.rs"]
mod bench_common;

use std::time::Instant;

use bench_common::{Berthd, median, monitor_pid, pss_kib, rss_kib};
use berth_cri_client::{CriClient, cri};

const ROUNDS: usize = 20;
const RPCS: [&str; 4] = [
    "CreateContainer",
    "StartContainer",
    "StopContainer",
    "RemoveContainer",
];

fn container(image: &str, i: usize) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: format!("c{i}"),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.to_owned(),
            ..Default::default()
        }),
        // Exits at once on SIGTERM: `wait` is interrupted by the trap.
        command: vec![
            "sh".into(),
            "-c".into(),
            "trap 'exit 0' TERM; sleep 1000 & wait".into(),
        ],
        // Its own PID namespace, as the kubelet asks by default.
        linux: Some(cri::LinuxContainerConfig {
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
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

async fn create(client: &mut CriClient, pod: &str, config: cri::ContainerConfig) -> String {
    client
        .runtime
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.to_owned(),
            config: Some(config),
            sandbox_config: Some(bench_common::host_network_pod("bench")),
        })
        .await
        .expect("create")
        .into_inner()
        .container_id
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (_registry, reference, config) = bench_common::busybox_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, mut client) = Berthd::start(dir.path(), &config).await;
    bench_common::pull(&mut client, &reference).await;
    let pod = client
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(bench_common::host_network_pod("bench")),
            runtime_handler: String::new(),
        })
        .await
        .expect("run pod")
        .into_inner()
        .pod_sandbox_id;

    let mut client_ms = vec![Vec::new(); RPCS.len()];
    let mut lap = |slot: usize, t: Instant| client_ms[slot].push(t.elapsed().as_secs_f64() * 1e3);
    for i in 0..ROUNDS {
        let t = Instant::now();
        let id = create(&mut client, &pod, container(&reference, i)).await;
        lap(0, t);
        let t = Instant::now();
        client
            .runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .expect("start");
        lap(1, t);
        // Let the shell set its trap.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let t = Instant::now();
        client
            .runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.clone(),
                timeout: 10,
            })
            .await
            .expect("stop");
        lap(2, t);
        let t = Instant::now();
        client
            .runtime
            .remove_container(cri::RemoveContainerRequest { container_id: id })
            .await
            .expect("remove");
        lap(3, t);
    }

    // Memory with 20 containers running.
    let idle = rss_kib(daemon.pid());
    let mut ids = Vec::new();
    for i in 0..ROUNDS {
        let id = create(&mut client, &pod, container(&reference, 100 + i)).await;
        client
            .runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .expect("start");
        ids.push(id);
    }
    let (mut rss, mut pss) = (Vec::new(), Vec::new());
    for id in &ids {
        if let Some(pid) = monitor_pid(id) {
            rss.push(rss_kib(pid) as f64);
            pss.push(pss_kib(pid) as f64);
        }
    }
    let loaded = rss_kib(daemon.pid());
    client
        .runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .expect("stop pod");
    client
        .runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await
        .expect("remove pod");
    drop(client);
    let server_ms = daemon.stop(&RPCS);

    println!("containers: {ROUNDS} rounds, sequential, median ms (server-side / client-side)");
    for (i, rpc) in RPCS.iter().enumerate() {
        let server = server_ms[i]
            .iter()
            .take(ROUNDS)
            .cloned()
            .collect::<Vec<_>>();
        println!(
            "{rpc:>16}: {:6.1} / {:6.1}",
            median(server),
            median(client_ms[i].clone())
        );
    }
    println!(
        "monitor per container ({} running): RSS {:.0} KiB, PSS {:.0} KiB",
        rss.len(),
        median(rss),
        median(pss)
    );
    println!(
        "berthd RSS: {:.1} MiB before, {:.1} MiB with {ROUNDS} containers",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0
    );
}
