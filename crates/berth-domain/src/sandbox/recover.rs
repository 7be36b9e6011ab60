//! Start-up recovery of sandboxes: a RunPodSandbox berthd did not finish is undone (the same
//! teardown a failed run uses), a RemovePodSandbox it did not finish is finished, and a pod
//! directory no record names is torn down (CNI DEL from the cache, netns unpinned, `/dev/shm`
//! unmounted) and removed. A stop that was cut short needs nothing: its record still says
//! ready, Status judges the infra, and the kubelet's next Stop runs the idempotent teardown.

use std::collections::HashSet;

use berth_store::{PodMetadata, SandboxNetwork, SandboxRecord, SandboxState};

use super::{SandboxService, blocking};
use crate::Error;

/// What recovery did to the sandboxes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Records read.
    pub records: usize,
    /// Runs undone.
    pub undone: usize,
    /// Removals finished.
    pub removed: usize,
    /// Pod directories no record named, torn down.
    pub orphans: usize,
}

impl SandboxService {
    /// Brings every sandbox record in line with the node; see the module doc. Runs after
    /// the containers' recovery (a pod's removal removes its containers).
    pub async fn recover(&self) -> Result<Recovered, Error> {
        let records: Vec<SandboxRecord> = self.context.load_all().await?;
        let mut done = Recovered {
            records: records.len(),
            ..Default::default()
        };
        for record in records {
            let id = record.id.clone();
            // One pod's failure is logged and left for Stop/Remove; it never keeps berthd from
            // serving the rest.
            let result = match record.state {
                SandboxState::Creating => {
                    tracing::info!(pod_id = %id, "undoing a run berthd did not finish");
                    done.undone += 1;
                    self.undo_run(&record).await
                }
                SandboxState::Terminating => {
                    tracing::info!(pod_id = %id, "finishing a removal berthd did not finish");
                    done.removed += 1;
                    self.remove(&id).await
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(pod_id = %id, error = %e, "recovery of the pod failed");
            }
        }
        done.orphans = self.sweep_orphans().await?;
        Ok(done)
    }

    async fn undo_run(&self, record: &SandboxRecord) -> Result<(), Error> {
        let lock = self.lock(&record.id);
        let _guard = lock.lock().await;
        self.teardown(record).await?;
        self.forget(record).await
    }

    /// The IDs of every sandbox record.
    pub fn known_ids(&self) -> HashSet<String> {
        self.context
            .indexes
            .lock()
            .expect("indexes")
            .sandboxes
            .iter()
            .map(str::to_owned)
            .collect()
    }

    /// Tears down and removes pod directories that no record names.
    async fn sweep_orphans(&self) -> Result<usize, Error> {
        let known = self.known_ids();
        let Ok(entries) = std::fs::read_dir(self.context.layout.sandboxes()) else {
            return Ok(0);
        };
        let mut swept = 0;
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if known.contains(&id) {
                continue;
            }
            tracing::warn!(pod_id = %id, "tearing down a pod directory no record names");
            let netns = self.context.layout.sandbox_netns(&id);
            let record = SandboxRecord {
                id: id.clone(),
                network: SandboxNetwork {
                    netns: if netns.exists() {
                        netns.display().to_string()
                    } else {
                        String::new()
                    },
                    ..Default::default()
                },
                metadata: PodMetadata {
                    name: String::new(),
                    uid: String::new(),
                    namespace: String::new(),
                    attempt: 0,
                },
                state: SandboxState::NotReady,
                created_at_ns: 0,
                runtime_handler: String::new(),
                labels: Default::default(),
                annotations: Default::default(),
            };
            if let Err(e) = self.teardown(&record).await {
                tracing::warn!(pod_id = %id, error = %e, "orphan teardown was incomplete");
            }
            let (dir, pod) = (entry.path(), id.clone());
            let removed = blocking("removing an orphaned pod directory", move || {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| Error::sandbox(&pod, "remove its orphaned directory", e))
            })
            .await;
            if let Err(e) = removed {
                tracing::warn!(pod_id = %id, error = %e, "cannot remove an orphaned pod directory");
            }
            swept += 1;
        }
        Ok(swept)
    }
}
