//! The OCI runtime spec of a container, from the resolved process, the pod and the request.
//! Pure: every input is resolved beforehand (user through the image files, command through
//! Kubernetes' rules), so the spec can be checked field by field in tests.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use berth_store::ResourcesRecord;
use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxMemoryBuilder,
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount,
    MountBuilder, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};

use super::process::{UnknownCapability, User};
use crate::request::Propagation;
use crate::shared::NamespaceMode;

/// The files of a pod that its containers mount, where the layout puts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFiles {
    /// The pod's `/dev/shm` tmpfs (unused with host IPC).
    pub shm: PathBuf,
    /// `/etc/hosts`.
    pub hosts: PathBuf,
    /// `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// `/etc/hostname`.
    pub hostname: PathBuf,
}

/// Where a container finds the namespaces it shares with its pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodNamespaces {
    /// The infra process's, by its PID (`/proc/<pid>/ns/…`).
    Infra(i32),
    /// Pinned by bind mounts in the pod's directory: a pod without an infra process, whose
    /// containers each have their own PID namespace (nothing would be a shared one's PID 1).
    Pinned {
        /// The network namespace.
        net: PathBuf,
        /// The IPC namespace.
        ipc: PathBuf,
        /// The UTS namespace.
        uts: PathBuf,
    },
}

impl PodNamespaces {
    /// Pod `pod`'s namespaces, as it was run.
    pub fn of(layout: &berth_config::StateLayout, pod: &berth_store::SandboxRecord) -> Self {
        if pod.network.pinned_namespaces {
            Self::Pinned {
                net: layout.sandbox_netns(&pod.id),
                ipc: layout.sandbox_ipcns(&pod.id),
                uts: layout.sandbox_utsns(&pod.id),
            }
        } else {
            Self::Infra(pod.network.infra_pid)
        }
    }

    /// The path of the pod's namespace `name` (`net`, `ipc`, `uts`, `pid`), if it has one.
    fn path(&self, name: &str) -> Option<PathBuf> {
        match self {
            Self::Infra(pid) => Some(PathBuf::from(format!("/proc/{pid}/ns/{name}"))),
            Self::Pinned { net, ipc, uts } => match name {
                "net" => Some(net.clone()),
                "ipc" => Some(ipc.clone()),
                "uts" => Some(uts.clone()),
                _ => None,
            },
        }
    }
}

impl PodFiles {
    /// Pod `id`'s files.
    pub fn of(layout: &berth_config::StateLayout, id: &str) -> Self {
        use berth_config::PodFile;
        Self {
            shm: layout.sandbox_shm(id),
            hosts: layout.sandbox_file(id, PodFile::Hosts),
            resolv_conf: layout.sandbox_file(id, PodFile::ResolvConf),
            hostname: layout.sandbox_file(id, PodFile::Hostname),
        }
    }
}

/// Why a container spec cannot be built from its input.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// PID namespace TARGET without the target's PID.
    #[error("PID namespace TARGET needs a running target container")]
    NoTargetPid,
    /// A capability name the OCI types do not know.
    #[error(transparent)]
    Capability(#[from] UnknownCapability),
    /// A part of the spec is refused by the OCI types.
    #[error(transparent)]
    Build(#[from] OciSpecError),
}

/// A bind mount from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Where it appears in the container.
    pub container_path: String,
    /// The host path (symlinks already resolved).
    pub host_path: PathBuf,
    /// Read-only.
    pub readonly: bool,
    /// Read-only recursively (`rro`): submounts of the host path too. Checked beforehand:
    /// only with `readonly`, Private propagation and a runtime that has it.
    pub recursive_read_only: bool,
    /// Propagation.
    pub propagation: Propagation,
}

/// CPU and memory limits (0 or empty means unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `cpu.shares`.
    pub cpu_shares: u64,
    /// CFS quota, µs.
    pub cpu_quota: i64,
    /// CFS period, µs.
    pub cpu_period: u64,
    /// cpuset CPUs.
    pub cpuset_cpus: String,
    /// cpuset memory nodes.
    pub cpuset_mems: String,
    /// Memory limit, bytes.
    pub memory_limit: i64,
    /// Memory plus swap, bytes: 0 unset, -1 unlimited.
    pub memory_swap: i64,
    /// cgroup v2 files to write (`unified`).
    pub unified: BTreeMap<String, String>,
}

