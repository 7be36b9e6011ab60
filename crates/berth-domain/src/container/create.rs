//! `CreateContainer`: check the pod (it must be READY: a pod being stopped or removed takes
//! no new container) and the request, reserve the name, record the intent, then build the
//! root file system, the OCI spec and the monitor that runs `create`. Any failure undoes
//! what was built, forgets the record and releases the name.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_image::ImageDetails;
use berth_store::{
    ContainerMetadata, ContainerRecord, ContainerSpecRecord, ContainerState, MountRecord,
    SandboxRecord, SandboxState, UserRecord, container_name,
};
use oci_spec::runtime::{
    LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder, Spec,
};

use super::spec::{BindMount, ContainerSpecInput, Propagation, Resources, container_spec};
use super::{
    ContainerRequest, ContainerService, DeviceRequest, SeccompProfile, Shared, blocking, exit,
    process, seccomp, signal,
};
use crate::sandbox::limits::{clamp_oom_score_adj, current_oom_score_adj};
use crate::sandbox::{NamespaceMode, cgroup};
use crate::validate::{self, sysctl};
use crate::{Error, monitor};

/// What CreateContainer takes from the image config.
struct ImageConfig {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<String>,
    working_dir: String,
    user: String,
    stop_signal: String,
}

impl ImageConfig {
    fn from(details: &ImageDetails) -> Self {
        let strings = |key: &str| -> Vec<String> {
            details
                .config
                .pointer(&format!("/config/{key}"))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let string = |key: &str| -> String {
            details
                .config
                .pointer(&format!("/config/{key}"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            env: strings("Env"),
            working_dir: string("WorkingDir"),
            user: string("User"),
            stop_signal: string("StopSignal"),
        }
    }
}

impl ContainerService {
    /// Creates a container and returns its ID. Every field is checked before anything is
    /// reserved or made.
    pub async fn create(&self, req: ContainerRequest) -> Result<String, Error> {
        let s = &self.shared;
        for (field, value) in [
            ("pod_sandbox_id", &req.sandbox_id),
            ("config.metadata.name", &req.name),
            ("config.image.image", &req.image),
        ] {
            if value.is_empty() {
                return Err(Error::InvalidRequest(format!(
                    "CreateContainer: {field} is required"
                )));
            }
        }
        validate::container(&req)?;
        let u = &req.security.user;
        if u.gid.is_some() && u.uid.is_none() && u.username.is_none() {
            return Err(Error::InvalidRequest(format!(
                "container {:?}: run_as_group is set without run_as_user or run_as_username",
                req.name
            )));
        }
        let pod_id = s
            .indexes
            .lock()
            .expect("indexes")
            .sandboxes
            .resolve(&req.sandbox_id)?;
        // Held to the end: Stop and Remove of the pod wait for this create, and a pod they
        // have begun to tear down is no longer READY.
        let pod_lock = s.pod_locks.get(&pod_id);
        let _pod_guard = pod_lock.lock().await;
        let pod = s
            .load_sandbox(&pod_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("sandbox {pod_id} not found")))?;
        if pod.state != SandboxState::Ready {
            return Err(Error::FailedPrecondition(format!(
                "sandbox {pod_id} is {:?}, not ready: no container can be created in it",
                pod.state
            )));
        }
        validate::features::recursive_read_only_supported(
            &req.name,
            &req.mounts,
            &pod.runtime_handler,
            s.handlers
                .features(&pod.runtime_handler)
                .recursive_read_only,
        )?;
        let image = s
            .images
            .details(&req.image)
            .map_err(|e| Error::Image(std::sync::Arc::new(e)))?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "image {:?} not found: pull it before creating container {:?}",
                    req.image, req.name
                ))
            })?;
        let config = ImageConfig::from(&image);
        let stop_signal = signal::parse_stop_signal(&config.stop_signal).map_err(|e| {
            Error::InvalidRequest(format!("image {:?} has a bad StopSignal: {e}", req.image))
        })?;
        let bad = |e: String| Error::InvalidRequest(format!("container {:?}: {e}", req.name));
        process::command_line(&config.entrypoint, &config.cmd, &req.command, &req.args)
            .map_err(|e| bad(e.to_string()))?;
        let sec = &req.security;
        process::capabilities(
            &sec.add_capabilities,
            &sec.drop_capabilities,
            sec.privileged,
        )
        .map_err(|e| bad(e.to_string()))?;
        let host = sysctl::HostNamespaces {
            network: pod.network.host_network,
            ipc: pod.network.host_ipc,
        };
        let object = validate::Object::container(&req.name);
        for (name, value) in &req.sysctls {
            object.check(format!("linux.sysctls[{name:?}]"), name, |n| {
                sysctl::name(n, host)
            })?;
            object.check(
                format!("linux.sysctls[{name:?}] value"),
                value,
                sysctl::value,
            )?;
        }
        let pid_target = if req.security.pid == NamespaceMode::Target {
            self.target_pid(&req.security.pid_target, &pod_id).await?
        } else {
            0
        };
        let log_path = validate::log_path(&req.name, &pod.network.log_directory, &req.log_path)?;

        let id = crate::sandbox::new_id()?;
        let metadata = ContainerMetadata {
            name: req.name.clone(),
            attempt: req.attempt,
        };
        {
            let mut indexes = s.indexes.lock().expect("indexes");
            indexes
                .names
                .reserve(&container_name(&pod.metadata, &metadata), &id)?;
            indexes.containers.insert(id.clone());
        }
        let mut record = ContainerRecord {
            id: id.clone(),
            sandbox_id: pod_id.clone(),
            metadata,
            image: req.image.clone(),
            image_ref: image.record.id.clone(),
            state: ContainerState::Creating,
            created_at_ns: crate::clock::now_ns(),
            started_at_ns: 0,
            finished_at_ns: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            log_path: log_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            labels: req.labels.clone(),
            annotations: req.annotations.clone(),
            runtime_handler: pod.runtime_handler.clone(),
            pid: 0,
            stop_signal,
            spec: ContainerSpecRecord {
                tty: req.tty,
                resources: req.resources.clone(),
                cgroups_path: cgroup::cgroups_path(
                    s.cgroup_driver,
                    &pod.network.cgroup_parent,
                    &id,
                ),
                ..Default::default()
            },
        };
        let live = s.track(&record, false);
        // Held until the container is made or undone: a RemoveContainer (or UpdateContainer-
        // Resources) that finds the new ID in a listing meanwhile waits for the creation
        // instead of deleting its directories from under it.
        let creating = live.clone();
        let _creating = creating.lock.lock().await;
        let built = match s.save(&record).await {
            Ok(()) => build(s, &mut record, &req, &pod, &image, config, pid_target).await,
            Err(e) => Err(e),
        };
        let built = match built {
            Ok(()) => {
                record.state = ContainerState::Created;
                s.save(&record).await
            }
            Err(e) => Err(e),
        };
        match built {
            Ok(()) => {
                exit::watch(s, &id, &live);
                tracing::info!(container_id = %id, pod_id = %pod_id, name = %req.name, pid = record.pid, "container created");
                Ok(id)
            }
            Err(cause) => {
                tracing::warn!(container_id = %id, error = %cause, "CreateContainer failed; undoing");
                if let Err(e) = s.destroy(&record, false).await {
                    tracing::warn!(container_id = %id, error = %e, "undo was incomplete");
                }
                if let Err(e) = s.forget(&record).await {
                    tracing::warn!(container_id = %id, error = %e, "cannot forget the failed container");
                }
                Err(cause)
            }
        }
    }
}

