//! The container service, one file per verb: `create`, `start`, `stop`, `remove`, `status`,
//! `list`, `update`, `exec` (ExecSync) and `logs` (ReopenContainerLog); `exit` is the exit
//! path every container's exit goes through. Pure rules live beside them: `process`
//! (command line, environment, user, capabilities), `spec` (the OCI spec), `seccomp`,
//! `signal`.
//!
//! Layout per container: `<state>/containers/<id>/` holds `bundle/` (`config.json`, and
//! `rootfs/`, the overlay mount), `upper/` and `work/` (the overlay's writable layers). The
//! monitor's socket and exit file live in `<state>/m/<id>/`.
//!
//! Concurrency: each container has a short-held async lock for record changes (never held
//! across a stop's grace period) and a "stopped" signal, a watch channel the exit path
//! raises once the exit is recorded; Stop and Remove wait on it.

mod accounts;
mod assemble;
mod create;
mod devices;
mod exec;
mod exit;
mod list;
mod logs;
mod mounts;
pub mod process;
mod recover;
mod remove;
pub mod seccomp;
pub mod signal;
pub mod spec;
mod start;
mod status;
mod stop;
mod update;

pub use recover::Recovered;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_config::{CgroupDriver, Config};
use berth_image::ImageStore;
use berth_oci::Runtime;
use berth_store::{
    ContainerRecord, ContainerState, LookupError, ResourcesRecord, SandboxRecord, Store,
};
use tokio::sync::watch;

pub(crate) use crate::blocking;
use crate::locks::KeyedLocks;
use crate::runtime::Handlers;
use crate::sandbox::{Helpers, NamespaceMode};
use crate::{Error, Indexes};

pub use exec::ExecOutput;
pub use process::{GroupsPolicy, UserRequest};
pub use seccomp::SeccompProfile;
pub use spec::Propagation;
pub use status::ContainerStatus;

/// Which containers `list` returns; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    /// Full ID or prefix.
    pub id: Option<String>,
    /// Sandbox full ID or prefix.
    pub sandbox_id: Option<String>,
    /// State.
    pub state: Option<ContainerState>,
    /// Labels that must all be present with these values.
    pub labels: BTreeMap<String, String>,
}

/// A bind mount asked for.
#[derive(Debug, Clone, Default)]
pub struct MountRequest {
    /// Path in the container.
    pub container_path: String,
    /// Path on the node.
    pub host_path: String,
    /// Read-only.
    pub readonly: bool,
    /// Read-only all the way down, submounts included (needs `readonly`, Private
    /// propagation and a handler that supports it).
    pub recursive_read_only: bool,
    /// Propagation.
    pub propagation: Propagation,
}

/// A device asked for.
#[derive(Debug, Clone, Default)]
pub struct DeviceRequest {
    /// Path in the container.
    pub container_path: String,
    /// Device node on the node.
    pub host_path: String,
    /// cgroup permissions, `rwm`.
    pub permissions: String,
}

/// The security context asked for.
#[derive(Debug, Clone, Default)]
pub struct SecurityRequest {
    /// Privileged.
    pub privileged: bool,
    /// Capabilities to add (`NET_ADMIN` or `CAP_NET_ADMIN`, or `ALL`).
    pub add_capabilities: Vec<String>,
    /// Capabilities to drop.
    pub drop_capabilities: Vec<String>,
    /// Read-only root file system.
    pub readonly_rootfs: bool,
    /// `no_new_privs`.
    pub no_new_privs: bool,
    /// Extra masked paths.
    pub masked_paths: Vec<String>,
    /// Extra read-only paths.
    pub readonly_paths: Vec<String>,
    /// User and groups.
    pub user: UserRequest,
    /// PID namespace mode.
    pub pid: NamespaceMode,
    /// With `pid` TARGET: the container whose PID namespace to join (ephemeral containers).
    pub pid_target: String,
    /// Seccomp.
    pub seccomp: Option<SeccompProfile>,
    /// An AppArmor profile was asked for.
    pub apparmor: Option<String>,
    /// SELinux options were given.
    pub selinux: bool,
}

/// What `CreateContainer` asks for, free of gRPC types.
#[derive(Debug, Clone, Default)]
pub struct ContainerRequest {
    /// The pod.
    pub sandbox_id: String,
    /// Container name.
    pub name: String,
    /// Attempt.
    pub attempt: u32,
    /// Image reference or ID.
    pub image: String,
    /// Entrypoint override.
    pub command: Vec<String>,
    /// Cmd override.
    pub args: Vec<String>,
    /// Working directory override.
    pub working_dir: String,
    /// Environment, in order.
    pub envs: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<MountRequest>,
    /// Devices.
    pub devices: Vec<DeviceRequest>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Log path relative to the pod's log directory.
    pub log_path: String,
    /// Allocate a terminal.
    pub tty: bool,
    /// Resources.
    pub resources: ResourcesRecord,
    /// Security.
    pub security: SecurityRequest,
    /// Sysctls.
    pub sysctls: BTreeMap<String, String>,
}

