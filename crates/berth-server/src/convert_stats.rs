//! Stats between the CRI's messages and the domain's.

use berth_domain::container::{ContainerFilter, ContainerStats};
use berth_domain::sandbox::{SandboxFilter, SandboxStats};
use berth_domain::stats::cgroup::Memory;
use berth_domain::stats::network::Interface;
use k8s_cri::v1 as cri;

use crate::convert::sandbox_metadata;

/// A `ListContainerStats` filter as a container filter (running containers only, which the
/// domain adds).
pub(crate) fn container_stats_filter(f: cri::ContainerStatsFilter) -> ContainerFilter {
    ContainerFilter {
        id: Some(f.id).filter(|s| !s.is_empty()),
        sandbox_id: Some(f.pod_sandbox_id).filter(|s| !s.is_empty()),
        state: None,
        labels: f.label_selector.into_iter().collect(),
    }
}

/// A `ListPodSandboxStats` filter as a sandbox filter (ready pods only, which the domain
/// adds).
pub(crate) fn pod_stats_filter(f: cri::PodSandboxStatsFilter) -> SandboxFilter {
    SandboxFilter {
        id: Some(f.id).filter(|s| !s.is_empty()),
        ready: None,
        labels: f.label_selector.into_iter().collect(),
    }
}

fn value(value: u64) -> Option<cri::UInt64Value> {
    Some(cri::UInt64Value { value })
}

/// One container's stats as the CRI reports them.
pub(crate) fn container_stats(s: ContainerStats) -> cri::ContainerStats {
    let timestamp = s.timestamp_ns;
    let r = s.record;
    let cpu = s
        .cpu_ns
        .map(|used| cpu_usage(timestamp, used, s.nano_cores));
    // Memory, swap and the layer are as old as their reading (the sampler's last pass).
    let read_at = s.read_at_ns;
    let memory = s.memory.map(|m| memory_usage(read_at, m));
    let swap = s.memory.and_then(|m| {
        m.swap_usage.map(|used| cri::SwapUsage {
            timestamp: read_at,
            swap_available_bytes: m.swap_available().and_then(value),
            swap_usage_bytes: value(used),
        })
    });
    let writable_layer = s.layer.map(|layer| cri::FilesystemUsage {
        timestamp: read_at,
        fs_id: Some(cri::FilesystemIdentifier {
            mountpoint: s.layer_mountpoint.display().to_string(),
        }),
        used_bytes: value(layer.bytes),
        inodes_used: value(layer.inodes),
    });
    cri::ContainerStats {
        attributes: Some(cri::ContainerAttributes {
            id: r.id,
            metadata: Some(cri::ContainerMetadata {
                name: r.metadata.name,
                attempt: r.metadata.attempt,
            }),
            labels: r.labels.into_iter().collect(),
            annotations: r.annotations.into_iter().collect(),
        }),
        cpu,
        memory,
        writable_layer,
        swap,
    }
}

/// One pod's stats as the CRI reports them.
pub(crate) fn pod_stats(s: SandboxStats) -> cri::PodSandboxStats {
    let timestamp = s.timestamp_ns;
    let r = s.record;
    let cpu = s
        .usage
        .cpu_ns
        .map(|used| cpu_usage(timestamp, used, s.nano_cores));
    let network = s.network.map(|mut interfaces| {
        let default = (!interfaces.is_empty() && interfaces[0].name == "eth0")
            .then(|| interface_usage(interfaces.remove(0)));
        cri::NetworkUsage {
            timestamp,
            default_interface: default,
            interfaces: interfaces.into_iter().map(interface_usage).collect(),
        }
    });
    let process = s.usage.pids.map(|count| cri::ProcessUsage {
        timestamp,
        process_count: value(count),
    });
    cri::PodSandboxStats {
        attributes: Some(cri::PodSandboxAttributes {
            id: r.id,
            metadata: Some(sandbox_metadata(&r.metadata)),
            labels: r.labels.into_iter().collect(),
            annotations: r.annotations.into_iter().collect(),
        }),
        linux: Some(cri::LinuxPodSandboxStats {
            cpu,
            memory: s.usage.memory.map(|m| memory_usage(timestamp, m)),
            network,
            process,
            containers: s.containers.into_iter().map(container_stats).collect(),
        }),
        windows: None,
    }
}

fn cpu_usage(timestamp: i64, used_ns: u64, nano_cores: Option<u64>) -> cri::CpuUsage {
    cri::CpuUsage {
        timestamp,
        usage_core_nano_seconds: value(used_ns),
        usage_nano_cores: nano_cores.and_then(value),
    }
}

fn memory_usage(timestamp: i64, m: Memory) -> cri::MemoryUsage {
    cri::MemoryUsage {
        timestamp,
        working_set_bytes: value(m.working_set),
        available_bytes: m.available().and_then(value),
        usage_bytes: value(m.usage),
        rss_bytes: value(m.rss),
        page_faults: value(m.page_faults),
        major_page_faults: value(m.major_page_faults),
    }
}

fn interface_usage(i: Interface) -> cri::NetworkInterfaceUsage {
    cri::NetworkInterfaceUsage {
        name: i.name,
        rx_bytes: value(i.rx_bytes),
        rx_errors: value(i.rx_errors),
        tx_bytes: value(i.tx_bytes),
        tx_errors: value(i.tx_errors),
    }
}
