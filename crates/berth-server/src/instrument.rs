//! The wrapper every RPC goes through: gate, span, log line, metrics, error mapping, and
//! the owned task that a mutating call runs in.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_domain::Domain;
use tokio::sync::oneshot;
use tonic::{Response, Status};
use tracing::Instrument;

use crate::Cri;
use crate::metrics::Metrics;
use crate::status::Failure;

/// Who a call's work belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// The work is the handler's future: it ends when the caller goes away.
    Caller,
    /// The work is a task berthd owns: it runs to the end whatever the caller does.
    Owned,
}

/// What the wrapper needs to know about one call.
pub(crate) struct Call {
    rpc: &'static str,
    mutating: bool,
    lifetime: Lifetime,
    pod_id: String,
    container_id: String,
    image: String,
    pod_name: String,
}

impl Call {
    /// A call that reads only: logged at debug, ends with its caller.
    pub(crate) fn read(rpc: &'static str) -> Self {
        Self {
            rpc,
            mutating: false,
            lifetime: Lifetime::Caller,
            pod_id: String::new(),
            container_id: String::new(),
            image: String::new(),
            pod_name: String::new(),
        }
    }

    /// A call that changes state: logged at info with the IDs involved, run as an owned task.
    pub(crate) fn mutating(rpc: &'static str) -> Self {
        Self {
            mutating: true,
            lifetime: Lifetime::Owned,
            ..Self::read(rpc)
        }
    }

    /// A mutating call whose work is undone cleanly when its caller goes away, and is better
    /// stopped then: a pull no caller waits for any more (its partial blobs are deleted), an
    /// exec whose output nobody will read (its processes are killed).
    pub(crate) fn ends_with_caller(mut self) -> Self {
        self.lifetime = Lifetime::Caller;
        self
    }

    /// Names the pod involved.
    pub(crate) fn pod(mut self, id: &str) -> Self {
        self.pod_id = id.to_owned();
        self
    }

