//! Checks of every request field berth uses, made before anything is created.
//!
//! Owns: the rules a CRI request must meet (paths, names, hostname, DNS, sysctls, cgroup
//! parent, resources), one file per area, each a set of pure functions over strings and
//! numbers whose typed error says why a value is refused (`NameRefusal`, `PathRefusal` ...,
//! folded into [`Refusal`]). This file folds them into one check per request (`sandbox`,
//! `container`, `resources`) whose error names the object, the field and the value. Must
//! not touch the file system, the store or any runtime: a refused request leaves no trace,
//! and an accepted one never reaches runc or a path with input the kernel or runc would
//! refuse (issue 19).

pub mod cgroup;
pub mod dns;
pub mod features;
pub mod names;
pub mod paths;
mod refusal;
pub mod resources;
pub mod sysctl;

use berth_config::CgroupDriver;
use berth_store::ResourcesRecord;

use crate::request::{ContainerRequest, SandboxRequest};
use crate::shared::NamespaceMode;
pub use refusal::Refusal;

use paths::PathRefusal;
use resources::ResourceRefusal;

/// Values longer than this are cut in messages (a request may carry megabytes).
const SHOWN_VALUE_CHARS: usize = 128;

/// A request field refused: what it belongs to, which field, its value and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field} {value:?}: {reason}")]
pub struct InvalidField {
    /// The object, e.g. `pod "web-0"` or `container "app"`.
    pub object: String,
    /// The CRI field, e.g. `log_path` or `dns_config.servers[0]`.
    pub field: String,
    /// The value sent, cut to its first 128 characters.
    pub value: String,
    /// Why it is refused (boxed: this error travels inside the domain's `Error`, which
    /// stays small enough to return by value).
    #[source]
    pub reason: Box<Refusal>,
}

/// The object a set of fields belongs to; turns a rule's reason into an [`InvalidField`].
#[derive(Debug, Clone)]
pub struct Object(String);

impl Object {
    /// A pod, by its metadata name.
    pub fn pod(name: &str) -> Self {
        Self(format!("pod {:?}", shown(name)))
    }

    /// A container, by its metadata name.
    pub fn container(name: &str) -> Self {
        Self(format!("container {:?}", shown(name)))
    }

    /// A container, by its ID (UpdateContainerResources names no container).
    pub fn container_id(id: &str) -> Self {
        Self(format!("container {}", shown(id)))
    }

    /// `rule(value)`, its refusal naming this object, `field` and `value`.
    pub fn check<T: AsRef<str> + ?Sized, E: Into<Refusal>>(
        &self,
        field: impl Into<String>,
        value: &T,
        rule: impl FnOnce(&str) -> Result<(), E>,
    ) -> Result<(), InvalidField> {
        let value = value.as_ref();
        rule(value).map_err(|reason| self.refuse(field, value, reason))
    }

    /// An [`InvalidField`] for `field` and `value`.
    pub fn refuse(
        &self,
        field: impl Into<String>,
        value: impl AsRef<str>,
        reason: impl Into<Refusal>,
    ) -> InvalidField {
        InvalidField {
            object: self.0.clone(),
            field: field.into(),
            value: shown(value.as_ref()),
            reason: Box::new(reason.into()),
        }
    }
}

/// The first characters of a value, marked when cut.
fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_VALUE_CHARS) {
        Some((at, _)) => format!("{}…({} bytes)", &value[..at], value.len()),
        None => value.to_owned(),
    }
}

