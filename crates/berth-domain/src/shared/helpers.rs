//! The binaries berth runs besides the OCI runtime, found once at start.

use std::path::{Path, PathBuf};

/// The binaries berth runs besides the OCI runtime.
#[derive(Debug, Clone)]
pub struct Helpers {
    /// `berth-pause`, the infra process of a pod sandbox.
    pub pause: PathBuf,
    /// `berth-monitor`, the per-container process that holds stdio and records the exit.
    pub monitor: PathBuf,
}

impl Helpers {
    /// Next to the running `berthd`, else in `PATH`.
    pub fn locate() -> Self {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let find = |name: &str| {
            dir.as_ref()
                .map(|d| d.join(name))
                .filter(|p| p.exists())
                .or_else(|| berth_oci::resolve_binary(Path::new(name)))
                .unwrap_or_else(|| PathBuf::from(name))
        };
        Self {
            pause: find("berth-pause"),
            monitor: find("berth-monitor"),
        }
    }
}
