//! Resource usage, for the CRI's stats RPCs: what a container's cgroup says (`cgroup`), on
//! cgroup v1 and v2 alike, and what the background sampler keeps (`sampler`: CPU rates,
//! writable-layer sizes). The stats verbs (`container::stats`) read both.

pub mod cgroup;
pub mod sampler;
