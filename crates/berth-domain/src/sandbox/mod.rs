//! The pod sandbox domain. Today: the pure rules a sandbox is built from (pod files,
//! sysctl validation, `oom_score_adj` clamping, cgroup paths), each tested on its own. The
//! lifecycle verbs (run, status, list, stop, remove) arrive with the sandbox issue, one file
//! each, and use these.

pub mod cgroup;
pub mod files;
pub mod limits;
