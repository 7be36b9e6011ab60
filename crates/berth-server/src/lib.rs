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
mod gate;
mod image_service;
mod instrument;
pub mod metrics;
mod runtime_service;
mod status;

use k8s_cri::v1::image_service_server::ImageServiceServer;
use k8s_cri::v1::runtime_service_server::RuntimeServiceServer;

pub use gate::Gate;
pub use metrics::Metrics;

/// The two CRI services, sharing one gate and one metrics registry.
#[derive(Clone)]
pub struct Cri {
    gate: Gate,
    metrics: Metrics,
}

impl Cri {
    /// Services that answer `Unavailable` until `gate` is opened with the domain.
    pub fn new(gate: Gate, metrics: Metrics) -> Self {
        Self { gate, metrics }
    }

    /// `runtime.v1.RuntimeService`.
    pub fn runtime_service(&self) -> RuntimeServiceServer<Cri> {
        RuntimeServiceServer::new(self.clone())
    }

    /// `runtime.v1.ImageService`.
    pub fn image_service(&self) -> ImageServiceServer<Cri> {
        ImageServiceServer::new(self.clone())
    }
}
