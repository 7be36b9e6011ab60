//! `ContainerStats` and `ListContainerStats`: a container's CPU, memory and writable layer.
//!
//! CPU time is read from the container's cgroup at the call (one file; clients such as
//! `crictl stats` divide the CPU used between two calls by the time between their
//! timestamps, so it must be fresh). Everything else comes from the sampler's last pass,
//! which the domain's one sampler task (`stats::background`) runs every sample period: the
//! CPU rate, the writable layer's size, and memory, processes and stall times with the time
//! they were read (the kubelet reads them every 10 s; cAdvisor's are as old as its
//! housekeeping period). A call never walks a layer, sleeps to measure a rate, or reads
//! several files per container: a hundred containers' stats cost a hundred small reads. A
//! container the sampler has not seen yet (just started) is read whole at the call, its
//! cgroups found through its init process's `/proc/<pid>/cgroup` (either cgroup driver and
//! version), and that reading serves the calls until the next pass. A container that does not run has no CPU or memory figures;
//! `ListContainerStats` lists running containers only, as containerd does (the kubelet asks
//! for those).

use std::path::PathBuf;

use berth_store::{ContainerRecord, ContainerState};

use super::{ContainerFilter, ContainerService, Shared};
use crate::Error;
use crate::stats::cgroup::{CgroupDirs, Memory, Pressure, Usage};
use crate::stats::sampler::{LayerUsage, Reading};
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
    /// When memory, processes, stall times and the writable layer were read (the sampler's
    /// last pass, or the call), nanoseconds since the epoch.
    pub read_at_ns: i64,
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

/// Reads `record`'s usage (blocking): CPU time now, the rest from the sampler's last pass
/// when it has one.
fn measure(shared: &Shared, record: ContainerRecord) -> ContainerStats {
    let sample = shared.sampler.get(&record.id);
    let now = crate::clock::now_ns();
    let running = record.state == ContainerState::Running && record.pid > 0;
    let (cpu_ns, usage, read_at) = match (running, sample.reading) {
        (false, _) => (None, Usage::default(), now),
        (true, Some(reading)) if !sample.cgroups.is_empty() => {
            let cpu_ns = sample
                .cgroups
                .iter()
                .filter_map(CgroupDirs::cpu_ns)
                .reduce(|a, b| a + b);
            (cpu_ns, reading.usage, reading.at_ns)
        }
        (true, _) => {
            let cgroups: Vec<CgroupDirs> = CgroupDirs::of_pid(record.pid).into_iter().collect();
            let usage = CgroupDirs::read_all(&cgroups);
            if !cgroups.is_empty() {
                let reading = Reading { at_ns: now, usage };
                shared.sampler.remember(&record.id, cgroups, reading);
            }
            (usage.cpu_ns, usage, now)
        }
    };
    ContainerStats {
        timestamp_ns: now,
        cpu_ns,
        nano_cores: sample.nano_cores.filter(|_| cpu_ns.is_some()),
        read_at_ns: read_at,
        memory: usage.memory,
        processes: usage.pids,
        pressure: usage.pressure,
        layer: sample.layer,
        layer_mountpoint: shared.images.mountpoint(),
        record,
    }
}