/// Every field of `RunPodSandbox` berth uses.
pub fn sandbox(req: &SandboxRequest, driver: CgroupDriver) -> Result<(), InvalidField> {
    let pod = Object::pod(&req.name);
    pod.check("metadata.name", &req.name, names::object_name)?;
    pod.check("metadata.namespace", &req.namespace, names::object_name)?;
    pod.check("metadata.uid", &req.uid, names::object_name)?;
    // The pod's name, namespace and UID travel to the CNI plugins as `CNI_ARGS`
    // (`K8S_POD_NAME=x;...`), which has no escaping.
    pod.check("metadata.name", &req.name, names::cni_arg)?;
    pod.check("metadata.namespace", &req.namespace, names::cni_arg)?;
    pod.check("metadata.uid", &req.uid, names::cni_arg)?;
    pod.check("hostname", &req.hostname, |h| {
        if h.is_empty() {
            Ok(())
        } else {
            names::hostname(h)
        }
    })?;
    pod.check("log_directory", &req.log_directory, |d| {
        if d.is_empty() {
            Ok(())
        } else {
            paths::host_absolute(d)
        }
    })?;
    for (i, server) in req.dns.servers.iter().enumerate() {
        pod.check(format!("dns_config.servers[{i}]"), server, dns::server)?;
    }
    for (i, search) in req.dns.searches.iter().enumerate() {
        pod.check(format!("dns_config.searches[{i}]"), search, dns::search)?;
    }
    let joined = req.dns.searches.join(" ");
    pod.check("dns_config.searches", &joined, |_| {
        dns::search_list(&req.dns.searches)
    })?;
    for (i, option) in req.dns.options.iter().enumerate() {
        pod.check(format!("dns_config.options[{i}]"), option, dns::option)?;
    }
    for (i, p) in req.port_mappings.iter().enumerate() {
        if p.host_port > 0 && p.container_port == 0 {
            return Err(pod.refuse(
                format!("port_mappings[{i}].container_port"),
                "0",
                Refusal::HostPortWithoutContainerPort,
            ));
        }
        pod.check(format!("port_mappings[{i}].host_ip"), &p.host_ip, |ip| {
            if ip.is_empty() {
                Ok(())
            } else {
                dns::server(ip)
            }
        })?;
    }
    pod.check(
        "linux.cgroup_parent",
        &req.cgroup_parent,
        |parent| match driver {
            CgroupDriver::Cgroupfs => cgroup::cgroupfs_parent(parent),
            CgroupDriver::Systemd => cgroup::systemd_parent(parent),
        },
    )?;
    let host = sysctl::HostNamespaces {
        network: req.network == NamespaceMode::Node,
        ipc: req.ipc == NamespaceMode::Node,
    };
    for (name, value) in &req.sysctls {
        pod.check(format!("linux.sysctls[{name:?}]"), name, |n| {
            sysctl::name(n, host)
        })?;
        pod.check(
            format!("linux.sysctls[{name:?}] value"),
            value,
            sysctl::value,
        )?;
    }
    Ok(())
}

/// Every field of `CreateContainer` berth uses that does not depend on the pod (the log
/// path does: see [`log_path`]).
pub fn container(req: &ContainerRequest) -> Result<(), InvalidField> {
    let c = Object::container(&req.name);
    c.check("metadata.name", &req.name, names::object_name)?;
    c.check("image.image", &req.image, names::text_line)?;
    for (i, arg) in req.command.iter().enumerate() {
        c.check(format!("command[{i}]"), arg, names::no_nul)?;
    }
    for (i, arg) in req.args.iter().enumerate() {
        c.check(format!("args[{i}]"), arg, names::no_nul)?;
    }
    for (i, (key, value)) in req.envs.iter().enumerate() {
        c.check(format!("envs[{i}].key"), key, names::env_key)?;
        c.check(format!("envs[{i}].value"), value, names::no_nul)?;
    }
    c.check("working_dir", &req.working_dir, |d| {
        if d.is_empty() {
            Ok(())
        } else {
            paths::working_dir(d)
        }
    })?;
    for (i, m) in req.mounts.iter().enumerate() {
        c.check(
            format!("mounts[{i}].container_path"),
            &m.container_path,
            paths::mount_point,
        )?;
        c.check(
            format!("mounts[{i}].host_path"),
            &m.host_path,
            paths::host_absolute,
        )?;
    }
    features::mounts(&c, &req.mounts)?;
    for (i, d) in req.devices.iter().enumerate() {
        c.check(
            format!("devices[{i}].host_path"),
            &d.host_path,
            paths::host_absolute,
        )?;
        c.check(
            format!("devices[{i}].container_path"),
            &d.container_path,
            |p| {
                if p.is_empty() {
                    Ok(())
                } else {
                    paths::container_absolute(p)
                }
            },
        )?;
        c.check(
            format!("devices[{i}].permissions"),
            &d.permissions,
            resources::device_permissions,
        )?;
    }
    let sec = &req.security;
    for (i, p) in sec.masked_paths.iter().enumerate() {
        c.check(
            format!("linux.security_context.masked_paths[{i}]"),
            p,
            paths::container_absolute,
        )?;
    }
    for (i, p) in sec.readonly_paths.iter().enumerate() {
        c.check(
            format!("linux.security_context.readonly_paths[{i}]"),
            p,
            paths::container_absolute,
        )?;
    }
    if let Some(name) = &sec.user.username {
        c.check(
            "linux.security_context.run_as_username",
            name,
            names::text_line,
        )?;
    }
    resources_of(&c, &req.resources)
}

