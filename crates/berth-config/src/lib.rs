//! berth's one typed configuration.
//!
//! Owns: the built-in defaults (all named in [`defaults`]), reading the optional TOML file,
//! and validation. Layering is defaults → file → command-line overrides
//! ([`Overrides`]) → [`Config::validate`]. It does not probe the machine: choosing a
//! working default OCI runtime or cgroup driver is the domain's job at start-up.
//!
//! Every key is optional. An unknown key or a value of the wrong shape stops start-up with a
//! message that names the key and the line (the `toml` crate's span-carrying errors).

mod address;
pub mod defaults;
mod duration;
mod layout;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use address::MetricsAddress;
pub use duration::ConfigDuration;
pub use layout::{PER_OBJECT_DIRS, PodFile, StateLayout};

/// Errors that stop berthd from starting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A named config file is missing or unreadable.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong shape.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and key.
        message: String,
    },
    /// A value in the file parsed but makes no sense (relative path, unknown handler, ...).
    #[error("invalid config file {path}, line {line}: {key}: {reason}")]
    InvalidAt {
        /// The file.
        path: PathBuf,
        /// The line that sets the key.
        line: usize,
        /// The dotted key at fault.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A value parsed but makes no sense (relative path, unknown handler, ...).
    #[error("invalid config: {key}: {reason}")]
    Invalid {
        /// The dotted key at fault.
        key: String,
        /// Why it is refused.
        reason: String,
    },
}

/// How the daemon's cgroups are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupDriver {
    /// Through systemd's D-Bus API (systemd is PID 1 and owns the hierarchy).
    Systemd,
    /// By writing the cgroup file system directly.
    Cgroupfs,
}

/// The kind of a runtime handler. Only OCI CLI runtimes exist today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeType {
    /// A runc-compatible binary driven through the OCI command line.
    Oci,
}

/// One CRI runtime handler (Kubernetes RuntimeClass `handler`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeHandler {
    /// The runtime binary: an absolute path, or a name looked up in `PATH`.
    pub path: PathBuf,
    /// Its kind.
    #[serde(rename = "type", default = "defaults::runtime_type")]
    pub kind: RuntimeType,
}

/// `[network]`: where CNI configuration and plugins live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Directory of CNI network configurations; the first one by name is used.
    pub conf_dir: PathBuf,
    /// Directories searched, in order, for CNI plugin binaries.
    pub bin_dirs: Vec<PathBuf>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            conf_dir: defaults::CNI_CONF_DIR.into(),
            bin_dirs: defaults::CNI_BIN_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// `[registries."<host>"]`: how to reach one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Mirror endpoints tried in order before the host itself (`http://` means plain HTTP).
    pub mirrors: Vec<String>,
    /// Allow plain HTTP to the host itself.
    pub insecure: bool,
}

/// `[streaming]`: the exec/attach/port-forward server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamingConfig {
    /// Listen address; port 0 picks a free port.
    pub address: SocketAddr,
    /// TLS certificate chain (PEM); with `tls_key`, the server speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// A session with no data either way for this long is closed.
    pub stream_idle_timeout: ConfigDuration,
    /// How long a client has to open a session's streams after the upgrade.
    pub stream_creation_timeout: ConfigDuration,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self {
            address: defaults::STREAMING_ADDRESS.parse().expect("valid default"),
            tls_cert: None,
            tls_key: None,
            stream_idle_timeout: ConfigDuration(defaults::STREAM_IDLE_TIMEOUT),
            stream_creation_timeout: ConfigDuration(defaults::STREAM_CREATION_TIMEOUT),
        }
    }
}

/// `[stats]`: the stats RPCs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// How often the background sampler measures each running container's CPU rate and
    /// writable layer.
    pub sample_period: ConfigDuration,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            sample_period: ConfigDuration(defaults::STATS_SAMPLE_PERIOD),
        }
    }
}

/// `[pods]`: how pod sandboxes are built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodsConfig {
    /// When a pod gets an infra process (`berth-pause` under a monitor).
    pub infra: InfraMode,
}

