//! The OCI runtime driver.
//!
//! Owns: finding runtime binaries and proving that one works on this host. Later issues add
//! `config.json` generation (oci-spec) and the runc/crun command-line driver here. It knows
//! nothing of CRI or gRPC; callers pass plain paths.

mod binary;
mod probe;

pub use binary::resolve_binary;
pub use probe::{ProbeError, probe_runtime};
