//! berth's domain: what berth *does*, independent of gRPC.
//!
//! The server crate calls down into it; it calls down into the store, the image store and
//! the drivers (OCI, CNI, the monitor). Nothing here calls back up: lifecycle events travel
//! up over the broadcast channel in [`events`]. Modules form layers, each importing only
//! those below it, with no circle: `shared` (what pods and containers share), `request`
//! (what the CRI asks for), `host` (reads of the node), `stats` (cgroup usage), `validate`,
//! `monitor`, `events`, `error`; then `context` (what every service works with); then the services: `container`,
//! then `sandbox` (stopping a pod stops its containers), `runtime` and `image`.
//! `Domain::start` builds one [`context::Context`] and hands it to every service.

mod clock;
pub mod container;
mod context;
mod error;
pub mod events;
mod host;
pub mod image;
mod leftovers;
mod locks;
mod monitor;
mod podcidr;
mod recovery;
pub mod request;
pub mod runtime;
pub mod sandbox;
pub mod shared;
pub mod stats;
mod task;
pub mod validate;

use std::sync::Arc;

use berth_config::Config;
use berth_store::Store;

pub use error::{Cause, Error, ErrorKind};
pub use podcidr::PodCidrError;
pub use recovery::Indexes;
pub use runtime::{Condition, HandlerStatus, RuntimeInfo, RuntimeStatus, VersionInfo};
pub use shared::detect_cgroup_driver;

use context::Context;
use task::blocking;

/// The running daemon's domain: every service, sharing one context.
pub struct Domain {
    /// Version, conditions, runtime configuration.
    pub runtime: RuntimeInfo,
    /// Containers: create, start, stop, remove, status, exec, update, logs.
    pub containers: Arc<container::ContainerService>,
    /// Pod sandboxes.
    pub sandboxes: sandbox::SandboxService,
    /// Images: pull, status, list, remove, usage.
    pub images: image::ImageService,
    context: Arc<Context>,
    /// The stats sampler's task, stopped with the domain.
    _sampler: stats::background::SamplerTask,
}

impl Domain {
    /// Opens the metadata store, rebuilds the indexes, probes the OCI runtimes and settles
    /// every record against the node. Until this returns, the server answers `Unavailable`.
    pub async fn start(config: Arc<Config>) -> Result<Self, Error> {
        let layout = config.layout();
        let db_path = layout.db();
        let (store, indexes) = blocking("opening the metadata store", move || {
            let store = Store::open(&db_path)?;
            let indexes = Indexes::rebuild(&store)?;
            Ok((Arc::new(store), indexes))
        })
        .await?;
        let images = image::ImageService::start(&config, store.clone()).await?;
        let runtime = RuntimeInfo::start(config.clone(), store.clone()).await?;
        let context = Arc::new(Context {
            layout,
            store,
            indexes: Arc::new(std::sync::Mutex::new(indexes)),
            images: images.store().clone(),
            handlers: runtime.handlers().clone(),
            cgroup_driver: runtime.cgroup_driver(),
            helpers: shared::Helpers::locate(),
            host: Box::new(host::Node),
            pod_locks: Default::default(),
            events: Default::default(),
            sampler: Default::default(),
            exits: Default::default(),
            config,
        });
        let containers = Arc::new(container::ContainerService::new(context.clone())?);
        let sandboxes = sandbox::SandboxService::new(context.clone(), containers.clone());
        recover(&context, &containers, &sandboxes).await?;
        let period = context.config.stats.sample_period.0;
        let sampler = stats::background::sample_every(context.clone(), period);
        Ok(Self {
            runtime,
            images,
            containers,
            sandboxes,
            context,
            _sampler: sampler,
        })
    }

    /// Container and pod lifecycle events from now on (see [`events`]).
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<events::LifecycleEvent> {
        self.context.events.subscribe()
    }

    /// Pods and containers by state, exits and pulls (see [`stats::census`]).
    pub async fn census(&self) -> Result<stats::census::Census, Error> {
        use berth_store::{ContainerRecord, ContainerState as C, SandboxRecord, SandboxState as S};
        let store = self.context.store.clone();
        let census = blocking("counting pods and containers", move || {
            let pods = store
                .load_all::<SandboxRecord>()?
                .into_iter()
                .map(|r| r.state);
            let containers = store
                .load_all::<ContainerRecord>()?
                .into_iter()
                .map(|r| r.state);
            let all_pods = [
                S::Creating,
                S::Ready,
                S::NotReady,
                S::Terminating,
                S::Unknown,
            ];
            let all_containers = [
                C::Creating,
                C::Created,
                C::Running,
                C::Exited,
                C::Removing,
                C::Unknown,
            ];
            Ok(stats::census::Census {
                pods: stats::census::count_by_state(&all_pods, pods),
                containers: stats::census::count_by_state(&all_containers, containers),
                ..Default::default()
            })
        })
        .await?;
        Ok(census.with_counters(&self.context.exits, self.images.pulls()))
    }

    /// The ID prefix indexes and the name registry.
    pub fn indexes(&self) -> &std::sync::Mutex<Indexes> {
        &self.context.indexes
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
    context: &Context,
    containers: &container::ContainerService,
    sandboxes: &sandbox::SandboxService,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let c = containers.recover().await?;
    let p = sandboxes.recover().await?;
    let swept = containers.sweep_orphans(&sandboxes.known_ids()).await?;
    let leftovers = leftovers::sweep(context).await?;
    tracing::info!(
        containers = c.records,
        containers_undone = c.undone,
        containers_removed = c.removed,
        starts_recorded = c.started,
        pods = p.records,
        pods_undone = p.undone,
        pods_removed = p.removed,
        orphans = p.orphans + swept,
        leftover_files = leftovers,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "records recovered"
    );
    Ok(())
}
