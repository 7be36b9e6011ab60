//! `RemoveContainer`: unknown IDs succeed; a running container is killed first (timeout 0);
//! the record is marked REMOVING (intent), then the runtime's container is deleted, the root
//! file system unmounted, the directories removed, the record deleted and the name released.

use std::time::Duration;

use berth_store::{ContainerRecord, ContainerState};

use super::{ContainerService, Shared, blocking};
use crate::events::LifecycleKind;
use crate::{Error, monitor};

/// How long removal waits for a killed container's monitor to leave.
const MONITOR_EXIT_WAIT: Duration = Duration::from_secs(5);

impl ContainerService {
    /// Removes a container; idempotent.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        let id = match self.resolve(id) {
            Ok(id) => id,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        self.stop_resolved(&id, 0)
            .await
            .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })?;
        let s = &self.shared;
        let Some(live) = s.live(&id) else {
            return Ok(());
        };
        let _guard = live.lock.lock().await;
        let Some(mut record) = s.load(&id).await? else {
            return Ok(());
        };
        if !record.is_removing() {
            record.state = ContainerState::Removing;
            s.save(&record).await?;
        }
        let released = live.released.load(std::sync::atomic::Ordering::Acquire);
        s.destroy(&record, released).await?;
        s.forget(&record).await?;
        s.events
            .container(&id, &record.sandbox_id, LifecycleKind::Deleted);
        tracing::info!(container_id = %id, "container removed");
        Ok(())
    }
}

impl Shared {
    /// Deletes the runtime's container (killing a created one), waits for its monitor to
    /// leave, unmounts the root file system and removes the directories. Idempotent.
    /// `released`: the exit path already deleted the runtime's container, so no runtime
    /// command is needed.
    pub(super) async fn destroy(
        &self,
        record: &ContainerRecord,
        released: bool,
    ) -> Result<(), Error> {
        let id = record.id.clone();
        let fail = |step: &'static str| {
            let id = id.clone();
            move |cause: crate::Cause| Error::container(&id, step, cause)
        };
        if !released {
            self.runtime(&record.runtime_handler)?
                .delete(&id, true)
                .await
                .map_err(|e| fail("delete the runtime's container")(e.into()))?;
        }
        let (monitor_dir, dir, rootfs) = (self.monitor_dir(&id), self.dir(&id), self.rootfs(&id));
        let cid = id.clone();
        blocking("removing container files", move || {
            if !monitor::wait_monitor_gone(&monitor_dir, MONITOR_EXIT_WAIT) {
                tracing::warn!(container_id = %cid, "the monitor did not leave after the container was deleted");
            }
            berth_image::rootfs::unmount(&rootfs)
                .map_err(|e| Error::container(&cid, "unmount the root file system", e))?;
            for d in [&dir, &monitor_dir] {
                match std::fs::remove_dir_all(d) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        let cause = format!("{}: {e}", d.display());
                        return Err(Error::container(&cid, "remove its files", cause));
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .await
    }

    /// Deletes the record, releases the name and ID, and drops the in-memory state (which
    /// aborts the exit watcher and releases the image lease).
    pub(super) async fn forget(&self, record: &ContainerRecord) -> Result<(), Error> {
        let store = self.store.clone();
        let id = record.id.clone();
        blocking("deleting a container record", move || {
            Ok(store.delete::<ContainerRecord>(&id).map(drop)?)
        })
        .await?;
        {
            let mut indexes = self.indexes.lock().expect("indexes");
            indexes.names.release_by_key(&record.id);
            indexes.containers.remove(&record.id);
        }
        let live = self
            .live
            .lock()
            .expect("live containers")
            .remove(&record.id);
        let Some(live) = live else {
            return Ok(());
        };
        live.stopped.send_replace(true);
        if let Some(task) = live.watcher.lock().expect("watcher").take() {
            task.abort();
        }
        let chains = live.chains.clone();
        // Callers may still hold the entry: release the lease itself.
        drop(live.lease.lock().expect("lease").take());
        // Its image may have been removed while it existed: its layers go now.
        if let Err(e) = self.images.collect_layers(&chains).await {
            tracing::warn!(container_id = %record.id, error = %e, "cannot collect unused layers");
        }
        Ok(())
    }
}
