//! What an operator graphs about the node, for berthd's own metrics endpoint: pods and
//! containers by state (their records' states, counted at the call), and counters of what
//! happened since berthd started: container exits and OOM kills, image pulls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Counters of container exits, kept by the exit path.
#[derive(Debug, Default)]
pub struct ExitCounters {
    exits: AtomicU64,
    oom_kills: AtomicU64,
}

impl ExitCounters {
    /// Counts one exit, OOM-killed or not.
    pub fn exited(&self, oom_killed: bool) {
        self.exits.fetch_add(1, Ordering::Relaxed);
        if oom_killed {
            self.oom_kills.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Counters of image pulls, kept by the image service.
#[derive(Debug, Default)]
pub struct PullCounters {
    succeeded: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    micros: AtomicU64,
}

impl PullCounters {
    /// Counts one pull that took `took`: a pulled image of `size` bytes, or a failure.
    pub fn pulled(&self, size: Option<u64>, took: Duration) {
        match size {
            Some(size) => {
                self.succeeded.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(size, Ordering::Relaxed);
            }
            None => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// The node at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Census {
    /// Pods by their record's state (`ready`, `not_ready`, …), every state present.
    pub pods: BTreeMap<String, u64>,
    /// Containers by their record's state (`running`, `exited`, …), every state present.
    pub containers: BTreeMap<String, u64>,
    /// Containers that exited since berthd started.
    pub exits: u64,
    /// Of those, the ones the kernel's OOM killer ended.
    pub oom_kills: u64,
    /// Image pulls that succeeded since berthd started.
    pub pulls_succeeded: u64,
    /// Image pulls that failed.
    pub pulls_failed: u64,
    /// The size of the images pulled (config and compressed layers, whether or not a layer
    /// was already here).
    pub pull_bytes: u64,
    /// Time spent pulling, seconds.
    pub pull_seconds: f64,
}

impl Census {
    /// Adds the counters' figures.
    pub fn with_counters(mut self, exits: &ExitCounters, pulls: &PullCounters) -> Self {
        self.exits = exits.exits.load(Ordering::Relaxed);
        self.oom_kills = exits.oom_kills.load(Ordering::Relaxed);
        self.pulls_succeeded = pulls.succeeded.load(Ordering::Relaxed);
        self.pulls_failed = pulls.failed.load(Ordering::Relaxed);
        self.pull_bytes = pulls.bytes.load(Ordering::Relaxed);
        self.pull_seconds = pulls.micros.load(Ordering::Relaxed) as f64 / 1e6;
        self
    }
}

/// Counts `states`, with every one of `all` present (0 when none is in it), by their
/// serialised names.
pub fn count_by_state<S: Serialize + Copy>(
    all: &[S],
    states: impl IntoIterator<Item = S>,
) -> BTreeMap<String, u64> {
    let name = |s: S| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut counts: BTreeMap<String, u64> = all.iter().map(|&s| (name(s), 0)).collect();
    for state in states {
        *counts.entry(name(state)).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use berth_store::ContainerState;

    use super::*;

    #[test]
    fn states_are_counted_by_name_with_every_state_present() {
        let all = [
            ContainerState::Created,
            ContainerState::Running,
            ContainerState::Exited,
        ];
        let counts = count_by_state(
            &all,
            [
                ContainerState::Running,
                ContainerState::Running,
                ContainerState::Exited,
            ],
        );
        assert_eq!(counts["running"], 2);
        assert_eq!(counts["exited"], 1);
        assert_eq!(counts["created"], 0);
    }

    #[test]
    fn counters_add_up() {
        let (exits, pulls) = (ExitCounters::default(), PullCounters::default());
        exits.exited(false);
        exits.exited(true);
        pulls.pulled(Some(1000), Duration::from_millis(1500));
        pulls.pulled(None, Duration::from_millis(500));
        let census = Census::default().with_counters(&exits, &pulls);
        assert_eq!((census.exits, census.oom_kills), (2, 1));
        assert_eq!((census.pulls_succeeded, census.pulls_failed), (1, 1));
        assert_eq!(census.pull_bytes, 1000);
        assert!((census.pull_seconds - 2.0).abs() < 1e-9);
    }
}
