//! Digests and chain IDs that in-flight pulls are writing: garbage collection skips them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The set of leased names, shared by all pulls. Each pull holds a [`Lease`] that gives its
/// names back when dropped, however the pull ends.
#[derive(Debug, Clone, Default)]
pub struct LeaseTable(Arc<Mutex<HashMap<String, usize>>>);

/// One pull's leases.
#[derive(Debug)]
pub struct Leases {
    table: LeaseTable,
    held: Mutex<Vec<String>>,
}

impl LeaseTable {
    /// A new, empty lease for one pull.
    pub fn lease(&self) -> Leases {
        Leases {
            table: self.clone(),
            held: Mutex::new(Vec::new()),
        }
    }

    /// Whether any pull holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.0.lock().expect("lease table").contains_key(name)
    }
}

impl Leases {
    /// Leases `name` until this lease is dropped.
    pub fn add(&self, name: &str) {
        *self
            .table
            .0
            .lock()
            .expect("lease table")
            .entry(name.to_owned())
            .or_default() += 1;
        self.held.lock().expect("lease").push(name.to_owned());
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        let held = std::mem::take(&mut *self.held.lock().expect("lease"));
        let mut table = self.table.0.lock().expect("lease table");
        for name in held {
            if let Some(count) = table.get_mut(&name) {
                *count -= 1;
                if *count == 0 {
                    table.remove(&name);
                }
            }
        }
    }
}
