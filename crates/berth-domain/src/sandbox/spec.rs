//! The OCI spec of a sandbox's infra process.
//!
//! The rootfs is an empty directory berth makes: the host's `/usr` is bound read-only
//! (with `bin`, `lib`, `lib64` links into it, for the dynamic loader) and `berth-pause` is
//! bound at `/pause`. No image is pulled for a sandbox.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder,
    ProcessBuilder, RootBuilder, Spec,
};

/// What the infra spec depends on.
pub struct InfraSpec<'a> {
    /// The pod's hostname (UTS namespace).
    pub hostname: &'a str,
    /// The pinned network namespace to join; `None` for the node's network.
    pub netns: Option<&'a Path>,
    /// Share the node's IPC namespace.
    pub host_ipc: bool,
    /// Share the node's PID namespace.
    pub host_pid: bool,
    /// The runtime's `cgroupsPath`.
    pub cgroups_path: String,
    /// Pod-level sysctls, already validated.
    pub sysctls: &'a std::collections::BTreeMap<String, String>,
    /// Clamped to what berthd may set.
    pub oom_score_adj: i64,
    /// The `berth-pause` binary, bound at `/pause`.
    pub pause: &'a Path,
    /// The pod's own `/dev/shm` tmpfs; `None` means the host's (host IPC).
    pub shm: Option<&'a Path>,
}

fn bind(destination: &str, source: &Path, readonly: bool) -> Result<Mount, oci_spec::OciSpecError> {
    let mut options = vec!["rbind".to_owned(), "nosuid".to_owned(), "nodev".to_owned()];
    if readonly {
        options.push("ro".to_owned());
    }
    MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(options)
        .build()
}

fn namespace(
    kind: LinuxNamespaceType,
    path: Option<&Path>,
) -> Result<LinuxNamespace, oci_spec::OciSpecError> {
    let mut b = LinuxNamespaceBuilder::default().typ(kind);
    if let Some(path) = path {
        b = b.path(path);
    }
    b.build()
}

/// The infra bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The root file system's skeleton.
    #[error("preparing {}: {source}", rootfs.display())]
    Rootfs {
        /// The bundle's rootfs.
        rootfs: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The spec did not build or save.
    #[error("writing the infra spec: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
}

/// Writes the spec to `config` and prepares the empty root file system `rootfs` (the
/// bundle's two parts, where the layout puts them).
pub fn write_bundle(rootfs: &Path, config: &Path, spec: &InfraSpec<'_>) -> Result<(), BundleError> {
    let io = |source| BundleError::Rootfs {
        rootfs: rootfs.to_owned(),
        source,
    };
    std::fs::create_dir_all(rootfs.join("usr")).map_err(io)?;
    std::fs::File::create(rootfs.join("pause")).map_err(io)?;
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, rootfs.join(link)).map_err(io)?;
    }
    Ok(build(spec)?.save(config)?)
}

fn build(spec: &InfraSpec<'_>) -> Result<Spec, oci_spec::OciSpecError> {
    let mut oci = Spec::default();
    oci.set_hostname(Some(spec.hostname.to_owned()));
    oci.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(true)
            .build()?,
    ));
    let mut process = ProcessBuilder::default()
        .args(vec!["/pause".to_owned()])
        .cwd("/")
        .no_new_privileges(true)
        .build()?;
    process.set_oom_score_adj(Some(spec.oom_score_adj as i32));
    oci.set_process(Some(process));
    let mut mounts: Vec<Mount> = oci
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/dev/shm"))
        .collect();
    mounts.push(bind("/usr", Path::new("/usr"), true)?);
    mounts.push(bind("/pause", spec.pause, true)?);
    mounts.push(bind(
        "/dev/shm",
        spec.shm.unwrap_or(Path::new("/dev/shm")),
        false,
    )?);
    oci.set_mounts(Some(mounts));
    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Uts, None)?,
    ];
    if let Some(path) = spec.netns {
        namespaces.push(namespace(LinuxNamespaceType::Network, Some(path))?);
    }
    if !spec.host_ipc {
        namespaces.push(namespace(LinuxNamespaceType::Ipc, None)?);
    }
    if !spec.host_pid {
        namespaces.push(namespace(LinuxNamespaceType::Pid, None)?);
    }
    let mut linux = oci.linux().clone().unwrap_or_else(|| {
        LinuxBuilder::default()
            .build()
            .expect("empty linux section")
    });
    linux.set_namespaces(Some(namespaces));
    linux.set_cgroups_path(Some(spec.cgroups_path.clone().into()));
    if !spec.sysctls.is_empty() {
        linux.set_sysctl(Some(
            spec.sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ));
    }
    oci.set_linux(Some(linux));
    Ok(oci)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_infra_joins_the_pinned_netns_and_owns_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let sysctls = [(
            "net.ipv4.ip_unprivileged_port_start".to_owned(),
            "0".to_owned(),
        )]
        .into();
        let spec = InfraSpec {
            hostname: "web-0",
            netns: Some(Path::new("/run/berth/sandboxes/x/netns")),
            host_ipc: false,
            host_pid: true,
            cgroups_path: "/berth/x".into(),
            sysctls: &sysctls,
            oom_score_adj: 0,
            pause: Path::new("/usr/local/bin/berth-pause"),
            shm: Some(Path::new("/run/berth/sandboxes/x/shm")),
        };
        let config = dir.path().join("config.json");
        write_bundle(&dir.path().join("rootfs"), &config, &spec).unwrap();
        let oci = Spec::load(&config).unwrap();
        let ns = oci.linux().as_ref().unwrap().namespaces().clone().unwrap();
        let net = ns
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(
            net.path().as_deref(),
            Some(Path::new("/run/berth/sandboxes/x/netns"))
        );
        assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Ipc));
        assert!(
            !ns.iter().any(|n| n.typ() == LinuxNamespaceType::Pid),
            "host PID"
        );
        assert_eq!(oci.hostname().as_deref(), Some("web-0"));
        let shm: Vec<_> = oci
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|m| m.destination() == Path::new("/dev/shm"))
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0].typ().as_deref(), Some("bind"));
        assert!(dir.path().join("rootfs/bin").is_symlink());
    }
}
