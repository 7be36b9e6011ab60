//! `StopContainer`, as docs/lifecycle.md says: the stop signal once and a wait bounded by the
//! timeout, then SIGKILL to every process of the container's cgroup, then SIGKILL to the init
//! alone; each wait is on the "stopped" signal the exit path raises, never a poll of the
//! process. No lock is held while waiting, so Status and ExecSync answer during a long stop.

use std::time::Duration;

use tokio::sync::watch;

use super::ContainerService;
use crate::{Error, monitor};

/// How long to wait for the exit after each SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

impl ContainerService {
    /// Stops a container within `timeout` seconds (0: kill at once). Idempotent: an unknown
    /// ID succeeds with nothing done (the CRI says Stop must not fail once the container is
    /// gone; the kubelet retries Stop after a Remove it did not see answered).
    pub async fn stop(&self, id: &str, timeout: i64) -> Result<(), Error> {
        let id = match self.resolve(id) {
            Ok(id) => id,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        self.stop_resolved(&id, timeout).await
    }

    pub(super) async fn stop_resolved(&self, id: &str, timeout: i64) -> Result<(), Error> {
        let s = &self.shared;
        let record = s.get(id).await?;
        if record.is_unknown() {
            // No monitor reports on it: kill whatever is left through the runtime, once.
            signal(
                &s.runtime(&record.runtime_handler)?,
                id,
                libc::SIGKILL,
                true,
            )
            .await;
            return Ok(());
        }
        if !record.is_running() {
            return Ok(());
        }
        let Some(live) = s.live(id) else {
            return Ok(());
        };
        let mut stopped = live.stopped.subscribe();
        drop(live);
        if *stopped.borrow() {
            return Ok(());
        }
        let runtime = s.runtime(&record.runtime_handler)?;
        if timeout > 0 {
            // The stop signal goes to the init alone: through the monitor's pidfd, which
            // costs no runtime command; through the runtime if the monitor cannot.
            if let Err(e) = monitor::signal(&s.monitor_dir(id), record.stop_signal).await {
                tracing::debug!(container_id = %id, error = %e, "monitor signal; using the runtime");
                signal(&runtime, id, record.stop_signal, false).await;
            }
            if wait(&mut stopped, Duration::from_secs(timeout as u64)).await {
                return Ok(());
            }
            tracing::info!(container_id = %id, timeout, "grace period over; killing");
        }
        signal(&runtime, id, libc::SIGKILL, true).await;
        if wait(&mut stopped, KILL_WAIT).await {
            return Ok(());
        }
        // The cgroup may have lost track of the init: kill it alone. Its PID cannot have been
        // reused: the monitor, its parent, has not reaped it (no exit is recorded).
        if let Some(pid) = rustix::process::Pid::from_raw(record.pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        if wait(&mut stopped, KILL_WAIT).await {
            return Ok(());
        }
        let still = format!(
            "still running {}s after SIGKILL (PID {})",
            2 * KILL_WAIT.as_secs(),
            record.pid
        );
        Err(Error::container(id, "stop", still))
    }
}

/// Sends a signal through the runtime; a container already gone is fine (its exit is on its
/// way through the exit path).
async fn signal(runtime: &berth_oci::Runtime, id: &str, signal: i32, all: bool) {
    if let Err(e) = runtime.kill(id, signal, all).await {
        tracing::debug!(container_id = %id, signal, error = %e, "kill");
    }
}

/// Waits at most `limit` for the stopped signal; true once it is raised.
async fn wait(stopped: &mut watch::Receiver<bool>, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, stopped.wait_for(|s| *s)).await,
        Ok(Ok(_))
    )
}
