//! The records kept in the store. Fields only grow; a change of meaning bumps `VERSION`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Record;

/// A pod's identity, from the CRI `PodSandboxMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMetadata {
    /// The pod's name in its namespace, as the kubelet sent it.
    pub name: String,
    /// The pod object's UID: the same for every sandbox of one pod.
    pub uid: String,
    /// The Kubernetes namespace the pod is in.
    pub namespace: String,
    /// Which sandbox of the pod this is: 0 for the first, one more each time the kubelet
    /// makes the pod's sandbox again.
    pub attempt: u32,
}

/// A container's identity within its pod, from the CRI `ContainerMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMetadata {
    /// The container's name in its pod spec (unique within the pod).
    pub name: String,
    /// Which run of that container this is: 0 for the first, one more per restart.
    pub attempt: u32,
}

/// Where a sandbox is in its life (docs/lifecycle.md, "Pod sandboxes"). `Creating` and
/// `Terminating` are intent records: recovery finishes or undoes what they name
/// (docs/lifecycle.md, "berthd restarts and crashes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxState {
    /// RunPodSandbox is under way.
    Creating,
    /// Running with its namespaces and network.
    Ready,
    /// Stopped, or its infra process is gone.
    NotReady,
    /// Removal is under way.
    Terminating,
    /// Its state can no longer be accounted for.
    Unknown,
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    /// CreateContainer is under way.
    Creating,
    /// Created, not started.
    Created,
    /// Its process runs.
    Running,
    /// Its process ended; the exit code is recorded.
    Exited,
    /// Removal is under way.
    Removing,
    /// Its state can no longer be accounted for.
    Unknown,
}

impl SandboxRecord {
    /// READY in the store (whether its infra still runs is the controller's to say).
    pub fn is_ready(&self) -> bool {
        self.state == SandboxState::Ready
    }

    /// Stopped: nothing of it runs, its network is down.
    pub fn is_stopped(&self) -> bool {
        self.state == SandboxState::NotReady
    }

    /// RemovePodSandbox has begun: no container may join it.
    pub fn is_terminating(&self) -> bool {
        self.state == SandboxState::Terminating
    }
}

impl ContainerRecord {
    /// Created, not yet started.
    pub fn is_created(&self) -> bool {
        self.state == ContainerState::Created
    }

    /// Its process runs.
    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
    }

    /// Created or running: its process may exist, so it has an exit watcher.
    pub fn may_run(&self) -> bool {
        matches!(
            self.state,
            ContainerState::Created | ContainerState::Running
        )
    }

    /// RemoveContainer has begun.
    pub fn is_removing(&self) -> bool {
        self.state == ContainerState::Removing
    }

    /// Its state can no longer be accounted for.
    pub fn is_unknown(&self) -> bool {
        self.state == ContainerState::Unknown
    }
}

/// A pod sandbox as berth keeps it across restarts: what the kubelet asked for, what was
/// made, and where it is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// 64 hex digits.
    pub id: String,
    /// Its CRI identity.
    pub metadata: PodMetadata,
    /// Its state.
    pub state: SandboxState,
    /// Creation time, nanoseconds since the epoch.
    pub created_at_ns: i64,
    /// The RuntimeClass handler it runs under.
    pub runtime_handler: String,
    /// CRI labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// CRI annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// How it was built and what it got: everything Stop, Remove and Status need.
    #[serde(default)]
    pub network: SandboxNetwork,
}

/// A sandbox's namespaces and network, as run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxNetwork {
    /// The pod hostname.
    #[serde(default)]
    pub hostname: String,
    /// Pinned netns path; empty with host networking.
    #[serde(default)]
    pub netns: String,
    /// Uses the node's network namespace.
    #[serde(default)]
    pub host_network: bool,
    /// Uses the node's IPC namespace.
    #[serde(default)]
    pub host_ipc: bool,
    /// PID namespace mode: `pod`, `node` (container-private is a container's choice).
    #[serde(default)]
    pub pid_mode: String,
    /// The pod's IPs, primary first.
    #[serde(default)]
    pub ips: Vec<String>,
    /// The CNI network name used (for DEL).
    #[serde(default)]
    pub cni_network: String,
    /// hostPort mappings as (host port, container port, protocol, host IP).
    #[serde(default)]
    pub port_mappings: Vec<(u16, u16, String, String)>,
    /// The infra process's PID (0 in a pod without one).
    #[serde(default)]
    pub infra_pid: i32,
    /// The pod has no infra process: its IPC and UTS namespaces are pinned beside its netns
    /// (records written before berth could do that lack the field: they have an infra).
    #[serde(default)]
    pub pinned_namespaces: bool,
    /// CRI `cgroup_parent`.
    #[serde(default)]
    pub cgroup_parent: String,
    /// The cgroup parent did not exist before this pod: berth's runtime made it, and
    /// RemovePodSandbox releases it (the kubelet makes and removes its own).
    #[serde(default)]
    pub made_cgroup_parent: bool,
    /// CRI `log_directory`.
    #[serde(default)]
    pub log_directory: String,
}

impl Record for SandboxRecord {
    const TABLE: &'static str = "sandboxes";
    const VERSION: u32 = 1;
    fn id(&self) -> &str {
        &self.id
    }
}

