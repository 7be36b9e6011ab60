//! berth's CRI fuzzer: drives a live berthd over its socket with hostile requests for every
//! RPC of `runtime.v1.RuntimeService` and `runtime.v1.ImageService` — random field
//! mutation of the CRI message types with a seeded RNG plus a fixed corpus of known bad
//! input — and after each batch checks that berthd lives, that every answer's code is in
//! the expected set, and that no file appeared outside the allowed dirs. At the end it
//! removes every pod and container and checks that nothing is left on the node.
//!
//! The mechanism lives here; `main.rs` only parses flags. The module split:
//! [`rng`] (the seeded generator), [`values`] (hostile values, and the rules that keep the
//! host safe), [`mutate`] (base requests and field mutators), [`case`] (corpus and random
//! cases with their expectations), [`call`] (the RPC list and sending), [`host`] (host
//! checks), [`report`] (figures and violations), [`run`] (the loop).

pub mod call;
pub mod case;
pub mod host;
pub mod mutate;
pub mod report;
pub mod rng;
pub mod run;
pub mod values;

use std::path::PathBuf;
use std::time::Duration;

pub use report::{Kind, Report, Violation};
pub use run::run;

/// What to fuzz and how.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// berthd's CRI socket.
    pub socket: PathBuf,
    /// A pullable busybox image (`host:port/busybox:latest`) for the valid pods.
    pub image: String,
    /// How many requests to send (hostile ones; valid set-up and clean-up come on top).
    pub requests: u64,
    /// The RNG seed.
    pub seed: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests per batch (checks run after each).
    pub batch: usize,
    /// Where files may appear: berthd's root and state are added, and the fuzzer's work dir.
    pub allowed_dirs: Vec<PathBuf>,
    /// berthd's PID, to check it lives.
    pub pid: Option<i32>,
    /// berthd's `--root` (mount checks); defaults to the first allowed dir.
    pub root: Option<PathBuf>,
    /// berthd's `--state` (mount, netns, monitor checks); defaults to the socket's dir.
    pub state: Option<PathBuf>,
    /// The fuzzer's own dir for log directories and host paths; a temp dir when unset.
    pub work: Option<PathBuf>,
    /// RPCs allowed to answer Unimplemented.
    pub unimplemented: Vec<String>,
    /// Whether pods may use their own network (berthd has a CNI network).
    pub pod_network: bool,
    /// The host-local IPAM data dir, to check no lease is left.
    pub cni_leases: Option<PathBuf>,
    /// How long one call may take before it counts as a hang.
    pub call_limit: Duration,
    /// Pods alive at once before a batch's end removes them all.
    pub max_pods: usize,
}

impl FuzzConfig {
    /// Defaults for everything but the socket and the image.
    pub fn new(socket: impl Into<PathBuf>, image: impl Into<String>) -> FuzzConfig {
        FuzzConfig {
            socket: socket.into(),
            image: image.into(),
            requests: 2000,
            seed: 1,
            concurrency: 4,
            batch: 100,
            allowed_dirs: Vec::new(),
            pid: None,
            root: None,
            state: None,
            work: None,
            unimplemented: call::NOT_BUILT.iter().map(|s| s.to_string()).collect(),
            pod_network: false,
            cni_leases: None,
            call_limit: Duration::from_secs(60),
            max_pods: 6,
        }
    }
}

/// Why a run could not be made (violations are not errors: they are in the report).
#[derive(Debug, thiserror::Error)]
pub enum FuzzError {
    /// The socket did not answer.
    #[error("cannot connect to {socket}: {source}")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// The cause.
        #[source]
        source: tonic::transport::Error,
    },
    /// The work dir could not be made.
    #[error("cannot prepare the work dir {dir}: {source}")]
    Work {
        /// The dir.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The image has no registry host (`host:port/name:tag` is needed).
    #[error("image {0:?} names no registry host")]
    Image(String),
}
