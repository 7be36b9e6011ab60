//! berth's domain services.
//!
//! Owns: what berth *does*, independent of gRPC. The server crate calls down into it; it
//! calls down into the store and the drivers (OCI, CNI). Nothing here calls back up: events
//! (exits, OOM) will travel up over channels. Today it holds the runtime service (version,
//! conditions, runtime config) and the recovered in-memory indexes; sandbox, container and
//! image services join it in their issues, one file per lifecycle verb.

mod cgroups;
mod clock;
pub mod container;
mod error;
mod host;
pub mod image;
mod locks;
mod monitor;
mod podcidr;
mod recovery;
pub mod runtime;
pub mod sandbox;
pub mod validate;

use std::sync::Arc;

use berth_config::Config;
use berth_store::Store;

pub use cgroups::detect_cgroup_driver;
pub use error::{Error, ErrorKind};
pub use recovery::Indexes;
pub use runtime::{Condition, HandlerStatus, RuntimeInfo, RuntimeStatus, VersionInfo};

/// The running daemon's domain: every service, sharing one store.
pub struct Domain {
    /// Version, conditions, runtime configuration.
    pub runtime: RuntimeInfo,
    /// Containers.
    pub containers: Arc<container::ContainerService>,
    /// Pod sandboxes.
    pub sandboxes: sandbox::SandboxService,
    /// Images: pull, status, list, remove, usage.
    pub images: image::ImageService,
    /// ID prefix indexes and the name registry, rebuilt from the store at start.
    pub indexes: Arc<std::sync::Mutex<Indexes>>,
}

impl Domain {
    /// Opens the metadata store, rebuilds the indexes and probes the OCI runtimes.
    /// Until this returns, the server answers `Unavailable`.
    pub async fn start(config: Arc<Config>) -> Result<Self, Error> {
        let db_path = config.root.join(berth_config::defaults::DB_NAME);
        let (store, indexes) = tokio::task::spawn_blocking(move || {
            let store = Store::open(&db_path)?;
            let indexes = Indexes::rebuild(&store)?;
            Ok::<_, Error>((Arc::new(store), indexes))
        })
        .await
        .map_err(|e| Error::Task {
            what: "opening the metadata store",
            reason: e.to_string(),
        })??;
        let images = image::ImageService::start(&config, store.clone()).await?;
        let runtime = RuntimeInfo::start(config.clone(), store.clone()).await?;
        let indexes = Arc::new(std::sync::Mutex::new(indexes));
        let pod_locks = Arc::new(locks::KeyedLocks::default());
        let containers = Arc::new(container::ContainerService::new(
            config.clone(),
            store.clone(),
            indexes.clone(),
            images.store().clone(),
            runtime.handlers().clone(),
            runtime.cgroup_driver(),
            pod_locks.clone(),
        )?);
        let sandboxes = sandbox::SandboxService::new(
            config,
            store,
            indexes.clone(),
            runtime.handlers().clone(),
            runtime.cgroup_driver(),
            pod_locks,
            containers.clone(),
        );
        recover(&containers, &sandboxes).await?;
        Ok(Self {
            runtime,
            images,
            containers,
            sandboxes,
            indexes,
        })
    }
}

impl Domain {
    /// Stops every pod (and so every container), all at once; for a shutdown that must not
    /// leave workloads behind. Returns how many pods were stopped; the first failure is
    /// returned after every pod was tried.
    pub async fn stop_all_pods(&self) -> Result<usize, Error> {
        let pods = self.sandboxes.known_ids();
        let stops = pods.iter().map(|id| self.sandboxes.stop(id));
        let results = futures_util::future::join_all(stops).await;
        let count = results.len();
        results.into_iter().collect::<Result<Vec<()>, Error>>()?;
        Ok(count)
    }
}

/// Settles every record against the node (interrupted creates undone, removals finished),
/// then removes what no record names. Containers first: a pod's removal removes them.
async fn recover(
    containers: &container::ContainerService,
    sandboxes: &sandbox::SandboxService,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let c = containers.recover().await?;
    let p = sandboxes.recover().await?;
    let swept = containers.sweep_orphans(&sandboxes.known_ids()).await?;
    tracing::info!(
        containers = c.records,
        containers_undone = c.undone,
        containers_removed = c.removed,
        starts_recorded = c.started,
        pods = p.records,
        pods_undone = p.undone,
        pods_removed = p.removed,
        orphans = p.orphans + swept,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "records recovered"
    );
    Ok(())
}

/// Runs blocking work (store, file system, helper processes) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task {
            what,
            reason: e.to_string(),
        })?
}

/// Reads one record off the async threads.
pub(crate) async fn load_record<R: berth_store::Record + Send + 'static>(
    store: &Arc<Store>,
    id: &str,
) -> Result<Option<R>, Error> {
    let (store, id) = (store.clone(), id.to_owned());
    blocking("reading a record", move || Ok(store.get::<R>(&id)?)).await
}

/// Writes one record off the async threads.
pub(crate) async fn save_record<R: berth_store::Record + Clone + Send + 'static>(
    store: &Arc<Store>,
    record: &R,
) -> Result<(), Error> {
    let (store, record) = (store.clone(), record.clone());
    blocking("writing a record", move || Ok(store.put(&record)?)).await
}
