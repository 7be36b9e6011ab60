//! Prometheus metrics, served over HTTP: CRI call latencies by RPC and status code, and what
//! an operator graphs about the node, read from the domain at each scrape (pods and
//! containers by state, container exits and OOM kills, image pulls) or set once (how long
//! start-up recovery took).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_domain::stats::census::Census;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Gate;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    rpc: &'static str,
    code: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// What the node collector reports: the last census, and the recovery time once known.
#[derive(Debug, Default)]
struct NodeFigures {
    census: Option<Census>,
    recovery_seconds: Option<f64>,
}

/// Encodes the node's figures at each scrape (after `Metrics::refresh` took a census).
#[derive(Debug, Clone, Default)]
struct NodeCollector(Arc<Mutex<NodeFigures>>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(seconds) = figures.recovery_seconds {
            let gauge = ConstGauge::new(seconds);
            gauge.encode(encoder.encode_descriptor(
                "recovery_seconds",
                "How long berthd's start-up recovery took (store, indexes, runtime probes, settling every record)",
                None,
                gauge.metric_type(),
            )?)?;
        }
        let Some(census) = &figures.census else {
            return Ok(());
        };
        for (name, help, counts) in [
            ("pods", "Pod sandboxes by state", &census.pods),
            ("containers", "Containers by state", &census.containers),
        ] {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (state, &count) in counts {
                let labels = StateLabel {
                    state: state.clone(),
                };
                ConstGauge::new(count as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        let counters: [(&str, &str, u64); 3] = [
            (
                "container_exits",
                "Container exits since berthd started",
                census.exits,
            ),
            (
                "container_oom_kills",
                "Container exits the OOM killer caused",
                census.oom_kills,
            ),
            (
                "image_pull_bytes",
                "Size of the images pulled (config and compressed layers)",
                census.pull_bytes,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let seconds = ConstCounter::new(census.pull_seconds);
        seconds.encode(encoder.encode_descriptor(
            "image_pull_seconds",
            "Time spent pulling images",
            None,
            seconds.metric_type(),
        )?)?;
        let mut pulls = encoder.encode_descriptor(
            "image_pulls",
            "Image pulls by result",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, value) in [
            ("succeeded", census.pulls_succeeded),
            ("failed", census.pulls_failed),
        ] {
            ConstCounter::new(value).encode(pulls.encode_family(&ResultLabel { result })?)?;
        }
        Ok(())
    }
}

/// The daemon's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    calls: Family<CallLabels, Histogram, fn() -> Histogram>,
    node: NodeCollector,
    /// The domain, once recovery opened the gate: each scrape takes its census.
    gate: Gate,
}

impl Metrics {
    /// A registry with berth's metrics registered; the node's figures come from the domain
    /// behind `gate` once it is open.
    pub fn new(gate: Gate) -> Self {
        let mut registry = Registry::with_prefix("berth");
        let node = NodeCollector::default();
        registry.register_collector(Box::new(node.clone()));
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
            node,
            gate,
        }
    }

    /// Notes how long start-up recovery took.
    pub fn recovered(&self, took: Duration) {
        let mut figures = self.node.0.lock().unwrap_or_else(PoisonError::into_inner);
        figures.recovery_seconds = Some(took.as_secs_f64());
    }

    /// Takes the domain's census for the next encoding (nothing before recovery is done).
    pub async fn refresh(&self) {
        let Some(domain) = self.gate.get() else {
            return;
        };
        match domain.census().await {
            Ok(census) => {
                let mut figures = self.node.0.lock().unwrap_or_else(PoisonError::into_inner);
                figures.census = Some(census);
            }
            Err(e) => tracing::warn!(error = %e, "cannot count pods and containers for metrics"),
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
                    async move { Ok::<_, std::convert::Infallible>(metrics.respond(&req).await) }
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

    async fn respond<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        let (status, body) = if req.uri().path() == "/metrics" {
            self.refresh().await;
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
        let m = Metrics::new(Gate::new());
        m.observe("Version", tonic::Code::Ok, Duration::from_millis(2));
        let text = m.encode();
        assert!(
            text.contains("berth_cri_request_duration_seconds"),
            "{text}"
        );
        assert!(text.contains("rpc=\"Version\""), "{text}");
        assert!(text.contains("code=\"Ok\""), "{text}");
    }

    #[test]
    fn the_nodes_figures_are_encoded_once_known() {
        let m = Metrics::new(Gate::new());
        let text = m.encode();
        assert!(
            !text.contains("berth_pods"),
            "no census before recovery: {text}"
        );
        m.recovered(Duration::from_millis(1500));
        m.node.0.lock().unwrap().census = Some(Census {
            pods: [("ready".to_owned(), 2), ("not_ready".to_owned(), 0)].into(),
            containers: [("running".to_owned(), 3)].into(),
            exits: 4,
            oom_kills: 1,
            pulls_succeeded: 5,
            pulls_failed: 6,
            pull_bytes: 7,
            pull_seconds: 8.5,
        });
        let text = m.encode();
        for line in [
            "berth_recovery_seconds 1.5",
            "berth_pods{state=\"ready\"} 2",
            "berth_pods{state=\"not_ready\"} 0",
            "berth_containers{state=\"running\"} 3",
            "berth_container_exits_total 4",
            "berth_container_oom_kills_total 1",
            "berth_image_pulls_total{result=\"succeeded\"} 5",
            "berth_image_pulls_total{result=\"failed\"} 6",
            "berth_image_pull_bytes_total 7",
            "berth_image_pull_seconds_total 8.5",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }
}
