//! Container lifecycle: Create, Start, Stop and Remove of a `sleep` container in a pod with
//! its own PID namespace. `sleep` as PID 1 ignores SIGTERM, so Stop is asked with timeout 0
//! (the kill path); the SIGTERM path is the stop-latency scenario.

use std::time::Instant;

use super::{Figures, ms};
use crate::target::{Failure, Pod, Target};

/// One container's life (the pod around it is not timed).
pub async fn round(t: &Target) -> Result<Figures, Failure> {
    let pod = Pod::run(t).await?;
    let result = timed(t, &pod).await;
    pod.destroy().await?;
    result
}

async fn timed(t: &Target, pod: &Pod) -> Result<Figures, Failure> {
    let start = Instant::now();
    let id = pod
        .create(t.container_config("sleep", "exec sleep 1000000"))
        .await?;
    let create = ms(start);
    let start = Instant::now();
    pod.start(&id).await?;
    let started = ms(start);
    let start = Instant::now();
    pod.stop_container(&id, 0).await?;
    let stop = ms(start);
    let start = Instant::now();
    pod.remove_container(&id).await?;
    Ok(vec![
        ("CreateContainer", create),
        ("StartContainer", started),
        ("StopContainer (timeout 0)", stop),
        ("RemoveContainer", ms(start)),
    ])
}
