//! `RemovePodSandbox`, as docs/lifecycle.md says: unknown IDs succeed; a running sandbox is
//! stopped first; it enters TERMINATING (no container may be created in it from then on);
//! a network namespace still pinned refuses the removal; then its directories go, its record
//! is deleted and its name released.

use berth_cni::netns;
use berth_store::{SandboxRecord, SandboxState, sandbox_name};

use super::{SandboxService, blocking};
use crate::Error;
use crate::events::LifecycleKind;

impl SandboxService {
    /// Removes a sandbox; idempotent.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        let id = match self.resolve(id) {
            Ok(id) => id,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let lock = self.lock(&id);
        let _guard = lock.lock().await;
        let Some(mut record) = self.load(&id).await? else {
            return Ok(());
        };
        if !record.is_stopped() {
            record.state = SandboxState::Terminating;
            self.save(&record).await?;
            self.stop_containers(&id).await?;
            self.teardown(&record).await?;
        }
        self.remove_containers(&id).await?;
        record.state = SandboxState::Terminating;
        self.save(&record).await?;
        if !record.network.netns.is_empty()
            && netns::is_pinned(std::path::Path::new(&record.network.netns))
        {
            return Err(Error::NetnsNotClosed {
                id,
                path: record.network.netns.clone(),
            });
        }
        self.forget(&record).await?;
        self.context.events.pod(&record.id, LifecycleKind::Deleted);
        tracing::info!(pod_id = %record.id, "sandbox removed");
        Ok(())
    }

    /// Releases the sandbox's cgroup parent if berth made it, deletes the sandbox's
    /// directories and record and releases its name and ID.
    pub(super) async fn forget(&self, record: &SandboxRecord) -> Result<(), Error> {
        if record.network.made_cgroup_parent
            && let Some(parent) = self.cgroup_parent(&record.network.cgroup_parent)
        {
            let id = record.id.clone();
            // Left behind, it is a leak berth warns of, not a reason to keep the pod.
            blocking("releasing a cgroup parent", move || {
                if let Err(e) = parent.release() {
                    tracing::warn!(pod_id = %id, error = %e, "cannot release the pod's cgroup parent");
                }
                Ok(())
            })
            .await?;
        }
        let dirs = [self.dir(&record.id), self.monitor_dir(&record.id)];
        let id = record.id.clone();
        blocking("removing sandbox files", move || {
            for dir in dirs {
                match std::fs::remove_dir_all(&dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        let cause = format!("{}: {e}", dir.display());
                        return Err(Error::sandbox(&id, "remove its directory", cause));
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .await?;
        let store = self.context.store.clone();
        let rid = record.id.clone();
        blocking("deleting a sandbox record", move || {
            Ok(store.delete::<SandboxRecord>(&rid).map(drop)?)
        })
        .await?;
        {
            let mut indexes = self.context.indexes.lock().expect("indexes");
            indexes.names.release(&sandbox_name(&record.metadata));
            indexes.sandboxes.remove(&record.id);
        }
        self.forget_lock(&record.id);
        Ok(())
    }
}