/// When a pod gets an infra process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InfraMode {
    /// Every pod: its namespaces are the infra's, as containerd builds pods.
    Always,
    /// Only a pod whose containers share one PID namespace (the infra is its PID 1); the
    /// others get pinned namespaces and no process of their own, as CRI-O's
    /// `drop_infra_ctr`.
    #[default]
    WhenNeeded,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Listen address; empty turns the endpoint off.
    pub address: MetricsAddress,
}

/// The whole configuration, as read from the file (before overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Persistent state: metadata DB, content store, layers.
    pub root: PathBuf,
    /// Volatile state: socket, lock, monitor sockets, pinned netns.
    pub state: PathBuf,
    /// The CRI socket; defaults to `<state>/berth.sock`.
    pub socket: Option<PathBuf>,
    /// The handler used when a pod names none; defaults to the first of crun, runc that works.
    pub default_runtime: Option<String>,
    /// Cgroup driver; detected when unset.
    pub cgroup_driver: Option<CgroupDriver>,
    /// How long SIGTERM waits for in-flight calls, in seconds.
    pub shutdown_grace_seconds: u64,
    /// Whether SIGTERM stops every pod before berthd exits. Off by default: like containerd
    /// under `KillMode=process`, a restart or upgrade leaves workloads running.
    pub shutdown_stops_pods: bool,
    /// A pull that receives no bytes for this long fails.
    pub image_pull_progress_timeout: ConfigDuration,
    /// Runtime handlers by name. `crun` and `runc` exist by default when found in `PATH`.
    pub runtimes: BTreeMap<String, RuntimeHandler>,
    /// Where the CNI network configs and plugins are, for pods not on the host network.
    pub network: NetworkConfig,
    /// Registries by host name (`host` or `host:port`).
    pub registries: BTreeMap<String, RegistryConfig>,
    /// Where the exec/attach/port-forward server listens.
    pub streaming: StreamingConfig,
    /// Where the Prometheus endpoint listens, if anywhere.
    pub metrics: MetricsConfig,
    /// How stats are sampled.
    pub stats: StatsConfig,
    /// How pods are built.
    pub pods: PodsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            root: defaults::ROOT.into(),
            state: defaults::STATE.into(),
            socket: None,
            default_runtime: None,
            cgroup_driver: None,
            shutdown_grace_seconds: defaults::SHUTDOWN_GRACE_SECONDS,
            shutdown_stops_pods: false,
            image_pull_progress_timeout: ConfigDuration(defaults::IMAGE_PULL_PROGRESS_TIMEOUT),
            runtimes: BTreeMap::new(),
            network: NetworkConfig::default(),
            registries: BTreeMap::new(),
            streaming: StreamingConfig::default(),
            metrics: MetricsConfig::default(),
            stats: StatsConfig::default(),
            pods: PodsConfig::default(),
        }
    }
}

/// Values given on the command line; each one set wins over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--root`.
    pub root: Option<PathBuf>,
    /// `--state`.
    pub state: Option<PathBuf>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
}

/// Where the config file comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The default path: a missing file means built-in defaults.
    Default(PathBuf),
    /// A path the operator named: it must exist.
    Named(PathBuf),
}

/// The 1-based line that assigns the last segment of dotted `key` (`network.conf_dir` →
/// the line `conf_dir = ...`), for pointing at a value that parsed but is invalid. A key set
/// only by a flag has no line.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let last = key.rsplit('.').next()?.trim_matches('"');
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(last)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// The longest path a Unix socket can be bound to (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