impl From<&ResourcesRecord> for Resources {
    /// The request's resources; negative shares and periods are unset.
    fn from(r: &ResourcesRecord) -> Self {
        Self {
            cpu_shares: r.cpu_shares.max(0) as u64,
            cpu_quota: r.cpu_quota,
            cpu_period: r.cpu_period.max(0) as u64,
            cpuset_cpus: r.cpuset_cpus.clone(),
            cpuset_mems: r.cpuset_mems.clone(),
            memory_limit: r.memory_limit_in_bytes,
            memory_swap: r.memory_swap_limit_in_bytes,
            unified: r.unified.clone(),
        }
    }
}

/// Everything a container spec is built from.
#[derive(Debug, Clone)]
pub struct ContainerSpecInput {
    /// argv.
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// Working directory (absolute).
    pub cwd: String,
    /// The resolved user.
    pub user: User,
    /// Allocate a terminal.
    pub tty: bool,
    /// Capability names (`CAP_*`), already resolved from defaults, add and drop.
    pub capabilities: Vec<String>,
    /// Privileged: every capability, no masked or read-only paths.
    pub privileged: bool,
    /// Read-only root file system.
    pub readonly_rootfs: bool,
    /// `no_new_privs`.
    pub no_new_privs: bool,
    /// Extra masked paths.
    pub masked_paths: Vec<String>,
    /// Extra read-only paths.
    pub readonly_paths: Vec<String>,
    /// Bind mounts.
    pub mounts: Vec<BindMount>,
    /// The pod's files every container mounts.
    pub pod_files: PodFiles,
    /// The pod's namespaces, which the container joins.
    pub pod_namespaces: PodNamespaces,
    /// The pod uses the node's network (and UTS) namespace.
    pub host_network: bool,
    /// The pod uses the node's IPC namespace.
    pub host_ipc: bool,
    /// PID namespace mode of the container.
    pub pid: NamespaceMode,
    /// With `pid` TARGET: the PID of the target container's init, whose namespace it joins.
    pub pid_target: i32,
    /// Limits.
    pub resources: Resources,
    /// Clamped `oom_score_adj`.
    pub oom_score_adj: i64,
    /// The runtime's `cgroupsPath`.
    pub cgroups_path: String,
    /// A cgroup namespace of its own, so that `/sys/fs/cgroup` shows the container's own
    /// cgroup as its root (cgroup v2 nodes, as containerd and CRI-O do there; on v1 the
    /// hierarchy is the node's, as theirs).
    pub cgroup_namespace: bool,
    /// Sysctls (validated against the pod's namespaces).
    pub sysctls: BTreeMap<String, String>,
}

fn ns(kind: LinuxNamespaceType, path: Option<PathBuf>) -> Result<LinuxNamespace, OciSpecError> {
    let mut b = LinuxNamespaceBuilder::default().typ(kind);
    if let Some(p) = path {
        b = b.path(p);
    }
    b.build()
}

fn bind(destination: &str, source: &Path, options: Vec<String>) -> Result<Mount, OciSpecError> {
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
}

fn capability_set(names: &[String]) -> Result<Capabilities, UnknownCapability> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value(serde_json::Value::String(n.clone()))
                .map_err(|_| UnknownCapability(n.clone()))
        })
        .collect()
}

/// The propagation of the container's root mount. A bind mount's own `rshared` or `rslave`
/// only takes effect when the mounts above it in the container propagate too: without an
/// `rshared` root, a mount made inside the container under a Bidirectional volume never
/// reaches the host. As containerd: `rshared` when any mount is Bidirectional, `rslave` when
/// any is HostToContainer, otherwise the runtime's default (private).
fn rootfs_propagation(mounts: &[BindMount]) -> Option<String> {
    if mounts
        .iter()
        .any(|m| m.propagation == Propagation::Bidirectional)
    {
        Some(Propagation::Bidirectional.to_string())
    } else if mounts
        .iter()
        .any(|m| m.propagation == Propagation::HostToContainer)
    {
        Some(Propagation::HostToContainer.to_string())
    } else {
        None
    }
}

