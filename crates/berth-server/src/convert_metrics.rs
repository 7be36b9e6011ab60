//! `ListMetricDescriptors` and `ListPodSandboxMetrics`: pods' and containers' usage under
//! the names and labels cAdvisor gives them, which the kubelet serves at `/metrics/cadvisor`
//! when `PodAndContainerStatsFromCRI` is on (it turns each descriptor into a Prometheus
//! family and each metric into a sample of it, dropping a metric no descriptor names).
//!
//! Every series carries cAdvisor's labels `container`, `id`, `image`, `name`, `namespace`
//! and `pod`: a pod's own series (its cgroup's, its network's) have an empty `container`, as
//! cAdvisor's pod cgroup has; `id` is the pod's or container's ID, `name` its CRI name.
//! Some families add their own (`interface`, `device`, `failure_type` and `scope`). Keys and
//! values are kept sorted together, as the CRI asks. A value read at the call has timestamp
//! 0 ("gathered live"); a container's memory, processes, stall times and layer, which come
//! from the sampler's last pass, carry the time they were read. The CRI carries whole
//! numbers only: seconds are whole seconds.

use std::collections::BTreeMap;

use berth_domain::container::ContainerStats;
use berth_domain::sandbox::SandboxStats;
use berth_domain::stats::cgroup::{Memory, Pressure, Stall};
use k8s_cri::v1 as cri;

use cri::MetricType::{Counter, Gauge};

/// The labels every series carries.
const BASE_LABELS: [&str; 6] = ["container", "id", "image", "name", "namespace", "pod"];

/// One metric family: its name, help, type and the labels it adds to the base ones.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: cri::MetricType,
    extra: &'static [&'static str],
}

const fn family(
    name: &'static str,
    kind: cri::MetricType,
    extra: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        help,
        kind,
        extra,
    }
}

const CPU: &str = "container_cpu_usage_seconds_total";
const MEMORY_USAGE: &str = "container_memory_usage_bytes";
const WORKING_SET: &str = "container_memory_working_set_bytes";
const RSS: &str = "container_memory_rss";
const SWAP: &str = "container_memory_swap";
const FAILURES: &str = "container_memory_failures_total";
const MEMORY_LIMIT: &str = "container_spec_memory_limit_bytes";
const PROCESSES: &str = "container_processes";
const FS_USAGE: &str = "container_fs_usage_bytes";
const START_TIME: &str = "container_start_time_seconds";
const RX_BYTES: &str = "container_network_receive_bytes_total";
const TX_BYTES: &str = "container_network_transmit_bytes_total";
const RX_ERRORS: &str = "container_network_receive_errors_total";
const TX_ERRORS: &str = "container_network_transmit_errors_total";
const CPU_WAITING: &str = "container_pressure_cpu_waiting_seconds_total";
const CPU_STALLED: &str = "container_pressure_cpu_stalled_seconds_total";
const MEMORY_WAITING: &str = "container_pressure_memory_waiting_seconds_total";
const MEMORY_STALLED: &str = "container_pressure_memory_stalled_seconds_total";
const IO_WAITING: &str = "container_pressure_io_waiting_seconds_total";
const IO_STALLED: &str = "container_pressure_io_stalled_seconds_total";

