//! [`Refusal`]: why a value is refused, whichever area's rule refused it, folded from the
//! typed error of each rule file so that an [`InvalidField`](super::InvalidField) carries
//! one type. Its text is what the client reads after the object, field and value.

use super::cgroup::CgroupRefusal;
use super::dns::DnsRefusal;
use super::features::FeatureRefusal;
use super::names::NameRefusal;
use super::paths::PathRefusal;
use super::resources::ResourceRefusal;
use super::sysctl::SysctlRefusal;

/// Why a value is refused, by the area whose rule refused it. Its text is what the client
/// reads after the object, field and value (`must not contain a '..' component`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An object name, the hostname, argv or environment.
    #[error(transparent)]
    Name(#[from] NameRefusal),
    /// A path on the node or in the container, or a log path.
    #[error(transparent)]
    Path(#[from] PathRefusal),
    /// The pod's DNS configuration or a host IP.
    #[error(transparent)]
    Dns(#[from] DnsRefusal),
    /// The pod's cgroup parent.
    #[error(transparent)]
    Cgroup(#[from] CgroupRefusal),
    /// A resource limit or device permission.
    #[error(transparent)]
    Resource(#[from] ResourceRefusal),
    /// A sysctl's name or value.
    #[error(transparent)]
    Sysctl(#[from] SysctlRefusal),
    /// A recursive read-only mount.
    #[error(transparent)]
    Feature(#[from] FeatureRefusal),
    /// A port mapping with a host port and no container port.
    #[error("a hostPort needs the port in the pod it maps to (1..=65535)")]
    HostPortWithoutContainerPort,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::cgroup::SliceRefusal;
    use crate::validate::features::WhichMount;
    use crate::validate::names::LabelRefusal;

    /// The text of every refusal is what clients read, unchanged since the rules returned
    /// strings: the kubelet's events and berthd's tests match on it.
    #[test]
    fn refusals_read_as_before() {
        let mount = || WhichMount {
            host_path: "/srv".into(),
            container_path: "/data".into(),
        };
        let cases: Vec<(Refusal, &str)> = vec![
            (NameRefusal::Required.into(), "is required"),
            (NameRefusal::Empty.into(), "must not be empty"),
            (
                NameRefusal::TooLong { max: 253, len: 254 }.into(),
                "is longer than 253 bytes",
            ),
            (
                NameRefusal::CniArg.into(),
                "must not contain ';', '=' or whitespace (it is passed in CNI_ARGS)",
            ),
            (
                NameRefusal::HostnameTooLong { max: 64, len: 65 }.into(),
                "is longer than 64 bytes (the kernel's HOST_NAME_MAX)",
            ),
            (
                NameRefusal::NotHostname(LabelRefusal::Empty).into(),
                "is not an RFC 1123 hostname: a label is empty",
            ),
            (
                NameRefusal::NotHostname(LabelRefusal::TooLong { max: 63 }).into(),
                "is not an RFC 1123 hostname: a label is longer than 63 bytes",
            ),
            (
                NameRefusal::NotHostname(LabelRefusal::Characters).into(),
                "is not an RFC 1123 hostname: a label holds only letters, digits and '-'",
            ),
            (
                NameRefusal::NotHostname(LabelRefusal::EdgeDash).into(),
                "is not an RFC 1123 hostname: a label must not start or end with '-'",
            ),
            (NameRefusal::Nul.into(), "must not contain a NUL byte"),
            (
                NameRefusal::Control.into(),
                "must not contain control characters",
            ),
            (NameRefusal::EqualsInKey.into(), "must not contain '='"),
            (PathRefusal::Empty.into(), "must not be empty"),
            (PathRefusal::Nul.into(), "must not contain a NUL byte"),
            (
                PathRefusal::TooLong {
                    max: 4096,
                    len: 4096,
                }
                .into(),
                "is longer than PATH_MAX (4096 bytes)",
            ),
            (
                PathRefusal::DotDot.into(),
                "must not contain a '..' component",
            ),
            (
                PathRefusal::ComponentTooLong { max: 255 }.into(),
                "has a component longer than NAME_MAX (255 bytes)",
            ),
            (PathRefusal::NotAbsolute.into(), "must be an absolute path"),
            (
                PathRefusal::NotRelative.into(),
                "must be relative to the pod's log_directory",
            ),
            (
                PathRefusal::NotAFile.into(),
                "must name a file inside the pod's log_directory",
            ),
            (
                PathRefusal::ProcMountPoint.into(),
                "is inside /proc, where the runtime refuses mounts",
            ),
            (
                PathRefusal::ProcWorkingDir.into(),
                "is inside /proc, where the runtime cannot create it",
            ),
            (
                PathRefusal::NoLogDirectory.into(),
                "the pod has no log_directory to hold it",
            ),
            (DnsRefusal::NotIp.into(), "is not an IP address"),
            (DnsRefusal::Empty.into(), "must not be empty"),
            (
                DnsRefusal::TooLong { max: 253, len: 300 }.into(),
                "is longer than 253 bytes",
            ),
            (
                DnsRefusal::SearchCharacters.into(),
                "must not contain whitespace, control characters, '#' or ';'",
            ),
            (DnsRefusal::EmptyLabel.into(), "has an empty label"),
            (
                DnsRefusal::TooManySearches { count: 33, max: 32 }.into(),
                "33 search domains: at most 32 are allowed",
            ),
            (
                DnsRefusal::SearchLineTooLong {
                    chars: 2100,
                    max: 2048,
                }
                .into(),
                "the search line is 2100 characters: at most 2048 are allowed",
            ),
            (
                DnsRefusal::OptionCharacters.into(),
                "must not contain whitespace or control characters",
            ),
            (
                CgroupRefusal::TooLong {
                    max: 4096,
                    len: 5000,
                }
                .into(),
                "is longer than PATH_MAX (4096 bytes)",
            ),
            (
                CgroupRefusal::Control.into(),
                "must not contain control characters",
            ),
            (
                CgroupRefusal::DotDot.into(),
                "must not contain a '..' component",
            ),
            (
                CgroupRefusal::Slice {
                    slice: "a-.slice".into(),
                    why: SliceRefusal::TooLong { max: 255, len: 300 },
                }
                .into(),
                "gives the systemd slice \"a-.slice\", which is longer than a unit name may be (255 bytes)",
            ),
            (
                CgroupRefusal::Slice {
                    slice: "a b.slice".into(),
                    why: SliceRefusal::Characters,
                }
                .into(),
                "gives the systemd slice \"a b.slice\", which has characters a unit name may not hold",
            ),
            (
                CgroupRefusal::Slice {
                    slice: "a--b.slice".into(),
                    why: SliceRefusal::EmptyDashComponent,
                }
                .into(),
                "gives the systemd slice \"a--b.slice\", which has an empty '-' component (runc's ExpandSlice refuses it)",
            ),
            (
                ResourceRefusal::CpuPeriod {
                    min: 1_000,
                    max: 1_000_000,
                }
                .into(),
                "must be 0 (unset) or 1000..=1000000 µs (the kernel's CFS period bounds)",
            ),
            (
                ResourceRefusal::CpuQuota {
                    min: 1_000,
                    max: (1 << 44) - 1,
                }
                .into(),
                "must be 0 (unset), -1 (unlimited) or 1000..=17592186044415 µs (the kernel's CFS quota bounds)",
            ),
            (
                ResourceRefusal::CpuShares {
                    min: 2,
                    max: 262_144,
                }
                .into(),
                "must be 0 (unset) or 2..=262144 (the kernel's cpu.shares bounds)",
            ),
            (
                ResourceRefusal::NegativeMemory.into(),
                "must be 0 (unlimited) or a positive number of bytes",
            ),
            (
                ResourceRefusal::OomScoreAdj {
                    min: -1000,
                    max: 1000,
                }
                .into(),
                "must be -1000..=1000 (the kernel's oom_score_adj bounds)",
            ),
            (
                ResourceRefusal::Cpuset { item: "3-1".into() }.into(),
                "\"3-1\" is not a number or a range a-b with a <= b (e.g. \"0-3,5\")",
            ),
            (
                ResourceRefusal::HugepageSpelling.into(),
                "is not a hugepage size such as \"2MB\" or \"1GB\"",
            ),
            (
                ResourceRefusal::HugepageAbsent { node_kib: vec![] }.into(),
                "is not a hugepage size this node has (it has: none)",
            ),
            (
                ResourceRefusal::HugepageAbsent {
                    node_kib: vec![2048, 1 << 20],
                }
                .into(),
                "is not a hugepage size this node has (it has: 2048kB, 1048576kB)",
            ),
            (
                ResourceRefusal::HugepageLimit { max: i64::MAX }.into(),
                "must be at most 9223372036854775807 bytes",
            ),
            (
                ResourceRefusal::DevicePermissions.into(),
                "must be made of 'r', 'w' and 'm'",
            ),
            (
                SysctlRefusal::TooLong {
                    max: 4096,
                    len: 4097,
                }
                .into(),
                "is longer than 4096 bytes",
            ),
            (
                SysctlRefusal::NotAName.into(),
                "is not a sysctl name: segments of [a-z0-9_-] separated by '.' or '/'",
            ),
            (
                SysctlRefusal::Hostname.into(),
                "is set through the pod's hostname, not a sysctl",
            ),
            (
                SysctlRefusal::NeedsOwnNetwork.into(),
                "needs the pod's own network namespace, and the pod uses the node's",
            ),
            (
                SysctlRefusal::NeedsOwnIpc.into(),
                "needs the pod's own IPC namespace, and the pod uses the node's",
            ),
            (
                SysctlRefusal::NotNamespaced.into(),
                "is not namespaced: setting it would change the node",
            ),
            (
                SysctlRefusal::Control.into(),
                "must not contain control characters",
            ),
            (
                FeatureRefusal::RroWritable { mount: mount() }.into(),
                "a recursive read-only mount must also set readonly, and the mount of \"/srv\" at \"/data\" is read-write",
            ),
            (
                FeatureRefusal::RroPropagation {
                    mount: mount(),
                    propagation: crate::request::Propagation::HostToContainer,
                }
                .into(),
                "a recursive read-only mount needs Private propagation, and the mount of \"/srv\" at \"/data\" asks for HostToContainer",
            ),
            (
                FeatureRefusal::RroUnsupported {
                    handler: "crun".into(),
                    mount: mount(),
                }
                .into(),
                "runtime handler \"crun\" does not support recursive read-only mounts (it needs `rro` in the runtime's `features` and Linux 5.12 or newer), asked for the mount of \"/srv\" at \"/data\"",
            ),
            (
                Refusal::HostPortWithoutContainerPort,
                "a hostPort needs the port in the pod it maps to (1..=65535)",
            ),
        ];
        for (refusal, text) in cases {
            assert_eq!(refusal.to_string(), text, "{refusal:?}");
        }
    }
}
