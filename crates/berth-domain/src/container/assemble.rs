//! Assembles a container's OCI spec for CreateContainer: resolves what `spec` takes as given
//! (the user through the image's account files, the bind mounts on the node, the working
//! directory, the environment, the clamped `oom_score_adj`), builds the spec, then adds what
//! comes from the node and the security profile (devices, hugepages, seccomp).
//!
//! Owns no state and makes nothing but the missing host paths of bind mounts; writing the
//! spec and running the runtime are `create`'s.

use std::path::Path;

use berth_image::RunConfig;
use berth_store::{MountRecord, SandboxNetwork, UserRecord};
use oci_spec::runtime::Spec;

use super::accounts::Accounts;
use super::devices::{self, DeviceError};
use super::mounts::{self, MountError};
use super::process::{self, CommandError, UnknownCapability, UserError};
use super::seccomp::{self, SeccompError};
use super::spec::{ContainerSpecInput, PodFiles, PodNamespaces, SpecError, container_spec};
use super::{ContainerRequest, SeccompProfile};
use crate::host::Host;
use crate::shared::NamespaceMode;
use crate::shared::limits::clamp_oom_score_adj;

/// Why the request, with this pod, image and node, makes no spec: a refusal of its content.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The user does not resolve in the image.
    #[error(transparent)]
    User(#[from] UserError),
    /// A bind mount cannot be made as asked.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// The spec cannot be built from the resolved input.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The seccomp profile cannot be made.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A device cannot be given.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// Why the request and the image make no process.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No command line.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A capability name is none of Linux's.
    #[error(transparent)]
    Capability(#[from] UnknownCapability),
}

/// The process worked out from the request and the image before anything is reserved.
pub(super) struct Plan {
    /// The command line.
    pub args: Vec<String>,
    /// The capability set.
    pub capabilities: Vec<String>,
}

impl Plan {
    /// The command line and the capability set, by Kubernetes' rules (`process`).
    pub fn new(req: &ContainerRequest, image: &RunConfig) -> Result<Self, PlanError> {
        let sec = &req.security;
        Ok(Self {
            args: process::command_line(&image.entrypoint, &image.cmd, &req.command, &req.args)?,
            capabilities: process::capabilities(
                &sec.add_capabilities,
                &sec.drop_capabilities,
                sec.privileged,
            )?,
        })
    }
}

/// Everything a container's spec is assembled from.
pub(super) struct Parts<'a> {
    /// The container (for log lines).
    pub id: &'a str,
    /// The request.
    pub req: &'a ContainerRequest,
    /// The network (and namespaces) of the pod it joins.
    pub pod: &'a SandboxNetwork,
    /// The image's defaults.
    pub image: &'a RunConfig,
    /// What was worked out beforehand.
    pub plan: Plan,
    /// With PID namespace TARGET, the target container's init.
    pub pid_target: i32,
    /// The container's root file system, mounted.
    pub rootfs: &'a Path,
    /// The pod's files every container mounts.
    pub pod_files: PodFiles,
    /// The pod's namespaces the container joins.
    pub pod_namespaces: PodNamespaces,
    /// The runtime's `cgroupsPath`.
    pub cgroups_path: String,
}

/// The spec, and what the record keeps of it.
#[derive(Debug)]
pub(super) struct Assembled {
    /// The OCI spec.
    pub spec: Spec,
    /// Who the first process runs as.
    pub user: UserRecord,
    /// The bind mounts as made.
    pub mounts: Vec<MountRecord>,
}

/// Assembles the spec; see the module header.
pub(super) fn assemble(parts: Parts<'_>, host: &dyn Host) -> Result<Assembled, AssembleError> {
    let Parts {
        id,
        req,
        pod,
        image,
        plan,
        pid_target,
        rootfs,
        pod_files,
        pod_namespaces,
        cgroups_path,
    } = parts;
    let sec = &req.security;
    let accounts = Accounts::read(rootfs);
    let user = process::resolve_user(&sec.user, &image.user, &accounts.passwd, &accounts.group)?;
    let user_record = UserRecord {
        uid: user.uid,
        gid: user.gid,
        supplemental_groups: user.all_gids(),
    };
    let cwd = [&req.working_dir, &image.working_dir]
        .into_iter()
        .find(|d| !d.is_empty())
        .cloned()
        .unwrap_or_else(|| "/".into());
    let binds = mounts::bind_mounts(&req.mounts, host)?;
    let mount_records = binds.iter().map(mounts::record).collect();
    let input = ContainerSpecInput {
        args: plan.args,
        env: process::environment(&image.env, &req.envs),
        cwd,
        user,
        tty: req.tty,
        capabilities: plan.capabilities,
        privileged: sec.privileged,
        readonly_rootfs: sec.readonly_rootfs,
        no_new_privs: sec.no_new_privs,
        masked_paths: sec.masked_paths.clone(),
        readonly_paths: sec.readonly_paths.clone(),
        mounts: binds,
        pod_files,
        pod_namespaces,
        host_network: pod.host_network,
        host_ipc: pod.host_ipc,
        pid: if pod.pid_mode == "node" {
            NamespaceMode::Node
        } else {
            sec.pid
        },
        pid_target,
        resources: (&req.resources).into(),
        oom_score_adj: clamp_oom_score_adj(req.resources.oom_score_adj, host.oom_score_adj()),
        cgroups_path,
        cgroup_namespace: host.cgroup_v2(),
        sysctls: req.sysctls.clone(),
    };
    let mut spec = container_spec(&input)?;
    let profile = sec.seccomp.clone().unwrap_or(SeccompProfile::Unconfined);
    let seccomp = seccomp::seccomp_for(&profile, &input.capabilities, sec.privileged)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(seccomp);
    }
    devices::add_devices(&mut spec, req, host)?;
    lsm_warnings(id, req, host);
    Ok(Assembled {
        spec,
        user: user_record,
        mounts: mount_records,
    })
}