/// Builds the spec. The rootfs is `rootfs` inside the bundle (the container's overlay).
pub fn container_spec(input: &ContainerSpecInput) -> Result<Spec, SpecError> {
    let mut spec = Spec::default();
    // oci-spec's default names a hostname ("youki"); a container joins the pod's UTS
    // namespace and must not rename the pod.
    spec.set_hostname(None);
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(input.readonly_rootfs)
            .build()?,
    ));
    let caps = capability_set(&input.capabilities)?;
    // Inheritable and ambient are set, empty, on purpose: oci-spec's builder would fill them
    // with its default caps, and ambient capabilities outside the bounding set make the
    // runtime fail ("unable to apply caps: operation not permitted") when the request drops
    // ALL. Empty inheritable is also containerd's choice since CVE-2022-24769.
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()?;
    let user = UserBuilder::default()
        .uid(input.user.uid)
        .gid(input.user.gid)
        // The primary GID is in the list too: a process whose supplementary groups leave
        // it out can shed it with setgroups and bypass "negative" group permissions
        // (CVE-2023-25173 in containerd, the same fixed in CRI-O, Moby and Podman).
        .additional_gids(input.user.all_gids())
        .build()?;
    let mut process = ProcessBuilder::default()
        .args(input.args.clone())
        .env(input.env.clone())
        .cwd(input.cwd.clone())
        .terminal(input.tty)
        .user(user)
        .capabilities(capabilities)
        .no_new_privileges(input.no_new_privs)
        .build()?;
    process.set_oom_score_adj(Some(input.oom_score_adj as i32));
    spec.set_process(Some(process));

    // Default mounts minus /dev/shm, then the pod's files, then the request's. A privileged
    // container gets /sys and /sys/fs/cgroup writable, as containerd and CRI-O give it.
    let mut mounts: Vec<Mount> = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/dev/shm"))
        .map(|mut m| {
            let sys = [Path::new("/sys"), Path::new("/sys/fs/cgroup")];
            if input.privileged && sys.contains(&m.destination().as_path()) {
                let options = m.options().clone().unwrap_or_default();
                m.set_options(Some(options.into_iter().filter(|o| o != "ro").collect()));
            }
            m
        })
        .collect();
    let shm = if input.host_ipc {
        PathBuf::from("/dev/shm")
    } else {
        input.pod_files.shm.clone()
    };
    mounts.push(bind(
        "/dev/shm",
        &shm,
        vec![
            "rbind".into(),
            "nosuid".into(),
            "nodev".into(),
            "noexec".into(),
        ],
    )?);
    let files = &input.pod_files;
    for (file, dest) in [
        (&files.hosts, "/etc/hosts"),
        (&files.resolv_conf, "/etc/resolv.conf"),
        (&files.hostname, "/etc/hostname"),
    ] {
        if !input.mounts.iter().any(|m| m.container_path == dest) {
            let mut options = vec!["rbind".to_owned(), Propagation::Private.to_string()];
            if input.readonly_rootfs {
                options.push("ro".into());
            }
            mounts.push(bind(dest, file, options)?);
        }
    }
    for m in &input.mounts {
        let mut options = vec!["rbind".to_owned(), m.propagation.to_string()];
        if m.readonly {
            options.push("ro".into());
        }
        if m.recursive_read_only {
            // `ro` alone remounts only the top of an `rbind`: a submount of the host path
            // stays writable. `rro` has the runtime apply MOUNT_ATTR_RDONLY with AT_RECURSIVE
            // (mount_setattr, Linux 5.12) to the whole tree, as containerd asks.
            options.push("rro".into());
        }
        mounts.push(bind(&m.container_path, &m.host_path, options)?);
    }
    spec.set_mounts(Some(mounts));

    let pod_ns = |name: &str| input.pod_namespaces.path(name);
    let mut namespaces = vec![ns(LinuxNamespaceType::Mount, None)?];
    if !input.host_network {
        namespaces.push(ns(LinuxNamespaceType::Network, pod_ns("net"))?);
        namespaces.push(ns(LinuxNamespaceType::Uts, pod_ns("uts"))?);
    }
    if !input.host_ipc {
        namespaces.push(ns(LinuxNamespaceType::Ipc, pod_ns("ipc"))?);
    }
    match input.pid {
        // A pod without an infra has no PID namespace to share: it was run with PID mode
        // CONTAINER (or NODE, handled above), so each of its containers gets its own, which
        // is what POD means there (the kubelet asks the same mode of a pod and its
        // containers; a hand-written config often leaves the container's at the CRI default).
        NamespaceMode::Pod => namespaces.push(ns(LinuxNamespaceType::Pid, pod_ns("pid"))?),
        NamespaceMode::Container => namespaces.push(ns(LinuxNamespaceType::Pid, None)?),
        NamespaceMode::Node => {}
        NamespaceMode::Target if input.pid_target > 0 => namespaces.push(ns(
            LinuxNamespaceType::Pid,
            Some(PathBuf::from(format!("/proc/{}/ns/pid", input.pid_target))),
        )?),
        NamespaceMode::Target => return Err(SpecError::NoTargetPid),
    }
    if input.cgroup_namespace {
        namespaces.push(ns(LinuxNamespaceType::Cgroup, None)?);
    }
    let mut linux = spec
        .linux()
        .clone()
        .unwrap_or_else(|| LinuxBuilder::default().build().expect("empty linux"));
    linux.set_namespaces(Some(namespaces));
    linux.set_cgroups_path(Some(input.cgroups_path.clone().into()));
    linux.set_rootfs_propagation(rootfs_propagation(&input.mounts));
    if input.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        let mut masked = linux.masked_paths().clone().unwrap_or_default();
        masked.extend(input.masked_paths.iter().cloned());
        linux.set_masked_paths(Some(masked));
        let mut readonly = linux.readonly_paths().clone().unwrap_or_default();
        readonly.extend(input.readonly_paths.iter().cloned());
        linux.set_readonly_paths(Some(readonly));
    }
    if !input.sysctls.is_empty() {
        linux.set_sysctl(Some(
            input
                .sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ));
    }
    let r = &input.resources;
    let mut cpu = LinuxCpuBuilder::default();
    if r.cpu_shares > 0 {
        cpu = cpu.shares(r.cpu_shares);
    }
    if r.cpu_quota > 0 {
        cpu = cpu.quota(r.cpu_quota);
    }
    if r.cpu_period > 0 {
        cpu = cpu.period(r.cpu_period);
    }
    if !r.cpuset_cpus.is_empty() {
        cpu = cpu.cpus(r.cpuset_cpus.clone());
    }
    if !r.cpuset_mems.is_empty() {
        cpu = cpu.mems(r.cpuset_mems.clone());
    }
    let mut resources = LinuxResourcesBuilder::default().cpu(cpu.build()?);
    if r.memory_limit > 0 || r.memory_swap != 0 {
        let mut memory = LinuxMemoryBuilder::default();
        if r.memory_limit > 0 {
            memory = memory.limit(r.memory_limit);
        }
        if r.memory_swap != 0 {
            memory = memory.swap(r.memory_swap);
        }
        resources = resources.memory(memory.build()?);
    }
    if !r.unified.is_empty() {
        resources = resources.unified(r.unified.clone().into_iter().collect::<HashMap<_, _>>());
    }
    linux.set_resources(Some(resources.build()?));
    spec.set_linux(Some(linux));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ContainerSpecInput {
        ContainerSpecInput {
            args: vec!["sleep".into(), "60".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![3000],
            },
            tty: false,
            capabilities: super::super::process::capabilities(&[], &[], false).unwrap(),
            privileged: false,
            readonly_rootfs: false,
            no_new_privs: true,
            masked_paths: vec!["/proc/secret".into()],
            readonly_paths: vec![],
            mounts: vec![BindMount {
                container_path: "/data".into(),
                host_path: "/srv/data".into(),
                readonly: true,
                recursive_read_only: false,
                propagation: Propagation::HostToContainer,
            }],
            pod_files: PodFiles::of(
                &berth_config::StateLayout::new("/var/lib/berth", "/run/berth"),
                "p",
            ),
            pod_namespaces: PodNamespaces::Infra(42),
            pid_target: 0,
            host_network: false,
            host_ipc: false,
            pid: NamespaceMode::Pod,
            resources: Resources {
                cpu_shares: 512,
                cpu_quota: 50_000,
                cpu_period: 100_000,
                memory_limit: 64 << 20,
                memory_swap: 128 << 20,
                unified: [("pids.max".to_owned(), "64".to_owned())].into(),
                ..Default::default()
            },
            oom_score_adj: 1000,
            cgroups_path: "/kubepods/pod1/c1".into(),
            cgroup_namespace: false,
            sysctls: BTreeMap::new(),
        }
    }

    #[test]
    fn a_cgroup_v2_container_gets_its_own_cgroup_namespace() {
        let has_cgroupns = |input: &ContainerSpecInput| {
            let spec = container_spec(input).unwrap();
            let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none())
        };
        let mut v2 = input();
        assert!(
            !has_cgroupns(&v2),
            "v1: the node's hierarchy, as containerd"
        );
        v2.cgroup_namespace = true;
        assert!(has_cgroupns(&v2));
        let spec = container_spec(&v2).unwrap();
        let cgroup_mount = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/sys/fs/cgroup"))
            .expect("a /sys/fs/cgroup mount");
        assert_eq!(cgroup_mount.typ().as_deref(), Some("cgroup"));
        assert!(
            cgroup_mount
                .options()
                .as_ref()
                .unwrap()
                .contains(&"ro".to_owned())
        );
    }

    #[test]
    fn propagation_has_one_text_form_for_spec_and_record() {
        for p in [
            Propagation::Private,
            Propagation::HostToContainer,
            Propagation::Bidirectional,
        ] {
            assert_eq!(p.as_str().parse::<Propagation>(), Ok(p));
            let mut i = input();
            i.mounts[0].propagation = p;
            let spec = container_spec(&i).unwrap();
            let data = spec.mounts().as_ref().unwrap().last().cloned().unwrap();
            assert!(data.options().as_ref().unwrap().contains(&p.to_string()));
        }
        // Records written before the two agreed say "private".
        assert_eq!("private".parse(), Ok(Propagation::Private));
        assert_eq!(
            "shared".parse::<Propagation>(),
            Err(crate::request::UnknownPropagation("shared".into()))
        );
    }

    #[test]
    fn an_unknown_capability_is_refused() {
        let mut i = input();
        i.capabilities.push("CAP_MADE_UP".into());
        assert_eq!(
            container_spec(&i).unwrap_err().to_string(),
            "unknown capability \"CAP_MADE_UP\""
        );
    }

    #[test]
    fn a_recursive_read_only_mount_asks_for_rro() {
        let mut rro = input();
        rro.mounts = vec![BindMount {
            container_path: "/data".into(),
            host_path: "/srv/data".into(),
            readonly: true,
            recursive_read_only: true,
            propagation: Propagation::Private,
        }];
        let spec = container_spec(&rro).unwrap();
        let data = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/data"))
            .cloned()
            .unwrap();
        assert_eq!(
            data.options().clone().unwrap(),
            ["rbind", "rprivate", "ro", "rro"]
        );
    }

    #[test]
    fn a_container_joins_its_pods_namespaces() {
        let spec = container_spec(&input()).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let ns = linux.namespaces().as_ref().unwrap();
        let path = |k| {
            ns.iter()
                .find(|n| n.typ() == k)
                .and_then(|n| n.path().clone())
        };
        assert_eq!(
            path(LinuxNamespaceType::Network),
            Some("/proc/42/ns/net".into())
        );
        assert_eq!(
            path(LinuxNamespaceType::Ipc),
            Some("/proc/42/ns/ipc".into())
        );
        assert_eq!(
            path(LinuxNamespaceType::Uts),
            Some("/proc/42/ns/uts".into())
        );
        assert_eq!(
            path(LinuxNamespaceType::Pid),
            Some("/proc/42/ns/pid".into())
        );
        let mut own_pid = input();
        own_pid.pid = NamespaceMode::Container;
        let spec = container_spec(&own_pid).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none())
        );
        let mut host = input();
        (host.host_network, host.pid) = (true, NamespaceMode::Node);
        let spec = container_spec(&host).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(!ns.iter().any(|n| matches!(
            n.typ(),
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid | LinuxNamespaceType::Uts
        )));
    }

    #[test]
    fn in_a_pod_without_infra_a_container_joins_the_pins_and_has_its_own_pids() {
        let mut pinned = input();
        pinned.pod_namespaces = PodNamespaces::Pinned {
            net: "/run/berth/sandboxes/p/netns".into(),
            ipc: "/run/berth/sandboxes/p/ipcns".into(),
            uts: "/run/berth/sandboxes/p/utsns".into(),
        };
        let spec = container_spec(&pinned).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let path = |k| {
            ns.iter()
                .find(|n| n.typ() == k)
                .map(|n| n.path().clone())
                .expect("the namespace is in the spec")
        };
        assert_eq!(
            path(LinuxNamespaceType::Network),
            Some("/run/berth/sandboxes/p/netns".into())
        );
        assert_eq!(
            path(LinuxNamespaceType::Ipc),
            Some("/run/berth/sandboxes/p/ipcns".into())
        );
        assert_eq!(
            path(LinuxNamespaceType::Uts),
            Some("/run/berth/sandboxes/p/utsns".into())
        );
        // PID mode POD (the CRI default) there is a PID namespace of its own.
        assert_eq!(pinned.pid, NamespaceMode::Pod);
        assert_eq!(path(LinuxNamespaceType::Pid), None);
    }

    #[test]
    fn pod_files_mounts_user_caps_and_limits_are_set() {
        let spec = container_spec(&input()).unwrap();
        let mounts = spec.mounts().as_ref().unwrap();
        let find = |d: &str| {
            mounts
                .iter()
                .find(|m| m.destination() == Path::new(d))
                .cloned()
        };
        assert_eq!(
            find("/etc/resolv.conf").unwrap().source().as_deref(),
            Some(Path::new("/run/berth/sandboxes/p/resolv.conf"))
        );
        assert_eq!(
            find("/dev/shm").unwrap().source().as_deref(),
            Some(Path::new("/run/berth/sandboxes/p/shm"))
        );
        let data = find("/data").unwrap();
        assert!(
            data.options()
                .as_ref()
                .unwrap()
                .contains(&"rslave".to_owned())
        );
        assert!(data.options().as_ref().unwrap().contains(&"ro".to_owned()));
        assert!(!data.options().as_ref().unwrap().contains(&"rro".to_owned()));
        let process = spec.process().as_ref().unwrap();
        assert_eq!((process.user().uid(), process.user().gid()), (1000, 1000));
        // The primary GID is among the supplementary groups (CVE-2023-25173).
        assert_eq!(
            process.user().additional_gids().clone(),
            Some(vec![1000, 3000])
        );
        assert_eq!(process.no_new_privileges(), Some(true));
        let caps = process
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .clone()
            .unwrap();
        assert_eq!(
            caps.len(),
            super::super::process::DEFAULT_CAPABILITIES.len()
        );
        // A HostToContainer mount makes the root rslave, so host mounts reach it.
        assert_eq!(
            spec.linux()
                .as_ref()
                .unwrap()
                .rootfs_propagation()
                .as_deref(),
            Some("rslave")
        );
        // No inheritable or ambient capabilities (dropping ALL must leave none anywhere).
        let all = process.capabilities().as_ref().unwrap();
        assert_eq!(all.inheritable().as_ref().map(|c| c.len()), Some(0));
        assert_eq!(all.ambient().as_ref().map(|c| c.len()), Some(0));
        let linux = spec.linux().as_ref().unwrap();
        assert!(
            linux
                .masked_paths()
                .as_ref()
                .unwrap()
                .contains(&"/proc/secret".to_owned())
        );
        let cpu = linux.resources().as_ref().unwrap().cpu().clone().unwrap();
        assert_eq!(
            (cpu.shares(), cpu.quota(), cpu.period()),
            (Some(512), Some(50_000), Some(100_000))
        );
        assert_eq!(
            linux
                .resources()
                .as_ref()
                .unwrap()
                .memory()
                .as_ref()
                .unwrap()
                .limit(),
            Some(64 << 20)
        );
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/kubepods/pod1/c1"))
        );
    }

    #[test]
    fn privileged_gets_sys_and_its_cgroups_writable() {
        let ro = |input: &ContainerSpecInput, dest: &str| {
            let spec = container_spec(input).unwrap();
            let m = spec.mounts().clone().unwrap();
            let m = m
                .iter()
                .find(|m| m.destination() == Path::new(dest))
                .unwrap();
            m.options().as_ref().unwrap().contains(&"ro".to_owned())
        };
        let mut p = input();
        assert!(ro(&p, "/sys") && ro(&p, "/sys/fs/cgroup"));
        p.privileged = true;
        assert!(!ro(&p, "/sys") && !ro(&p, "/sys/fs/cgroup"));
    }

    #[test]
    fn privileged_drops_masks_and_target_pid_is_refused() {
        let mut p = input();
        p.privileged = true;
        let spec = container_spec(&p).unwrap();
        assert!(spec.linux().as_ref().unwrap().masked_paths().is_none());
        let mut t = input();
        t.pid = NamespaceMode::Target;
        assert!(matches!(container_spec(&t), Err(SpecError::NoTargetPid)));
        t.pid_target = 77;
        let spec = container_spec(&t).unwrap();
        let ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Pid
            && n.path().as_deref() == Some(Path::new("/proc/77/ns/pid"))));
    }
}
