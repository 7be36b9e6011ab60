//! The CNI driver.
//!
//! Owns: finding the network configuration (the first conflist in the conf dir, or berth's
//! built-in default), finding plugin binaries, judging whether networking is ready, running
//! the plugins (ADD/DEL with `prevResult` chaining, `CNI_ARGS`, `portMappings`, and a result
//! cache for DEL), and network namespaces pinned by bind mount. It knows nothing of CRI,
//! gRPC or the store.
//!
//! berth writes its own invoker rather than binding libcni (Go): the contract is an exec
//! with environment variables and JSON on stdin/stdout, small enough to own.

mod conf;
mod invoke;
pub mod netns;
#[cfg(test)]
mod props;
mod readiness;

pub use conf::{ConfError, ConfList, ConfSource, PluginConf, builtin_default, load_first};
pub use invoke::{Attachment, CniError, Invoker, PodArgs, PortMapping, cached_result, result_ips};
pub use readiness::{NetworkReadiness, check_readiness, find_plugin};
