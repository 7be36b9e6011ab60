//! `StopPodSandbox`, as LIFECYCLE.md says: kill the infra process and wait for its exit,
//! tear down the network (CNI DEL, then unpin the namespace; a namespace already gone is
//! fine), unmount `/dev/shm`. Every step tolerates "already done". The pod's containers are
//! stopped first, all at once, with timeout 0 (the kubelet already gave them their grace).

use std::path::Path;
use std::time::Duration;

use berth_cni::netns;
use berth_store::{SandboxRecord, SandboxState};

use super::run::loopback_list;
use super::{InfraRef, SandboxController, SandboxService, blocking};
use crate::Error;

/// How long Stop waits for the infra's exit after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl SandboxService {
    /// Stops a sandbox. Unknown IDs are `NotFound`; a stopped sandbox succeeds at once.
    pub async fn stop(&self, id: &str) -> Result<(), Error> {
        let id = self.resolve(id)?;
        let lock = self.lock(&id);
        let _guard = lock.lock().await;
        let Some(mut record) = self.load(&id).await? else {
            return Err(crate::Error::Lookup(berth_store::LookupError::NotFound {
                prefix: id,
            }));
        };
        self.stop_containers(&id).await?;
        if record.state == SandboxState::NotReady {
            return Ok(());
        }
        self.teardown(&record).await?;
        if record.state != SandboxState::Terminating {
            record.state = SandboxState::NotReady;
        }
        self.save(&record).await?;
        tracing::info!(pod_id = %id, "sandbox stopped");
        Ok(())
    }

    /// Undoes everything a run may have built, in reverse; idempotent. Every step runs even
    /// when an earlier one failed (so a failure leaves as little as possible); the first
    /// error is returned. Used by Stop, Remove and a failed Run.
    pub(super) async fn teardown(&self, record: &SandboxRecord) -> Result<(), Error> {
        let id = record.id.clone();
        let dir = self.dir(&id);
        let fail = |step: &'static str, reason: String| Error::Sandbox {
            id: id.clone(),
            step,
            reason,
        };
        let mut first: Option<Error> = None;
        let mut note = |result: Result<(), Error>| {
            if let Err(e) = result {
                tracing::warn!(pod_id = %record.id, error = %e, "teardown step failed");
                first.get_or_insert(e);
            }
        };
        // The infra process.
        let infra = InfraRef {
            id: id.clone(),
            handler: record.runtime_handler.clone(),
            pid: record.network.infra_pid,
        };
        note(self.controller.stop(&infra, KILL_WAIT).await);
        note(self.controller.shutdown(&infra).await);
        // The network.
        if !record.network.netns.is_empty() {
            let list = self
                .network_config()
                .unwrap_or_else(|_| berth_cni::builtin_default());
            let list = if record.network.cni_network.is_empty()
                || record.network.cni_network == list.name
            {
                list
            } else {
                berth_cni::ConfList {
                    name: record.network.cni_network.clone(),
                    ..list
                }
            };
            note(
                self.invoker
                    .del(&list, &self.attachment(record, "eth0"))
                    .await
                    .map_err(|e| fail("CNI DEL", e.to_string())),
            );
            note(
                self.invoker
                    .del(&loopback_list(), &self.attachment(record, "lo"))
                    .await
                    .map_err(|e| fail("CNI DEL of loopback", e.to_string())),
            );
            let pin = Path::new(&record.network.netns).to_owned();
            let unpinned = blocking("unpinning the netns", move || {
                netns::remove_pinned(&pin).map_err(|e| Error::InvalidRequest(e.to_string()))
            })
            .await;
            note(unpinned.map_err(|e| fail("remove the network namespace", e.to_string())));
        }
        // /dev/shm.
        let shm = dir.join("shm");
        note(
            match rustix::mount::unmount(&shm, rustix::mount::UnmountFlags::DETACH) {
                Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
                Err(e) => Err(fail("unmount /dev/shm", format!("{}: {e}", shm.display()))),
            },
        );
        first.map_or(Ok(()), Err)
    }
}
