//! `ListPodSandbox`.

use std::collections::BTreeMap;

use berth_store::SandboxRecord;

use super::{SandboxService, SandboxStatus, blocking};
use crate::Error;

/// Which sandboxes `list` returns; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct SandboxFilter {
    /// Full ID or prefix.
    pub id: Option<String>,
    /// Only ready (true) or only not ready (false).
    pub ready: Option<bool>,
    /// Labels that must all match.
    pub labels: BTreeMap<String, String>,
}

impl SandboxService {
    /// Sandboxes matching `filter`, oldest first.
    pub async fn list(&self, filter: SandboxFilter) -> Result<Vec<SandboxStatus>, Error> {
        let store = self.store.clone();
        let all: Vec<SandboxRecord> =
            blocking("listing sandboxes", move || Ok(store.load_all()?)).await?;
        let mut out: Vec<SandboxStatus> = all
            .into_iter()
            .filter(|r| {
                filter
                    .id
                    .as_ref()
                    .is_none_or(|id| r.id.starts_with(id.as_str()))
            })
            .filter(|r| {
                filter
                    .labels
                    .iter()
                    .all(|(k, v)| r.labels.get(k) == Some(v))
            })
            .map(|record| {
                let ready = self.is_ready(&record);
                SandboxStatus {
                    record,
                    ready,
                    info: None,
                }
            })
            .filter(|s| filter.ready.is_none_or(|want| want == s.ready))
            .collect();
        out.sort_by_key(|s| s.record.created_at_ns);
        Ok(out)
    }
}
