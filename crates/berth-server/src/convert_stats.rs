//! Stats between the CRI's messages and the domain's.

use berth_domain::container::{ContainerFilter, ContainerStats};
use k8s_cri::v1 as cri;

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

fn value(value: u64) -> Option<cri::UInt64Value> {
    Some(cri::UInt64Value { value })
}

/// One container's stats as the CRI reports them.
pub(crate) fn container_stats(s: ContainerStats) -> cri::ContainerStats {
    let timestamp = s.timestamp_ns;
    let r = s.record;
    let cpu = s.cpu_ns.map(|used| cri::CpuUsage {
        timestamp,
        usage_core_nano_seconds: value(used),
        usage_nano_cores: s.nano_cores.and_then(value),
    });
    let memory = s.memory.map(|m| cri::MemoryUsage {
        timestamp,
        working_set_bytes: value(m.working_set),
        available_bytes: m.available().and_then(value),
        usage_bytes: value(m.usage),
        rss_bytes: value(m.rss),
        page_faults: value(m.page_faults),
        major_page_faults: value(m.major_page_faults),
    });
    let swap = s.memory.and_then(|m| {
        m.swap_usage.map(|used| cri::SwapUsage {
            timestamp,
            swap_available_bytes: m.swap_available().and_then(value),
            swap_usage_bytes: value(used),
        })
    });
    let writable_layer = s.layer.map(|layer| cri::FilesystemUsage {
        timestamp,
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
