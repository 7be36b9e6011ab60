//! Whether the kernel's OOM killer struck the container: the `oom_kill` count of its memory
//! cgroup (`memory.events` on cgroup v2, `memory.oom_control` on v1), which the kernel raises
//! before it sends the SIGKILL.
//!
//! Under the systemd cgroup driver the container's cgroup is a scope that systemd removes,
//! counter and all, as soon as its last process is gone, often before the monitor wakes for
//! the init's exit (conmon meets the same race, containers/conmon#426). So the count is read
//! each time the kernel announces a change of `memory.events` (inotify; such notices may
//! come up to 20 ms late), and when the cgroup is gone by the time the init's exit is read,
//! the count of the nearest ancestor that outlives the container decides: `memory.events` is
//! hierarchical, and the slice above the scope (the pod's, or `system.slice`) stays (crun
//! puts the container in a `container` cgroup inside its scope, so that parent is no use). That fallback counts only for an init killed by SIGKILL
//! that nobody asked the monitor to kill.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_monitor::cgroup;

use crate::sys;

/// The container's OOM-kill counters, found while it exists.
pub struct OomWatch {
    /// Its own counter file.
    counter: Option<PathBuf>,
    /// Readable whenever that file changes (cgroup v2 only; v1's counter has no notices).
    notices: Option<OwnedFd>,
    /// The lasting ancestor's `memory.events` and its count when the container was made
    /// (cgroup v2).
    parent: Option<(PathBuf, u64)>,
}

impl OomWatch {
    /// The counters of `pid`'s cgroup; empty where they cannot be found.
    pub fn of(pid: i32) -> Self {
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let memory_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .ok()
            .and_then(|text| cgroup::memory_cgroup(&text, unified));
        let counter = memory_cgroup
            .as_ref()
            .map(|dir| dir.join(cgroup::oom_counter_file(unified)));
        let notices = match &counter {
            Some(file) if unified => sys::watch_modifications(file),
            _ => None,
        };
        let parent = memory_cgroup
            .filter(|_| unified)
            .and_then(|dir| {
                Some(cgroup::lasting_parent(&dir)?.join(cgroup::oom_counter_file(true)))
            })
            .and_then(|file| Some((kills_in(&file)?, file)))
            .map(|(count, file)| (file, count));
        Self {
            counter,
            notices,
            parent,
        }
    }

    /// What to poll for change notices, if there is one.
    pub fn notices(&self) -> Option<BorrowedFd<'_>> {
        self.notices.as_ref().map(AsFd::as_fd)
    }

    /// The container's count now (the notices read so far are consumed); `None` when its
    /// counter cannot be read (its cgroup is gone).
    pub fn kills(&self) -> Option<u64> {
        if let Some(notices) = &self.notices {
            sys::drain_events(notices.as_fd());
        }
        kills_in(self.counter.as_deref()?)
    }

    /// Whether the parent counted an OOM kill since the container was made.
    pub fn parent_counted_one(&self) -> bool {
        self.parent
            .as_ref()
            .is_some_and(|(file, before)| kills_in(file).is_some_and(|now| now > *before))
    }
}

/// The `oom_kill` count in a counter file; `None` when it cannot be read.
fn kills_in(file: &Path) -> Option<u64> {
    cgroup::oom_kill_count(&std::fs::read_to_string(file).ok()?)
}

/// Whether a container whose init ended by `signal` was OOM-killed, from what was seen: a
/// kill counted in its own cgroup at any reading; otherwise, only when its cgroup was gone at
/// the last reading (`last` is `None`), the init died of a SIGKILL nobody asked for
/// (`kill_requested` false) and the parent counted a kill meanwhile.
pub fn judge(
    seen: bool,
    last: Option<u64>,
    signal: Option<i32>,
    kill_requested: bool,
    parent_counted_one: impl FnOnce() -> bool,
) -> bool {
    seen || (last.is_none()
        && signal == Some(libc::SIGKILL)
        && !kill_requested
        && parent_counted_one())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_counter_counts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("memory.events");
        std::fs::write(&events, "oom 1\noom_kill 1\n").unwrap();
        assert_eq!(kills_in(&events), Some(1));
        assert_eq!(kills_in(&dir.path().join("gone")), None);
    }

    #[test]
    fn the_parent_decides_only_for_a_vanished_cgroup_and_an_unasked_sigkill() {
        let kill = Some(libc::SIGKILL);
        assert!(judge(true, None, None, false, || false));
        assert!(judge(false, None, kill, false, || true));
        // The cgroup was read after the exit and counted nothing: no OOM kill.
        assert!(!judge(false, Some(0), kill, false, || true));
        // berthd asked for the kill, or the init ended otherwise.
        assert!(!judge(false, None, kill, true, || true));
        assert!(!judge(false, None, Some(libc::SIGTERM), false, || true));
        assert!(!judge(false, None, None, false, || true));
        assert!(!judge(false, None, kill, false, || false));
    }

    #[test]
    fn a_watch_of_a_process_without_a_memory_cgroup_is_empty() {
        let watch = OomWatch::of(i32::MAX);
        assert!(watch.notices().is_none());
        assert_eq!(watch.kills(), None);
        assert!(!watch.parent_counted_one());
    }
}