impl ContainerService {
    /// The init PID of the running container an ephemeral container targets (same pod).
    async fn target_pid(&self, target: &str, pod_id: &str) -> Result<i32, Error> {
        if target.is_empty() {
            return Err(Error::InvalidRequest(
                "PID namespace mode TARGET needs namespace_options.target_id".into(),
            ));
        }
        let id = self.resolve(target)?;
        let record = self.shared.get(&id).await?;
        if record.sandbox_id != pod_id || record.state != ContainerState::Running {
            return Err(Error::FailedPrecondition(format!(
                "target container {id} must be running in sandbox {pod_id} (it is {:?} in {})",
                record.state, record.sandbox_id
            )));
        }
        Ok(record.pid)
    }
}

/// Builds the root file system, the spec and the monitor; fills in the record.
async fn build(
    s: &Shared,
    record: &mut ContainerRecord,
    req: &ContainerRequest,
    pod: &SandboxRecord,
    image: &ImageDetails,
    config: ImageConfig,
    pid_target: i32,
) -> Result<(), Error> {
    let id = record.id.clone();
    let step = |step: &'static str| {
        let id = id.clone();
        move |reason: String| Error::Container { id, step, reason }
    };
    let runtime = s.runtime(&record.runtime_handler)?;
    // Root file system.
    let lowers: Vec<PathBuf> = image
        .record
        .chain_ids
        .iter()
        .map(|c| s.images.layer_path(c))
        .collect();
    let (dir, rootfs) = (s.dir(&id), s.rootfs(&id));
    let target = rootfs.clone();
    let mount_failed = step("mount the root file system");
    blocking("mounting the root file system", move || {
        berth_image::rootfs::mount_overlay(&lowers, &dir.join("upper"), &dir.join("work"), &target)
            .map_err(|e| mount_failed(e.to_string()))
    })
    .await?;

    // The process.
    let passwd = read_in_root(&rootfs, "etc/passwd");
    let group = read_in_root(&rootfs, "etc/group");
    let bad = |e: String| Error::InvalidRequest(format!("container {:?}: {e}", req.name));
    let user = process::resolve_user(&req.security.user, &config.user, &passwd, &group)
        .map_err(|e| bad(e.to_string()))?;
    record.spec.user = Some(UserRecord {
        uid: user.uid,
        gid: user.gid,
        supplemental_groups: user.all_gids(),
    });
    let args = process::command_line(&config.entrypoint, &config.cmd, &req.command, &req.args)
        .map_err(|e| bad(e.to_string()))?;
    let sec = &req.security;
    let capabilities = process::capabilities(
        &sec.add_capabilities,
        &sec.drop_capabilities,
        sec.privileged,
    )
    .map_err(|e| bad(e.to_string()))?;
    let cwd = [&req.working_dir, &config.working_dir]
        .into_iter()
        .find(|d| !d.is_empty())
        .cloned()
        .unwrap_or_else(|| "/".into());
    let mounts = bind_mounts(req).map_err(|e| bad(e.to_string()))?;
    record.spec.mounts = mounts
        .iter()
        .map(|m| MountRecord {
            container_path: m.container_path.clone(),
            host_path: m.host_path.display().to_string(),
            readonly: m.readonly,
            recursive_read_only: m.recursive_read_only,
            propagation: m.propagation.to_string(),
        })
        .collect();
    let r = &req.resources;
    let input = ContainerSpecInput {
        args,
        env: process::environment(&config.env, &req.envs),
        cwd,
        user,
        tty: req.tty,
        capabilities: capabilities.clone(),
        privileged: sec.privileged,
        readonly_rootfs: sec.readonly_rootfs,
        no_new_privs: sec.no_new_privs,
        masked_paths: sec.masked_paths.clone(),
        readonly_paths: sec.readonly_paths.clone(),
        mounts,
        pod_dir: s.sandbox_dir(&pod.id),
        infra_pid: pod.network.infra_pid,
        host_network: pod.network.host_network,
        host_ipc: pod.network.host_ipc,
        pid: if pod.network.pid_mode == "node" {
            NamespaceMode::Node
        } else {
            sec.pid
        },
        pid_target,
        resources: Resources {
            cpu_shares: r.cpu_shares.max(0) as u64,
            cpu_quota: r.cpu_quota,
            cpu_period: r.cpu_period.max(0) as u64,
            cpuset_cpus: r.cpuset_cpus.clone(),
            cpuset_mems: r.cpuset_mems.clone(),
            memory_limit: r.memory_limit_in_bytes,
        },
        oom_score_adj: clamp_oom_score_adj(r.oom_score_adj, current_oom_score_adj()),
        cgroups_path: record.spec.cgroups_path.clone(),
        sysctls: req.sysctls.clone(),
    };
    let mut spec = container_spec(&input).map_err(|e| bad(e.to_string()))?;
    let profile = sec.seccomp.clone().unwrap_or(SeccompProfile::Unconfined);
    let seccomp = seccomp::seccomp_for(&profile, &capabilities, sec.privileged)
        .map_err(|e| bad(e.to_string()))?;
    add_linux_extras(&mut spec, req, seccomp).map_err(|e| bad(e.to_string()))?;
    lsm_warnings(&id, req);
    let bundle = s.bundle(&id);
    let config_json = bundle.join("config.json");
    spec.save(&config_json)
        .map_err(|e| step("write config.json")(e.to_string()))?;

    // The monitor, which runs the runtime's `create`.
    if let Some(parent) = log_path_of(record).as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(parent)
            .map_err(|e| step("create the log directory")(format!("{}: {e}", parent.display())))?;
    }
    let (monitor_bin, binary, runtime_root, state, log, tty) = (
        s.helpers.monitor.clone(),
        runtime.binary().to_owned(),
        s.config.state.join("runtime").join(&record.runtime_handler),
        s.monitor_dir(&id),
        log_path_of(record),
        req.tty,
    );
    let oci_id = id.clone();
    let pid = blocking("creating the container", move || {
        monitor::spawn(&monitor::Launch {
            monitor: &monitor_bin,
            id: &oci_id,
            bundle: &bundle,
            runtime: &binary,
            runtime_root: &runtime_root,
            state: &state,
            log_path: log.as_deref(),
            tty,
        })
        .map_err(|reason| Error::container_runtime(&oci_id, "create the container", reason))
    })
    .await?;
    record.pid = pid;
    record.spec.memory_cgroup = memory_cgroup(pid).unwrap_or_default();
    Ok(())
}

