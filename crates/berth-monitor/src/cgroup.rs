//! Where the kernel counts a container's OOM kills, shared by the monitor (which reads the
//! count the moment the init ends) and berthd's exit path (which reads it as a fallback).

use std::path::{Path, PathBuf};

/// The memory cgroup directory named by a process's `/proc/<pid>/cgroup` text: its memory
/// controller's cgroup on cgroup v1, its one cgroup on a unified (v2) node.
pub fn memory_cgroup(proc_cgroup: &str, unified: bool) -> Option<PathBuf> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            Some(PathBuf::from(format!("/sys/fs/cgroup/memory{path}")))
        } else if unified && controllers.is_empty() {
            Some(PathBuf::from(format!("/sys/fs/cgroup{path}")))
        } else {
            None
        }
    })
}

/// The nearest ancestor of a container's cgroup that outlives the container, whose
/// hierarchical counters therefore still hold the container's after it is gone: above the
/// systemd scope when there is one (crun puts the container in a `container` cgroup inside
/// its scope, and systemd removes the scope with everything in it), else the parent.
pub fn lasting_parent(container_cgroup: &Path) -> Option<&Path> {
    let scope = container_cgroup.ancestors().find(|dir| {
        dir.file_name()
            .is_some_and(|name| name.to_string_lossy().ends_with(".scope"))
    });
    scope.unwrap_or(container_cgroup).parent()
}

/// The file of a memory cgroup that counts its OOM kills: `memory.events` on v2,
/// `memory.oom_control` on v1.
pub fn oom_counter_file(unified: bool) -> &'static str {
    if unified {
        "memory.events"
    } else {
        "memory.oom_control"
    }
}

/// The `oom_kill` count in such a file's text.
pub fn oom_kill_count(text: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cgroup_is_found_on_either_cgroup_version() {
        let v1 = "12:pids:/berth/c\n9:memory:/berth/c\n0::/\n";
        assert_eq!(
            memory_cgroup(v1, false),
            Some(PathBuf::from("/sys/fs/cgroup/memory/berth/c"))
        );
        let v2 = "0::/system.slice/berth-c.scope\n";
        assert_eq!(
            memory_cgroup(v2, true),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice/berth-c.scope"))
        );
        assert_eq!(memory_cgroup(v2, false), None);
        let events = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n";
        assert_eq!(oom_kill_count(events), Some(1));
        assert_eq!(oom_kill_count("under_oom 0\n"), None);
    }

    #[test]
    fn the_lasting_parent_is_above_any_scope() {
        let parent = |p: &str| lasting_parent(Path::new(p)).map(Path::to_path_buf);
        assert_eq!(
            parent("/sys/fs/cgroup/pod.slice/berth-c.scope/container"),
            Some(PathBuf::from("/sys/fs/cgroup/pod.slice"))
        );
        assert_eq!(
            parent("/sys/fs/cgroup/system.slice/berth-c.scope"),
            Some(PathBuf::from("/sys/fs/cgroup/system.slice"))
        );
        assert_eq!(
            parent("/sys/fs/cgroup/berth/c"),
            Some(PathBuf::from("/sys/fs/cgroup/berth"))
        );
    }
}
