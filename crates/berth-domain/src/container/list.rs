//! `ListContainers`.

use berth_store::ContainerRecord;

use super::{ContainerFilter, ContainerService};
use crate::Error;

impl ContainerFilter {
    fn matches(&self, c: &ContainerRecord) -> bool {
        self.id
            .as_ref()
            .is_none_or(|id| c.id.starts_with(id.as_str()))
            && self
                .sandbox_id
                .as_ref()
                .is_none_or(|id| c.sandbox_id.starts_with(id.as_str()))
            && self.state.is_none_or(|s| s == c.state)
            && self.labels.iter().all(|(k, v)| c.labels.get(k) == Some(v))
    }
}

impl ContainerService {
    /// The containers the store holds that match `filter`, oldest first.
    pub async fn list(&self, filter: ContainerFilter) -> Result<Vec<ContainerRecord>, Error> {
        let store = self.shared.store.clone();
        let all: Vec<ContainerRecord> = tokio::task::spawn_blocking(move || store.load_all())
            .await
            .map_err(|source| Error::Task {
                what: "listing containers",
                source,
            })??;
        let mut out: Vec<ContainerRecord> = all.into_iter().filter(|c| filter.matches(c)).collect();
        out.sort_by_key(|c| c.created_at_ns);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use berth_store::{ContainerMetadata, ContainerState};

    use super::*;

    fn record(id: &str, pod: &str, state: ContainerState, app: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            sandbox_id: pod.into(),
            metadata: ContainerMetadata {
                name: id.into(),
                attempt: 0,
            },
            image: "busybox".into(),
            image_ref: "sha256:x".into(),
            state,
            created_at_ns: id.len() as i64,
            started_at_ns: 0,
            finished_at_ns: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            log_path: String::new(),
            labels: [("app".to_owned(), app.to_owned())].into(),
            annotations: Default::default(),
            runtime_handler: "runc".into(),
            pid: 0,
            stop_signal: 15,
            spec: Default::default(),
        }
    }

    #[test]
    fn filters_by_id_prefix_pod_state_and_labels() {
        let all = [
            record("aa1", "p1", ContainerState::Running, "web"),
            record("aa22", "p1", ContainerState::Exited, "db"),
            record("bb333", "p2", ContainerState::Running, "web"),
        ];
        let ids = |f: ContainerFilter| {
            all.iter()
                .filter(|c| f.matches(c))
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(ContainerFilter::default()), ["aa1", "aa22", "bb333"]);
        let by_id = ContainerFilter {
            id: Some("aa".into()),
            ..Default::default()
        };
        assert_eq!(ids(by_id), ["aa1", "aa22"]);
        let running_web = ContainerFilter {
            state: Some(ContainerState::Running),
            labels: [("app".to_owned(), "web".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(ids(running_web), ["aa1", "bb333"]);
        let in_p2 = ContainerFilter {
            sandbox_id: Some("p2".into()),
            ..Default::default()
        };
        assert_eq!(ids(in_p2), ["bb333"]);
    }
}
