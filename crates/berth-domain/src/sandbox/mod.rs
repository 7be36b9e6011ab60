//! The pod sandbox domain: one file per verb (`run`, `status`, `list`, `stop`, `remove`),
//! over the pure rules (`files`, `limits`, `cgroup`), the infra spec (`spec`) and the
//! monitor that runs the infra process (`infra`).
//!
//! Layout per sandbox, under `<state>/sandboxes/<id>/`: `netns` (the pinned network
//! namespace), `hostname`, `hosts`, `resolv.conf`, `shm/` (a 64 MiB tmpfs), `bundle/`
//! (`config.json` and an empty `rootfs/`). The monitor's socket and exit file live in
//! `<state>/m/<id>/` (a Unix socket path must stay under 108 bytes).
//! The OCI runtime keeps its state under `<state>/runtime/<handler>/`.

pub mod cgroup;
mod controller;
pub mod files;
pub mod limits;
mod list;
mod recover;
mod remove;
mod run;
mod spec;
mod status;
mod stop;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_config::{CgroupDriver, Config};
use berth_store::{SandboxRecord, Store};

pub(crate) use crate::blocking;
use crate::container::ContainerService;
use crate::locks::KeyedLocks;
use crate::runtime::Handlers;
use crate::{Error, Indexes};

pub use controller::{InfraRef, InfraStatus, Platform, PodSandboxController, SandboxController};
pub use files::DnsConfig;
pub use list::SandboxFilter;
pub use recover::Recovered;
pub(crate) use run::new_id;
pub use status::SandboxStatus;

/// How long one CNI plugin may run.
const CNI_TIMEOUT: Duration = Duration::from_secs(60);

/// A namespace's sharing mode, from the CRI `NamespaceMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamespaceMode {
    /// The pod's own namespace.
    #[default]
    Pod,
    /// The container's own (PID only).
    Container,
    /// The node's.
    Node,
    /// Another container's (ephemeral containers).
    Target,
}

/// A hostPort mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Port in the pod.
    pub container_port: u16,
    /// Port on the node.
    pub host_port: u16,
    /// Host IP to bind; empty for all.
    pub host_ip: String,
}

/// What `RunPodSandbox` asks for, free of gRPC types.
#[derive(Debug, Clone, Default)]
pub struct SandboxRequest {
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Pod namespace.
    pub namespace: String,
    /// Attempt.
    pub attempt: u32,
    /// Hostname.
    pub hostname: String,
    /// Log directory.
    pub log_directory: String,
    /// DNS.
    pub dns: DnsConfig,
    /// hostPorts.
    pub port_mappings: Vec<PortMapping>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Cgroup parent.
    pub cgroup_parent: String,
    /// Sysctls.
    pub sysctls: BTreeMap<String, String>,
    /// Network namespace mode (Node = host network).
    pub network: NamespaceMode,
    /// PID namespace mode.
    pub pid: NamespaceMode,
    /// IPC namespace mode.
    pub ipc: NamespaceMode,
    /// RuntimeClass handler; empty for the default.
    pub runtime_handler: String,
}

/// The binaries berth runs besides the OCI runtime.
#[derive(Debug, Clone)]
pub struct Helpers {
    /// `berth-pause`.
    pub pause: PathBuf,
    /// `berth-monitor`.
    pub monitor: PathBuf,
}

impl Helpers {
    /// Next to the running `berthd`, else in `PATH`.
    pub fn locate() -> Self {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let find = |name: &str| {
            dir.as_ref()
                .map(|d| d.join(name))
                .filter(|p| p.exists())
                .or_else(|| berth_oci::resolve_binary(Path::new(name)))
                .unwrap_or_else(|| PathBuf::from(name))
        };
        Self {
            pause: find("berth-pause"),
            monitor: find("berth-monitor"),
        }
    }
}

/// Pod sandboxes.
pub struct SandboxService {
    config: Arc<Config>,
    store: Arc<Store>,
    indexes: Arc<Mutex<Indexes>>,
    handlers: Handlers,
    cgroup_driver: CgroupDriver,
    helpers: Helpers,
    controller: PodSandboxController,
    invoker: berth_cni::Invoker,
    /// One async lock per sandbox: verbs on one pod are serialised, pods run in parallel.
    locks: Arc<KeyedLocks>,
    /// The pods' containers, stopped and removed with their pod.
    containers: Arc<ContainerService>,
}

impl SandboxService {
    /// Over the store and indexes recovered at start.
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        indexes: Arc<Mutex<Indexes>>,
        handlers: Handlers,
        cgroup_driver: CgroupDriver,
        locks: Arc<KeyedLocks>,
        containers: Arc<ContainerService>,
    ) -> Self {
        let invoker = berth_cni::Invoker::new(
            config.network.bin_dirs.clone(),
            cni_cache_dir(&config),
            CNI_TIMEOUT,
        );
        let helpers = Helpers::locate();
        let controller =
            PodSandboxController::new(helpers.clone(), handlers.clone(), config.state.clone());
        Self {
            config,
            store,
            indexes,
            handlers,
            cgroup_driver,
            helpers,
            controller,
            invoker,
            locks,
            containers,
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.controller.dir(id)
    }

    fn cni_cache_dir(&self) -> PathBuf {
        cni_cache_dir(&self.config)
    }

    fn monitor_dir(&self, id: &str) -> PathBuf {
        self.controller.monitor_dir(id)
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.get(id)
    }

    fn forget_lock(&self, id: &str) {
        self.locks.forget(id);
    }

    /// Full ID from a full ID or unique prefix.
    fn resolve(&self, id: &str) -> Result<String, Error> {
        Ok(self
            .indexes
            .lock()
            .expect("indexes")
            .sandboxes
            .resolve(id)?)
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
            let result = done.map_err(|e| Error::Task {
                what: "a container of the pod",
                reason: e.to_string(),
            });
            if let Err(e) = result.and_then(|r| r) {
                tracing::warn!(pod_id = %id, error = %e, "a container of the pod failed to stop or go");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    async fn load(&self, id: &str) -> Result<Option<SandboxRecord>, Error> {
        crate::load_record(&self.store, id).await
    }

    async fn save(&self, record: &SandboxRecord) -> Result<(), Error> {
        crate::save_record(&self.store, record).await
    }
}

/// Where CNI results are cached for DEL.
fn cni_cache_dir(config: &Config) -> PathBuf {
    config.state.join("cni/results")
}