/// A container as berth keeps it across restarts: what the kubelet asked for, what was
/// made, and how its process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    /// The sandbox it belongs to.
    pub sandbox_id: String,
    /// Its CRI identity.
    pub metadata: ContainerMetadata,
    /// The image as the request named it.
    #[serde(default)]
    pub image: String,
    /// The image it was created from, resolved to an image ID.
    pub image_ref: String,
    /// Its state.
    pub state: ContainerState,
    /// Creation time, ns since the epoch.
    pub created_at_ns: i64,
    /// Start time, ns since the epoch; 0 if never started.
    #[serde(default)]
    pub started_at_ns: i64,
    /// Finish time, ns since the epoch; 0 if not finished.
    #[serde(default)]
    pub finished_at_ns: i64,
    /// Exit code once exited.
    #[serde(default)]
    pub exit_code: i32,
    /// CRI reason (e.g. `Completed`, `Error`, `OOMKilled`).
    #[serde(default)]
    pub reason: String,
    /// CRI message: a human-readable detail of `reason`; empty when there is none.
    #[serde(default)]
    pub message: String,
    /// Absolute CRI log path, or empty.
    #[serde(default)]
    pub log_path: String,
    /// CRI labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// CRI annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The RuntimeClass handler (its sandbox's).
    #[serde(default)]
    pub runtime_handler: String,
    /// The container init's PID once created; 0 before.
    #[serde(default)]
    pub pid: i32,
    /// The signal Stop sends first, fixed at create (image `StopSignal`, else SIGTERM).
    #[serde(default)]
    pub stop_signal: i32,
    /// What it was created with, for Status, Update and Exec.
    #[serde(default)]
    pub spec: ContainerSpecRecord,
}

/// The parts of a container's configuration that later calls need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpecRecord {
    /// Bind mounts.
    #[serde(default)]
    pub mounts: Vec<MountRecord>,
    /// Resources as last applied.
    #[serde(default)]
    pub resources: ResourcesRecord,
    /// Whether it has a terminal.
    #[serde(default)]
    pub tty: bool,
    /// Whether its input is open for attachers (CRI `stdin`).
    #[serde(default)]
    pub stdin: bool,
    /// Whether that input closes after the first attacher's ends (CRI `stdin_once`).
    #[serde(default)]
    pub stdin_once: bool,
    /// The runtime's `cgroupsPath`.
    #[serde(default)]
    pub cgroups_path: String,
    /// The container's memory cgroup directory on the node (for OOM detection), once started.
    #[serde(default)]
    pub memory_cgroup: String,
    /// Who its first process runs as; `None` in records written before berth kept it.
    #[serde(default)]
    pub user: Option<UserRecord>,
}

/// The identity a container's first process starts with (CRI `LinuxContainerUser`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The UID it runs as.
    pub uid: u32,
    /// Its primary GID.
    pub gid: u32,
    /// Every group it holds, the primary included, sorted.
    pub supplemental_groups: Vec<u32>,
}

/// A bind mount as created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// Path in the container.
    pub container_path: String,
    /// Path on the node (symlinks resolved).
    pub host_path: String,
    /// Mounted read-only (the mount itself; its submounts stay as they are unless
    /// `recursive_read_only`).
    pub readonly: bool,
    /// Read-only recursively (`rro`), submounts included.
    #[serde(default)]
    pub recursive_read_only: bool,
    /// `private`, `rslave` or `rshared`.
    pub propagation: String,
}

/// Linux resources (0 or empty: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcesRecord {
    /// CFS period, µs.
    #[serde(default)]
    pub cpu_period: i64,
    /// CFS quota, µs.
    #[serde(default)]
    pub cpu_quota: i64,
    /// `cpu.shares`, the relative CPU weight: 2..=262144 (runc converts it to `cpu.weight`
    /// on cgroup v2).
    #[serde(default)]
    pub cpu_shares: i64,
    /// Memory limit, bytes.
    #[serde(default)]
    pub memory_limit_in_bytes: i64,
    /// `oom_score_adj`.
    #[serde(default)]
    pub oom_score_adj: i64,
    /// CPUs the container may run on, as a cpuset list (`0-3,5`).
    #[serde(default)]
    pub cpuset_cpus: String,
    /// cpuset memory nodes.
    #[serde(default)]
    pub cpuset_mems: String,
    /// Hugepage limits: page size (`2MB`) to bytes.
    #[serde(default)]
    pub hugepage_limits: BTreeMap<String, u64>,
    /// Memory plus swap, bytes (the OCI `memory.swap`): 0 unset, -1 unlimited.
    #[serde(default)]
    pub memory_swap_limit_in_bytes: i64,
    /// cgroup v2 files and the values to write to them (`memory.high`, `pids.max`): the OCI
    /// `unified`, on cgroup v2 nodes only.
    #[serde(default)]
    pub unified: BTreeMap<String, String>,
}

impl Record for ContainerRecord {
    const TABLE: &'static str = "containers";
    const VERSION: u32 = 1;
    fn id(&self) -> &str {
        &self.id
    }
}

/// An image in the local store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest, `sha256:…`.
    pub id: String,
    /// Tags naming it, normalised (`docker.io/library/busybox:latest`).
    #[serde(default)]
    pub repo_tags: Vec<String>,
    /// Digests naming it (`docker.io/library/busybox@sha256:…`).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Unpacked size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Pinned images are never garbage-collected by the kubelet.
    #[serde(default)]
    pub pinned: bool,
    /// Digest of the platform manifest the image was unpacked from.
    #[serde(default)]
    pub manifest_digest: String,
    /// Digests of the layer blobs in the content store, base first.
    #[serde(default)]
    pub layers: Vec<String>,
    /// Chain IDs of the unpacked layers, base first (the overlayfs lower dirs).
    #[serde(default)]
    pub chain_ids: Vec<String>,
}

impl Record for ImageRecord {
    const TABLE: &'static str = "images";
    const VERSION: u32 = 1;
    fn id(&self) -> &str {
        &self.id
    }
}
