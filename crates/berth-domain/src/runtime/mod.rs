//! The runtime service: who berth is, whether it is ready, and node-wide runtime settings.
//! One file per verb: `version`, `status`, `config` (RuntimeConfig and UpdateRuntimeConfig).

mod config;
mod handlers;
mod status;
mod version;

use std::sync::{Arc, Mutex};

use berth_config::{CgroupDriver, Config};
use berth_store::Store;

use crate::Error;
pub use handlers::{Handler, Handlers};
pub use status::{Condition, HandlerStatus, RuntimeStatus};
pub use version::VersionInfo;

/// Store meta key of the pod CIDR.
const POD_CIDR_KEY: &str = "pod_cidr";

/// Runtime-wide facts and settings.
pub struct RuntimeInfo {
    config: Arc<Config>,
    store: Arc<Store>,
    handlers: Handlers,
    cgroup_driver: CgroupDriver,
    pod_cidr: Mutex<Option<String>>,
}

impl RuntimeInfo {
    /// Probes the runtime handlers and loads the persisted pod CIDR.
    pub async fn start(config: Arc<Config>, store: Arc<Store>) -> Result<Self, Error> {
        let cgroup_driver = config
            .cgroup_driver
            .unwrap_or_else(crate::detect_cgroup_driver);
        let handlers = Handlers::probe(&config, cgroup_driver).await;
        let pod_cidr = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.get_meta(POD_CIDR_KEY))
                .await
                .map_err(|source| Error::Task {
                    what: "reading the pod CIDR",
                    source,
                })??
        };
        tracing::info!(?cgroup_driver, default_runtime = ?handlers.default_name(), "runtime ready");
        Ok(Self {
            config,
            store,
            handlers,
            cgroup_driver,
            pod_cidr: Mutex::new(pod_cidr),
        })
    }

    /// The probed runtime handlers.
    pub fn handlers(&self) -> &Handlers {
        &self.handlers
    }
}
