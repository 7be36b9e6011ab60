//! Cold start: RunPodSandbox, CreateContainer, StartContainer, until the process runs; its
//! end is the first log line of `echo ready` appearing in the CRI log file.

use std::time::{Duration, Instant};

use super::{Figures, ms};
use crate::target::{Failure, Pod, Target, wait_for_text};

/// One pod and container from nothing to a running process.
pub async fn round(t: &Target) -> Result<Figures, Failure> {
    let start = Instant::now();
    let pod = Pod::run(t).await?;
    let result = async {
        let id = pod
            .create(t.container_config("ready", "echo ready; exec sleep 1000000"))
            .await?;
        pod.start(&id).await?;
        wait_for_text(&pod.log_path("ready"), "ready", Duration::from_secs(30)).await?;
        Ok(vec![("pod and container up", ms(start))])
    }
    .await;
    pod.destroy().await?;
    result
}
