//! The name registry: no two sandboxes, and no two containers of a pod, share a name.

use std::collections::HashMap;

use crate::{ContainerMetadata, NameError, PodMetadata};

/// The registry key of a sandbox, as the kubelet builds it:
/// `name_namespace_uid_attempt`.
pub fn sandbox_name(pod: &PodMetadata) -> String {
    format!("{}_{}_{}_{}", pod.name, pod.namespace, pod.uid, pod.attempt)
}

/// The registry key of a container: `container_pod_namespace_uid_attempt`.
pub fn container_name(pod: &PodMetadata, container: &ContainerMetadata) -> String {
    format!(
        "{}_{}_{}_{}_{}",
        container.name, pod.name, pod.namespace, pod.uid, container.attempt
    )
}

/// Names held by object IDs.
#[derive(Debug, Default, Clone)]
pub struct NameRegistry {
    owners: HashMap<String, String>,
    names: HashMap<String, String>,
}

impl NameRegistry {
    /// Reserves `name` for `key` (an object ID). Reserving a name again for its holder is a
    /// no-op; for anyone else it fails naming the holder.
    pub fn reserve(&mut self, name: &str, key: &str) -> Result<(), NameError> {
        match self.owners.get(name) {
            Some(owner) if owner == key => Ok(()),
            Some(owner) => Err(NameError::Taken {
                name: name.to_owned(),
                owner: owner.clone(),
            }),
            None => {
                self.owners.insert(name.to_owned(), key.to_owned());
                self.names.insert(key.to_owned(), name.to_owned());
                Ok(())
            }
        }
    }

    /// Releases `name`; releasing a free name is a no-op.
    pub fn release(&mut self, name: &str) {
        if let Some(owner) = self.owners.remove(name) {
            self.names.remove(&owner);
        }
    }

    /// Releases whatever name `key` holds; returns it.
    pub fn release_by_key(&mut self, key: &str) -> Option<String> {
        let name = self.names.remove(key)?;
        self.owners.remove(&name);
        Some(name)
    }

    /// Who holds `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.owners.get(name).map(String::as_str)
    }

    /// How many names are held.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether no name is held.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}