/// Every family berth reports, with cAdvisor's help texts.
const FAMILIES: &[Family] = &[
    family(
        CPU,
        Counter,
        &[],
        "Cumulative cpu time consumed in seconds.",
    ),
    family(
        MEMORY_USAGE,
        Gauge,
        &[],
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
    ),
    family(WORKING_SET, Gauge, &[], "Current working set in bytes."),
    family(RSS, Gauge, &[], "Size of RSS in bytes."),
    family(SWAP, Gauge, &[], "Container swap usage in bytes."),
    family(
        FAILURES,
        Counter,
        &["failure_type", "scope"],
        "Cumulative count of memory allocation failures.",
    ),
    family(MEMORY_LIMIT, Gauge, &[], "Memory limit for the container."),
    family(
        PROCESSES,
        Gauge,
        &[],
        "Number of processes running inside the container.",
    ),
    family(
        FS_USAGE,
        Gauge,
        &["device"],
        "Number of bytes that are consumed by the container on this filesystem.",
    ),
    family(
        START_TIME,
        Gauge,
        &[],
        "Start time of the container since unix epoch in seconds.",
    ),
    family(
        RX_BYTES,
        Counter,
        &["interface"],
        "Cumulative count of bytes received",
    ),
    family(
        TX_BYTES,
        Counter,
        &["interface"],
        "Cumulative count of bytes transmitted",
    ),
    family(
        RX_ERRORS,
        Counter,
        &["interface"],
        "Cumulative count of errors encountered while receiving",
    ),
    family(
        TX_ERRORS,
        Counter,
        &["interface"],
        "Cumulative count of errors encountered while transmitting",
    ),
    family(
        CPU_WAITING,
        Counter,
        &[],
        "Total time duration tasks in the container have waited due to CPU congestion.",
    ),
    family(
        CPU_STALLED,
        Counter,
        &[],
        "Total time duration no tasks in the container could make progress due to CPU congestion.",
    ),
    family(
        MEMORY_WAITING,
        Counter,
        &[],
        "Total time duration tasks in the container have waited due to memory congestion.",
    ),
    family(
        MEMORY_STALLED,
        Counter,
        &[],
        "Total time duration no tasks in the container could make progress due to memory congestion.",
    ),
    family(
        IO_WAITING,
        Counter,
        &[],
        "Total time duration tasks in the container have waited due to IO congestion.",
    ),
    family(
        IO_STALLED,
        Counter,
        &[],
        "Total time duration no tasks in the container could make progress due to IO congestion.",
    ),
];

/// A family's label keys, sorted.
fn label_keys(family: &Family) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = BASE_LABELS.iter().chain(family.extra).copied().collect();
    keys.sort_unstable();
    keys
}

/// What `ListMetricDescriptors` answers.
pub(crate) fn descriptors() -> Vec<cri::MetricDescriptor> {
    FAMILIES
        .iter()
        .map(|f| cri::MetricDescriptor {
            name: f.name.to_owned(),
            help: f.help.to_owned(),
            label_keys: label_keys(f).into_iter().map(str::to_owned).collect(),
        })
        .collect()
}

/// The metrics of one series' owner (a pod or a container), built up family by family.
struct Series {
    base: BTreeMap<&'static str, String>,
    metrics: Vec<cri::Metric>,
    /// The timestamp the next samples carry: 0 for values read at the call.
    read_at_ns: i64,
}

impl Series {
    fn new(base: [(&'static str, String); 6]) -> Self {
        Self {
            base: base.into_iter().collect(),
            metrics: Vec::new(),
            read_at_ns: 0,
        }
    }

    /// Adds a sample of family `name` with its `extra` labels; a family berth does not
    /// describe is a bug caught by the tests.
    fn add(&mut self, name: &'static str, extra: &[(&'static str, &str)], value: u64) {
        let Some(family) = FAMILIES.iter().find(|f| f.name == name) else {
            debug_assert!(false, "no descriptor for {name}");
            return;
        };
        let mut labels = self.base.clone();
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.metrics.push(cri::Metric {
            name: name.to_owned(),
            timestamp: self.read_at_ns,
            metric_type: family.kind as i32,
            label_values: labels.into_values().collect(),
            value: Some(cri::UInt64Value { value }),
        });
    }

    fn cpu(&mut self, cpu_ns: Option<u64>) {
        if let Some(ns) = cpu_ns {
            self.add(CPU, &[], ns / 1_000_000_000);
        }
    }

    fn memory(&mut self, memory: Option<Memory>) {
        let Some(m) = memory else {
            return;
        };
        self.add(MEMORY_USAGE, &[], m.usage);
        self.add(WORKING_SET, &[], m.working_set);
        self.add(RSS, &[], m.rss);
        if let Some(swap) = m.swap_usage {
            self.add(SWAP, &[], swap);
        }
        let scope = ("scope", "container");
        self.add(
            FAILURES,
            &[("failure_type", "pgfault"), scope],
            m.page_faults,
        );
        self.add(
            FAILURES,
            &[("failure_type", "pgmajfault"), scope],
            m.major_page_faults,
        );
        self.add(MEMORY_LIMIT, &[], m.limit.unwrap_or(0));
    }

    fn processes(&mut self, count: Option<u64>) {
        if let Some(count) = count {
            self.add(PROCESSES, &[], count);
        }
    }

    fn pressure(&mut self, pressure: Option<Pressure>) {
        let Some(p) = pressure else {
            return;
        };
        let mut stall = |stall: Option<Stall>, waiting, stalled| {
            if let Some(s) = stall {
                self.add(waiting, &[], s.some_us / 1_000_000);
                self.add(stalled, &[], s.full_us / 1_000_000);
            }
        };
        stall(p.cpu, CPU_WAITING, CPU_STALLED);
        stall(p.memory, MEMORY_WAITING, MEMORY_STALLED);
        stall(p.io, IO_WAITING, IO_STALLED);
    }
}

