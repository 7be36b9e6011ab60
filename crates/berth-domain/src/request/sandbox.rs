//! What RunPodSandbox asks for.

use std::collections::BTreeMap;

use crate::shared::NamespaceMode;

/// The CRI `DnsConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// `nameserver` lines.
    pub servers: Vec<String>,
    /// The `search` line.
    pub searches: Vec<String>,
    /// The `options` line.
    pub options: Vec<String>,
}

/// A hostPort mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Port in the pod.
    pub container_port: u16,
    /// Port on the node.
    pub host_port: u16,
    /// Host IP to bind; empty for all.
    pub host_ip: String,
}

/// What `RunPodSandbox` asks for, free of gRPC types.
#[derive(Debug, Clone, Default)]
pub struct SandboxRequest {
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Pod namespace.
    pub namespace: String,
    /// The kubelet's retry count for this pod; part of the name key.
    pub attempt: u32,
    /// Hostname; empty for the node's.
    pub hostname: String,
    /// Log directory.
    pub log_directory: String,
    /// What goes into the pod's `resolv.conf`; empty for the node's.
    pub dns: DnsConfig,
    /// hostPorts, set up by the CNI `portmap` plugin.
    pub port_mappings: Vec<PortMapping>,
    /// CRI labels, for filtering.
    pub labels: BTreeMap<String, String>,
    /// CRI annotations, kept and reported.
    pub annotations: BTreeMap<String, String>,
    /// Cgroup parent.
    pub cgroup_parent: String,
    /// Pod-level sysctls for the infra (namespaced ones only).
    pub sysctls: BTreeMap<String, String>,
    /// Network namespace mode (Node = host network).
    pub network: NamespaceMode,
    /// PID namespace mode.
    pub pid: NamespaceMode,
    /// IPC namespace mode.
    pub ipc: NamespaceMode,
    /// RuntimeClass handler; empty for the default.
    pub runtime_handler: String,
}
