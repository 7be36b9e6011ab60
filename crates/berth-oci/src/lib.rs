//! The OCI runtime driver.
//!
//! Owns: finding runtime binaries, proving that one works on this host, and driving it
//! through its command line (create, start, state, kill, delete). Later issues add
//! `config.json` generation for sandboxes and containers here. It knows nothing of CRI or
//! gRPC; callers pass plain paths.

mod binary;
mod probe;
mod refusal;
mod runtime;

pub use binary::resolve_binary;
pub use probe::{ProbeError, RuntimeFeatures, probe_features, probe_runtime};
pub use refusal::{Refusal, input_refusal};
pub use runtime::{COMMAND_TIMEOUT, ContainerState, Runtime, RuntimeError};
