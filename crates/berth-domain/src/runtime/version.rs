//! `Version`.

use super::RuntimeInfo;

/// The answer to `Version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Version of the kubelet runtime API this implements (CRI's own numbering).
    pub version: &'static str,
    /// `berth`.
    pub runtime_name: &'static str,
    /// berth's version.
    pub runtime_version: &'static str,
    /// `v1`.
    pub runtime_api_version: &'static str,
}

impl VersionInfo {
    /// Who we are: known before recovery, so Version answers from berthd's first moment.
    pub fn current() -> VersionInfo {
        VersionInfo {
            version: "0.1.0",
            runtime_name: "berth",
            runtime_version: env!("CARGO_PKG_VERSION"),
            runtime_api_version: "v1",
        }
    }
}

impl RuntimeInfo {
    /// Who we are.
    pub fn version(&self) -> VersionInfo {
        VersionInfo::current()
    }
}
