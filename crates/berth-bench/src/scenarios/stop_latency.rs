//! Stop latency: a container that exits on SIGTERM; the time from the StopContainer call to
//! its return, and how long after the process's recorded exit (`finished_at`) it returned.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_cri_client::cri;

use super::{Figures, TERM_RESPONSIVE, ms};
use crate::target::{Failure, Pod, Target, failed};

/// One stop of a SIGTERM-responsive container.
pub async fn round(t: &Target) -> Result<Figures, Failure> {
    let pod = Pod::run(t).await?;
    let result = timed(t, &pod).await;
    pod.destroy().await?;
    result
}

async fn timed(t: &Target, pod: &Pod) -> Result<Figures, Failure> {
    let id = pod
        .create(t.container_config("polite", TERM_RESPONSIVE))
        .await?;
    pod.start(&id).await?;
    // Let the shell install its trap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    pod.stop_container(&id, 30).await?;
    let stop = ms(start);
    let returned_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let status = t
        .client
        .clone()
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id,
            verbose: false,
        })
        .await
        .map_err(failed("ContainerStatus"))?
        .into_inner()
        .status
        .ok_or("ContainerStatus without a status")?;
    let after_exit = (returned_ns - status.finished_at) as f64 / 1e6;
    Ok(vec![
        ("StopContainer (SIGTERM)", stop),
        ("return after the exit", after_exit),
    ])
}
