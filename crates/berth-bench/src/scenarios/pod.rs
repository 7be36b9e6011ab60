//! Pod lifecycle: RunPodSandbox, StopPodSandbox and RemovePodSandbox, each timed.

use std::time::Instant;

use super::{Figures, ms};
use crate::target::{Failure, Pod, Target};

/// One pod's life.
pub async fn round(t: &Target) -> Result<Figures, Failure> {
    let start = Instant::now();
    let pod = Pod::run(t).await?;
    let run = ms(start);
    let start = Instant::now();
    pod.stop().await?;
    let stop = ms(start);
    let start = Instant::now();
    pod.remove().await?;
    Ok(vec![
        ("RunPodSandbox", run),
        ("StopPodSandbox", stop),
        ("RemovePodSandbox", ms(start)),
    ])
}
