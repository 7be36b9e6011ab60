//! Every built-in default, named once. `docs/config.toml` documents the same values.

use std::time::Duration;

use crate::RuntimeType;

/// Persistent state directory.
pub const ROOT: &str = "/var/lib/berth";
/// Volatile state directory.
pub const STATE: &str = "/run/berth";
/// Config file read when `--config` is not given.
pub const CONFIG_FILE: &str = "/etc/berth/config.toml";
/// Socket file name inside the state directory.
pub const SOCKET_NAME: &str = "berth.sock";
/// Lock file name inside the state directory.
pub const LOCK_NAME: &str = "berth.lock";
/// Metadata database file name inside the root directory.
pub const DB_NAME: &str = "meta.redb";
/// CNI configuration directory.
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// CNI plugin directories: upstream's location, then Debian's.
pub const CNI_BIN_DIRS: &[&str] = &["/opt/cni/bin", "/usr/lib/cni"];
/// Streaming server address (port 0: any free port).
pub const STREAMING_ADDRESS: &str = "127.0.0.1:0";
/// A streaming session with no data either way for this long is closed (the kubelet's).
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(4 * 3600);
/// How long a streaming client has to open its streams (the kubelet's).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the stats sampler measures CPU rates and writable layers: the kubelet reads
/// stats every 10 s.
pub const STATS_SAMPLE_PERIOD: Duration = Duration::from_secs(10);
/// Grace period for in-flight calls on SIGTERM.
pub const SHUTDOWN_GRACE_SECONDS: u64 = 10;
/// A pull with no bytes for this long fails.
pub const IMAGE_PULL_PROGRESS_TIMEOUT: Duration = Duration::from_secs(300);
/// Runtime handlers tried, in order, when `default_runtime` is unset.
pub const RUNTIME_CANDIDATES: &[&str] = &["crun", "runc"];

/// Default `type` of a runtime handler.
pub fn runtime_type() -> RuntimeType {
    RuntimeType::Oci
}
