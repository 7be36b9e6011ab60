//! `ReopenContainerLog`: the kubelet renamed the log file; the monitor opens a new one.

use berth_monitor::Request;

use super::{ContainerService, blocking};
use crate::{Error, monitor};

impl ContainerService {
    /// Makes the monitor reopen the container's log file. Only a running container has one
    /// open.
    pub async fn reopen_log(&self, id: &str) -> Result<(), Error> {
        let id = self.resolve(id)?;
        let record = self.shared.get(&id).await?;
        if !record.is_running() {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}, not running: it has no log to reopen",
                record.state
            )));
        }
        let dir = self.shared.monitor_dir(&id);
        let (asked, asked_id) = (dir.clone(), id.clone());
        let result = blocking("reopening a container log", move || {
            monitor::ask(
                &asked,
                &Request::ReopenLog,
                std::time::Duration::from_secs(10),
            )
            .map(drop)
            .map_err(|e| Error::container(&asked_id, "reopen the log", e))
        })
        .await;
        result.map_err(|e| {
            // The container exited (and its monitor left) after the state check above.
            if !dir.exists() || self.shared.live(&id).is_none() {
                return Error::FailedPrecondition(format!(
                    "container {id} is no longer running: it has no log to reopen"
                ));
            }
            e
        })
    }
}
