//! The lifecycle event bus: every container and pod transition the CRI reports through
//! `GetContainerEvents` (created, started, stopped, deleted) is published here, by the verb
//! or exit path that made it, after the record is saved. The domain owns the sender;
//! subscribers (the server's event stream) take a receiver. Publishing never blocks and
//! never fails: with no subscriber the event is dropped, and a subscriber that falls more
//! than `CAPACITY` events behind is told how many it missed (tokio's `Lagged`).

use tokio::sync::broadcast;

/// Events kept for a slow subscriber before it lags. The kubelet reads events as they
/// come; 1024 covers a node's worth of pods changing at once.
pub const CAPACITY: usize = 1024;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleKind {
    /// The runtime created it (a pod: it is READY).
    Created,
    /// Its process started.
    Started,
    /// Its process exited (a pod: its infra process is gone, NOTREADY).
    Stopped,
    /// It was removed.
    Deleted,
}

/// Which object changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A pod sandbox.
    Pod {
        /// The sandbox ID.
        id: String,
    },
    /// A container, with the pod it belongs to.
    Container {
        /// The container ID.
        id: String,
        /// Its sandbox's ID.
        pod_id: String,
    },
}

/// One transition, stamped when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// The pod or container.
    pub subject: Subject,
    /// The transition.
    pub kind: LifecycleKind,
    /// When, in nanoseconds since the epoch.
    pub at_ns: i64,
}

/// The sending side, owned by the domain's context and cloned into nothing else.
#[derive(Debug)]
pub struct EventBus {
    sender: broadcast::Sender<LifecycleEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LifecycleEvent> {
        self.sender.subscribe()
    }

    /// Publishes a pod's transition.
    pub(crate) fn pod(&self, id: &str, kind: LifecycleKind) {
        self.publish(Subject::Pod { id: id.to_owned() }, kind);
    }

    /// Publishes a container's transition.
    pub(crate) fn container(&self, id: &str, pod_id: &str, kind: LifecycleKind) {
        let subject = Subject::Container {
            id: id.to_owned(),
            pod_id: pod_id.to_owned(),
        };
        self.publish(subject, kind);
    }

    fn publish(&self, subject: Subject, kind: LifecycleKind) {
        let event = LifecycleEvent {
            subject,
            kind,
            at_ns: crate::clock::now_ns(),
        };
        tracing::trace!(?event, "lifecycle event");
        // Err only means "no subscriber": nothing to deliver, nothing lost.
        let _ = self.sender.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_in_order_and_publishing_alone_is_fine() {
        let bus = EventBus::default();
        bus.pod("p", LifecycleKind::Created);
        let mut rx = bus.subscribe();
        bus.container("c", "p", LifecycleKind::Created);
        bus.container("c", "p", LifecycleKind::Started);
        let first = rx.recv().await.unwrap();
        assert_eq!(first.kind, LifecycleKind::Created);
        assert_eq!(
            first.subject,
            Subject::Container {
                id: "c".into(),
                pod_id: "p".into()
            }
        );
        assert_eq!(rx.recv().await.unwrap().kind, LifecycleKind::Started);
    }
}