/// What the service keeps in memory per container: its lock and its "stopped" signal.
struct Live {
    /// Serialises record changes (create's end, start, the exit path, remove).
    lock: tokio::sync::Mutex<()>,
    /// `true` once the exit is recorded (or the container never ran and is gone).
    stopped: watch::Sender<bool>,
    /// Keeps the image's layers from garbage collection while the container exists; taken
    /// (released) when the container is removed.
    lease: Mutex<Option<berth_image::Leases>>,
    /// The leased layers' chain IDs, collected after the container goes if no image names
    /// them any more.
    chains: Vec<String>,
    /// The exit watcher's task; aborted when the container is removed.
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// `true` once the exit path has deleted the runtime's container and unmounted the root,
    /// so that Remove need not run the runtime again. Memory only: after a restart, Remove
    /// deletes (idempotently) once more.
    released: std::sync::atomic::AtomicBool,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(task) = self.watcher.lock().expect("watcher").take() {
            task.abort();
        }
    }
}

/// What the exit path and the verbs share.
struct Shared {
    config: Arc<Config>,
    store: Arc<Store>,
    indexes: Arc<Mutex<Indexes>>,
    images: Arc<ImageStore>,
    handlers: Handlers,
    cgroup_driver: CgroupDriver,
    helpers: Helpers,
    pod_locks: Arc<KeyedLocks>,
    live: Mutex<HashMap<String, Arc<Live>>>,
}

/// Containers.
pub struct ContainerService {
    shared: Arc<Shared>,
}

impl ContainerService {
    /// Over the store, the image store and the runtime handlers. Containers the store holds
    /// get their in-memory state back, and those that may still run get an exit watcher.
    pub fn new(
        config: Arc<Config>,
        store: Arc<Store>,
        indexes: Arc<Mutex<Indexes>>,
        images: Arc<ImageStore>,
        handlers: Handlers,
        cgroup_driver: CgroupDriver,
        pod_locks: Arc<KeyedLocks>,
    ) -> Result<Self, Error> {
        let service = Self {
            shared: Arc::new(Shared {
                config,
                store,
                indexes,
                images,
                handlers,
                cgroup_driver,
                helpers: Helpers::locate(),
                pod_locks,
                live: Mutex::new(HashMap::new()),
            }),
        };
        let records: Vec<ContainerRecord> = service.shared.store.load_all()?;
        for record in records {
            let exited = !matches!(
                record.state,
                ContainerState::Created | ContainerState::Running
            );
            let live = service.shared.track(&record, exited);
            if !exited {
                exit::watch(&service.shared, &record.id, &live);
            }
        }
        Ok(service)
    }

    /// The IDs of a pod's containers.
    pub async fn in_sandbox(&self, pod_id: &str) -> Result<Vec<String>, Error> {
        let filter = ContainerFilter {
            sandbox_id: Some(pod_id.to_owned()),
            ..Default::default()
        };
        Ok(self
            .list(filter)
            .await?
            .into_iter()
            .filter(|c| c.sandbox_id == pod_id)
            .map(|c| c.id)
            .collect())
    }

    /// Full ID from a full ID or unique prefix.
    fn resolve(&self, id: &str) -> Result<String, Error> {
        if id.is_empty() {
            return Err(Error::InvalidRequest("container ID is required".into()));
        }
        Ok(self
            .shared
            .indexes
            .lock()
            .expect("indexes")
            .containers
            .resolve(id)?)
    }
}

impl Shared {
    fn dir(&self, id: &str) -> PathBuf {
        self.config.state.join("containers").join(id)
    }

    fn bundle(&self, id: &str) -> PathBuf {
        self.dir(id).join("bundle")
    }

    fn rootfs(&self, id: &str) -> PathBuf {
        self.bundle(id).join("rootfs")
    }

    fn monitor_dir(&self, id: &str) -> PathBuf {
        self.config.state.join("m").join(id)
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.config.state.join("sandboxes").join(id)
    }

    fn runtime(&self, handler: &str) -> Result<Runtime, Error> {
        let binary = self
            .handlers
            .all()
            .get(handler)
            .and_then(|h| h.binary.clone())
            .ok_or_else(|| Error::UnknownHandler {
                handler: handler.to_owned(),
                known: self
                    .handlers
                    .all()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Runtime::new(
            binary,
            self.config.state.join("runtime").join(handler),
            self.config.state.join("runtime-logs"),
        ))
    }

    /// Starts tracking a container in memory, leasing its image's layers.
    fn track(&self, record: &ContainerRecord, stopped: bool) -> Arc<Live> {
        let lease = self.images.lease();
        let chains = self
            .images
            .find(&record.image_ref)
            .ok()
            .flatten()
            .map(|image| image.chain_ids)
            .unwrap_or_default();
        for chain in &chains {
            lease.add(chain);
        }
        let live = Arc::new(Live {
            lock: tokio::sync::Mutex::new(()),
            stopped: watch::channel(stopped).0,
            lease: Mutex::new(Some(lease)),
            chains,
            watcher: Mutex::new(None),
            released: std::sync::atomic::AtomicBool::new(false),
        });
        self.live
            .lock()
            .expect("live containers")
            .insert(record.id.clone(), live.clone());
        live
    }

    fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.live.lock().expect("live containers").get(id).cloned()
    }

    async fn load(&self, id: &str) -> Result<Option<ContainerRecord>, Error> {
        crate::load_record(&self.store, id).await
    }

    /// The record, or `NotFound` naming the container.
    async fn get(&self, id: &str) -> Result<ContainerRecord, Error> {
        self.load(id).await?.ok_or_else(|| {
            Error::Lookup(LookupError::NotFound {
                prefix: id.to_owned(),
            })
        })
    }

    async fn save(&self, record: &ContainerRecord) -> Result<(), Error> {
        crate::save_record(&self.store, record).await
    }

    async fn load_sandbox(&self, id: &str) -> Result<Option<SandboxRecord>, Error> {
        crate::load_record(&self.store, id).await
    }
}
