//! What pod sandboxes and containers share, below both services: how a namespace is shared,
//! ID generation, `oom_score_adj` limits, cgroup paths and the cgroup driver, and the helper
//! binaries berth runs. Nothing here imports a service, so `sandbox` and `container` both
//! build on it without importing each other's internals.

pub mod cgroup;
mod cgroup_driver;
mod helpers;
mod id;
pub mod limits;
mod namespace;

pub use cgroup_driver::detect_cgroup_driver;
pub use helpers::Helpers;
pub use id::{EntropyError, new_id};
pub use namespace::NamespaceMode;
