//! `PodSandboxStatus`.

use berth_store::SandboxRecord;

use super::{InfraRef, SandboxService, blocking, namespaces};
use crate::Error;

/// A sandbox as `PodSandboxStatus` reports it.
#[derive(Debug, Clone)]
pub struct SandboxStatus {
    /// The record.
    pub record: SandboxRecord,
    /// READY only while the infra process runs (a pod without one: until it is stopped).
    pub ready: bool,
    /// Verbose details as JSON, when asked.
    pub info: Option<serde_json::Value>,
}

impl SandboxService {
    /// The sandbox's status; `NotFound` for unknown IDs.
    pub async fn status(&self, id: &str, verbose: bool) -> Result<SandboxStatus, Error> {
        let id = self.resolve(id)?;
        let Some(record) = self.load(&id).await? else {
            return Err(Error::NotFound {
                what: "sandbox",
                id,
            });
        };
        let infra = self.controller.status(&infra_of(&record)).await;
        let ready = record.is_ready()
            && if record.network.pinned_namespaces {
                namespaces::alive(&self.context.layout, &record)
            } else {
                infra.running
            };
        let info = if verbose {
            let layout = self.context.layout.clone();
            let network = record.network.cni_network.clone();
            let (spec, cni_result) = blocking("reading the sandbox's files", move || {
                let spec: serde_json::Value = std::fs::read(layout.sandbox_spec(&id))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                let cni = berth_cni::cached_result(&layout.cni_results(), &network, &id, "eth0");
                Ok((spec, cni.unwrap_or_default()))
            })
            .await?;
            Some(serde_json::json!({
                "state": record.state,
                "pid": record.network.infra_pid,
                "infra": !record.network.pinned_namespaces,
                "cniResult": cni_result,
                "netns": record.network.netns,
                "ips": record.network.ips,
                "cniNetwork": record.network.cni_network,
                "runtimeHandler": record.runtime_handler,
                "exit": infra.exit,
                "runtimeSpec": spec,
            }))
        } else {
            None
        };
        Ok(SandboxStatus {
            record,
            ready,
            info,
        })
    }

    /// Ready in the store and its infra process alive (if it has one).
    pub(super) async fn is_ready(&self, record: &SandboxRecord) -> bool {
        record.is_ready()
            && if record.network.pinned_namespaces {
                namespaces::alive(&self.context.layout, record)
            } else {
                self.controller.status(&infra_of(record)).await.running
            }
    }
}

/// The infra process a record names.
pub(super) fn infra_of(record: &SandboxRecord) -> InfraRef {
    InfraRef {
        id: record.id.clone(),
        handler: record.runtime_handler.clone(),
        pid: record.network.infra_pid,
    }
}
