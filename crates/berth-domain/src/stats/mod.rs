//! Resource usage, for the CRI's stats RPCs: what a container's cgroup says (`cgroup`), on
//! cgroup v1 and v2 alike. The sampler (CPU rates, writable-layer sizes) and the stats verbs
//! build on it.

pub mod cgroup;
