//! What the container verbs read from the node: the mount table, device nodes, cgroup files
//! and this process's own limits. One trait, [`Host`], with one real implementation,
//! [`Node`], so that the rules above it (which mounts may propagate, which devices a
//! privileged container gets) are unit-tested against a double (`host::fake`).
//!
//! Owns only reads of node state. It must not decide anything: no refusals, no policy.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A file of the node could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub(crate) struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// The mount holding a path, from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostMount {
    /// Its mount point.
    pub point: PathBuf,
    /// In a peer group (`shared:N`): mounts under it propagate to its peers and back.
    pub shared: bool,
    /// A slave of a peer group (`master:N`): mounts propagate to it from the master.
    pub slave: bool,
}

/// What kind of file a path on the node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A character device node.
    Char,
    /// A block device node.
    Block,
    /// Anything else.
    Other,
}

/// A file of the node as a device: its kind, numbers and permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceNode {
    /// Character, block, or not a device at all.
    pub kind: FileKind,
    /// Major device number.
    pub major: i64,
    /// Minor device number.
    pub minor: i64,
    /// Permission bits (`0o777` of the mode).
    pub mode: u32,
}

/// The node as the container verbs see it.
pub(crate) trait Host: Send + Sync {
    /// The mount holding `path` (the longest mount point that contains it), `None` when no
    /// mount does.
    fn mount_of(&self, path: &Path) -> Result<Option<HostMount>, ReadError>;

    /// The character and block device nodes under `dir`, recursively, leaving out every path
    /// `skip` says yes to (a directory with all it holds).
    fn device_nodes(&self, dir: &Path, skip: &dyn Fn(&Path) -> bool) -> Vec<PathBuf>;

    /// The file at `path` (followed through links), as a device.
    fn device(&self, path: &Path) -> io::Result<DeviceNode>;

    /// The memory cgroup directory of process `pid`, from `/proc/<pid>/cgroup`.
    fn memory_cgroup(&self, pid: i32) -> Option<String>;

    /// How many times the kernel's OOM killer struck in the memory cgroup directory
    /// `memory_cgroup`; 0 when it cannot be read.
    fn oom_kills(&self, memory_cgroup: &str) -> u64;

    /// This process's `oom_score_adj`.
    fn oom_score_adj(&self) -> i64;

    /// This process's bounding capability set, one bit per capability number.
    fn capability_bounding_set(&self) -> u64;

    /// Whether AppArmor is enabled on the node.
    fn apparmor_enabled(&self) -> bool;

    /// Whether SELinux is enabled on the node.
    fn selinux_enabled(&self) -> bool;

    /// Whether the node runs cgroup v2 alone (the unified hierarchy at `/sys/fs/cgroup`).
    fn cgroup_v2(&self) -> bool;
}

/// The node berthd runs on, read through `/proc`, `/sys` and `/dev`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Node;

const MOUNTINFO: &str = "/proc/self/mountinfo";

impl Host for Node {
    fn mount_of(&self, path: &Path) -> Result<Option<HostMount>, ReadError> {
        let info = std::fs::read_to_string(MOUNTINFO).map_err(|source| ReadError {
            path: MOUNTINFO.into(),
            source,
        })?;
        Ok(mount_holding(&info, path))
    }

    fn device_nodes(&self, dir: &Path, skip: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if skip(&path) {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                out.extend(self.device_nodes(&path, skip));
            } else if kind.is_char_device() || kind.is_block_device() {
                out.push(path);
            }
        }
        out
    }

    fn device(&self, path: &Path) -> io::Result<DeviceNode> {
        let meta = std::fs::metadata(path)?;
        let kind = match meta.file_type() {
            t if t.is_char_device() => FileKind::Char,
            t if t.is_block_device() => FileKind::Block,
            _ => FileKind::Other,
        };
        let rdev = meta.rdev();
        Ok(DeviceNode {
            kind,
            major: rustix::fs::major(rdev) as i64,
            minor: rustix::fs::minor(rdev) as i64,
            mode: meta.mode() & 0o777,
        })
    }

    fn memory_cgroup(&self, pid: i32) -> Option<String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let dir = berth_monitor::cgroup::memory_cgroup(&text, unified)?;
        Some(dir.display().to_string())
    }

    fn oom_kills(&self, memory_cgroup: &str) -> u64 {
        if memory_cgroup.is_empty() {
            return 0;
        }
        let dir = Path::new(memory_cgroup);
        // Either version's file: the record does not say which node made it.
        [true, false]
            .map(berth_monitor::cgroup::oom_counter_file)
            .iter()
            .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .filter_map(|text| berth_monitor::cgroup::oom_kill_count(&text))
            .max()
            .unwrap_or(0)
    }

    fn oom_score_adj(&self) -> i64 {
        std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn capability_bounding_set(&self) -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(u64::MAX)
    }

    fn apparmor_enabled(&self) -> bool {
        std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y")
    }

    fn selinux_enabled(&self) -> bool {
        Path::new("/sys/fs/selinux/enforce").exists()
    }

    fn cgroup_v2(&self) -> bool {
        Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    }
}

