//! The node's devices a container gets (the ones asked for; every one when privileged), the
//! device cgroup rules that let it use them, and its hugepage limits: the parts of the spec's
//! `linux` section that come from the node rather than from the request alone.

use std::path::Path;

use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Linux, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxHugepageLimitBuilder, Spec,
};

use super::{ContainerRequest, DeviceRequest};
use crate::host::{FileKind, Host};

/// Why a device cannot be given to the container.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The host path cannot be looked at.
    #[error("device {path}: {source}")]
    Stat {
        /// The device's host path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The host path is a file of another kind.
    #[error("{path} is not a device node")]
    NotADevice {
        /// The device's host path.
        path: String,
    },
    /// A device, rule or limit is refused by the OCI types.
    #[error(transparent)]
    Build(#[from] OciSpecError),
}

/// What every container gets anyway (the runtime's defaults), and the pseudo-terminal,
/// shared-memory and message-queue trees: never copied from the node for a privileged
/// container.
const NOT_FROM_THE_NODE: &[&str] = &[
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

/// Adds the request's devices, and for a privileged container every device of the node and
/// a rule allowing all, then the hugepage limits, to the spec's `linux` section.
pub(super) fn add_devices(
    spec: &mut Spec,
    req: &ContainerRequest,
    host: &dyn Host,
) -> Result<(), DeviceError> {
    let Some(linux) = spec.linux_mut() else {
        return Ok(());
    };
    let privileged = req.security.privileged;
    let mut allowed = Vec::new();
    let mut devices = Vec::new();
    if privileged {
        allowed.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .access("rwm")
                .build()?,
        );
        // A privileged container sees the node's devices, as with containerd and CRI-O.
        let skip = |p: &Path| NOT_FROM_THE_NODE.iter().any(|s| p == Path::new(s));
        for path in host.device_nodes(Path::new("/dev"), &skip) {
            let path = path.display().to_string();
            let d = DeviceRequest {
                container_path: path.clone(),
                host_path: path,
                permissions: "rwm".into(),
            };
            // One that went away or changed since the listing is simply not given.
            if let Ok((device, _)) = device(&d, host) {
                devices.push(device);
            }
        }
    }
    for d in &req.devices {
        let (device, rule) = device(d, host)?;
        devices.push(device);
        allowed.push(rule);
    }
    linux
        .devices_mut()
        .get_or_insert_with(Vec::new)
        .extend(devices);
    let resources = linux.resources_mut().get_or_insert_with(Default::default);
    resources
        .devices_mut()
        .get_or_insert_with(Vec::new)
        .extend(allowed);
    add_hugepage_limits(linux, req)?;
    Ok(())
}

/// The request's hugepage limits, by page size.
fn add_hugepage_limits(linux: &mut Linux, req: &ContainerRequest) -> Result<(), OciSpecError> {
    let hugepages = req
        .resources
        .hugepage_limits
        .iter()
        .map(|(size, limit)| {
            LinuxHugepageLimitBuilder::default()
                .page_size(size.clone())
                .limit(*limit as i64)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !hugepages.is_empty()
        && let Some(resources) = linux.resources_mut()
    {
        resources.set_hugepage_limits(Some(hugepages));
    }
    Ok(())
}

/// A device node of the node, as the spec's device and its cgroup rule.
fn device(
    d: &DeviceRequest,
    host: &dyn Host,
) -> Result<(LinuxDevice, LinuxDeviceCgroup), DeviceError> {
    let node = host
        .device(Path::new(&d.host_path))
        .map_err(|source| DeviceError::Stat {
            path: d.host_path.clone(),
            source,
        })?;
    let kind = match node.kind {
        FileKind::Char => LinuxDeviceType::C,
        FileKind::Block => LinuxDeviceType::B,
        FileKind::Other => {
            return Err(DeviceError::NotADevice {
                path: d.host_path.clone(),
            });
        }
    };
    let permissions = if d.permissions.is_empty() {
        "rwm"
    } else {
        &d.permissions
    };
    let path = if d.container_path.is_empty() {
        &d.host_path
    } else {
        &d.container_path
    };
    let device = LinuxDeviceBuilder::default()
        .path(path)
        .typ(kind)
        .major(node.major)
        .minor(node.minor)
        .file_mode(node.mode)
        .uid(0u32)
        .gid(0u32)
        .build()?;
    let rule = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(kind)
        .major(node.major)
        .minor(node.minor)
        .access(permissions)
        .build()?;
    Ok((device, rule))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use oci_spec::runtime::LinuxBuilder;

    use super::*;
    use crate::host::DeviceNode;
    use crate::host::fake::FakeHost;

    fn node(kind: FileKind, major: i64, minor: i64) -> DeviceNode {
        DeviceNode {
            kind,
            major,
            minor,
            mode: 0o660,
        }
    }

    fn host() -> FakeHost {
        FakeHost::default()
            .device("/dev/sda", node(FileKind::Block, 8, 0))
            .device("/dev/fuse", node(FileKind::Char, 10, 229))
            .device("/dev/dri/card0", node(FileKind::Char, 226, 0))
            .device("/dev/null", node(FileKind::Char, 1, 3))
            .device("/dev/pts/0", node(FileKind::Char, 136, 0))
            .device("/dev/ptmx", node(FileKind::Char, 5, 2))
            .device("/srv/not-a-device", node(FileKind::Other, 0, 0))
    }

    fn spec() -> Spec {
        let mut spec = Spec::default();
        spec.set_linux(Some(LinuxBuilder::default().build().unwrap()));
        spec
    }

    fn paths(spec: &Spec) -> BTreeSet<PathBuf> {
        let linux = spec.linux().as_ref().unwrap();
        let devices = linux.devices().as_deref().unwrap_or_default();
        devices.iter().map(|d| d.path().clone()).collect()
    }

    #[test]
    fn privileged_gets_every_node_device_the_host_lists() {
        let mut req = ContainerRequest::default();
        req.security.privileged = true;
        let mut s = spec();
        add_devices(&mut s, &req, &host()).unwrap();
        let want: BTreeSet<PathBuf> = ["/dev/sda", "/dev/fuse", "/dev/dri/card0"]
            .into_iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(paths(&s), want);
        let rules = s.linux().as_ref().unwrap().resources().as_ref().unwrap();
        let rules = rules.devices().as_deref().unwrap();
        assert_eq!(rules.len(), 1, "one rule allowing all: {rules:?}");
        assert!(rules[0].allow() && rules[0].typ().is_none());
        assert_eq!(rules[0].access().as_deref(), Some("rwm"));
    }

    #[test]
    fn a_requested_device_gets_its_node_numbers_and_a_rule() {
        let req = ContainerRequest {
            devices: vec![DeviceRequest {
                container_path: "/dev/xfuse".into(),
                host_path: "/dev/fuse".into(),
                permissions: "rw".into(),
            }],
            ..Default::default()
        };
        let mut s = spec();
        add_devices(&mut s, &req, &host()).unwrap();
        let linux = s.linux().as_ref().unwrap();
        let d = &linux.devices().as_deref().unwrap()[0];
        assert_eq!(d.path(), Path::new("/dev/xfuse"));
        assert_eq!(
            (d.typ(), d.major(), d.minor()),
            (LinuxDeviceType::C, 10, 229)
        );
        assert_eq!(d.file_mode(), Some(0o660));
        let rule = &linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_deref()
            .unwrap()[0];
        assert_eq!((rule.major(), rule.minor()), (Some(10), Some(229)));
        assert_eq!(rule.access().as_deref(), Some("rw"));
    }

    #[test]
    fn a_missing_or_non_device_path_is_refused() {
        for (path, message) in [
            ("/dev/nope", "device /dev/nope: "),
            (
                "/srv/not-a-device",
                "/srv/not-a-device is not a device node",
            ),
        ] {
            let req = ContainerRequest {
                devices: vec![DeviceRequest {
                    host_path: path.into(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let err = add_devices(&mut spec(), &req, &host()).unwrap_err();
            assert!(err.to_string().starts_with(message), "{err}");
        }
    }

    #[test]
    fn hugepage_limits_are_set_by_page_size() {
        let mut req = ContainerRequest::default();
        req.resources.hugepage_limits = [("2MB".to_owned(), 4 << 20)].into_iter().collect();
        let mut s = spec();
        add_devices(&mut s, &req, &FakeHost::default()).unwrap();
        let resources = s.linux().as_ref().unwrap().resources().clone().unwrap();
        let limits = resources.hugepage_limits().clone().unwrap();
        assert_eq!(limits[0].page_size(), "2MB");
        assert_eq!(limits[0].limit(), 4 << 20);
        let mut none = spec();
        add_devices(
            &mut none,
            &ContainerRequest::default(),
            &FakeHost::default(),
        )
        .unwrap();
        let resources = none.linux().as_ref().unwrap().resources().clone().unwrap();
        assert!(resources.hugepage_limits().is_none());
    }
}
