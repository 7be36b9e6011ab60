//! Resource usage, for the CRI's stats RPCs: what a container's cgroup says (`cgroup`), on
//! cgroup v1 and v2 alike, and what the background sampler keeps (`sampler`: CPU rates,
//! writable-layer sizes), run by the domain's one sampler task (`background`), and what a
//! pod's network namespace counts (`network`). The stats verbs (`container::stats`,
//! `sandbox::stats`) read them. `census` counts pods and containers by state, exits and
//! pulls, for berthd's own metrics.

pub(crate) mod background;
pub mod census;
pub mod cgroup;
pub mod network;
pub mod sampler;
