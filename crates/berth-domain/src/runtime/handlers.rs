//! The runtime handlers (Kubernetes RuntimeClass handlers) and which one is the default.
//!
//! Configured handlers are used as written; `crun` and `runc` are added when found in `PATH`
//! and not configured. Every handler is probed once at start (see `berth_oci::probe_runtime`)
//! so that a runtime that cannot work on this host is known before a pod needs it, and a
//! working one is asked once which optional features it has (`berth_oci::probe_features`):
//! Status declares them per handler and CreateContainer refuses what a handler lacks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_config::defaults::RUNTIME_CANDIDATES;
use berth_config::{CgroupDriver, Config};

/// One handler and what its probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// The binary, resolved; `None` when it is not installed.
    pub binary: Option<PathBuf>,
    /// Why it cannot run containers on this node; `None` when the probe created one.
    pub problem: Option<String>,
    /// What it can do beyond the basics; all off unless the probe passed.
    pub features: berth_oci::RuntimeFeatures,
}

impl Handler {
    /// Whether its probe created a container on this node.
    pub fn works(&self) -> bool {
        self.problem.is_none()
    }
}

/// Every handler by name, and the default's name.
#[derive(Debug, Clone, Default)]
pub struct Handlers {
    handlers: BTreeMap<String, Handler>,
    default: Option<String>,
    /// Why there is no usable default, when there is none.
    default_problem: Option<String>,
}

impl Handlers {
    /// Resolves and probes every handler (through the cgroup driver berth will drive it
    /// with), then picks the default.
    pub async fn probe(config: &Config, driver: CgroupDriver) -> Self {
        let layout = config.layout();
        let mut wanted: BTreeMap<String, PathBuf> = config
            .runtimes
            .iter()
            .map(|(name, h)| (name.clone(), h.path.clone()))
            .collect();
        for name in RUNTIME_CANDIDATES {
            if !wanted.contains_key(*name) && berth_oci::resolve_binary(name.as_ref()).is_some() {
                wanted.insert((*name).to_owned(), PathBuf::from(name));
            }
        }
        let mut handlers = BTreeMap::new();
        for (name, path) in wanted {
            let handler = match berth_oci::resolve_binary(&path) {
                None => Handler {
                    binary: None,
                    problem: Some(format!("binary {} not found", path.display())),
                    features: Default::default(),
                },
                Some(binary) => {
                    let scratch = layout.probe_dir(&name);
                    let problem = berth_oci::probe_runtime(
                        &binary,
                        &scratch,
                        driver == CgroupDriver::Systemd,
                    )
                    .await
                    .err()
                    .map(|e| e.to_string());
                    let features = if problem.is_none() {
                        berth_oci::probe_features(&binary).await
                    } else {
                        Default::default()
                    };
                    Handler {
                        binary: Some(binary),
                        problem,
                        features,
                    }
                }
            };
            match &handler.problem {
                None => {
                    tracing::info!(handler = %name, binary = ?handler.binary, recursive_read_only = handler.features.recursive_read_only, "runtime handler works")
                }
                Some(e) => tracing::warn!(handler = %name, error = %e, "runtime handler unusable"),
            }
            handlers.insert(name, handler);
        }
        let _ = std::fs::remove_dir(layout.probes());
        Self::choose_default(handlers, config.default_runtime.as_deref())
    }

    fn choose_default(handlers: BTreeMap<String, Handler>, wanted: Option<&str>) -> Self {
        let works = |name: &str| handlers.get(name).is_some_and(|h| h.works());
        let (default, default_problem) = match wanted {
            Some(name) if works(name) => (Some(name.to_owned()), None),
            Some(name) => {
                let why = match handlers.get(name) {
                    Some(Handler {
                        problem: Some(e), ..
                    }) => e.clone(),
                    _ => "not installed".to_owned(),
                };
                (
                    None,
                    Some(format!("default runtime {name:?} is unusable: {why}")),
                )
            }
            None => match RUNTIME_CANDIDATES.iter().find(|n| works(n)) {
                Some(name) => (Some((*name).to_owned()), None),
                None => {
                    let tried: Vec<String> = RUNTIME_CANDIDATES
                        .iter()
                        .map(|n| match handlers.get(*n) {
                            Some(Handler {
                                problem: Some(e), ..
                            }) => format!("{n}: {e}"),
                            _ => format!("{n}: not installed"),
                        })
                        .collect();
                    (
                        None,
                        Some(format!("no working OCI runtime ({})", tried.join("; "))),
                    )
                }
            },
        };
        Self {
            handlers,
            default,
            default_problem,
        }
    }

    /// The default handler's name, when one works.
    pub fn default_name(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// Why there is no working default.
    pub fn default_problem(&self) -> Option<&str> {
        self.default_problem.as_deref()
    }

    /// The features of handler `name` (`""`: the default), all off when it is unknown or
    /// does not work.
    pub fn features(&self, name: &str) -> berth_oci::RuntimeFeatures {
        let name = if name.is_empty() {
            self.default_name().unwrap_or_default()
        } else {
            name
        };
        self.handlers
            .get(name)
            .filter(|h| h.works())
            .map(|h| h.features)
            .unwrap_or_default()
    }

    /// Every handler by name.
    pub fn all(&self) -> &BTreeMap<String, Handler> {
        &self.handlers
    }

    /// The handlers' names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ok: bool) -> Handler {
        Handler {
            binary: Some("/x".into()),
            problem: (!ok).then(|| "refused".into()),
            features: berth_oci::RuntimeFeatures {
                recursive_read_only: true,
            },
        }
    }

    #[test]
    fn features_are_per_handler_and_the_default_answers_for_empty() {
        let mut crun = h(true);
        crun.features.recursive_read_only = false;
        let all = BTreeMap::from([
            ("crun".into(), crun),
            ("runc".into(), h(true)),
            ("kata".into(), h(false)),
        ]);
        let hs = Handlers::choose_default(all, Some("runc"));
        assert!(hs.features("runc").recursive_read_only);
        assert!(hs.features("").recursive_read_only, "the default is runc");
        assert!(!hs.features("crun").recursive_read_only);
        assert!(
            !hs.features("kata").recursive_read_only,
            "a broken handler has none"
        );
        assert!(!hs.features("nope").recursive_read_only);
        let none = Handlers::choose_default(BTreeMap::new(), None);
        assert!(!none.features("").recursive_read_only);
    }

    #[test]
    fn first_working_candidate_is_the_default() {
        let all = BTreeMap::from([("crun".into(), h(false)), ("runc".into(), h(true))]);
        let hs = Handlers::choose_default(all, None);
        assert_eq!(hs.default_name(), Some("runc"));
        assert_eq!(hs.default_problem(), None);
    }

    #[test]
    fn crun_wins_when_it_works() {
        let all = BTreeMap::from([("crun".into(), h(true)), ("runc".into(), h(true))]);
        assert_eq!(
            Handlers::choose_default(all, None).default_name(),
            Some("crun")
        );
    }

    #[test]
    fn a_broken_named_default_is_reported_not_replaced() {
        let all = BTreeMap::from([("kata".into(), h(false)), ("runc".into(), h(true))]);
        let hs = Handlers::choose_default(all, Some("kata"));
        assert_eq!(hs.default_name(), None);
        assert!(hs.default_problem().unwrap().contains("refused"));
    }

    #[test]
    fn nothing_works() {
        let hs = Handlers::choose_default(BTreeMap::new(), None);
        assert_eq!(hs.default_name(), None);
        let why = hs.default_problem().unwrap();
        assert!(
            why.contains("crun: not installed") && why.contains("runc: not installed"),
            "{why}"
        );
    }
}
