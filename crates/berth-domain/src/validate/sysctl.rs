//! Pod sysctls: the kernel's name shape, and a namespace of the pod's own behind each.

/// Kubernetes' `SysctlMaxLength`.
const NAME_MAX: usize = 253;
/// A sysctl write is at most a page.
const VALUE_MAX: usize = 4096;

/// Why a sysctl is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SysctlRefusal {
    /// A name or value longer than the limit.
    #[error("is longer than {max} bytes")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
        /// The length sent, in bytes.
        len: usize,
    },
    /// A name not shaped as Kubernetes' `SysctlSegmentFmt` allows.
    #[error("is not a sysctl name: segments of [a-z0-9_-] separated by '.' or '/'")]
    NotAName,
    /// `kernel.hostname` or `kernel.domainname`.
    #[error("is set through the pod's hostname, not a sysctl")]
    Hostname,
    /// A `net.*` sysctl in a pod on the node's network.
    #[error("needs the pod's own network namespace, and the pod uses the node's")]
    NeedsOwnNetwork,
    /// An IPC sysctl in a pod sharing the node's IPC namespace.
    #[error("needs the pod's own IPC namespace, and the pod uses the node's")]
    NeedsOwnIpc,
    /// A sysctl no namespace of the pod's holds.
    #[error("is not namespaced: setting it would change the node")]
    NotNamespaced,
    /// A value holding control characters other than tabs.
    #[error("must not contain control characters")]
    Control,
}

/// Which namespaces the pod shares with the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostNamespaces {
    /// The pod uses the node's network namespace.
    pub network: bool,
    /// The pod uses the node's IPC namespace.
    pub ipc: bool,
}

/// A sysctl name the pod may set, as the kubelet and runc define it.
///
/// Shape (Kubernetes' `SysctlSegmentFmt`): segments of lowercase letters, digits, `_` and
/// `-`, separated by `.` or `/`; no empty segment, so no `..` into `/proc/sys`'s parents.
///
/// Namespace: `net.*` needs the pod's own network namespace; `kernel.shm*`, `kernel.msg*`,
/// `kernel.sem` and `fs.mqueue.*` its own IPC namespace (runc refuses the rest with "sysctl
/// X is not in a separate kernel namespace"); `kernel.hostname` and `kernel.domainname` are
/// refused (the hostname comes from the pod config). Anything else is not namespaced and
/// would change the node: refused.
pub fn name(name: &str, host: HostNamespaces) -> Result<(), SysctlRefusal> {
    if name.len() > NAME_MAX {
        return Err(SysctlRefusal::TooLong {
            max: NAME_MAX,
            len: name.len(),
        });
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if !name.split(['.', '/']).all(segment_ok) {
        return Err(SysctlRefusal::NotAName);
    }
    let n = name.replace('/', ".");
    let ipc = n.starts_with("kernel.shm")
        || n.starts_with("kernel.msg")
        || n == "kernel.sem"
        || n.starts_with("fs.mqueue.");
    if n == "kernel.hostname" || n == "kernel.domainname" {
        Err(SysctlRefusal::Hostname)
    } else if n.starts_with("net.") {
        if host.network {
            Err(SysctlRefusal::NeedsOwnNetwork)
        } else {
            Ok(())
        }
    } else if ipc {
        if host.ipc {
            Err(SysctlRefusal::NeedsOwnIpc)
        } else {
            Ok(())
        }
    } else {
        Err(SysctlRefusal::NotNamespaced)
    }
}

/// A sysctl value: at most a page, no control characters but tabs (`kernel.sem` and
/// `net.ipv4.ip_local_port_range` take several numbers).
pub fn value(value: &str) -> Result<(), SysctlRefusal> {
    if value.len() > VALUE_MAX {
        return Err(SysctlRefusal::TooLong {
            max: VALUE_MAX,
            len: value.len(),
        });
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(SysctlRefusal::Control);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: HostNamespaces = HostNamespaces {
        network: false,
        ipc: false,
    };
    const HOST_NET: HostNamespaces = HostNamespaces {
        network: true,
        ipc: false,
    };
    const HOST_IPC: HostNamespaces = HostNamespaces {
        network: false,
        ipc: true,
    };

    #[test]
    fn names_by_namespace() {
        let cases = [
            ("net.ipv4.ip_forward", OWN, None),
            ("net/ipv4/ip_forward", OWN, None),
            ("net.ipv4.conf.eth0-1.forwarding", OWN, None),
            ("kernel.shmmax", OWN, None),
            ("kernel.shm_rmid_forced", OWN, None),
            ("kernel.msgmax", HOST_NET, None),
            ("kernel.sem", OWN, None),
            ("fs.mqueue.msg_max", OWN, None),
            ("net.core.somaxconn", HOST_NET, Some("network namespace")),
            ("kernel.shm_rmid_forced", HOST_IPC, Some("IPC namespace")),
            ("kernel.msgmax", HOST_IPC, Some("IPC namespace")),
            ("fs.mqueue.msg_max", HOST_IPC, Some("IPC namespace")),
            ("vm.swappiness", OWN, Some("not namespaced")),
            ("kernel.semx", OWN, Some("not namespaced")),
            ("kernel.hostname", OWN, Some("hostname")),
            ("kernel/domainname", OWN, Some("hostname")),
            ("net..ipv4", OWN, Some("not a sysctl name")),
            ("net/../../etc", OWN, Some("not a sysctl name")),
            ("Net.ipv4.ip_forward", OWN, Some("not a sysctl name")),
            ("net.ipv4.ip forward", OWN, Some("not a sysctl name")),
            ("net.ipv4\n", OWN, Some("not a sysctl name")),
            ("", OWN, Some("not a sysctl name")),
        ];
        for (n, host, want) in cases {
            match (name(n, host), want) {
                (Ok(()), None) => {}
                (Err(e), Some(why)) => assert!(e.to_string().contains(why), "{n:?}: {e}"),
                (got, want) => panic!("{n:?} with {host:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(name(&format!("net.{}", "a".repeat(250)), OWN).is_err());
    }

    #[test]
    fn values() {
        for ok in ["1", "", "250 32000 100 128", "1024\t65000"] {
            assert_eq!(value(ok), Ok(()), "{ok:?}");
        }
        for bad in ["1\n", "1\0", "\r"] {
            assert!(value(bad).is_err(), "{bad:?}");
        }
        assert!(value(&"1".repeat(4097)).is_err());
    }
}
