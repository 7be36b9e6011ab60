//! What CreateContainer asks for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_store::ResourcesRecord;

use crate::shared::NamespaceMode;

/// What `CreateContainer` asks for, free of gRPC types.
#[derive(Debug, Clone, Default)]
pub struct ContainerRequest {
    /// The pod.
    pub sandbox_id: String,
    /// Container name.
    pub name: String,
    /// The kubelet's restart count for this container; part of the name key.
    pub attempt: u32,
    /// Image reference or ID.
    pub image: String,
    /// Entrypoint override.
    pub command: Vec<String>,
    /// Cmd override.
    pub args: Vec<String>,
    /// Working directory override.
    pub working_dir: String,
    /// Environment, in order.
    pub envs: Vec<(String, String)>,
    /// Bind mounts.
    pub mounts: Vec<MountRequest>,
    /// Host devices to expose.
    pub devices: Vec<DeviceRequest>,
    /// CRI labels, for filtering.
    pub labels: BTreeMap<String, String>,
    /// CRI annotations, kept and reported.
    pub annotations: BTreeMap<String, String>,
    /// Log path relative to the pod's log directory.
    pub log_path: String,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep the container's input open for attachers (CRI `stdin`).
    pub stdin: bool,
    /// Close that input after the first attacher's ends (CRI `stdin_once`).
    pub stdin_once: bool,
    /// CPU, memory, hugepages and OOM score, as the runtime applies them.
    pub resources: ResourcesRecord,
    /// Privilege, capabilities, user, namespaces, seccomp.
    pub security: SecurityRequest,
    /// Container-level sysctls (namespaced ones only).
    pub sysctls: BTreeMap<String, String>,
}

/// A bind mount asked for.
#[derive(Debug, Clone, Default)]
pub struct MountRequest {
    /// Path in the container.
    pub container_path: String,
    /// Path on the node.
    pub host_path: String,
    /// Mounted read-only (its submounts may stay writable; see `recursive_read_only`).
    pub readonly: bool,
    /// Read-only all the way down, submounts included (needs `readonly`, Private
    /// propagation and a handler that supports it).
    pub recursive_read_only: bool,
    /// Mount propagation between node and container.
    pub propagation: Propagation,
}

/// A device asked for.
#[derive(Debug, Clone, Default)]
pub struct DeviceRequest {
    /// Path in the container.
    pub container_path: String,
    /// Device node on the node.
    pub host_path: String,
    /// cgroup permissions, `rwm`.
    pub permissions: String,
}

/// The security context asked for.
#[derive(Debug, Clone, Default)]
pub struct SecurityRequest {
    /// Every capability, every device, no seccomp, writable `/sys`.
    pub privileged: bool,
    /// Capabilities to add (`NET_ADMIN` or `CAP_NET_ADMIN`, or `ALL`).
    pub add_capabilities: Vec<String>,
    /// Capabilities to drop.
    pub drop_capabilities: Vec<String>,
    /// Read-only root file system.
    pub readonly_rootfs: bool,
    /// `no_new_privs`.
    pub no_new_privs: bool,
    /// Extra masked paths.
    pub masked_paths: Vec<String>,
    /// Extra read-only paths.
    pub readonly_paths: Vec<String>,
    /// User and groups.
    pub user: UserRequest,
    /// PID namespace mode.
    pub pid: NamespaceMode,
    /// With `pid` TARGET: the container whose PID namespace to join (ephemeral containers).
    pub pid_target: String,
    /// The seccomp profile; `None` for unconfined.
    pub seccomp: Option<SeccompProfile>,
    /// An AppArmor profile was asked for.
    pub apparmor: Option<String>,
    /// SELinux options were given.
    pub selinux: bool,
}

/// What the request says about the user.
#[derive(Debug, Clone, Default)]
pub struct UserRequest {
    /// `run_as_user`.
    pub uid: Option<u32>,
    /// `run_as_username`.
    pub username: Option<String>,
    /// `run_as_group`.
    pub gid: Option<u32>,
    /// `supplemental_groups`.
    pub supplemental: Vec<u32>,
    /// `supplemental_groups_policy`.
    pub groups_policy: GroupsPolicy,
}

/// How supplementary groups are computed (CRI `SupplementalGroupsPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupsPolicy {
    /// The request's groups plus the groups the image's `/etc/group` lists the user in.
    #[default]
    Merge,
    /// Only the request's groups: the image's `/etc/group` adds none.
    Strict,
}

/// Mount propagation of a bind mount.
///
/// Its one text form, [`Propagation::as_str`], is the OCI mount option (`rprivate`,
/// `rslave`, `rshared`); the container record keeps that form and Status parses it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// `rprivate`.
    #[default]
    Private,
    /// `rslave`: host mounts appear in the container.
    HostToContainer,
    /// `rshared`: both ways.
    Bidirectional,
}

/// Which seccomp profile a container asked for, free of gRPC types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompProfile {
    /// No filter.
    Unconfined,
    /// berth's built-in default profile.
    RuntimeDefault,
    /// An absolute path on the node to a JSON profile.
    Localhost(PathBuf),
}

impl Propagation {
    /// The OCI mount option, which is also how the record keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "rprivate",
            Propagation::HostToContainer => "rslave",
            Propagation::Bidirectional => "rshared",
        }
    }
}

impl std::fmt::Display for Propagation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recorded propagation that is none of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mount propagation {0:?}")]
pub struct UnknownPropagation(pub String);

impl std::str::FromStr for Propagation {
    type Err = UnknownPropagation;

    /// The form [`Propagation::as_str`] writes; also `private`, which records written before
    /// the record and the spec agreed on one form hold.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rprivate" | "private" => Ok(Propagation::Private),
            "rslave" => Ok(Propagation::HostToContainer),
            "rshared" => Ok(Propagation::Bidirectional),
            other => Err(UnknownPropagation(other.to_owned())),
        }
    }
}
