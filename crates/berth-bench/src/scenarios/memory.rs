//! Memory: the daemon's RSS idle and with 10 and 50 pods (one running container each), and
//! the RSS of the per-pod helper processes (monitors, shims, pause), found by the runtime's
//! helper pattern, as RSS and as PSS (which divides shared pages among their users).

use super::Figures;
use crate::procs::{helpers_memory, rss_kib};
use crate::target::{Failure, Pod, Target};

const STEPS: [usize; 2] = [10, 50];

/// One measurement of a runtime.
pub async fn round(t: &Target) -> Result<Figures, Failure> {
    let daemon = t
        .daemon
        .ok_or_else(|| format!("no process found listening on {}", t.socket.display()))?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let base = helpers_memory(&t.helpers);
    let mut figures = vec![("daemon RSS idle (MiB)", mib(rss_kib(daemon)))];
    let mut pods = Vec::new();
    let mut result = Ok(());
    for (step, names) in STEPS.iter().zip([
        [
            "daemon RSS, 10 pods (MiB)",
            "helper RSS per pod, 10 pods (KiB)",
            "helper PSS per pod, 10 pods (KiB)",
        ],
        [
            "daemon RSS, 50 pods (MiB)",
            "helper RSS per pod, 50 pods (KiB)",
            "helper PSS per pod, 50 pods (KiB)",
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
