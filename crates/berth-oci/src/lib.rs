//! The OCI runtime driver.
//!
//! Owns: finding runtime binaries, the runtime's command line (one builder for every caller,
//! [`RuntimeCli`]), and, behind the default `driver` feature, proving that a runtime works on
//! this host and driving it asynchronously (create, start, state, kill, delete, exec, update,
//! list). It knows nothing of CRI or gRPC; callers pass plain paths.
//!
//! Without `driver` the crate is `std` plus `serde_json`: the per-container monitor builds its
//! runtime commands here and must not carry tokio or the OCI spec types.

mod binary;
mod cli;
#[cfg(feature = "driver")]
mod probe;
mod refusal;
#[cfg(feature = "driver")]
mod runtime;

pub use binary::resolve_binary;
pub use cli::{RuntimeCli, Subcommand, read_log_errors};
#[cfg(feature = "driver")]
pub use probe::{ProbeError, RuntimeFeatures, probe_features, probe_runtime};
pub use refusal::{Refusal, input_refusal};
#[cfg(feature = "driver")]
pub use runtime::{COMMAND_TIMEOUT, ContainerState, Runtime, RuntimeError};
