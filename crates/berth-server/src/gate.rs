//! The readiness gate: the server answers before recovery is done, with `Unavailable`.

use std::sync::{Arc, OnceLock};

use berth_domain::Domain;

/// Holds the domain once start-up recovery has finished.
#[derive(Clone, Default)]
pub struct Gate(Arc<OnceLock<Arc<Domain>>>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the gate: from now on RPCs reach `domain`. Opening twice keeps the first.
    pub fn open(&self, domain: Arc<Domain>) {
        let _ = self.0.set(domain);
    }

    /// The domain, when recovery is done.
    pub fn get(&self) -> Option<&Arc<Domain>> {
        self.0.get()
    }
}
