//! The pod sandbox domain: one file per verb (`run`, `status`, `list`, `stop`, `remove`,
//! `recover`, `port_forward`, `stats`), over the pure rules (`files`), the infra spec (`spec`), the controller
//! that drives the infra process (`controller`), and the namespaces a pod without infra pins
//! (`namespaces`).
//!
//! A sandbox's files (`berth_config::StateLayout`): under `<state>/sandboxes/<id>/`, `netns`
//! (the pinned network namespace), `ipcns` and `utsns` (a pod without infra), `hostname`,
//! `hosts`, `resolv.conf`, `shm/` (a 64 MiB tmpfs), `bundle/` (`config.json` and an empty
//! `rootfs/`, a pod with infra); the infra's monitor in `<state>/m/<id>/`.

mod cgroup_parent;
mod controller;
pub mod files;
mod list;
mod namespaces;
mod port_forward;
mod recover;
mod remove;
mod run;
mod spec;
mod stats;
mod status;
mod stop;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_store::SandboxRecord;

use crate::Error;
use crate::container::ContainerService;
use crate::context::Context;
use crate::shared::NamespaceMode;
pub(crate) use crate::task::blocking;

pub use crate::request::{DnsConfig, PortMapping, SandboxRequest};
pub(crate) use cgroup_parent::pod_cgroup_path;
pub use controller::{InfraController, InfraRef, InfraStatus};
pub use list::SandboxFilter;
pub use port_forward::PortError;
pub use recover::Recovered;
pub use stats::SandboxStats;
pub use status::SandboxStatus;

/// Where the node's cgroup file systems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// How long one CNI plugin may run.
const CNI_TIMEOUT: Duration = Duration::from_secs(60);

/// Pod sandboxes.
pub struct SandboxService {
    context: Arc<Context>,
    controller: InfraController,
    invoker: berth_cni::Invoker,
    /// The pods' containers, stopped and removed with their pod.
    containers: Arc<ContainerService>,
}

impl SandboxService {
    /// Over the domain's context; stops and removes `containers` with their pods.
    pub(crate) fn new(context: Arc<Context>, containers: Arc<ContainerService>) -> Self {
        let invoker = berth_cni::Invoker::new(
            context.config.network.bin_dirs.clone(),
            context.layout.cni_results(),
            CNI_TIMEOUT,
        );
        Self {
            controller: InfraController::new(context.clone()),
            context,
            invoker,
            containers,
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.context.layout.sandbox_dir(id)
    }

    fn monitor_dir(&self, id: &str) -> PathBuf {
        self.context.layout.monitor_dir(id)
    }

    /// Where a pod's cgroup parent lives on this node; `None` without one.
    fn cgroup_parent(&self, parent: &str) -> Option<cgroup_parent::PodCgroupParent> {
        cgroup_parent::PodCgroupParent::locate(
            self.context.cgroup_driver,
            parent,
            std::path::Path::new(CGROUP_ROOT),
        )
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.context.pod_locks.get(id)
    }

    fn forget_lock(&self, id: &str) {
        self.context.pod_locks.forget(id);
    }

    /// Full ID from a full ID or unique prefix.
    fn resolve(&self, id: &str) -> Result<String, Error> {
        self.context
            .indexes
            .lock()
            .expect("indexes")
            .sandboxes
            .resolve(id)
            .map_err(|e| Error::lookup("sandbox", e))
    }

    /// Stops every container of the pod at once, in parallel (the kubelet already gave them
    /// their grace period; containerd uses timeout 0 too).
    async fn stop_containers(&self, id: &str) -> Result<(), Error> {
        self.each_container(id, |c, cid| async move { c.stop(&cid, 0).await })
            .await
    }

    /// Removes every container of the pod, in parallel.
    async fn remove_containers(&self, id: &str) -> Result<(), Error> {
        self.each_container(id, |c, cid| async move { c.remove(&cid).await })
            .await
    }

    async fn each_container<F, Fut>(&self, id: &str, verb: F) -> Result<(), Error>
    where
        F: Fn(Arc<ContainerService>, String) -> Fut,
        Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
    {
        let mut tasks = tokio::task::JoinSet::new();
        for cid in self.containers.in_sandbox(id).await? {
            tasks.spawn(verb(self.containers.clone(), cid));
        }
        let mut first = None;
        while let Some(done) = tasks.join_next().await {
            let result = done.map_err(|source| Error::Task {
                what: "a container of the pod",
                source,
            });
            if let Err(e) = result.and_then(|r| r) {
                tracing::warn!(pod_id = %id, error = %e, "a container of the pod failed to stop or go");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    async fn load(&self, id: &str) -> Result<Option<SandboxRecord>, Error> {
        self.context.load(id).await
    }

    async fn save(&self, record: &SandboxRecord) -> Result<(), Error> {
        self.context.save(record).await
    }
}