    /// Names the pod being made, as `namespace/name` (it has no ID yet).
    pub(crate) fn pod_name(mut self, name: &str) -> Self {
        self.pod_name = name.to_owned();
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

    /// The call's span, with the IDs it names.
    fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            "cri",
            rpc = self.rpc,
            pod_id = tracing::field::Empty,
            container_id = tracing::field::Empty,
            image = tracing::field::Empty,
            pod = tracing::field::Empty
        );
        if !self.pod_name.is_empty() {
            span.record("pod", self.pod_name.as_str());
        }
        if !self.image.is_empty() {
            span.record("image", self.image.as_str());
        }
        if !self.pod_id.is_empty() {
            span.record("pod_id", self.pod_id.as_str());
        }
        if !self.container_id.is_empty() {
            span.record("container_id", self.container_id.as_str());
        }
        span
    }

    /// Records the outcome (metrics, one log line) and maps a failure to its status. Runs
    /// inside the call's span.
    fn finish<T>(
        &self,
        metrics: &Metrics,
        elapsed: Duration,
        result: Result<T, Failure>,
    ) -> Result<T, Status> {
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(failure) => failure.code(),
        };
        metrics.observe(self.rpc, code, elapsed);
        let millis = elapsed.as_secs_f64() * 1e3;
        match result {
            Ok(answer) => {
                if self.mutating {
                    tracing::info!(ms = millis, "ok");
                } else {
                    tracing::debug!(ms = millis, "ok");
                }
                Ok(answer)
            }
            Err(failure) => {
                let status = failure.to_status(self.rpc);
                match code {
                    tonic::Code::Internal => {
                        tracing::error!(ms = millis, code = ?code, error = status.message(), "failed")
                    }
                    tonic::Code::Unimplemented | tonic::Code::Unavailable => {
                        tracing::debug!(code = ?code, "refused")
                    }
                    _ if self.mutating => {
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
}

/// Says in the log when a handler's future is dropped before its answer: the client went
/// away (cancelled, or its deadline passed).
struct CallerWatch {
    span: tracing::Span,
    rpc: &'static str,
    then: &'static str,
    /// A mutating call's caller going away is worth a warning; a read's is routine.
    mutating: bool,
    answered: bool,
}

impl CallerWatch {
    fn new(span: tracing::Span, rpc: &'static str, then: &'static str, mutating: bool) -> Self {
        Self {
            span,
            rpc,
            then,
            mutating,
            answered: false,
        }
    }

    fn answered(&mut self) {
        self.answered = true;
    }
}

impl Drop for CallerWatch {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let _entered = self.span.enter();
        if self.mutating {
            tracing::warn!(
                rpc = self.rpc,
                "the caller went away (cancelled or past its deadline); {}",
                self.then
            );
        } else {
            tracing::debug!(rpc = self.rpc, "the caller went away; {}", self.then);
        }
    }
}

impl Cri {
    /// Runs `f` against the domain once recovery is done, inside the call's span.
    ///
    /// A mutating call runs as a task that berthd owns (tracked by `Cri::tasks`, drained at
    /// shutdown): tonic drops this handler's future when the client goes away or its deadline
    /// passes, and the operation must still end fully made or fully undone. The handler only
    /// awaits the task's answer. Reads, and the calls that end with their caller
    /// (`Call::ends_with_caller`), run inline.
    pub(crate) async fn call<T, F, Fut>(&self, call: Call, f: F) -> Result<Response<T>, Status>
    where
        F: FnOnce(Arc<Domain>) -> Fut,
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
        T: Send + 'static,
    {
        let work = self.gate.get().cloned().map(f);
        self.run(call, work).await
    }

    /// Like `call`, but while recovery runs the call is answered with `recovering` instead
    /// of `Unavailable` (Version and Status: a kubelet that connects at once must see a
    /// runtime that is coming up).
    pub(crate) async fn call_or<T, F, Fut>(
        &self,
        call: Call,
        f: F,
        recovering: impl FnOnce() -> T,
    ) -> Result<Response<T>, Status>
    where
        F: FnOnce(Arc<Domain>) -> Fut,
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
        T: Send + 'static,
    {
        match self.gate.get().cloned() {
            Some(domain) => self.run(call, Some(f(domain))).await,
            None => {
                let answer = recovering();
                self.run(call, Some(async move { Ok(answer) })).await
            }
        }
    }

    /// Runs `work` (`None`: recovery still runs) through the wrapper.
    async fn run<T, Fut>(&self, call: Call, work: Option<Fut>) -> Result<Response<T>, Status>
    where
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
        T: Send + 'static,
    {
        let span = call.span();
        let metrics = self.metrics.clone();
        let rpc = call.rpc;
        let lifetime = call.lifetime;
        let mutating = call.mutating;
        let finished = async move {
            let start = Instant::now();
            let result = match work {
                Some(work) => work.await,
                None => Err(Failure::Recovering),
            };
            call.finish(&metrics, start.elapsed(), result)
        }
        .instrument(span.clone());
        match lifetime {
            Lifetime::Caller => {
                let mut watch = CallerWatch::new(span, rpc, "the call ends with it", mutating);
                let result = finished.await;
                watch.answered();
                result.map(Response::new)
            }
            Lifetime::Owned => {
                let (answer, answered) = oneshot::channel();
                let task_span = span.clone();
                self.tasks.spawn(
                    async move {
                        let result = finished.await;
                        if let Err(result) = answer.send(result) {
                            let outcome = match &result {
                                Ok(_) => "completed".to_owned(),
                                Err(status) => format!("failed ({:?})", status.code()),
                            };
                            tracing::warn!(
                                rpc,
                                outcome = %outcome,
                                "the caller went away before this call finished; berthd ran it to the end"
                            );
                        }
                    }
                    .instrument(task_span),
                );
                let mut watch = CallerWatch::new(
                    span,
                    rpc,
                    "berthd finishes the call in the background",
                    true,
                );
                let result = answered.await;
                watch.answered();
                match result {
                    Ok(result) => result.map(Response::new),
                    Err(_) => Err(Status::internal(format!(
                        "{rpc}: the task running the call ended without an answer (see berthd's log)"
                    ))),
                }
            }
        }
    }

    /// An RPC whose issue has not landed: `Unimplemented`, through the same wrapper.
    pub(crate) async fn pending<T: Send + 'static>(
        &self,
        call: Call,
    ) -> Result<Response<T>, Status> {
        let rpc = call.rpc;
        self.call(call.ends_with_caller(), |_| async move {
            Err(Failure::Unimplemented(rpc))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_being_made_is_logged_by_name_not_as_an_image() {
        let call = Call::mutating("RunPodSandbox").pod_name("default/web");
        assert_eq!(call.pod_name, "default/web");
        assert!(call.image.is_empty(), "the pod's name landed in `image`");
        assert!(call.pod_id.is_empty());
    }
}
