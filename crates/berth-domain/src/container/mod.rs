//! The container service, one file per verb: `create`, `start`, `stop`, `remove`, `status`,
//! `list`, `update`, `exec` (ExecSync), `exec_session` (the streaming Exec), `attach` and `logs` (ReopenContainerLog); `exit` is the exit
//! path every container's exit goes through. `create` only orchestrates: `assemble` builds
//! the spec from the request, the pod, the image's defaults and the node, with `mounts`,
//! `devices` (and hugepages) and `accounts` (the image's passwd and group). Pure rules live
//! beside them: `process` (command line, environment, user, capabilities), `spec` (the OCI
//! spec), `seccomp`, `signal`.
//!
//! Where a container's files live is `berth_config::StateLayout`'s: `bundle/` (`config.json`,
//! `rootfs/`, the overlay mount), `upper/` and `work/` under `<state>/containers/<id>/`, the
//! monitor's socket and exit file in `<state>/m/<id>/`.
//!
//! Concurrency: each container has a short-held async lock for record changes (never held
//! across a stop's grace period) and a "stopped" signal, a watch channel the exit path
//! raises once the exit is recorded; Stop and Remove wait on it.

mod accounts;
mod assemble;
mod attach;
mod create;
mod devices;
mod exec;
mod exec_session;
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
mod stats;
mod status;
mod stop;
mod update;

pub use recover::Recovered;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_oci::Runtime;
use berth_store::{ContainerRecord, ContainerState, SandboxRecord};
use tokio::sync::watch;

use crate::Error;
use crate::context::Context;
pub(crate) use crate::task::blocking;

pub use crate::request::{
    ContainerRequest, DeviceRequest, GroupsPolicy, MountRequest, Propagation, SeccompProfile,
    SecurityRequest, UserRequest,
};
pub use attach::{AttachRequest, AttachSession, AttachTerminal};
pub use exec::ExecOutput;
pub use exec_session::{ExecRequest, ExecSession, Input, Output, Terminal};
pub use stats::ContainerStats;
pub use status::ContainerStatus;

/// Which containers `list` returns; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    /// Full ID or prefix.
    pub id: Option<String>,
    /// Sandbox full ID or prefix.
    pub sandbox_id: Option<String>,
    /// Only containers in this state.
    pub state: Option<ContainerState>,
    /// Labels that must all be present with these values.
    pub labels: BTreeMap<String, String>,
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

/// What the exit path and the verbs share: the domain's context (reached through `Deref`,
/// as `s.store`, `s.layout`...) and the containers' in-memory state.
struct Shared {
    context: Arc<Context>,
    live: Mutex<HashMap<String, Arc<Live>>>,
}

impl std::ops::Deref for Shared {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.context
    }
}

/// The container service: every container verb, over the shared context and the containers'
/// in-memory state.
pub struct ContainerService {
    shared: Arc<Shared>,
}

impl ContainerService {
    /// Over the store, the image store and the runtime handlers. Containers the store holds
    /// get their in-memory state back, and those that may still run get an exit watcher.
    pub(crate) fn new(context: Arc<Context>) -> Result<Self, Error> {
        let service = Self {
            shared: Arc::new(Shared {
                context,
                live: Mutex::new(HashMap::new()),
            }),
        };
        let records: Vec<ContainerRecord> = service.shared.store.load_all()?;
        for record in records {
            let exited = !record.may_run();
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
        self.shared
            .indexes
            .lock()
            .expect("indexes")
            .containers
            .resolve(id)
            .map_err(|e| Error::lookup("container", e))
    }
}

impl Shared {
    fn dir(&self, id: &str) -> PathBuf {
        self.layout.container_dir(id)
    }

    fn bundle(&self, id: &str) -> PathBuf {
        self.layout.container_bundle(id)
    }

    fn rootfs(&self, id: &str) -> PathBuf {
        self.layout.container_rootfs(id)
    }

    fn monitor_dir(&self, id: &str) -> PathBuf {
        self.layout.monitor_dir(id)
    }

    fn runtime(&self, handler: &str) -> Result<Runtime, Error> {
        self.context.runtime(handler)
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
        self.context.load(id).await
    }

    /// The record, or `NotFound` naming the container.
    async fn get(&self, id: &str) -> Result<ContainerRecord, Error> {
        self.load(id).await?.ok_or_else(|| Error::NotFound {
            what: "container",
            id: id.to_owned(),
        })
    }

    async fn save(&self, record: &ContainerRecord) -> Result<(), Error> {
        self.context.save(record).await
    }

    async fn load_sandbox(&self, id: &str) -> Result<Option<SandboxRecord>, Error> {
        self.context.load(id).await
    }
}
