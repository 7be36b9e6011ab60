//! The CRI gRPC server.
//!
//! Owns: the tonic services for `runtime.v1.RuntimeService` and `runtime.v1.ImageService`,
//! the one instrumentation wrapper every RPC goes through (tracing span with the pod and
//! container IDs, a log line per mutating call, latency metrics), the one mapping from
//! domain errors to gRPC status codes, and the Prometheus endpoint. Handlers are thin:
//! convert the request, call the domain, convert the answer. It must not touch the store or
//! the drivers directly.

mod convert;
mod convert_container;
mod convert_metrics;
mod convert_stats;
mod events;
mod gate;
mod image_service;
mod instrument;
mod limits;
pub mod metrics;
mod runtime_service;
mod status;
mod streaming;

use k8s_cri::v1::image_service_server::ImageServiceServer;
use k8s_cri::v1::runtime_service_server::RuntimeServiceServer;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use gate::Gate;
pub use limits::{MAX_MESSAGE_BYTES, MessageLimitLayer, message_limit_layer};
pub use metrics::Metrics;
pub use streaming::NodeBackend;

/// The two CRI services, sharing one gate, one metrics registry and the tracker of the
/// mutating calls' tasks.
#[derive(Clone)]
pub struct Cri {
    gate: Gate,
    metrics: Metrics,
    tasks: TaskTracker,
    streaming: berth_streaming::Streaming,
    /// berthd's shutdown: ends the open `GetContainerEvents` streams, which graceful
    /// shutdown would otherwise wait for.
    shutdown: CancellationToken,
}

impl Cri {
    /// Services that answer `Unavailable` until `gate` is opened with the domain; Exec and
    /// PortForward hand out URLs of `streaming`; event streams end at `shutdown`.
    pub fn new(
        gate: Gate,
        metrics: Metrics,
        streaming: berth_streaming::Streaming,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            gate,
            metrics,
            tasks: TaskTracker::new(),
            streaming,
            shutdown,
        }
    }

    /// `runtime.v1.RuntimeService`, taking requests up to 16 MiB as the kubelet sends them.
    pub fn runtime_service(&self) -> RuntimeServiceServer<Cri> {
        RuntimeServiceServer::new(self.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// `runtime.v1.ImageService`, taking requests up to 16 MiB.
    pub fn image_service(&self) -> ImageServiceServer<Cri> {
        ImageServiceServer::new(self.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Waits until every mutating call's task has finished (those whose caller went away
    /// included), for at most `grace`. New calls must have stopped arriving. True when all
    /// finished.
    pub async fn drain(&self, grace: std::time::Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }
}
