//! Per-object async locks. Verbs on one pod are serialised by the pod's lock; CreateContainer
//! and StartContainer take it too, so that no container slips into a pod that Stop or Remove
//! has begun to tear down (docs/lifecycle.md, "No window for late creation").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One async mutex per key, made on first use and forgotten when the object goes.
#[derive(Debug, Default)]
pub struct KeyedLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl KeyedLocks {
    /// The lock of `key`.
    pub fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .expect("keyed locks")
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets `key`'s lock (holders keep theirs).
    pub fn forget(&self, key: &str) {
        self.0.lock().expect("keyed locks").remove(key);
    }
}