fn log_path_of(record: &ContainerRecord) -> Option<PathBuf> {
    (!record.log_path.is_empty()).then(|| PathBuf::from(&record.log_path))
}

/// Reads a file of the image inside its root, never following a link out of it.
fn read_in_root(root: &Path, path: &str) -> String {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let Ok(dir) = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()) else {
        return String::new();
    };
    let Ok(fd) = rustix::fs::openat2(
        &dir,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) else {
        return String::new();
    };
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text);
    text
}

/// The request's bind mounts, host paths resolved through symlinks; a missing host path is
/// created as a directory, as the kubelet expects.
fn bind_mounts(req: &ContainerRequest) -> Result<Vec<BindMount>, String> {
    req.mounts
        .iter()
        .map(|m| {
            let host = Path::new(&m.host_path);
            let resolved = match host.canonicalize() {
                Ok(p) => p,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(host)
                        .map_err(|e| format!("cannot create host path {}: {e}", host.display()))?;
                    host.canonicalize()
                        .map_err(|e| format!("host path {}: {e}", host.display()))?
                }
                Err(e) => return Err(format!("host path {}: {e}", host.display())),
            };
            check_propagation(&resolved, m.propagation)?;
            Ok(BindMount {
                container_path: m.container_path.clone(),
                host_path: resolved,
                readonly: m.readonly,
                recursive_read_only: m.recursive_read_only,
                propagation: m.propagation,
            })
        })
        .collect()
}