/// The mount of `mountinfo` holding `path`: the longest mount point that contains it, with
/// the propagation its optional fields (between the sixth field and `-`) declare.
fn mount_holding(mountinfo: &str, path: &Path) -> Option<HostMount> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let point = Path::new(*fields.get(4)?);
            let end = fields.iter().position(|f| *f == "-")?;
            let optional = fields.get(6..end)?;
            path.starts_with(point).then(|| HostMount {
                point: point.to_owned(),
                shared: optional.iter().any(|f| f.starts_with("shared:")),
                slave: optional.iter().any(|f| f.starts_with("master:")),
            })
        })
        .max_by_key(|m| m.point.as_os_str().len())
}

/// A node for unit tests: a mount table, device nodes and cgroup counts set by the test.
#[cfg(test)]
pub(crate) mod fake {
    use std::collections::BTreeMap;
    use std::io;
    use std::path::{Path, PathBuf};

    use super::{DeviceNode, Host, HostMount, ReadError};

    /// Everything the double answers, as the test set it.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct FakeHost {
        /// Mounts; the longest point containing a path holds it.
        pub mounts: Vec<HostMount>,
        /// Device nodes by path.
        pub devices: BTreeMap<PathBuf, DeviceNode>,
        /// Memory cgroup of each PID.
        pub cgroups: BTreeMap<i32, String>,
        /// OOM kills per memory cgroup.
        pub oom_kills: BTreeMap<String, u64>,
        /// `oom_score_adj`.
        pub oom_score_adj: i64,
        /// Bounding capability set.
        pub bounding: u64,
        /// The node runs cgroup v2 alone.
        pub cgroup_v2: bool,
    }

    impl FakeHost {
        /// A mount at `point` with the given propagation.
        pub fn mount(mut self, point: &str, shared: bool, slave: bool) -> Self {
            self.mounts.push(HostMount {
                point: point.into(),
                shared,
                slave,
            });
            self
        }

        /// A device node at `path`.
        pub fn device(mut self, path: &str, node: DeviceNode) -> Self {
            self.devices.insert(path.into(), node);
            self
        }
    }

    impl Host for FakeHost {
        fn mount_of(&self, path: &Path) -> Result<Option<HostMount>, ReadError> {
            Ok(self
                .mounts
                .iter()
                .filter(|m| path.starts_with(&m.point))
                .max_by_key(|m| m.point.as_os_str().len())
                .cloned())
        }

        fn device_nodes(&self, dir: &Path, skip: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
            self.devices
                .keys()
                .filter(|p| p.starts_with(dir))
                .filter(|p| !p.ancestors().any(|a| a.starts_with(dir) && skip(a)))
                .cloned()
                .collect()
        }

        fn device(&self, path: &Path) -> io::Result<DeviceNode> {
            self.devices
                .get(path)
                .copied()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }

        fn memory_cgroup(&self, pid: i32) -> Option<String> {
            self.cgroups.get(&pid).cloned()
        }

        fn oom_kills(&self, memory_cgroup: &str) -> u64 {
            self.oom_kills.get(memory_cgroup).copied().unwrap_or(0)
        }

        fn oom_score_adj(&self) -> i64 {
            self.oom_score_adj
        }

        fn capability_bounding_set(&self) -> u64 {
            self.bounding
        }

        fn apparmor_enabled(&self) -> bool {
            false
        }

        fn selinux_enabled(&self) -> bool {
            false
        }

        fn cgroup_v2(&self) -> bool {
            self.cgroup_v2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_monitor::cgroup::oom_kill_count;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /srv rw,relatime master:7 - tmpfs tmpfs rw
31 22 0:26 / /srv/private rw,relatime - tmpfs tmpfs rw
32 22 0:27 / /srv/both rw shared:9 master:7 - tmpfs tmpfs rw";

    fn mount(point: &str, shared: bool, slave: bool) -> Option<HostMount> {
        Some(HostMount {
            point: point.into(),
            shared,
            slave,
        })
    }

    #[test]
    fn the_longest_mount_point_holds_a_path() {
        let holding = |p: &str| mount_holding(MOUNTINFO, Path::new(p));
        assert_eq!(holding("/etc/hosts"), mount("/", true, false));
        assert_eq!(holding("/srv/data"), mount("/srv", false, true));
        assert_eq!(
            holding("/srv/private/x"),
            mount("/srv/private", false, false)
        );
        assert_eq!(holding("/srv/both"), mount("/srv/both", true, true));
        // A component-wise prefix: /srvx is not under /srv.
        assert_eq!(holding("/srvx"), mount("/", true, false));
        assert_eq!(mount_holding("", Path::new("/")), None);
        assert_eq!(mount_holding("garbage line", Path::new("/")), None);
    }

    #[test]
    fn oom_kills_are_read_from_either_cgroup_version() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        let v2 = "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(oom_kill_count(v1), Some(3));
        assert_eq!(oom_kill_count(v2), Some(2));
        assert_eq!(oom_kill_count("oom 1\n"), None);
        assert_eq!(Node.oom_kills(""), 0);
    }

    #[test]
    fn the_real_node_answers() {
        assert!(Node.mount_of(Path::new("/")).unwrap().is_some());
        assert!((-1000..=1000).contains(&Node.oom_score_adj()));
        assert_ne!(Node.capability_bounding_set(), 0);
        let null = Node.device(Path::new("/dev/null")).unwrap();
        assert_eq!((null.kind, null.major, null.minor), (FileKind::Char, 1, 3));
    }
}
