//! Rebuilding the in-memory indexes from the metadata store at start.
//!
//! The store is the truth; these structures are derived from it and exist so that lookups by
//! ID prefix and name reservation never touch the disk.

use std::collections::HashMap;

use berth_store::{
    ContainerRecord, IdIndex, NameRegistry, SandboxRecord, Store, container_name, sandbox_name,
};

use crate::Error;

/// ID prefix indexes of sandboxes and containers (images are indexed by the image store), and the one name registry sandboxes and containers
/// share (their name keys cannot collide: a container's has five parts, a sandbox's four).
#[derive(Debug, Default)]
pub struct Indexes {
    /// Sandbox IDs.
    pub sandboxes: IdIndex,
    /// Container IDs.
    pub containers: IdIndex,
    /// Reserved sandbox and container names.
    pub names: NameRegistry,
}

impl Indexes {
    /// Loads every record and indexes it. A container whose sandbox record is gone keeps its
    /// ID (so it can still be removed) but cannot reserve a name; that is logged.
    pub fn rebuild(store: &Store) -> Result<Self, Error> {
        let sandboxes: Vec<SandboxRecord> = store.load_all()?;
        let containers: Vec<ContainerRecord> = store.load_all()?;
        let mut indexes = Indexes::default();
        let pods: HashMap<&str, &SandboxRecord> =
            sandboxes.iter().map(|s| (s.id.as_str(), s)).collect();
        for sandbox in &sandboxes {
            indexes.sandboxes.insert(sandbox.id.clone());
            indexes
                .names
                .reserve(&sandbox_name(&sandbox.metadata), &sandbox.id)?;
        }
        for container in &containers {
            indexes.containers.insert(container.id.clone());
            match pods.get(container.sandbox_id.as_str()) {
                Some(sandbox) => indexes.names.reserve(
                    &container_name(&sandbox.metadata, &container.metadata),
                    &container.id,
                )?,
                None => tracing::warn!(
                    container_id = %container.id,
                    pod_id = %container.sandbox_id,
                    "container record without its sandbox record"
                ),
            }
        }
        tracing::info!(
            sandboxes = sandboxes.len(),
            containers = containers.len(),
            "indexes rebuilt from the metadata store"
        );
        Ok(indexes)
    }
}