impl Config {
    /// Parses TOML text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Loads the file (or the defaults), applies the overrides and validates the result.
    pub fn load(source: &Source, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut file = None;
        let mut config = match source {
            Source::Default(path) | Source::Named(path) => match std::fs::read_to_string(path) {
                Ok(text) => {
                    let config = Self::parse(&text, path)?;
                    file = Some((path, text));
                    config
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && matches!(source, Source::Default(_)) =>
                {
                    Self::default()
                }
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.clone(),
                        source,
                    });
                }
            },
        };
        config.apply(overrides);
        config.validate().map_err(|e| match (e, &file) {
            (ConfigError::Invalid { key, reason }, Some((path, text))) => {
                match line_of_key(text, &key) {
                    Some(line) => ConfigError::InvalidAt {
                        path: (*path).clone(),
                        line,
                        key,
                        reason,
                    },
                    None => ConfigError::Invalid { key, reason },
                }
            }
            (e, _) => e,
        })?;
        Ok(config)
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, overrides: &Overrides) {
        if let Some(root) = &overrides.root {
            self.root = root.clone();
        }
        if let Some(state) = &overrides.state {
            self.state = state.clone();
        }
        if let Some(socket) = &overrides.socket {
            self.socket = Some(socket.clone());
        }
    }

    /// The CRI socket path: the configured one, or `<state>/berth.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| self.layout().default_socket())
    }

    /// The map of every path under `root` and `state`.
    pub fn layout(&self) -> StateLayout {
        StateLayout::new(&self.root, &self.state)
    }

    /// Checks what serde cannot: absolute paths, known handler names, sane URLs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: key.to_owned(),
            reason,
        };
        for (key, path) in [("root", &self.root), ("state", &self.state)] {
            if !path.is_absolute() {
                return Err(invalid(
                    key,
                    format!("{} is not an absolute path", path.display()),
                ));
            }
        }
        // Each monitor listens on `<state>/m/<64-hex id>/monitor.sock`, and a Unix socket
        // path has at most 107 bytes.
        let longest = self
            .state
            .join("m")
            .join("0".repeat(64))
            .join("monitor.sock");
        if longest.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(invalid(
                "state",
                format!(
                    "{} is too long: monitor sockets under it would exceed the {MAX_SOCKET_PATH}-byte limit of a Unix socket path (keep it under {} bytes)",
                    self.state.display(),
                    MAX_SOCKET_PATH + self.state.as_os_str().len() - longest.as_os_str().len()
                ),
            ));
        }
        if let Some(socket) = &self.socket
            && !socket.is_absolute()
        {
            return Err(invalid(
                "socket",
                format!("{} is not an absolute path", socket.display()),
            ));
        }
        match (&self.streaming.tls_cert, &self.streaming.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid(
                    "streaming.tls_cert",
                    "tls_cert and tls_key go together: set both or neither".into(),
                ));
            }
            _ => {}
        }
        for (key, value) in [
            (
                "streaming.stream_idle_timeout",
                self.streaming.stream_idle_timeout,
            ),
            (
                "streaming.stream_creation_timeout",
                self.streaming.stream_creation_timeout,
            ),
            ("stats.sample_period", self.stats.sample_period),
        ] {
            if value.0.is_zero() {
                return Err(invalid(key, "must be more than zero".into()));
            }
        }
        if !self.network.conf_dir.is_absolute() {
            return Err(invalid(
                "network.conf_dir",
                format!(
                    "{} is not an absolute path",
                    self.network.conf_dir.display()
                ),
            ));
        }
        if let Some(dir) = self.network.bin_dirs.iter().find(|d| !d.is_absolute()) {
            return Err(invalid(
                "network.bin_dirs",
                format!("{} is not an absolute path", dir.display()),
            ));
        }
        for (name, handler) in &self.runtimes {
            if name.is_empty() {
                return Err(invalid("runtimes", "a handler name cannot be empty".into()));
            }
            if handler.path.as_os_str().is_empty() {
                return Err(invalid(&format!("runtimes.{name}.path"), "is empty".into()));
            }
        }
        if let Some(name) = &self.default_runtime {
            if name.is_empty() {
                return Err(invalid("default_runtime", "cannot be empty".into()));
            }
            let builtin = defaults::RUNTIME_CANDIDATES.contains(&name.as_str());
            if !builtin && !self.runtimes.contains_key(name) {
                return Err(invalid(
                    "default_runtime",
                    format!("{name:?} is neither a [runtimes.{name}] table nor one of crun, runc"),
                ));
            }
        }
        for (host, registry) in &self.registries {
            if host.is_empty() || host.contains('/') {
                return Err(invalid(
                    "registries",
                    format!("{host:?} is not a registry host name (host or host:port)"),
                ));
            }
            for mirror in &registry.mirrors {
                let rest = mirror
                    .strip_prefix("http://")
                    .or_else(|| mirror.strip_prefix("https://"));
                if rest.is_none_or(|r| r.is_empty()) {
                    return Err(invalid(
                        &format!("registries.\"{host}\".mirrors"),
                        format!("{mirror:?} is not an http:// or https:// URL"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The configuration as JSON, for `Status` with `verbose`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
