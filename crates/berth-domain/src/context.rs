//! What every service of the domain works with, built once in `Domain::start` and shared
//! by reference: the configuration and its path layout, the metadata store and the indexes
//! derived from it, the image store, the runtime handlers, the cgroup driver, the helper
//! binaries, the per-pod locks and the lifecycle event bus.

use std::sync::{Arc, Mutex};

use berth_config::{CgroupDriver, Config, StateLayout};
use berth_image::ImageStore;
use berth_oci::Runtime;
use berth_store::Store;

use crate::events::EventBus;
use crate::host::Host;
use crate::locks::KeyedLocks;
use crate::runtime::{Handler, Handlers};
use crate::shared::Helpers;
use crate::stats::census::ExitCounters;
use crate::stats::sampler::Sampler;
use crate::task::blocking;
use crate::{Error, Indexes};

/// The services' shared context.
pub(crate) struct Context {
    pub config: Arc<Config>,
    pub layout: StateLayout,
    pub store: Arc<Store>,
    pub indexes: Arc<Mutex<Indexes>>,
    pub images: Arc<ImageStore>,
    pub handlers: Handlers,
    pub cgroup_driver: CgroupDriver,
    pub helpers: Helpers,
    /// What the verbs read from the node (mounts, devices, cgroups, limits); a double in
    /// unit tests.
    pub host: Box<dyn Host>,
    /// One async lock per pod: verbs on one pod are serialised, pods run in parallel;
    /// CreateContainer and StartContainer take their pod's too.
    pub pod_locks: KeyedLocks,
    pub events: EventBus,
    /// The background sampler's last figures (CPU rates, writable-layer sizes).
    pub sampler: Sampler,
    /// Container exits since berthd started.
    pub exits: ExitCounters,
}

impl Context {
    /// The handler by name, usable on this node: `UnknownHandler` when it is not
    /// configured or its binary is missing, `HandlerUnusable` when its probe failed.
    pub fn handler(&self, name: &str) -> Result<&Handler, Error> {
        let unknown = || Error::UnknownHandler {
            handler: name.to_owned(),
            known: self.handlers.names().join(", "),
        };
        let handler = self.handlers.all().get(name).ok_or_else(unknown)?;
        match (&handler.binary, &handler.problem) {
            (_, Some(problem)) => Err(Error::HandlerUnusable {
                handler: name.to_owned(),
                problem: problem.clone(),
            }),
            (None, None) => Err(unknown()),
            (Some(_), None) => Ok(handler),
        }
    }

    /// The OCI runtime of a handler that has a binary (whether or not its probe passed:
    /// objects made before a runtime broke must still be stopped and deleted), with its
    /// state and logs where the layout puts them.
    pub fn runtime(&self, handler: &str) -> Result<Runtime, Error> {
        let binary = self
            .handlers
            .all()
            .get(handler)
            .and_then(|h| h.binary.clone())
            .ok_or_else(|| Error::UnknownHandler {
                handler: handler.to_owned(),
                known: self.handlers.names().join(", "),
            })?;
        Ok(Runtime::new(
            binary,
            self.layout.runtime_root(handler),
            self.layout.runtime_logs(),
        )
        .systemd_cgroup(self.systemd_cgroup()))
    }

    /// Whether the OCI runtime drives cgroups through systemd (the systemd cgroup driver).
    pub fn systemd_cgroup(&self) -> bool {
        self.cgroup_driver == CgroupDriver::Systemd
    }

    /// The handler a request names, or the default for an empty name.
    pub fn handler_name(&self, requested: &str) -> String {
        if requested.is_empty() {
            self.handlers.default_name().unwrap_or("runc").to_owned()
        } else {
            requested.to_owned()
        }
    }

    /// Reads one record off the async threads.
    pub async fn load<R: berth_store::Record + Send + 'static>(
        &self,
        id: &str,
    ) -> Result<Option<R>, Error> {
        let (store, id) = (self.store.clone(), id.to_owned());
        blocking("reading a record", move || Ok(store.get::<R>(&id)?)).await
    }

    /// Writes one record off the async threads.
    pub async fn save<R: berth_store::Record + Clone + Send + 'static>(
        &self,
        record: &R,
    ) -> Result<(), Error> {
        let (store, record) = (self.store.clone(), record.clone());
        blocking("writing a record", move || Ok(store.put(&record)?)).await
    }

    /// Every record of a kind, off the async threads.
    pub async fn load_all<R: berth_store::Record + Send + 'static>(&self) -> Result<Vec<R>, Error> {
        let store = self.store.clone();
        blocking("listing records", move || Ok(store.load_all::<R>()?)).await
    }
}
