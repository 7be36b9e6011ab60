//! `StartContainer`: only a CREATED container in a READY pod starts; the monitor runs the
//! runtime's `start`, and the record becomes RUNNING with its start time.

use berth_monitor::Request;
use berth_store::ContainerState;

use super::{ContainerService, blocking};
use crate::events::LifecycleKind;
use crate::{Error, monitor};

/// Deadline of the runtime's `start` through the monitor.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl ContainerService {
    /// Starts a created container.
    pub async fn start(&self, id: &str) -> Result<(), Error> {
        let id = self.resolve(id)?;
        let s = &self.shared;
        let pod_id = s.get(&id).await?.sandbox_id;
        let pod_lock = s.pod_locks.get(&pod_id);
        let _pod_guard = pod_lock.lock().await;
        match s.load_sandbox(&pod_id).await? {
            Some(pod) if pod.is_ready() => {}
            Some(pod) => {
                return Err(Error::FailedPrecondition(format!(
                    "container {id}: its sandbox {pod_id} is {:?}, not ready",
                    pod.state
                )));
            }
            None => {
                return Err(Error::FailedPrecondition(format!(
                    "container {id}: its sandbox {pod_id} is gone"
                )));
            }
        }
        let live = s.live(&id).ok_or_else(|| Error::NotFound {
            what: "container",
            id: id.clone(),
        })?;
        let _guard = live.lock.lock().await;
        let mut record = s.get(&id).await?;
        if !record.is_created() {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}: only a created container can be started",
                record.state
            )));
        }
        // Taken before the start: a short-lived process may be reaped before `start` returns,
        // and its finish time must not precede its start time.
        let started_at = crate::clock::now_ns();
        let dir = s.monitor_dir(&id);
        blocking("starting a container", move || {
            Ok(monitor::ask(&dir, &Request::Start, START_TIMEOUT))
        })
        .await?
        .map_err(|e| Error::container_runtime(&id, "start", e))?;
        record.state = ContainerState::Running;
        record.started_at_ns = started_at;
        s.save(&record).await?;
        s.events
            .container(&id, &record.sandbox_id, LifecycleKind::Started);
        tracing::info!(container_id = %id, pid = record.pid, "container started");
        Ok(())
    }
}
