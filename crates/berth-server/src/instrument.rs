//! The wrapper every RPC goes through: gate, span, log line, metrics, error mapping.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use berth_domain::Domain;
use tonic::{Response, Status};
use tracing::Instrument;

use crate::Cri;
use crate::status::Failure;

/// What the wrapper needs to know about one call.
pub(crate) struct Call {
    rpc: &'static str,
    mutating: bool,
    pod_id: String,
    container_id: String,
    image: String,
}

impl Call {
    /// A call that reads only: logged at debug.
    pub(crate) fn read(rpc: &'static str) -> Self {
        Self {
            rpc,
            mutating: false,
            pod_id: String::new(),
            container_id: String::new(),
            image: String::new(),
        }
    }

    /// A call that changes state: logged at info with the IDs involved.
    pub(crate) fn mutating(rpc: &'static str) -> Self {
        Self {
            mutating: true,
            ..Self::read(rpc)
        }
    }

    /// Names the pod involved.
    pub(crate) fn pod(mut self, id: &str) -> Self {
        self.pod_id = id.to_owned();
        self
    }

    /// Names the image involved.
    pub(crate) fn image(mut self, image: &str) -> Self {
        self.image = image.to_owned();
        self
    }

    /// Names the container involved.
    pub(crate) fn container(mut self, id: &str) -> Self {
        self.container_id = id.to_owned();
        self
    }
}

impl Cri {
    /// Runs `f` against the domain once recovery is done, inside the call's span.
    pub(crate) async fn call<T, F, Fut>(&self, call: Call, f: F) -> Result<Response<T>, Status>
    where
        F: FnOnce(Arc<Domain>) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let span = tracing::info_span!(
            "cri",
            rpc = call.rpc,
            pod_id = tracing::field::Empty,
            container_id = tracing::field::Empty,
            image = tracing::field::Empty
        );
        if !call.image.is_empty() {
            span.record("image", call.image.as_str());
        }
        if !call.pod_id.is_empty() {
            span.record("pod_id", call.pod_id.as_str());
        }
        if !call.container_id.is_empty() {
            span.record("container_id", call.container_id.as_str());
        }
        let start = Instant::now();
        let result = async {
            match self.gate.get() {
                Some(domain) => f(domain.clone()).await,
                None => Err(Failure::Recovering),
            }
        }
        .instrument(span.clone())
        .await;
        let elapsed = start.elapsed();
        let _entered = span.enter();
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(failure) => failure.code(),
        };
        self.metrics.observe(call.rpc, code, elapsed);
        let millis = elapsed.as_secs_f64() * 1e3;
        match result {
            Ok(answer) => {
                if call.mutating {
                    tracing::info!(ms = millis, "ok");
                } else {
                    tracing::debug!(ms = millis, "ok");
                }
                Ok(Response::new(answer))
            }
            Err(failure) => {
                let status = failure.to_status(call.rpc);
                match code {
                    tonic::Code::Internal => {
                        tracing::error!(ms = millis, code = ?code, error = status.message(), "failed")
                    }
                    tonic::Code::Unimplemented | tonic::Code::Unavailable => {
                        tracing::debug!(code = ?code, "refused")
                    }
                    _ if call.mutating => {
                        tracing::info!(ms = millis, code = ?code, error = status.message(), "failed")
                    }
                    _ => {
                        tracing::debug!(ms = millis, code = ?code, error = status.message(), "failed")
                    }
                }
                Err(status)
            }
        }
    }

    /// An RPC whose issue has not landed: `Unimplemented`, through the same wrapper.
    pub(crate) async fn pending<T>(&self, call: Call) -> Result<Response<T>, Status> {
        let rpc = call.rpc;
        self.call(call, |_| async move { Err(Failure::Unimplemented(rpc)) })
            .await
    }
}
