//! `GetContainerEvents`: the domain's lifecycle events as CRI container events, for the
//! kubelet's Evented PLEG and `crictl events`.
//!
//! Each event carries, as containerd sends it, the pod's status and the statuses of the
//! pod's containers; a pod's own events name the pod's ID as `container_id`. The statuses
//! are read when the event is sent (the bus carries only who changed and how), so they are
//! never older than the event. A pod that is gone (its `deleted` event) is described by
//! the last status this stream sent for it, NOTREADY, so the kubelet still learns which
//! pod it was.
//!
//! A subscription is a stream, not a task: tonic polls it while the client reads, so a
//! client that stops reading holds nothing but its receiver. It ends when berthd shuts
//! down (graceful shutdown waits for open streams), and a subscriber that falls more than
//! the bus's capacity behind is cut loose: its stream ends with `Aborted` and a log line,
//! and the kubelet subscribes again (and relists). Publishing never waits for a subscriber,
//! so the exit path is never slowed by one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use berth_domain::Domain;
use berth_domain::container::{ContainerFilter, ContainerStatus};
use berth_domain::events::{LifecycleEvent, LifecycleKind, Subject};
use k8s_cri::v1 as cri;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::{convert, convert_container};

/// The stream `GetContainerEvents` answers.
pub(crate) type EventStream =
    Pin<Box<dyn Stream<Item = Result<cri::ContainerEventResponse, Status>> + Send>>;

/// Every lifecycle event from now on, described from `domain`, until `shutdown`.
pub(crate) fn subscribe(domain: Arc<Domain>, shutdown: CancellationToken) -> EventStream {
    let receiver = domain.subscribe_events();
    let pods = Arc::new(Mutex::new(HashMap::new()));
    forward(receiver, shutdown, move |event| {
        let (domain, pods) = (domain.clone(), pods.clone());
        async move { describe(&domain, event, &pods).await }
    })
}

/// What a subscription does, apart from reading the domain: receive, describe, send; end at
/// shutdown, when the bus closes, or (with `Aborted`) when the subscriber lagged.
fn forward<D, F>(
    receiver: Receiver<LifecycleEvent>,
    shutdown: CancellationToken,
    describe: D,
) -> EventStream
where
    D: FnMut(LifecycleEvent) -> F + Send + 'static,
    F: Future<Output = cri::ContainerEventResponse> + Send + 'static,
{
    let state = Some((receiver, shutdown, describe));
    Box::pin(futures_util::stream::unfold(state, |state| async move {
        let (mut receiver, shutdown, mut describe) = state?;
        let received = tokio::select! {
            () = shutdown.cancelled() => return None,
            received = receiver.recv() => received,
        };
        match received {
            Ok(event) => {
                let response = describe(event).await;
                Some((Ok(response), Some((receiver, shutdown, describe))))
            }
            Err(RecvError::Closed) => None,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "a GetContainerEvents subscriber fell behind; ending its stream"
                );
                let status = Status::aborted(format!(
                    "GetContainerEvents: this subscriber fell {missed} events behind and was \
                     cut loose; subscribe again and list to catch up"
                ));
                Some((Err(status), None))
            }
        }
    }))
}

/// The last status sent per pod, for the pod's `deleted` event.
type KnownPods = Mutex<HashMap<String, cri::PodSandboxStatus>>;

