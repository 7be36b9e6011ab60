//! `PodSandboxStats` and `ListPodSandboxStats`: a pod's CPU, memory, processes and network,
//! with its running containers' stats.
//!
//! The pod's CPU, memory and process count are its cgroup's: the pod's own cgroup (where
//! its CRI cgroup parent names, under the node's driver: every process of the pod is below
//! it, however deep the runtime puts it) when it has one, as every kubelet pod has; without
//! one (crictl's pods share berth's cgroup) the sum of its infra's and running containers'
//! cgroups, whose counters may fall when a container goes. Its network is the counters of the interfaces in its network namespace, the
//! default one `eth0` (none for a pod on the node's network: those are the node's). The CPU
//! rate comes from the sampler's last pass, like a container's. A pod that is not ready
//! has no figures; `ListPodSandboxStats` lists ready pods only, as containerd does.

use std::collections::HashMap;

use berth_store::SandboxRecord;

use berth_config::CgroupDriver;

use super::{SandboxFilter, SandboxService, blocking, pod_cgroup_path};
use crate::Error;
use crate::container::{ContainerFilter, ContainerStats};
use crate::stats::cgroup::{CgroupDirs, Usage};
use crate::stats::network::{self, Interface};

/// The interface a pod's network stats name as its default.
const DEFAULT_INTERFACE: &str = "eth0";

/// One pod's usage.
#[derive(Debug, Clone)]
pub struct SandboxStats {
    /// The pod (its ID, metadata, labels and annotations are the stats' attributes).
    pub record: SandboxRecord,
    /// When the figures were read, nanoseconds since the epoch.
    pub timestamp_ns: i64,
    /// CPU time, memory and processes of the pod's cgroup (none when it is not ready).
    pub usage: Usage,
    /// CPU used between the sampler's last two passes, billionths of a core.
    pub nano_cores: Option<u64>,
    /// Its network namespace's interfaces, the default first; `None` on the node's network
    /// or when it is not ready.
    pub network: Option<Vec<Interface>>,
    /// Its running containers' stats.
    pub containers: Vec<ContainerStats>,
}

impl SandboxService {
    /// The usage of pod `id` (full ID or prefix).
    pub async fn stats(&self, id: &str) -> Result<SandboxStats, Error> {
        let id = self.resolve(id)?;
        let Some(record) = self.load(&id).await? else {
            return Err(Error::NotFound {
                what: "sandbox",
                id,
            });
        };
        let ready = self.is_ready(&record).await;
        let containers = self.running_container_stats(Some(id)).await?;
        let mut all = self.measure(vec![(record, ready)], containers).await?;
        Ok(all.remove(0))
    }

    /// The usage of every ready pod `filter` matches.
    pub async fn list_stats(&self, filter: SandboxFilter) -> Result<Vec<SandboxStats>, Error> {
        let filter = SandboxFilter {
            ready: Some(true),
            ..filter
        };
        let pods = self.list(filter).await?;
        let containers = self.running_container_stats(None).await?;
        let pods = pods.into_iter().map(|s| (s.record, s.ready)).collect();
        self.measure(pods, containers).await
    }

    /// The stats of running containers (of pod `pod`, or all).
    async fn running_container_stats(
        &self,
        pod: Option<String>,
    ) -> Result<Vec<ContainerStats>, Error> {
        let filter = ContainerFilter {
            sandbox_id: pod,
            ..Default::default()
        };
        self.containers.list_stats(filter).await
    }

    /// Reads the usage of `pods` (each with whether it is ready), handing each its own of
    /// `containers`.
    async fn measure(
        &self,
        pods: Vec<(SandboxRecord, bool)>,
        containers: Vec<ContainerStats>,
    ) -> Result<Vec<SandboxStats>, Error> {
        let mut by_pod: HashMap<String, Vec<ContainerStats>> = HashMap::new();
        for stats in containers {
            let pod = stats.record.sandbox_id.clone();
            by_pod.entry(pod).or_default().push(stats);
        }
        let context = self.context.clone();
        blocking("reading pod stats", move || {
            let stats = pods.into_iter().map(|(record, ready)| {
                let containers = by_pod.remove(&record.id).unwrap_or_default();
                let nano_cores = context.sampler.get(&record.id).nano_cores;
                measure(context.cgroup_driver, record, ready, containers, nano_cores)
            });
            Ok(stats.collect())
        })
        .await
    }
}

/// Reads one pod's usage now (blocking).
fn measure(
    driver: CgroupDriver,
    record: SandboxRecord,
    ready: bool,
    containers: Vec<ContainerStats>,
    nano_cores: Option<u64>,
) -> SandboxStats {
    let infra = record.network.infra_pid;
    let (usage, network) = if ready {
        let pids: Vec<i32> = containers.iter().map(|c| c.record.pid).collect();
        let own = pod_cgroup_path(driver, &record.network.cgroup_parent);
        let cgroups = CgroupDirs::of_pod(infra, own.as_deref(), &pids);
        let usage = CgroupDirs::read_all(&cgroups);
        // The kernel answers /proc/<pid>/net/dev for the process's netns: the infra's, or
        // in a pod without one, a running container's (none running, no counters).
        let in_netns = if infra > 0 {
            Some(infra)
        } else {
            pids.iter().copied().find(|&pid| pid > 0)
        };
        let network = in_netns
            .filter(|_| !record.network.host_network)
            .and_then(network::of_pid)
            .map(default_first);
        (usage, network)
    } else {
        (Usage::default(), None)
    };
    SandboxStats {
        timestamp_ns: crate::clock::now_ns(),
        nano_cores: nano_cores.filter(|_| usage.cpu_ns.is_some()),
        usage,
        network,
        containers,
        record,
    }
}

/// The interfaces with the default one first.
fn default_first(mut interfaces: Vec<Interface>) -> Vec<Interface> {
    interfaces.sort_by_key(|i| (i.name != DEFAULT_INTERFACE, i.name.clone()));
    interfaces
}
