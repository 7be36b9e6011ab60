//! `PodSandboxStatus`.

use berth_store::{SandboxRecord, SandboxState};

use super::SandboxService;
use crate::Error;
use crate::monitor as infra;

/// A sandbox as `PodSandboxStatus` reports it.
#[derive(Debug, Clone)]
pub struct SandboxStatus {
    /// The record.
    pub record: SandboxRecord,
    /// READY only while the infra process runs.
    pub ready: bool,
    /// Verbose details as JSON, when asked.
    pub info: Option<serde_json::Value>,
}

impl SandboxService {
    /// The sandbox's status; `NotFound` for unknown IDs.
    pub async fn status(&self, id: &str, verbose: bool) -> Result<SandboxStatus, Error> {
        let id = self.resolve(id)?;
        let Some(record) = self.load(&id).await? else {
            return Err(Error::Lookup(berth_store::LookupError::NotFound {
                prefix: id,
            }));
        };
        let ready = self.is_ready(&record);
        let info = verbose.then(|| {
            let dir = self.dir(&id);
            let spec: serde_json::Value = std::fs::read(dir.join("bundle/config.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let cni_result = berth_cni::cached_result(
                &self.cni_cache_dir(),
                &record.network.cni_network,
                &id,
                "eth0",
            )
            .unwrap_or_default();
            serde_json::json!({
                "state": record.state,
                "pid": record.network.infra_pid,
                "cniResult": cni_result,
                "netns": record.network.netns,
                "ips": record.network.ips,
                "cniNetwork": record.network.cni_network,
                "runtimeHandler": record.runtime_handler,
                "exit": infra::exit(&self.monitor_dir(&id)),
                "runtimeSpec": spec,
            })
        });
        Ok(SandboxStatus {
            record,
            ready,
            info,
        })
    }

    /// Ready in the store and its infra process alive.
    pub(super) fn is_ready(&self, record: &SandboxRecord) -> bool {
        record.state == SandboxState::Ready
            && infra::alive(&self.monitor_dir(&record.id), record.network.infra_pid)
    }
}
