//! `GetContainerEvents` through a real berthd and runc: a pod's and its container's
//! transitions arrive in order, each with the statuses the kubelet's Evented PLEG reads,
//! and a subscription ends when berthd stops without holding its shutdown up.

mod common;

use std::time::Duration;

use berth_cri_client::cri;
use common::node::{Node, node};
use tonic::Streaming;

use cri::ContainerEventType::{
    ContainerCreatedEvent as Created, ContainerDeletedEvent as Deleted,
    ContainerStartedEvent as Started, ContainerStoppedEvent as Stopped,
};

async fn subscribe(n: &Node) -> Streaming<cri::ContainerEventResponse> {
    n.client
        .runtime
        .clone()
        .get_container_events(cri::GetEventsRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// The next event, which must be `kind` for `id`.
async fn next(
    events: &mut Streaming<cri::ContainerEventResponse>,
    id: &str,
    kind: cri::ContainerEventType,
) -> cri::ContainerEventResponse {
    let event = tokio::time::timeout(Duration::from_secs(60), events.message())
        .await
        .unwrap_or_else(|_| panic!("no {kind:?} event for {id} within 60 s"))
        .unwrap()
        .expect("the event stream ended");
    assert_eq!(
        (event.container_id.as_str(), event.container_event_type),
        (id, kind as i32),
        "{event:?}"
    );
    assert!(event.created_at > 0);
    event
}

/// The pod's state in an event, checking that the event names the pod.
fn pod_state(event: &cri::ContainerEventResponse, pod: &str) -> cri::PodSandboxState {
    let status = event
        .pod_sandbox_status
        .as_ref()
        .unwrap_or_else(|| panic!("no pod status in {event:?}"));
    assert_eq!(status.id, pod);
    assert_eq!(status.metadata.as_ref().unwrap().name, "events");
    status.state()
}

/// The containers' IDs and states in an event.
fn containers(event: &cri::ContainerEventResponse) -> Vec<(String, cri::ContainerState)> {
    event
        .containers_statuses
        .iter()
        .map(|c| (c.id.clone(), c.state()))
        .collect()
}

#[tokio::test]
async fn a_pod_and_its_container_are_followed_in_order() {
    let mut n = node().await;
    let mut events = subscribe(&n).await;
    let mut second = subscribe(&n).await;
    let mut last = 0;
    let mut stamped = |event: &cri::ContainerEventResponse| {
        assert!(event.created_at >= last, "events out of order: {event:?}");
        last = event.created_at;
    };

    let pod = n.pod("events").await;
    for kind in [Created, Started] {
        let event = next(&mut events, &pod.0, kind).await;
        stamped(&event);
        assert_eq!(
            pod_state(&event, &pod.0),
            cri::PodSandboxState::SandboxReady
        );
        assert!(containers(&event).is_empty());
    }

    let config = n.config("app", "exec sleep 600");
    let id = n.create(&pod, config).await.unwrap();
    let event = next(&mut events, &id, Created).await;
    stamped(&event);
    assert_eq!(
        pod_state(&event, &pod.0),
        cri::PodSandboxState::SandboxReady
    );
    assert_eq!(
        containers(&event),
        [(id.clone(), cri::ContainerState::ContainerCreated)]
    );

    n.start(&id).await.unwrap();
    let event = next(&mut events, &id, Started).await;
    stamped(&event);
    assert_eq!(
        containers(&event),
        [(id.clone(), cri::ContainerState::ContainerRunning)]
    );

    n.stop(&id, 0).await.unwrap();
    let event = next(&mut events, &id, Stopped).await;
    stamped(&event);
    assert_eq!(
        containers(&event),
        [(id.clone(), cri::ContainerState::ContainerExited)]
    );
    assert_eq!(event.containers_statuses[0].exit_code, 137);

    n.remove(&id).await.unwrap();
    let event = next(&mut events, &id, Deleted).await;
    stamped(&event);
    assert_eq!(
        pod_state(&event, &pod.0),
        cri::PodSandboxState::SandboxReady
    );
    assert!(containers(&event).is_empty());

    n.remove_pod(&pod.0).await;
    let event = next(&mut events, &pod.0, Stopped).await;
    stamped(&event);
    assert_eq!(
        pod_state(&event, &pod.0),
        cri::PodSandboxState::SandboxNotready
    );
    // The pod is gone: its last status, NOTREADY, still says which pod it was.
    let event = next(&mut events, &pod.0, Deleted).await;
    stamped(&event);
    assert_eq!(
        pod_state(&event, &pod.0),
        cri::PodSandboxState::SandboxNotready
    );

    // Another subscriber saw the same events, in the same order.
    for (subject, kind) in [
        (&pod.0, Created),
        (&pod.0, Started),
        (&id, Created),
        (&id, Started),
        (&id, Stopped),
        (&id, Deleted),
        (&pod.0, Stopped),
        (&pod.0, Deleted),
    ] {
        next(&mut second, subject, kind).await;
    }
    n.assert_clean();
}

#[tokio::test]
async fn a_subscription_ends_when_berthd_stops_and_does_not_hold_it_up() {
    let mut n = node().await;
    let mut events = subscribe(&n).await;
    let status = n.daemon.terminate().await;
    assert!(status.success(), "berthd exited with {status}");
    let ended = tokio::time::timeout(Duration::from_secs(30), events.message())
        .await
        .expect("the event stream outlived berthd");
    assert!(matches!(ended, Ok(None) | Err(_)), "{ended:?}");
    let log = n.daemon.log();
    assert!(
        !log.contains("outlived the grace period"),
        "an event stream held berthd's shutdown up:\n{log}"
    );
}
