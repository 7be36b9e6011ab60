//! `ListPodSandbox`.

use std::collections::BTreeMap;

use berth_store::SandboxRecord;

use super::{SandboxService, SandboxStatus};
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
        let all: Vec<SandboxRecord> = self.context.load_all().await?;
        let matching = all
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
            .map(|record| async move {
                let ready = self.is_ready(&record).await;
                SandboxStatus {
                    record,
                    ready,
                    info: None,
                }
            });
        // Every ready pod's monitor is asked at once: one slow monitor delays the list by
        // its own answer, not by the sum of all.
        let mut out: Vec<SandboxStatus> = futures_util::future::join_all(matching)
            .await
            .into_iter()
            .filter(|s| filter.ready.is_none_or(|want| want == s.ready))
            .collect();
        out.sort_by_key(|s| s.record.created_at_ns);
        Ok(out)
    }
}