/// AppArmor and SELinux options are accepted; without the LSM on this node they are ignored
/// with a warning, as containerd does.
fn lsm_warnings(id: &str, req: &ContainerRequest, host: &dyn Host) {
    if let Some(profile) = &req.security.apparmor {
        if !host.apparmor_enabled() {
            tracing::warn!(container_id = %id, profile = %profile, "AppArmor is not enabled on this node; the profile is ignored");
        } else {
            tracing::warn!(container_id = %id, profile = %profile, "berth does not apply AppArmor profiles yet; the profile is ignored");
        }
    }
    if req.security.selinux && !host.selinux_enabled() {
        tracing::warn!(container_id = %id, "SELinux is not enabled on this node; the options are ignored");
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxSeccompAction;

    use super::*;
    use crate::container::{DeviceRequest, MountRequest};
    use crate::host::fake::FakeHost;
    use crate::host::{DeviceNode, FileKind};
    use crate::request::Propagation;

    fn parts<'a>(
        req: &'a ContainerRequest,
        pod: &'a SandboxNetwork,
        image: &'a RunConfig,
        rootfs: &'a Path,
    ) -> Parts<'a> {
        Parts {
            id: "c1",
            req,
            pod,
            image,
            plan: Plan {
                args: vec!["/app".into()],
                capabilities: process::capabilities(&[], &[], false).unwrap(),
            },
            pid_target: 0,
            rootfs,
            pod_files: PodFiles::of(
                &berth_config::StateLayout::new("/var/lib/berth", "/run/berth"),
                "p",
            ),
            pod_namespaces: PodNamespaces::Infra(pod.infra_pid),
            cgroups_path: "/kubepods/c1".into(),
        }
    }

    #[test]
    fn the_image_user_env_and_workdir_fill_what_the_request_leaves_out() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "app:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/group"),
            "app:x:1000:\nextra:x:3000:app\n",
        )
        .unwrap();
        let image = RunConfig {
            env: vec!["PATH=/bin".into()],
            working_dir: "/srv".into(),
            user: "app".into(),
            ..Default::default()
        };
        let mut req = ContainerRequest {
            envs: vec![("A".into(), "1".into())],
            ..Default::default()
        };
        req.resources.oom_score_adj = -999;
        req.security.seccomp = Some(SeccompProfile::RuntimeDefault);
        let pod = SandboxNetwork::default();
        let host = FakeHost {
            oom_score_adj: -500,
            ..Default::default()
        };
        let made = assemble(parts(&req, &pod, &image, root.path()), &host).unwrap();
        assert_eq!(
            made.user,
            UserRecord {
                uid: 1000,
                gid: 1000,
                supplemental_groups: vec![1000, 3000]
            }
        );
        let process = made.spec.process().clone().unwrap();
        assert_eq!(process.env().clone().unwrap(), ["PATH=/bin", "A=1"]);
        assert_eq!(process.cwd(), Path::new("/srv"));
        assert_eq!(
            process.oom_score_adj(),
            Some(-500),
            "never below berthd's own"
        );
        let linux = made.spec.linux().clone().unwrap();
        let seccomp = linux.seccomp().clone().unwrap();
        assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(
            linux.cgroups_path().as_deref(),
            Some(Path::new("/kubepods/c1"))
        );
    }

    #[test]
    fn node_refusals_come_back_typed() {
        let root = tempfile::tempdir().unwrap();
        let image = RunConfig::default();
        let pod = SandboxNetwork::default();
        let tmp = root.path().canonicalize().unwrap();
        let req = ContainerRequest {
            mounts: vec![MountRequest {
                container_path: "/data".into(),
                host_path: tmp.display().to_string(),
                propagation: Propagation::Bidirectional,
                ..Default::default()
            }],
            ..Default::default()
        };
        let private = FakeHost::default().mount("/", false, false);
        let err = assemble(parts(&req, &pod, &image, root.path()), &private).unwrap_err();
        assert!(
            matches!(err, AssembleError::Mount(MountError::NotShared { .. })),
            "{err}"
        );

        let req = ContainerRequest {
            devices: vec![DeviceRequest {
                host_path: "/srv/file".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let host = FakeHost::default().device(
            "/srv/file",
            DeviceNode {
                kind: FileKind::Other,
                major: 0,
                minor: 0,
                mode: 0o644,
            },
        );
        let err = assemble(parts(&req, &pod, &image, root.path()), &host).unwrap_err();
        assert_eq!(err.to_string(), "/srv/file is not a device node");

        let mut req = ContainerRequest::default();
        req.security.user.username = Some("nobody".into());
        let err = assemble(parts(&req, &pod, &image, root.path()), &host).unwrap_err();
        assert!(
            matches!(err, AssembleError::User(UserError::UnknownUser(_))),
            "{err}"
        );
    }
}
