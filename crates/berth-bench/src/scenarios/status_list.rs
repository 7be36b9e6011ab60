//! Status and list cost: ContainerStatus and ListContainers with 100 containers present
//! (10 pods of 10 running containers), made once per runtime; each round times a
//! ContainerStatus of every container and ten ListContainers, and reports the mean per call.

use std::time::Instant;

use berth_cri_client::cri;

use super::{Figures, ms};
use crate::target::{Failure, Pod, Target, failed};

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
    Ok(vec![
        ("ContainerStatus (100 present)", status),
        ("ListContainers (100 present)", ms(start) / 10.0),
    ])
}

/// Removes the fleet.
pub async fn teardown(fleet: Fleet) -> Result<(), Failure> {
    for pod in fleet.pods {
        pod.destroy().await?;
    }
    Ok(())
}
