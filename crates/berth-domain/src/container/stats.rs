//! `ContainerStats` and `ListContainerStats`: a container's CPU, memory and writable layer.
//!
//! CPU time and memory are read from the container's cgroup at the call (a few small files,
//! found through its init process's `/proc/<pid>/cgroup`, so either cgroup driver and
//! version); the CPU rate and the writable layer's size come from the sampler's last pass,
//! which the domain's one sampler task (`stats::background`) runs in the background: a call never
//! waits for a walk of a big layer or sleeps to measure a rate. A container that does not
//! run has no CPU or memory figures; `ListContainerStats` lists running containers only,
//! as containerd does (the kubelet asks for those).

use std::path::PathBuf;

use berth_store::{ContainerRecord, ContainerState};

use super::{ContainerFilter, ContainerService, Shared};
use crate::Error;
use crate::stats::cgroup::{CgroupDirs, Memory, Pressure};
use crate::stats::sampler::LayerUsage;
use crate::task::blocking;

/// One container's usage.
#[derive(Debug, Clone)]
pub struct ContainerStats {
    /// The container (its ID, metadata, labels and annotations are the stats' attributes).
    pub record: ContainerRecord,
    /// When the figures were read, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// CPU time used, nanoseconds.
    pub cpu_ns: Option<u64>,
    /// CPU used between the sampler's last two passes, billionths of a core.
    pub nano_cores: Option<u64>,
    /// Memory.
    pub memory: Option<Memory>,
    /// Processes in its cgroup.
    pub processes: Option<u64>,
    /// Its pressure stall totals (cgroup v2).
    pub pressure: Option<Pressure>,
    /// The writable layer at the sampler's last pass.
    pub layer: Option<LayerUsage>,
    /// The file system the writable layer is on (the image store's).
    pub layer_mountpoint: PathBuf,
}

impl ContainerService {
    /// The usage of container `id` (full ID or prefix).
    pub async fn stats(&self, id: &str) -> Result<ContainerStats, Error> {
        let id = self.resolve(id)?;
        let record = self.shared.get(&id).await?;
        let shared = self.shared.clone();
        blocking("reading a container's stats", move || {
            Ok(measure(&shared, record))
        })
        .await
    }

    /// The usage of every running container `filter` matches.
    pub async fn list_stats(&self, filter: ContainerFilter) -> Result<Vec<ContainerStats>, Error> {
        let filter = ContainerFilter {
            state: Some(ContainerState::Running),
            ..filter
        };
        let records = self.list(filter).await?;
        let shared = self.shared.clone();
        blocking("reading container stats", move || {
            Ok(records.into_iter().map(|r| measure(&shared, r)).collect())
        })
        .await
    }
}

/// Reads `record`'s usage now (blocking).
fn measure(shared: &Shared, record: ContainerRecord) -> ContainerStats {
    let sample = shared.sampler.get(&record.id);
    let usage = (record.state == ContainerState::Running && record.pid > 0)
        .then(|| CgroupDirs::of_pid(record.pid))
        .flatten()
        .map(|dirs| dirs.read())
        .unwrap_or_default();
    ContainerStats {
        timestamp_ns: crate::clock::now_ns(),
        cpu_ns: usage.cpu_ns,
        nano_cores: sample.nano_cores.filter(|_| usage.cpu_ns.is_some()),
        memory: usage.memory,
        processes: usage.pids,
        pressure: usage.pressure,
        layer: sample.layer,
        layer_mountpoint: shared.images.mountpoint(),
        record,
    }
}
