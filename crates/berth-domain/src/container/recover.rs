//! Start-up recovery of containers: every record comes out of it in a state that matches the
//! node. A create that berthd did not finish is undone (nothing of it is left), a removal it
//! did not finish is finished, a start whose answer it never saw is recorded if the monitor
//! says it ran, and a container whose pod is gone is removed. Running containers need
//! nothing here: their exit watchers, started with the service, reconnect to the monitors
//! or read the exit files left while berthd was down.

use std::collections::HashSet;

use berth_monitor::Request;
use berth_store::{ContainerRecord, ContainerState};

use super::{ContainerService, blocking};
use crate::{Error, monitor};

/// What recovery did to the containers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Records read.
    pub records: usize,
    /// Creates undone.
    pub undone: usize,
    /// Removals finished (pod gone included).
    pub removed: usize,
    /// Starts recorded after the fact.
    pub started: usize,
}

impl ContainerService {
    /// Brings every container record in line with the node; see the module doc.
    pub async fn recover(&self) -> Result<Recovered, Error> {
        let s = &self.shared;
        let store = s.store.clone();
        let records: Vec<ContainerRecord> =
            blocking("reading container records", move || Ok(store.load_all()?)).await?;
        let mut done = Recovered {
            records: records.len(),
            ..Default::default()
        };
        for record in records {
            let id = record.id.clone();
            // One object's failure is logged and left for Stop/Remove; it never keeps berthd
            // from serving the rest.
            if let Err(e) = self.recover_one(record, &mut done).await {
                tracing::warn!(container_id = %id, error = %e, "recovery of the container failed");
            }
        }
        Ok(done)
    }

    async fn recover_one(
        &self,
        record: ContainerRecord,
        done: &mut Recovered,
    ) -> Result<(), Error> {
        let s = &self.shared;
        let id = record.id.clone();
        let pod_gone = s.load_sandbox(&record.sandbox_id).await?.is_none();
        match record.state {
            ContainerState::Creating => {
                tracing::info!(container_id = %id, "undoing a create berthd did not finish");
                s.destroy(&record, false).await?;
                s.forget(&record).await?;
                done.undone += 1;
            }
            ContainerState::Removing => {
                tracing::info!(container_id = %id, "finishing a removal berthd did not finish");
                self.remove(&id).await?;
                done.removed += 1;
            }
            _ if pod_gone => {
                tracing::warn!(container_id = %id, pod_id = %record.sandbox_id, "the container's pod is gone; removing it");
                self.remove(&id).await?;
                done.removed += 1;
            }
            ContainerState::Created if self.record_lost_start(&id).await? => {
                done.started += 1;
            }
            _ => {}
        }
        Ok(())
    }

    /// A created container whose monitor ran `start` (berthd died before it recorded it) is
    /// recorded as running; the start time is the recovery's, the closest known.
    async fn record_lost_start(&self, id: &str) -> Result<bool, Error> {
        let s = &self.shared;
        let dir = s.monitor_dir(id);
        let started = blocking("asking a monitor", move || {
            Ok(
                monitor::ask(&dir, &Request::Status, monitor::MONITOR_TIMEOUT)
                    .map(|status| status.started)
                    .unwrap_or(false),
            )
        })
        .await?;
        if !started {
            return Ok(false);
        }
        let Some(live) = s.live(id) else {
            return Ok(false);
        };
        let _guard = live.lock.lock().await;
        let Some(mut record) = s.load(id).await? else {
            return Ok(false);
        };
        if !record.is_created() {
            return Ok(false);
        }
        record.state = ContainerState::Running;
        record.started_at_ns = crate::clock::now_ns();
        s.save(&record).await?;
        tracing::info!(container_id = %id, "recorded a start berthd did not see finish");
        Ok(true)
    }

    /// Removes what no record names (after `recover`, so every record is settled): runtime
    /// containers under berth's runtime roots, container directories (their root unmounted
    /// first) and monitor directories. `pods` are the sandbox IDs, whose infra containers and
    /// monitors share those places. Returns how many things went.
    pub async fn sweep_orphans(&self, pods: &HashSet<String>) -> Result<usize, Error> {
        let s = &self.shared;
        let known: HashSet<String> = s
            .live
            .lock()
            .expect("live containers")
            .keys()
            .cloned()
            .chain(pods.iter().cloned())
            .collect();
        let mut swept = 0;
        let handlers: Vec<String> = s
            .handlers
            .all()
            .iter()
            .filter(|(_, h)| h.binary.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        for handler in handlers {
            let runtime = s.runtime(&handler)?;
            let ids = match runtime.list().await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(handler, error = %e, "cannot list the runtime's containers");
                    continue;
                }
            };
            for id in ids.into_iter().filter(|id| !known.contains(id)) {
                tracing::warn!(handler, container_id = %id, "deleting a runtime container no record names");
                if let Err(e) = runtime.delete(&id, true).await {
                    tracing::warn!(container_id = %id, error = %e, "cannot delete an orphaned runtime container");
                }
                swept += 1;
            }
        }
        let layout = s.layout.clone();
        swept += blocking("sweeping orphaned directories", move || {
            let mut swept = 0;
            for (parent, is_container) in [(layout.containers(), true), (layout.monitors(), false)] {
                let Ok(entries) = std::fs::read_dir(parent) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if known.contains(&name) {
                        continue;
                    }
                    let dir = entry.path();
                    tracing::warn!(dir = %dir.display(), "removing a directory no record names");
                    if is_container {
                        let _ = berth_image::rootfs::unmount(&layout.container_rootfs(&name));
                    } else if !monitor::wait_monitor_gone(&dir, ORPHAN_MONITOR_WAIT) {
                        tracing::warn!(dir = %dir.display(), "an orphaned monitor did not leave");
                    }
                    if let Err(e) = std::fs::remove_dir_all(&dir) {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove an orphaned directory");
                    }
                    swept += 1;
                }
            }
            Ok(swept)
        })
        .await?;
        Ok(swept)
    }
}

/// How long the sweep waits for the monitor of a deleted orphan to leave.
const ORPHAN_MONITOR_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