/// The CRI event for `event`, with the pod's and its containers' statuses as they are now.
async fn describe(
    domain: &Domain,
    event: LifecycleEvent,
    pods: &KnownPods,
) -> cri::ContainerEventResponse {
    let (container_id, pod_id) = match event.subject {
        Subject::Pod { id } => (id.clone(), id),
        Subject::Container { id, pod_id } => (id, pod_id),
    };
    let pod = match domain.sandboxes.status(&pod_id, false).await {
        Ok(status) => convert::sandbox_status(status).status,
        Err(e) => {
            tracing::debug!(pod_id, error = %e, "no status for an event's pod");
            None
        }
    };
    let pod_sandbox_status = {
        let mut known = pods.lock().unwrap_or_else(PoisonError::into_inner);
        let status = match pod {
            Some(status) => {
                known.insert(pod_id.clone(), status.clone());
                Some(status)
            }
            None => known.get(&pod_id).cloned().map(|mut gone| {
                gone.state = cri::PodSandboxState::SandboxNotready as i32;
                gone
            }),
        };
        if event.kind == LifecycleKind::Deleted && container_id == pod_id {
            known.remove(&pod_id);
        }
        status
    };
    let filter = ContainerFilter {
        sandbox_id: Some(pod_id.clone()),
        ..Default::default()
    };
    let containers_statuses = match domain.containers.list(filter).await {
        Ok(records) => records
            .into_iter()
            .filter_map(|record| {
                convert_container::container_status(ContainerStatus { record, info: None }).status
            })
            .collect(),
        Err(e) => {
            tracing::debug!(pod_id, error = %e, "no container statuses for an event's pod");
            Vec::new()
        }
    };
    cri::ContainerEventResponse {
        container_id,
        container_event_type: event_type(event.kind) as i32,
        created_at: event.at_ns,
        pod_sandbox_status,
        containers_statuses,
    }
}

fn event_type(kind: LifecycleKind) -> cri::ContainerEventType {
    match kind {
        LifecycleKind::Created => cri::ContainerEventType::ContainerCreatedEvent,
        LifecycleKind::Started => cri::ContainerEventType::ContainerStartedEvent,
        LifecycleKind::Stopped => cri::ContainerEventType::ContainerStoppedEvent,
        LifecycleKind::Deleted => cri::ContainerEventType::ContainerDeletedEvent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast;
    use tokio_stream::StreamExt;

    fn event(id: &str, kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent {
            subject: Subject::Pod { id: id.into() },
            kind,
            at_ns: 7,
        }
    }

    /// Describes an event by its ID and kind only.
    fn named(event: LifecycleEvent) -> std::future::Ready<cri::ContainerEventResponse> {
        let Subject::Pod { id } = event.subject else {
            unreachable!("the tests publish pod events")
        };
        std::future::ready(cri::ContainerEventResponse {
            container_id: id,
            container_event_type: event_type(event.kind) as i32,
            created_at: event.at_ns,
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn events_arrive_in_order_and_the_stream_ends_at_shutdown() {
        let (sender, receiver) = broadcast::channel(8);
        let shutdown = CancellationToken::new();
        let mut stream = forward(receiver, shutdown.clone(), named);
        sender.send(event("a", LifecycleKind::Created)).unwrap();
        sender.send(event("a", LifecycleKind::Started)).unwrap();
        for kind in [
            cri::ContainerEventType::ContainerCreatedEvent,
            cri::ContainerEventType::ContainerStartedEvent,
        ] {
            let got = stream.next().await.unwrap().unwrap();
            assert_eq!(got.container_id, "a");
            assert_eq!(got.container_event_type, kind as i32);
            assert_eq!(got.created_at, 7);
        }
        shutdown.cancel();
        assert!(
            stream.next().await.is_none(),
            "the stream outlived shutdown"
        );
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_cut_loose() {
        let (sender, receiver) = broadcast::channel(2);
        let mut stream = forward(receiver, CancellationToken::new(), named);
        // The publisher never waits for the subscriber that does not read.
        for _ in 0..5 {
            sender.send(event("a", LifecycleKind::Started)).unwrap();
        }
        let cut = stream.next().await.unwrap().unwrap_err();
        assert_eq!(cut.code(), tonic::Code::Aborted);
        assert!(
            cut.message().contains("3 events behind"),
            "{}",
            cut.message()
        );
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn the_stream_ends_when_the_bus_closes() {
        let (sender, receiver) = broadcast::channel(2);
        let mut stream = forward(receiver, CancellationToken::new(), named);
        drop(sender);
        assert!(stream.next().await.is_none());
    }
}
