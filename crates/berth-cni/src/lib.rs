//! The CNI driver.
//!
//! Owns: finding the network configuration (the first conflist in the conf dir, or berth's
//! built-in default), finding plugin binaries, and judging whether networking is ready.
//! Later issues add the plugin invoker (ADD/DEL/CHECK with `prevResult` chaining and a result
//! cache) here. It knows nothing of CRI, gRPC or the store.

mod conf;
mod readiness;

pub use conf::{ConfError, ConfList, ConfSource, PluginConf, builtin_default, load_first};
pub use readiness::{NetworkReadiness, check_readiness, find_plugin};
