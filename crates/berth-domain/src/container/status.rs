//! `ContainerStatus`: the record, and with `verbose` the PID and the OCI spec.

use berth_store::ContainerRecord;

use super::ContainerService;
use crate::Error;

/// A container's status.
#[derive(Debug, Clone)]
pub struct ContainerStatus {
    /// The record.
    pub record: ContainerRecord,
    /// Verbose information: `{"pid": …, "runtimeSpec": {…}}`.
    pub info: Option<serde_json::Value>,
}

impl ContainerService {
    /// The status of a container.
    pub async fn status(&self, id: &str, verbose: bool) -> Result<ContainerStatus, Error> {
        let id = self.resolve(id)?;
        let record = self.shared.get(&id).await?;
        let info = if verbose {
            let spec = std::fs::read(self.shared.layout.container_spec(&id))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .unwrap_or(serde_json::Value::Null);
            Some(serde_json::json!({
                "state": record.state,
                "pid": record.pid,
                "runtimeHandler": record.runtime_handler,
                "stopSignal": record.stop_signal,
                "runtimeSpec": spec,
            }))
        } else {
            None
        };
        Ok(ContainerStatus { record, info })
    }
}
