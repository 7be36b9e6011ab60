//! Containers: CreateContainer, StartContainer, StopContainer (a container that exits on
//! SIGTERM) and RemoveContainer, one container after another in one host-network pod, timed
//! server-side (berthd's own log line per call) and client-side; then the RSS and PSS of
//! the monitor per container, and berthd's RSS, with as many containers running.

use std::time::{Duration, Instant};

use super::berthd::Berthd;
use super::{On, both, busybox_registry, host_network_pod, pull};
use crate::procs::{berth_monitor, pss_kib, rss_kib};
use crate::scenarios::{TERM_RESPONSIVE, ms};
use crate::stats::Samples;
use crate::target::{Failure, Pod, sh_container};

/// The calls timed, in the order of their figures.
const RPCS: [&str; 4] = [
    "CreateContainer",
    "StartContainer",
    "StopContainer",
    "RemoveContainer",
];

/// Runs the benchmark with `rounds` containers and prints its figures.
pub async fn run(on: &On, rounds: usize) -> Result<(), Failure> {
    let (_registry, image, config) = busybox_registry().await;
    let work = on.work()?;
    let (daemon, client) = Berthd::start(&on.berthd, work.path(), &config).await?;
    pull(&client, &image).await?;
    let pod = Pod::run_with(&client, host_network_pod("bench")).await?;

    let mut client_ms = vec![Samples::default(); RPCS.len()];
    let mut lap = |slot: usize, t: Instant| client_ms[slot].0.push(ms(t));
    for i in 0..rounds {
        let t = Instant::now();
        let id = pod.create(container(&image, i)).await?;
        lap(0, t);
        let t = Instant::now();
        pod.start(&id).await?;
        lap(1, t);
        // Let the shell set its trap.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        pod.stop_container(&id, 10).await?;
        lap(2, t);
        let t = Instant::now();
        pod.remove_container(&id).await?;
        lap(3, t);
    }

    let idle = rss_kib(daemon.pid());
    let mut ids = Vec::new();
    for i in 0..rounds {
        let id = pod.create(container(&image, 100 + i)).await?;
        pod.start(&id).await?;
        ids.push(id);
    }
    let (mut rss, mut pss) = (Samples::default(), Samples::default());
    for pid in ids.iter().filter_map(|id| berth_monitor(id)) {
        rss.0.push(rss_kib(pid) as f64);
        pss.0.push(pss_kib(pid) as f64);
    }
    let loaded = rss_kib(daemon.pid());
    pod.destroy().await?;
    drop((pod, client));
    let mut server_ms = daemon.stop(&RPCS).await?;

    println!("containers: {rounds} rounds, sequential, median ms (server-side / client-side)");
    for (i, rpc) in RPCS.iter().enumerate() {
        // The containers of the memory step were made and started too: not timed.
        server_ms[i].0.truncate(rounds);
        println!("{rpc:>16}: {}", both(&server_ms[i], &client_ms[i]));
    }
    println!(
        "monitor per container ({} running): RSS {:.0} KiB, PSS {:.0} KiB",
        rss.0.len(),
        rss.upper_median(),
        pss.upper_median()
    );
    println!(
        "berthd RSS: {:.1} MiB before, {:.1} MiB with {rounds} containers",
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0
    );
    Ok(())
}

/// Container `c<i>`: a shell that exits at once on SIGTERM, in its own PID namespace as the
/// kubelet asks by default.
fn container(image: &str, i: usize) -> berth_cri_client::cri::ContainerConfig {
    sh_container(image, &format!("c{i}"), TERM_RESPONSIVE)
}
