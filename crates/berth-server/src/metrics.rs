//! Prometheus metrics: CRI call latencies by RPC and status code, served over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    rpc: &'static str,
    code: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// The daemon's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    calls: Family<CallLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with berth's metrics registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("berth");
        let calls: Family<CallLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "cri_request_duration_seconds",
            "CRI RPC latency by RPC and gRPC status code",
            calls.clone(),
        );
        Self {
            registry: Arc::new(registry),
            calls,
        }
    }

    /// Records one finished call.
    pub fn observe(&self, rpc: &'static str, code: tonic::Code, elapsed: Duration) {
        self.calls
            .get_or_create(&CallLabels {
                rpc,
                code: format!("{code:?}"),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }

    /// Binds `address` now (so a bad address stops start-up) and returns the bound address
    /// with the serving future, which ends when `shutdown` is cancelled.
    pub async fn bind(
        self,
        address: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
        let listener = TcpListener::bind(address).await?;
        let bound = listener.local_addr()?;
        Ok((bound, self.serve(listener, shutdown)))
    }

    async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        // Connections are owned here and aborted with the set when serving stops.
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = self.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, std::convert::Infallible>(metrics.respond(&req)) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "metrics connection ended");
                }
            });
        }
    }

    fn respond<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        let (status, body) = if req.uri().path() == "/metrics" {
            (StatusCode::OK, self.encode())
        } else {
            (
                StatusCode::NOT_FOUND,
                "not found: try /metrics\n".to_owned(),
            )
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_are_encoded() {
        let m = Metrics::new();
        m.observe("Version", tonic::Code::Ok, Duration::from_millis(2));
        let text = m.encode();
        assert!(
            text.contains("berth_cri_request_duration_seconds"),
            "{text}"
        );
        assert!(text.contains("rpc=\"Version\""), "{text}");
        assert!(text.contains("code=\"Ok\""), "{text}");
    }
}
