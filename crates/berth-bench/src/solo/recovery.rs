//! Recovery: how long a restarted berthd takes to be ready (RPCs no longer `Unavailable`)
//! with 2 running containers per pod, at each pod count asked for, and the recovery step
//! alone as berthd logs it. Recovery reads every record and reconnects every monitor once,
//! so the time should grow linearly with the count.

use std::time::Instant;

use berth_cri_client::{CriClient, cri};

use super::berthd::Berthd;
use super::{On, busybox_registry, host_network_pod, pull};
use crate::scenarios::ms;
use crate::target::{Failure, Pod, failed, image_spec};

/// Runs the benchmark, restarting berthd once `pods[i]` pods run, and prints a table row
/// per restart.
pub async fn run(on: &On, pods: &[usize]) -> Result<(), Failure> {
    let (_registry, image, config) = busybox_registry().await;
    let work = on.work()?;
    let (mut daemon, mut client) = Berthd::start(&on.berthd, work.path(), &config).await?;
    pull(&client, &image).await?;
    println!("| running containers | restart to ready (ms) | recovery step (ms) |");
    println!("|---:|---:|---:|");
    let mut running = 0;
    for &count in pods {
        fill(&client, &image, running..count).await?;
        running = running.max(count);
        daemon.stop(&[]).await?;
        let t = Instant::now();
        (daemon, client) = Berthd::start(&on.berthd, work.path(), &config).await?;
        let ready = ms(t);
        println!(
            "| {} | {ready:.0} | {:.0} |",
            running * 2,
            recovery_ms(&daemon)
        );
    }
    remove_all(&client).await?;
    drop(client);
    daemon.stop(&[]).await?;
    Ok(())
}

/// Runs pods `recover-<i>` for `i` in `range`, each with two `sleep` containers.
async fn fill(
    client: &CriClient,
    image: &str,
    range: std::ops::Range<usize>,
) -> Result<(), Failure> {
    for i in range {
        let pod = Pod::run_with(client, host_network_pod(&format!("recover-{i}"))).await?;
        for c in 0..2 {
            let id = pod
                .create(cri::ContainerConfig {
                    metadata: Some(cri::ContainerMetadata {
                        name: format!("c{c}"),
                        attempt: 0,
                    }),
                    image: Some(image_spec(image)),
                    command: vec!["sleep".into(), "100000".into()],
                    ..Default::default()
                })
                .await?;
            pod.start(&id).await?;
        }
    }
    Ok(())
}

/// The `elapsed_ms` of berthd's "records recovered" line.
fn recovery_ms(daemon: &Berthd) -> f64 {
    daemon
        .log()
        .iter()
        .find(|l| l["message"] == "records recovered")
        .and_then(|l| l["elapsed_ms"].as_f64())
        .unwrap_or(f64::NAN)
}

/// Stops and removes every pod berthd holds (the pods were made through an earlier
/// berthd's connection).
async fn remove_all(client: &CriClient) -> Result<(), Failure> {
    let mut client = client.clone();
    let listed = client
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .map_err(failed("ListPodSandbox"))?
        .into_inner()
        .items;
    for pod in listed {
        client
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await
            .map_err(failed("StopPodSandbox"))?;
        client
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod.id,
            })
            .await
            .map_err(failed("RemovePodSandbox"))?;
    }
    Ok(())
}
