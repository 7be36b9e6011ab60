//! Memory: the daemon's RSS idle and with 10 and 50 pods (one running container each), and
//! the RSS of the per-pod helper processes (monitors, shims, pause), found by the runtime's
//! helper pattern, as RSS and as PSS (which divides shared pages among their users).
//!
//! "Idle" is after [`QUIET`] without a call, the daemon's own housekeeping done (berth trims
//! its memory every 10 s, Go's runtime returns the heap it freed): once before the first pod
//! (after a pull and the scenarios before this one), once with the 50 pods running. There the
//! daemon's RSS is split into PSS and its anonymous part (heap, stacks), the rest being pages
//! of its binary and libraries.

use std::time::Duration;

use super::Figures;
use crate::procs::{anon_kib, helpers_memory, pss_kib, rss_kib};
use crate::target::{Failure, Pod, Target};

const STEPS: [usize; 2] = [10, 50];

/// How long a daemon is left without calls before its idle memory is read.
const QUIET: Duration = Duration::from_secs(12);

/// One measurement of a runtime.
pub async fn round(t: &Target) -> Result<Figures, Failure> {
    let daemon = t
        .daemon
        .ok_or_else(|| format!("no process found listening on {}", t.socket.display()))?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let base = helpers_memory(&t.helpers);
    tokio::time::sleep(QUIET).await;
    let mut figures = vec![
        ("daemon RSS idle (MiB)", mib(rss_kib(daemon))),
        ("daemon PSS idle (MiB)", mib(pss_kib(daemon))),
        ("daemon anonymous idle (MiB)", mib(anon_kib(daemon))),
    ];
    let mut pods = Vec::new();
    let mut result = Ok(());
    for (step, names) in STEPS.iter().zip([
        [
            "daemon RSS, 10 pods (MiB)",
            "helper RSS per pod, 10 pods (KiB)",
            "helper PSS per pod, 10 pods (KiB)",
            "helper private memory per pod, 10 pods (KiB)",
        ],
        [
            "daemon RSS, 50 pods (MiB)",
            "helper RSS per pod, 50 pods (KiB)",
            "helper PSS per pod, 50 pods (KiB)",
            "helper private memory per pod, 50 pods (KiB)",
        ],
    ]) {
        while pods.len() < *step {
            match start_pod(t).await {
                Ok(pod) => pods.push(pod),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_err() {
            break;
        }
        // Let the helpers settle after their start-up.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = helpers_memory(&t.helpers);
        let per_pod = |now: u64, base: u64| now.saturating_sub(base) as f64 / *step as f64;
        figures.push((names[0], mib(rss_kib(daemon))));
        figures.push((names[1], per_pod(now.rss, base.rss)));
        figures.push((names[2], per_pod(now.pss, base.pss)));
        figures.push((names[3], per_pod(now.private, base.private)));
    }
    if result.is_ok() {
        tokio::time::sleep(QUIET).await;
        figures.extend([
            ("daemon RSS idle, 50 pods (MiB)", mib(rss_kib(daemon))),
            ("daemon PSS idle, 50 pods (MiB)", mib(pss_kib(daemon))),
            (
                "daemon anonymous idle, 50 pods (MiB)",
                mib(anon_kib(daemon)),
            ),
        ]);
    }
    for pod in pods {
        pod.destroy().await?;
    }
    result.map(|()| figures)
}

async fn start_pod(t: &Target) -> Result<Pod, Failure> {
    let pod = Pod::run(t).await?;
    let id = pod
        .create(t.container_config("app", "exec sleep 1000000"))
        .await?;
    pod.start(&id).await?;
    Ok(pod)
}