/// A container's `log_path` under its pod's `log_directory`: the path to write to, `None`
/// when the container has no log.
pub fn log_path(
    container_name: &str,
    log_directory: &str,
    relative: &str,
) -> Result<Option<std::path::PathBuf>, InvalidField> {
    if relative.is_empty() {
        return Ok(None);
    }
    let c = Object::container(container_name);
    c.check("log_path", relative, paths::relative_inside)?;
    if log_directory.is_empty() {
        return Err(c.refuse("log_path", relative, PathRefusal::NoLogDirectory));
    }
    c.check(
        "the pod's log_directory",
        log_directory,
        paths::host_absolute,
    )?;
    Ok(Some(std::path::Path::new(log_directory).join(relative)))
}

/// `LinuxContainerResources` for an update of container `id`.
pub fn resources(id: &str, r: &ResourcesRecord) -> Result<(), InvalidField> {
    resources_of(&Object::container_id(id), r)
}

fn resources_of(c: &Object, r: &ResourcesRecord) -> Result<(), InvalidField> {
    let number = |field: &str, v: i64, rule: fn(i64) -> Result<(), ResourceRefusal>| {
        c.check(format!("linux.resources.{field}"), &v.to_string(), |_| {
            rule(v)
        })
    };
    number("cpu_period", r.cpu_period, resources::cpu_period)?;
    number("cpu_quota", r.cpu_quota, resources::cpu_quota)?;
    number("cpu_shares", r.cpu_shares, resources::cpu_shares)?;
    number(
        "memory_limit_in_bytes",
        r.memory_limit_in_bytes,
        resources::memory_limit,
    )?;
    number("oom_score_adj", r.oom_score_adj, resources::oom_score_adj)?;
    c.check(
        "linux.resources.cpuset_cpus",
        &r.cpuset_cpus,
        resources::cpuset,
    )?;
    c.check(
        "linux.resources.cpuset_mems",
        &r.cpuset_mems,
        resources::cpuset,
    )?;
    c.check(
        "linux.resources.memory_swap_limit_in_bytes",
        &r.memory_swap_limit_in_bytes.to_string(),
        |_| resources::memory_swap(r.memory_swap_limit_in_bytes, r.memory_limit_in_bytes),
    )?;
    if !r.unified.is_empty() {
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        for (key, value) in &r.unified {
            c.check("linux.resources.unified key", key, |k| {
                resources::unified_key(k, v2)
            })?;
            c.check(
                format!("linux.resources.unified[{key:?}]"),
                value,
                resources::unified_value,
            )?;
        }
    }
    for (size, limit) in &r.hugepage_limits {
        c.check(
            "linux.resources.hugepage_limits.page_size",
            size,
            resources::hugepage_size,
        )?;
        c.check(
            format!("linux.resources.hugepage_limits[{size:?}].limit"),
            &limit.to_string(),
            |_| resources::hugepage_limit(*limit),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::MountRequest;

    fn pod() -> SandboxRequest {
        SandboxRequest {
            name: "web-0".into(),
            uid: "uid-1".into(),
            namespace: "default".into(),
            hostname: "web-0".into(),
            log_directory: "/var/log/pods/x".into(),
            ..Default::default()
        }
    }

    fn container() -> ContainerRequest {
        ContainerRequest {
            sandbox_id: "p".into(),
            name: "app".into(),
            image: "busybox".into(),
            command: vec!["sh".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_pod_and_container_pass() {
        assert_eq!(sandbox(&pod(), CgroupDriver::Cgroupfs), Ok(()));
        assert_eq!(super::container(&container()), Ok(()));
    }

    #[test]
    fn a_refusal_names_object_field_and_value() {
        let e = log_path("c1", "/var/log/pods/x", "/etc/evil.log").unwrap_err();
        assert_eq!(
            e.to_string(),
            "container \"c1\": log_path \"/etc/evil.log\": must be relative to the pod's log_directory"
        );
        let mut p = pod();
        p.hostname = "a\nb".into();
        let e = sandbox(&p, CgroupDriver::Cgroupfs).unwrap_err();
        assert_eq!(
            (e.object.as_str(), e.field.as_str()),
            ("pod \"web-0\"", "hostname")
        );
        assert!(e.to_string().contains("\"a\\nb\""), "{e}");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "a".repeat(10_000);
        let e = Object::pod("p").refuse(
            "hostname",
            &long,
            names::NameRefusal::HostnameTooLong {
                max: 64,
                len: long.len(),
            },
        );
        assert!(e.value.len() < 200, "{}", e.value);
        assert!(e.value.ends_with("(10000 bytes)"), "{}", e.value);
    }

    #[test]
    fn log_paths_stay_inside_the_log_directory() {
        let dir = "/var/log/pods/x";
        assert_eq!(log_path("c", dir, ""), Ok(None));
        assert_eq!(
            log_path("c", dir, "c/0.log"),
            Ok(Some("/var/log/pods/x/c/0.log".into()))
        );
        for bad in ["/etc/evil.log", "../x.log", "a/../../x", "a\0b", "."] {
            assert!(log_path("c", dir, bad).is_err(), "{bad:?}");
        }
        assert!(log_path("c", "", "c.log").is_err());
        assert!(log_path("c", "relative", "c.log").is_err());
    }

    #[test]
    fn each_pod_field_is_checked() {
        type Mutate = fn(&mut SandboxRequest);
        let cases: &[(&str, Mutate)] = &[
            ("metadata.name", |p| p.name = "a\0b".into()),
            ("metadata.namespace", |p| p.namespace = "x\ny".into()),
            ("metadata.uid", |p| p.uid = "\0".into()),
            ("hostname", |p| p.hostname = "h".repeat(300)),
            ("log_directory", |p| {
                p.log_directory = "relative-logs".into()
            }),
            ("dns_config.servers[0]", |p| {
                p.dns.servers = vec!["10.0.0.1\nnameserver 6.6.6.6".into()]
            }),
            ("dns_config.searches[0]", |p| {
                p.dns.searches = vec!["a b".into()]
            }),
            ("dns_config.options[0]", |p| {
                p.dns.options = vec!["ndots:5\n".into()]
            }),
            ("linux.cgroup_parent", |p| {
                p.cgroup_parent = "/kubepods/../../etc".into()
            }),
            ("linux.sysctls[\"vm.swappiness\"]", |p| {
                p.sysctls = [("vm.swappiness".into(), "1".into())].into()
            }),
            ("linux.sysctls[\"kernel.shm_rmid_forced\"]", |p| {
                p.ipc = NamespaceMode::Node;
                p.sysctls = [("kernel.shm_rmid_forced".into(), "1".into())].into()
            }),
            ("linux.sysctls[\"net.core.somaxconn\"] value", |p| {
                p.sysctls = [("net.core.somaxconn".into(), "1\n2".into())].into()
            }),
            ("port_mappings[0].host_ip", |p| {
                p.port_mappings = vec![crate::request::PortMapping {
                    protocol: "tcp".into(),
                    container_port: 80,
                    host_port: 8080,
                    host_ip: "not an ip".into(),
                }]
            }),
        ];
        for (field, mutate) in cases {
            let mut p = pod();
            mutate(&mut p);
            let e = sandbox(&p, CgroupDriver::Cgroupfs).unwrap_err();
            assert_eq!(&e.field, field, "{e}");
        }
    }

    #[test]
    fn each_container_field_is_checked() {
        type Mutate = fn(&mut ContainerRequest);
        fn mount(host: &str, container: &str) -> MountRequest {
            MountRequest {
                host_path: host.into(),
                container_path: container.into(),
                ..Default::default()
            }
        }
        let cases: &[(&str, Mutate)] = &[
            ("metadata.name", |c| c.name = "a\0".into()),
            ("image.image", |c| c.image = "busybox\0".into()),
            ("command[1]", |c| c.command.push("a\0b".into())),
            ("args[0]", |c| c.args = vec!["\0".into()]),
            ("envs[0].key", |c| c.envs = vec![("A=B".into(), "v".into())]),
            ("envs[0].value", |c| {
                c.envs = vec![("A".into(), "v\0".into())]
            }),
            ("working_dir", |c| c.working_dir = "..".into()),
            ("mounts[0].host_path", |c| {
                c.mounts = vec![mount("relative-src", "/data")]
            }),
            ("mounts[0].container_path", |c| {
                c.mounts = vec![mount("/srv", "data")]
            }),
            ("linux.resources.cpu_period", |c| {
                c.resources.cpu_period = 1 << 62
            }),
            ("linux.resources.memory_limit_in_bytes", |c| {
                c.resources.memory_limit_in_bytes = -1
            }),
            ("linux.resources.cpuset_cpus", |c| {
                c.resources.cpuset_cpus = "abc".into()
            }),
            ("linux.resources.oom_score_adj", |c| {
                c.resources.oom_score_adj = 1001
            }),
        ];
        for (field, mutate) in cases {
            let mut c = container();
            mutate(&mut c);
            let e = super::container(&c).unwrap_err();
            assert_eq!(&e.field, field, "{e}");
        }
    }
}
