//! Sysctls validated against the namespaces a pod has, and `oom_score_adj` clamped to what
//! the process may set.

use std::collections::BTreeMap;

/// Which namespaces the pod shares with the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostNamespaces {
    /// The pod uses the node's network namespace.
    pub network: bool,
    /// The pod uses the node's IPC namespace.
    pub ipc: bool,
}

/// Checks every sysctl against the namespace it belongs to, as the kubelet and runc do:
/// `net.*` needs the pod's own network namespace; `kernel.shm*`, `kernel.msg*`,
/// `kernel.sem` and `fs.mqueue.*` its own IPC namespace; `kernel.hostname` and
/// `kernel.domainname` are refused (the hostname comes from the pod config). Anything else
/// is not namespaced and would change the node: refused. The error names the sysctl.
pub fn validate_sysctls(
    sysctls: &BTreeMap<String, String>,
    host: HostNamespaces,
) -> Result<(), String> {
    for name in sysctls.keys() {
        let n = name.replace('/', ".");
        let ipc = n.starts_with("kernel.shm")
            || n.starts_with("kernel.msg")
            || n == "kernel.sem"
            || n.starts_with("fs.mqueue.");
        if n.starts_with("net.") {
            if host.network {
                return Err(format!(
                    "sysctl {name:?} needs the pod's own network namespace, and the pod uses the host's"
                ));
            }
        } else if ipc {
            if host.ipc {
                return Err(format!(
                    "sysctl {name:?} needs the pod's own IPC namespace, and the pod uses the host's"
                ));
            }
        } else {
            return Err(format!(
                "sysctl {name:?} is not namespaced: setting it would change the node"
            ));
        }
    }
    Ok(())
}

/// The `oom_score_adj` to give a process: the request, raised to `current` (this process's
/// own value) when lower, because lowering it needs CAP_SYS_RESOURCE, which berth may lack
/// (containerd's `restrict_oom_score_adj`). Kept within the kernel's -1000..=1000.
pub fn clamp_oom_score_adj(requested: i64, current: i64) -> i64 {
    requested.max(current).clamp(-1000, 1000)
}

/// This process's `oom_score_adj`.
pub fn current_oom_score_adj() -> i64 {
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(names: &[&str]) -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| (n.to_string(), "1".to_owned()))
            .collect()
    }

    #[test]
    fn sysctls_must_belong_to_a_namespace_the_pod_owns() {
        let own = HostNamespaces::default();
        assert!(
            validate_sysctls(
                &map(&["net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.msg_max"]),
                own
            )
            .is_ok()
        );
        let host_net = HostNamespaces {
            network: true,
            ipc: false,
        };
        let err = validate_sysctls(&map(&["net.core.somaxconn"]), host_net).unwrap_err();
        assert!(err.contains("net.core.somaxconn"), "{err}");
        let host_ipc = HostNamespaces {
            network: false,
            ipc: true,
        };
        assert!(validate_sysctls(&map(&["kernel.msgmax"]), host_ipc).is_err());
        assert!(
            validate_sysctls(&map(&["vm.swappiness"]), own)
                .unwrap_err()
                .contains("not namespaced")
        );
        assert!(validate_sysctls(&map(&["net/ipv4/ip_forward"]), own).is_ok());
    }

    #[test]
    fn oom_score_adj_is_never_lowered_below_our_own() {
        assert_eq!(clamp_oom_score_adj(-998, 0), 0);
        assert_eq!(clamp_oom_score_adj(1000, 0), 1000);
        assert_eq!(clamp_oom_score_adj(500, -500), 500);
        assert_eq!(clamp_oom_score_adj(-999, -1000), -999);
        assert_eq!(clamp_oom_score_adj(5000, 0), 1000);
    }
}