/// Propagation into the container needs the node's mount to propagate: shared or slave for
/// `rslave`, shared for `rshared` (as containerd checks). Otherwise the request would
/// silently get a private mount.
fn check_propagation(path: &Path, propagation: Propagation) -> Result<(), String> {
    if propagation == Propagation::Private {
        return Ok(());
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    // The mount holding `path`: the longest mount point that contains it.
    let (point, optional) = info
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let point = Path::new(*fields.get(4)?);
            let end = fields.iter().position(|f| *f == "-")?;
            path.starts_with(point)
                .then(|| (point.to_owned(), fields[6..end].join(" ")))
        })
        .max_by_key(|(p, _)| p.as_os_str().len())
        .ok_or_else(|| format!("no mount holds {}", path.display()))?;
    let shared = optional.contains("shared:");
    let slave = optional.contains("master:");
    match propagation {
        Propagation::HostToContainer if !(shared || slave) => Err(format!(
            "host path {} is on mount {} which is neither shared nor slave: HostToContainer propagation needs one",
            path.display(),
            point.display()
        )),
        Propagation::Bidirectional if !shared => Err(format!(
            "host path {} is on mount {} which is not shared: Bidirectional propagation needs it",
            path.display(),
            point.display()
        )),
        _ => Ok(()),
    }
}

