//! Resource usage, for the CRI's stats RPCs: what a container's cgroup says (`cgroup`), on
//! cgroup v1 and v2 alike, and what the background sampler keeps (`sampler`: CPU rates,
//! writable-layer sizes), run by the domain's one sampler task (`background`), and what a
//! pod's network namespace counts (`network`). The stats verbs (`container::stats`,
//! `sandbox::stats`) read them.

pub(crate) mod background;
pub mod cgroup;
pub mod network;
pub mod sampler;