/// What `ListPodSandboxMetrics` answers for one pod.
pub(crate) fn pod_metrics(s: SandboxStats) -> cri::PodSandboxMetrics {
    let r = &s.record;
    let pod_label = || r.metadata.name.clone();
    let namespace = || r.metadata.namespace.clone();
    let mut pod = Series::new([
        ("container", String::new()),
        ("id", r.id.clone()),
        ("image", String::new()),
        ("name", r.metadata.name.clone()),
        ("namespace", namespace()),
        ("pod", pod_label()),
    ]);
    pod.cpu(s.usage.cpu_ns);
    pod.memory(s.usage.memory);
    pod.processes(s.usage.pids);
    pod.pressure(s.usage.pressure);
    pod.add(START_TIME, &[], seconds(r.created_at_ns));
    for i in s.network.iter().flatten() {
        let interface = [("interface", i.name.as_str())];
        pod.add(RX_BYTES, &interface, i.rx_bytes);
        pod.add(TX_BYTES, &interface, i.tx_bytes);
        pod.add(RX_ERRORS, &interface, i.rx_errors);
        pod.add(TX_ERRORS, &interface, i.tx_errors);
    }
    let container_metrics = s
        .containers
        .iter()
        .map(|c| container_metrics(c, pod_label(), namespace()))
        .collect();
    cri::PodSandboxMetrics {
        pod_sandbox_id: r.id.clone(),
        metrics: pod.metrics,
        container_metrics,
    }
}

fn container_metrics(c: &ContainerStats, pod: String, namespace: String) -> cri::ContainerMetrics {
    let r = &c.record;
    let mut series = Series::new([
        ("container", r.metadata.name.clone()),
        ("id", r.id.clone()),
        ("image", r.image.clone()),
        ("name", r.metadata.name.clone()),
        ("namespace", namespace),
        ("pod", pod),
    ]);
    series.cpu(c.cpu_ns);
    if r.started_at_ns > 0 {
        series.add(START_TIME, &[], seconds(r.started_at_ns));
    }
    // The rest is the sampler's last reading.
    series.read_at_ns = c.read_at_ns;
    series.memory(c.memory);
    series.processes(c.processes);
    series.pressure(c.pressure);
    if let Some(layer) = c.layer {
        let device = c.layer_mountpoint.display().to_string();
        series.add(FS_USAGE, &[("device", &device)], layer.bytes);
    }
    cri::ContainerMetrics {
        container_id: r.id.clone(),
        metrics: series.metrics,
    }
}

fn seconds(ns: i64) -> u64 {
    u64::try_from(ns / 1_000_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_described_once_with_sorted_label_keys() {
        let descriptors = descriptors();
        let mut names: Vec<&str> = descriptors.iter().map(|d| d.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
        for d in &descriptors {
            assert!(d.name.starts_with("container_"), "{}", d.name);
            assert!(!d.help.is_empty());
            assert!(d.label_keys.is_sorted(), "{d:?}");
            for base in BASE_LABELS {
                assert!(d.label_keys.iter().any(|k| k == base), "{d:?}");
            }
        }
    }

    #[test]
    fn a_sample_has_one_value_per_label_key_in_the_keys_order() {
        let mut series = Series::new([
            ("container", "web".into()),
            ("id", "c1".into()),
            ("image", "busybox".into()),
            ("name", "web".into()),
            ("namespace", "default".into()),
            ("pod", "p".into()),
        ]);
        series.add(RX_BYTES, &[("interface", "eth0")], 42);
        let metric = &series.metrics[0];
        let keys = label_keys(FAMILIES.iter().find(|f| f.name == RX_BYTES).unwrap());
        assert_eq!(
            keys,
            [
                "container",
                "id",
                "image",
                "interface",
                "name",
                "namespace",
                "pod"
            ]
        );
        assert_eq!(
            metric.label_values,
            ["web", "c1", "busybox", "eth0", "web", "default", "p"]
        );
        assert_eq!(metric.metric_type, cri::MetricType::Counter as i32);
        assert_eq!(metric.value, Some(cri::UInt64Value { value: 42 }));
        assert_eq!(metric.timestamp, 0, "gathered live");
    }
}