/// Devices, hugepage limits and seccomp.
fn add_linux_extras(
    spec: &mut Spec,
    req: &ContainerRequest,
    seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
) -> Result<(), String> {
    let Some(mut linux) = spec.linux().clone() else {
        return Ok(());
    };
    let mut resources = linux.resources().clone().unwrap_or_default();
    let mut allowed = resources.devices().clone().unwrap_or_default();
    if req.security.privileged {
        allowed.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .access("rwm")
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let mut devices = linux.devices().clone().unwrap_or_default();
    if req.security.privileged {
        // A privileged container sees the node's devices, as with containerd and CRI-O.
        for path in host_devices(Path::new("/dev")) {
            let d = DeviceRequest {
                container_path: path.display().to_string(),
                host_path: path.display().to_string(),
                permissions: "rwm".into(),
            };
            if let Ok((device, _)) = device(&d) {
                devices.push(device);
            }
        }
    }
    for d in &req.devices {
        let (device, rule) = device(d)?;
        devices.push(device);
        allowed.push(rule);
    }
    linux.set_devices(Some(devices));
    resources.set_devices(Some(allowed));
    let hugepages = req
        .resources
        .hugepage_limits
        .iter()
        .map(|(size, limit)| {
            LinuxHugepageLimitBuilder::default()
                .page_size(size.clone())
                .limit(*limit as i64)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !hugepages.is_empty() {
        resources.set_hugepage_limits(Some(hugepages));
    }
    linux.set_resources(Some(resources));
    linux.set_seccomp(seccomp);
    spec.set_linux(Some(linux));
    Ok(())
}

/// The device nodes under `dir`, recursively, except those every container gets anyway and
/// the pseudo-terminal, shared-memory and message-queue trees.
fn host_devices(dir: &Path) -> Vec<PathBuf> {
    const SKIP: &[&str] = &[
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/console",
        "/dev/ptmx",
    ];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if SKIP.iter().any(|s| path == Path::new(s)) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            out.extend(host_devices(&path));
        } else if kind.is_char_device() || kind.is_block_device() {
            out.push(path);
        }
    }
    out
}

/// A device node of the node, as the spec's device and its cgroup rule.
fn device(
    d: &DeviceRequest,
) -> Result<
    (
        oci_spec::runtime::LinuxDevice,
        oci_spec::runtime::LinuxDeviceCgroup,
    ),
    String,
> {
    let meta =
        std::fs::metadata(&d.host_path).map_err(|e| format!("device {}: {e}", d.host_path))?;
    let kind = if meta.file_type().is_char_device() {
        LinuxDeviceType::C
    } else if meta.file_type().is_block_device() {
        LinuxDeviceType::B
    } else {
        return Err(format!("{} is not a device node", d.host_path));
    };
    let rdev = meta.rdev();
    let (major, minor) = (
        rustix::fs::major(rdev) as i64,
        rustix::fs::minor(rdev) as i64,
    );
    let permissions = if d.permissions.is_empty() {
        "rwm".to_owned()
    } else {
        d.permissions.clone()
    };
    let path = if d.container_path.is_empty() {
        &d.host_path
    } else {
        &d.container_path
    };
    let device = LinuxDeviceBuilder::default()
        .path(path)
        .typ(kind)
        .major(major)
        .minor(minor)
        .file_mode(meta.mode() & 0o777)
        .uid(0u32)
        .gid(0u32)
        .build()
        .map_err(|e| e.to_string())?;
    let rule = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(kind)
        .major(major)
        .minor(minor)
        .access(permissions)
        .build()
        .map_err(|e| e.to_string())?;
    Ok((device, rule))
}

/// AppArmor and SELinux options are accepted; without the LSM on this node they are ignored
/// with a warning, as containerd does.
fn lsm_warnings(id: &str, req: &ContainerRequest) {
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false);
    if let Some(profile) = &req.security.apparmor {
        if !apparmor {
            tracing::warn!(container_id = %id, profile = %profile, "AppArmor is not enabled on this node; the profile is ignored");
        } else {
            tracing::warn!(container_id = %id, profile = %profile, "berth does not apply AppArmor profiles yet; the profile is ignored");
        }
    }
    if req.security.selinux && !Path::new("/sys/fs/selinux/enforce").exists() {
        tracing::warn!(container_id = %id, "SELinux is not enabled on this node; the options are ignored");
    }
}

/// The container's memory cgroup directory, from its init's `/proc/<pid>/cgroup`.
pub(super) fn memory_cgroup(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            return Some(format!("/sys/fs/cgroup/memory{path}"));
        }
        if controllers.is_empty() && Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            return Some(format!("/sys/fs/cgroup{path}"));
        }
    }
    None
}
