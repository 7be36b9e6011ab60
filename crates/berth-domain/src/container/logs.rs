//! `ReopenContainerLog`: the kubelet renamed the log file; the monitor opens a new one.

use berth_monitor::Request;
use berth_store::ContainerState;

use super::{ContainerService, blocking};
use crate::{Error, monitor};

impl ContainerService {
    /// Makes the monitor reopen the container's log file. Only a running container has one
    /// open.
    pub async fn reopen_log(&self, id: &str) -> Result<(), Error> {
        let id = self.resolve(id)?;
        let record = self.shared.get(&id).await?;
        if record.state != ContainerState::Running {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}, not running: it has no log to reopen",
                record.state
            )));
        }
        let dir = self.shared.monitor_dir(&id);
        blocking("reopening a container log", move || {
            monitor::ask(
                &dir,
                &Request::ReopenLog,
                std::time::Duration::from_secs(10),
            )
            .map(drop)
            .map_err(Error::InvalidRequest)
        })
        .await
        .map_err(|e| Error::Container {
            id,
            step: "reopen the log",
            reason: e.to_string(),
        })
    }
}
