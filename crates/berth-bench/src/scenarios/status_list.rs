//! Status, list and stats cost: ContainerStatus, ListContainers and ListContainerStats with
//! 100 containers present (10 pods of 10 running containers), made once per runtime; each
//! round times a ContainerStatus of every container, ten ListContainers and ten
//! ListContainerStats (every running container, as the kubelet asks), and reports the mean
//! per call. Once per runtime, `kubelet_loop` plays the kubelet's stats loop over the
//! fleet for a minute and reports the CPU the runtime's processes used meanwhile.

use std::time::{Duration, Instant};

use berth_cri_client::cri;

use super::{Figures, ms};
use crate::procs;
use crate::target::{Failure, Pod, Target, failed};

/// How often the kubelet's CRI stats provider asks (its housekeeping period).
const KUBELET_PERIOD: Duration = Duration::from_secs(10);
/// How long `kubelet_loop` plays it.
const KUBELET_LOOP: Duration = Duration::from_secs(60);

/// The pods and containers a runtime holds for this scenario.
pub struct Fleet {
    pods: Vec<Pod>,
    containers: Vec<String>,
}

/// Makes 10 pods of 10 running containers.
pub async fn setup(t: &Target) -> Result<Fleet, Failure> {
    let mut fleet = Fleet {
        pods: Vec::new(),
        containers: Vec::new(),
    };
    for _ in 0..10 {
        let pod = Pod::run(t).await?;
        for c in 0..10 {
            let id = pod
                .create(t.container_config(&format!("c{c}"), "exec sleep 1000000"))
                .await?;
            pod.start(&id).await?;
            fleet.containers.push(id);
        }
        fleet.pods.push(pod);
    }
    Ok(fleet)
}

/// One round of calls.
pub async fn round(t: &Target, fleet: &Fleet) -> Result<Figures, Failure> {
    let mut client = t.client.clone();
    let start = Instant::now();
    for id in &fleet.containers {
        client
            .runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id.clone(),
                verbose: false,
            })
            .await
            .map_err(failed("ContainerStatus"))?;
    }
    let status = ms(start) / fleet.containers.len() as f64;
    let start = Instant::now();
    for _ in 0..10 {
        let listed = client
            .runtime
            .list_containers(cri::ListContainersRequest::default())
            .await
            .map_err(failed("ListContainers"))?
            .into_inner()
            .containers
            .len();
        if listed < fleet.containers.len() {
            return Err(format!(
                "ListContainers returned {listed} of {} containers",
                fleet.containers.len()
            ));
        }
    }
    let list = ms(start) / 10.0;
    let start = Instant::now();
    for _ in 0..10 {
        let stats = list_container_stats(&mut client).await?;
        if stats < fleet.containers.len() {
            return Err(format!(
                "ListContainerStats returned {stats} of {} containers",
                fleet.containers.len()
            ));
        }
    }
    Ok(vec![
        ("ContainerStatus (100 present)", status),
        ("ListContainers (100 present)", list),
        ("ListContainerStats (100 running)", ms(start) / 10.0),
    ])
}

async fn list_container_stats(client: &mut berth_cri_client::CriClient) -> Result<usize, Failure> {
    let answer = client
        .runtime
        .list_container_stats(cri::ListContainerStatsRequest::default())
        .await
        .map_err(failed("ListContainerStats"))?;
    Ok(answer.into_inner().stats.len())
}

/// The kubelet's stats loop over the fleet for `KUBELET_LOOP`: every `KUBELET_PERIOD`,
/// ListContainerStats, ListPodSandbox, ListContainers and ImageFsInfo (what
/// `cri_stats_provider.go` asks). Reports the CPU the daemon and its helpers used meanwhile,
/// in percent of one core (background work such as a stats sampler included), and the
/// daemon's share.
pub async fn kubelet_loop(t: &Target) -> Result<Figures, Failure> {
    let used = || {
        let daemon = t.daemon.map_or(0, procs::cpu_ticks);
        let helpers = procs::matching(&t.helpers);
        (
            daemon,
            helpers.into_iter().map(procs::cpu_ticks).sum::<u64>(),
        )
    };
    let mut client = t.client.clone();
    let before = used();
    let start = Instant::now();
    let mut ticks = tokio::time::interval(KUBELET_PERIOD);
    while start.elapsed() < KUBELET_LOOP {
        ticks.tick().await;
        list_container_stats(&mut client).await?;
        client
            .runtime
            .list_pod_sandbox(cri::ListPodSandboxRequest::default())
            .await
            .map_err(failed("ListPodSandbox"))?;
        client
            .runtime
            .list_containers(cri::ListContainersRequest::default())
            .await
            .map_err(failed("ListContainers"))?;
        client
            .image
            .image_fs_info(cri::ImageFsInfoRequest {})
            .await
            .map_err(failed("ImageFsInfo"))?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = used();
    let percent = |ticks: u64| 100.0 * ticks as f64 / procs::ticks_per_second() / elapsed;
    let daemon = percent(after.0.saturating_sub(before.0));
    let helpers = percent(after.1.saturating_sub(before.1));
    Ok(vec![
        (
            "CPU in the kubelet's stats loop, 100 running (% of a core)",
            daemon + helpers,
        ),
        ("… of which the daemon (% of a core)", daemon),
    ])
}

/// Removes the fleet.
pub async fn teardown(fleet: Fleet) -> Result<(), Failure> {
    for pod in fleet.pods {
        pod.destroy().await?;
    }
    Ok(())
}
