//! `StopPodSandbox`, as docs/lifecycle.md says: kill the infra process and wait for its exit
//! (a pod without one has its IPC and UTS namespaces unpinned instead), tear down the network
//! (CNI DEL, then unpin the namespace; a namespace already gone is fine), unmount `/dev/shm`. Every step tolerates "already done". The pod's containers are
//! stopped first, all at once, with timeout 0 (the kubelet already gave them their grace).

use std::path::Path;
use std::time::Duration;

use berth_cni::netns;
use berth_store::{SandboxRecord, SandboxState};
use rustix::io::Errno;

use super::run::loopback_list;
use super::{InfraRef, SandboxService, blocking, namespaces};
use crate::Error;
use crate::events::LifecycleKind;

/// How long Stop waits for the infra's exit after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl SandboxService {
    /// Stops a sandbox. Idempotent: an unknown ID, or one removed meanwhile, succeeds with
    /// nothing done; a stopped sandbox succeeds at once.
    pub async fn stop(&self, id: &str) -> Result<(), Error> {
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
        self.stop_containers(&id).await?;
        if record.is_stopped() {
            return Ok(());
        }
        self.teardown(&record).await?;
        if !record.is_terminating() {
            record.state = SandboxState::NotReady;
        }
        self.save(&record).await?;
        self.context.events.pod(&id, LifecycleKind::Stopped);
        tracing::info!(pod_id = %id, "sandbox stopped");
        Ok(())
    }

    /// Undoes everything a run may have built, in reverse; idempotent. Every step runs even
    /// when an earlier one failed (so a failure leaves as little as possible); the first
    /// error is returned. Used by Stop, Remove and a failed Run.
    pub(super) async fn teardown(&self, record: &SandboxRecord) -> Result<(), Error> {
        let id = record.id.clone();
        let mut first: Option<Error> = None;
        let mut note = |result: Result<(), Error>| {
            if let Err(e) = result {
                tracing::warn!(pod_id = %record.id, error = %e, "teardown step failed");
                first.get_or_insert(e);
            }
        };
        // A pod without infra pinned these. They go first, as an infra is killed first: from
        // here on its status says NOTREADY, so a stop cut short (berthd killed) is seen as
        // unfinished and the kubelet's next Stop finishes it. Unpinning is idempotent and a
        // crash may have left pins before the record said so: it is always done.
        let pins = [
            self.context.layout.sandbox_ipcns(&id),
            self.context.layout.sandbox_utsns(&id),
        ];
        let pod = id.clone();
        note(
            blocking("unpinning the pod's namespaces", move || {
                namespaces::remove(&pins)
                    .map_err(|e| Error::sandbox(&pod, "remove the pod's namespaces", e))
            })
            .await,
        );
        // The infra is killed first, so that a Stop cut short never leaves a pod whose infra
        // lives without its network (Status would call it ready). Then waiting for its exit
        // and the network going down run side by side: CNI DEL does not need the infra gone
        // (the namespace is pinned), and neither waits for the other's commands.
        let infra = InfraRef {
            id: id.clone(),
            handler: record.runtime_handler.clone(),
            pid: record.network.infra_pid,
        };
        let has_infra = !record.network.pinned_namespaces;
        if has_infra {
            self.controller.kill(&infra).await;
        }
        let infra_down = async {
            if !has_infra {
                return [Ok(()), Ok(())];
            }
            let stopped = self.controller.await_exit(&infra, KILL_WAIT).await;
            [stopped, self.controller.shutdown(&infra).await]
        };
        let (infra_results, network_results) = tokio::join!(infra_down, self.network_down(record));
        for result in infra_results.into_iter().chain(network_results) {
            note(result);
        }
        // /dev/shm.
        let shm = self.context.layout.sandbox_shm(&id);
        note(
            match rustix::mount::unmount(&shm, rustix::mount::UnmountFlags::DETACH) {
                Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(Error::sandbox(&id, "unmount /dev/shm", e)),
            },
        );
        first.map_or(Ok(()), Err)
    }

    /// CNI DEL of the pod's interfaces (both at once), then the pinned namespace goes; each
    /// step's result, for the caller to note. Nothing to do for a pod on the host network.
    async fn network_down(&self, record: &SandboxRecord) -> Vec<Result<(), Error>> {
        if record.network.netns.is_empty() {
            // A host-network pod, or a run cut short between pinning its namespace and
            // recording it: no plugin ran (the network comes up after the record), but the
            // pin may exist, and would keep the sandbox directory busy for ever.
            let pin = self.context.layout.sandbox_netns(&record.id);
            return vec![unpin(&record.id, pin).await];
        }
        let fail = |step: &'static str| {
            let id = record.id.clone();
            move |cause: berth_cni::CniError| Error::sandbox(&id, step, cause)
        };
        let list = self
            .network_config()
            .unwrap_or_else(|_| berth_cni::builtin_default());
        let list =
            if record.network.cni_network.is_empty() || record.network.cni_network == list.name {
                list
            } else {
                berth_cni::ConfList {
                    name: record.network.cni_network.clone(),
                    ..list
                }
            };
        let (eth0, lo) = (
            self.attachment(record, "eth0"),
            self.attachment(record, "lo"),
        );
        let loopback = loopback_list();
        let (eth0, lo) = tokio::join!(
            self.invoker.del(&list, &eth0),
            self.invoker.del(&loopback, &lo)
        );
        let unpinned = unpin(&record.id, Path::new(&record.network.netns).to_owned()).await;
        vec![
            eth0.map_err(fail("CNI DEL")),
            lo.map_err(fail("CNI DEL of loopback")),
            unpinned,
        ]
    }
}

/// Unpins and deletes pod `id`'s network namespace at `pin`; done when it is not there.
async fn unpin(id: &str, pin: std::path::PathBuf) -> Result<(), Error> {
    let id = id.to_owned();
    blocking("unpinning the netns", move || {
        netns::remove_pinned(&pin)
            .map_err(|e| Error::sandbox(&id, "remove the network namespace", e))
    })
    .await
}
