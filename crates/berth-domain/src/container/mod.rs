//! The container service, one file per verb. Today: listing what the store holds (so that
//! `crictl rmi --prune` can tell which images are in use), and the process rules
//! (`process`: command line, environment, user, capabilities) CreateContainer will use. Create, start, stop and remove
//! arrive with the containers issue.

mod list;
pub mod process;
pub mod spec;

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_store::{ContainerState, Store};

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

/// Containers.
pub struct ContainerService {
    store: Arc<Store>,
}

impl ContainerService {
    /// Over the metadata store.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}
