//! `Status`: the RuntimeReady and NetworkReady conditions, and verbose info.

use std::collections::BTreeMap;

use berth_cni::{NetworkReadiness, check_readiness};

use super::RuntimeInfo;

/// CRI condition type: the runtime can run containers.
pub const RUNTIME_READY: &str = "RuntimeReady";
/// CRI condition type: pod networking is usable.
pub const NETWORK_READY: &str = "NetworkReady";

/// One condition of `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `RuntimeReady` or `NetworkReady`.
    pub kind: &'static str,
    /// Whether it holds.
    pub status: bool,
    /// CamelCase reason when it does not.
    pub reason: String,
    /// What is wrong, for a person.
    pub message: String,
}

/// One runtime handler as `Status` declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerStatus {
    /// Its name; `""` is the default handler.
    pub name: String,
    /// Recursive read-only mounts work with it on this kernel.
    pub recursive_read_only_mounts: bool,
}

/// The answer to `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// RuntimeReady, then NetworkReady.
    pub conditions: Vec<Condition>,
    /// The default handler as `""`, then every handler that passed its probe.
    pub handlers: Vec<HandlerStatus>,
    /// SupplementalGroupsPolicy (Merge and Strict) and `ContainerStatus.user` are
    /// implemented: berth builds the groups itself, whatever the handler.
    pub supplemental_groups_policy: bool,
    /// JSON documents by key, only when verbose.
    pub info: BTreeMap<String, String>,
}

impl RuntimeStatus {
    /// The answer while start-up recovery runs: neither condition holds yet, and the reason
    /// says why, so a kubelet that connects at once sees a runtime coming up, not an error.
    pub fn recovering() -> RuntimeStatus {
        let condition = |kind| Condition {
            kind,
            status: false,
            reason: "RuntimeRecovering".into(),
            message: "berthd is recovering its state after a start; ready shortly".into(),
        };
        RuntimeStatus {
            conditions: vec![condition(RUNTIME_READY), condition(NETWORK_READY)],
            // No handler has been probed yet: none declares an optional feature.
            handlers: vec![HandlerStatus {
                name: String::new(),
                recursive_read_only_mounts: false,
            }],
            supplemental_groups_policy: true,
            info: BTreeMap::new(),
        }
    }
}

impl RuntimeInfo {
    /// Evaluates the conditions now. NetworkReady re-reads the CNI conf dir each time, so
    /// installing a config or a plugin is seen without a restart.
    pub fn status(&self, verbose: bool) -> RuntimeStatus {
        let runtime = match self.handlers.default_problem() {
            None => Condition {
                kind: RUNTIME_READY,
                status: true,
                reason: String::new(),
                message: String::new(),
            },
            Some(problem) => Condition {
                kind: RUNTIME_READY,
                status: false,
                reason: "NoWorkingRuntime".into(),
                message: problem.to_owned(),
            },
        };
        let readiness =
            check_readiness(&self.config.network.conf_dir, &self.config.network.bin_dirs);
        let (network, cni_source) = match &readiness {
            NetworkReadiness::Ready(list) => (
                Condition {
                    kind: NETWORK_READY,
                    status: true,
                    reason: String::new(),
                    message: String::new(),
                },
                Some(list.source.to_string()),
            ),
            NetworkReadiness::NotReady { message } => (
                Condition {
                    kind: NETWORK_READY,
                    status: false,
                    reason: "NetworkPluginNotReady".into(),
                    message: format!("network plugin not ready: {message}"),
                },
                None,
            ),
        };
        let working = self
            .handlers
            .all()
            .iter()
            .filter(|(_, h)| h.works())
            .map(|(name, _)| name.as_str());
        let handlers = std::iter::once("")
            .chain(working)
            .map(|name| HandlerStatus {
                name: name.to_owned(),
                recursive_read_only_mounts: self.handlers.features(name).recursive_read_only,
            })
            .collect();
        let mut info = BTreeMap::new();
        if verbose {
            info.insert("config".to_owned(), self.config.to_json());
            let runtimes: serde_json::Map<String, serde_json::Value> = self
                .handlers
                .all()
                .iter()
                .map(|(name, h)| {
                    let v = serde_json::json!({
                        "binary": h.binary,
                        "healthy": h.works(),
                        "error": h.problem,
                        "default": self.handlers.default_name() == Some(name.as_str()),
                        "recursiveReadOnlyMounts": h.features.recursive_read_only,
                    });
                    (name.clone(), v)
                })
                .collect();
            info.insert(
                "runtimeHandlerProbes".to_owned(),
                serde_json::Value::Object(runtimes).to_string(),
            );
            info.insert(
                "network".to_owned(),
                serde_json::json!({
                    "cniConfig": cni_source,
                    "podCIDR": self.pod_cidr(),
                })
                .to_string(),
            );
            info.insert(
                "cgroupDriver".to_owned(),
                serde_json::to_string(&self.cgroup_driver).unwrap_or_default(),
            );
        }
        RuntimeStatus {
            conditions: vec![runtime, network],
            handlers,
            supplemental_groups_policy: true,
            info,
        }
    }
}
