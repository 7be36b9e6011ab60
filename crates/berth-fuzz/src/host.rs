//! What the fuzzer checks on the host: that berthd lives, that no file appeared outside the
//! allowed dirs, and that nothing of a pod or container is left after clean-up. Reads the
//! host only, except to remove what it can prove is its own (files and cgroups named with
//! [`MARKER`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::values::MARKER;

/// Whether `pid` runs (exists and is not a zombie).
pub fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

/// The request number in a name the fuzzer made (`…berthfuzz<N>…`).
pub fn tag_of(name: &str) -> Option<u64> {
    let at = name.find(MARKER)? + MARKER.len();
    let digits: String = name[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Watches directories outside the allowed ones for new entries named with [`MARKER`].
#[derive(Debug)]
pub struct EscapeWatch {
    watched: Vec<PathBuf>,
    before: HashSet<PathBuf>,
    found: Vec<PathBuf>,
}

fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

impl EscapeWatch {
    /// Watches the usual places (`/`, `/etc`, `/tmp`, `/root`, `/var/log`, ...), the given
    /// extra dirs (working directories), and every ancestor of an allowed dir, except what
    /// lies inside an allowed dir. Takes the "before" snapshot.
    pub fn new(allowed: &[PathBuf], extra: &[PathBuf]) -> EscapeWatch {
        let allowed: Vec<PathBuf> = allowed.iter().map(|p| real(p)).collect();
        let mut dirs: Vec<PathBuf> = [
            "/", "/etc", "/tmp", "/root", "/var/log", "/var/tmp", "/var/lib", "/run", "/home",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        dirs.extend(extra.iter().map(|p| real(p)));
        for a in &allowed {
            dirs.extend(a.ancestors().skip(1).map(Path::to_path_buf));
        }
        dirs.sort();
        dirs.dedup();
        dirs.retain(|d| !allowed.iter().any(|a| d.starts_with(a)));
        let mut watch = EscapeWatch {
            watched: dirs,
            before: HashSet::new(),
            found: Vec::new(),
        };
        watch.before = watch.marked().into_iter().collect();
        watch
    }

    /// The watched directories.
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }

    fn marked(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in &self.watched {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().contains(MARKER) {
                    out.push(e.path());
                }
            }
        }
        out
    }

    /// Entries that appeared since the snapshot and were not reported before.
    pub fn new_escapes(&mut self) -> Vec<PathBuf> {
        let new: Vec<PathBuf> = self
            .marked()
            .into_iter()
            .filter(|p| !self.before.contains(p) && !self.found.contains(p))
            .collect();
        self.found.extend(new.iter().cloned());
        new
    }

    /// Removes what [`EscapeWatch::new_escapes`] found: every one is named with the marker,
    /// so it is the fuzzer's doing.
    pub fn remove_found(&self) {
        for p in &self.found {
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
        }
    }
}

/// What exists before the run, so only what the run leaves counts.
#[derive(Debug, Default)]
pub struct Baseline {
    mounts: HashSet<String>,
    procs: HashSet<i32>,
    leases: HashSet<PathBuf>,
}

/// Where berthd keeps its things, and where CNI keeps leases.
#[derive(Debug, Clone)]
pub struct Places {
    /// berthd's `--root`.
    pub root: PathBuf,
    /// berthd's `--state`.
    pub state: PathBuf,
    /// The host-local IPAM data dir, if pods use CNI.
    pub cni_leases: Option<PathBuf>,
    /// berthd's PID, if known.
    pub berthd: Option<i32>,
}

fn mount_points() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .collect()
}

/// The 64-hex-digit runs in `s` (berth's IDs).
fn ids_in(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..=b.len() {
        if i == b.len() || !b[i].is_ascii_hexdigit() {
            if i - start == 64 {
                out.push(&s[start..i]);
            }
            start = i + 1;
        }
    }
    out
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

fn is_ip(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_ok()
}

fn lease_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for net in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = net.path();
        if p.is_dir() {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                if is_ip(&e.file_name().to_string_lossy()) {
                    out.push(e.path());
                }
            }
        } else if is_ip(&net.file_name().to_string_lossy()) {
            out.push(p);
        }
    }
    out
}

fn cgroup_dirs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
            cgroup_dirs(&e.path(), depth - 1, out);
        }
    }
}

impl Places {
    fn under_ours(&self, m: &str) -> bool {
        let p = Path::new(m);
        p.starts_with(&self.root) || p.starts_with(&self.state)
    }

    fn ours(&self, pid: i32, ids: &HashSet<String>) -> Option<String> {
        if Some(pid) == self.berthd || pid == std::process::id() as i32 {
            return None;
        }
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let state = self.state.display().to_string();
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let by_cgroup = ids_in(&cgroup).iter().any(|id| ids.contains(*id));
        let berthd = cmd
            .split_whitespace()
            .next()
            .is_some_and(|a| a.ends_with("berthd"));
        ((cmd.contains(&state) && !berthd) || by_cgroup).then(|| format!("{pid}: {cmd}"))
    }

    /// The snapshot before the run.
    pub fn baseline(&self) -> Baseline {
        Baseline {
            mounts: mount_points()
                .into_iter()
                .filter(|m| self.under_ours(m))
                .collect(),
            procs: pids()
                .into_iter()
                .filter(|p| self.ours(*p, &HashSet::new()).is_some())
                .collect(),
            leases: self
                .cni_leases
                .as_deref()
                .map(lease_files)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        }
    }

    /// Everything of a pod or container still on the node: mounts under root or state,
    /// pinned netns, cgroups named by an ID in `ids`, processes of berth's (monitors, pause,
    /// container processes), CNI leases. One line each.
    pub fn leftovers(&self, base: &Baseline, ids: &HashSet<String>) -> Vec<String> {
        let mut out = Vec::new();
        for m in mount_points() {
            if self.under_ours(&m) && !base.mounts.contains(&m) {
                out.push(format!("mount {m}"));
            }
        }
        for e in std::fs::read_dir(self.state.join("sandboxes"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let ns = e.path().join("netns");
            if ns.exists() {
                out.push(format!("netns {}", ns.display()));
            }
        }
        let mut dirs = Vec::new();
        cgroup_dirs(Path::new("/sys/fs/cgroup"), 8, &mut dirs);
        for d in dirs {
            let name = d.file_name().unwrap_or_default().to_string_lossy();
            if ids_in(&name).iter().any(|id| ids.contains(*id)) {
                out.push(format!("cgroup {}", d.display()));
            }
        }
        for pid in pids() {
            if base.procs.contains(&pid) || !alive(pid) {
                continue;
            }
            if let Some(p) = self.ours(pid, ids) {
                out.push(format!("process {p}"));
            }
        }
        if let Some(dir) = &self.cni_leases {
            for l in lease_files(dir) {
                if !base.leases.contains(&l) {
                    out.push(format!("CNI lease {}", l.display()));
                }
            }
        }
        out
    }
}

/// Removes empty cgroups named with [`MARKER`] (parents a hostile `cgroup_parent` made),
/// deepest first. Not a leak of berth's: runtimes leave parents to the kubelet.
pub fn remove_marked_cgroups() {
    let mut dirs = Vec::new();
    cgroup_dirs(Path::new("/sys/fs/cgroup"), 8, &mut dirs);
    dirs.retain(|d| d.to_string_lossy().contains(MARKER));
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_request_numbers_and_ids() {
        assert_eq!(tag_of("evil-berthfuzz17.log"), Some(17));
        assert_eq!(tag_of("berthfuzz"), None);
        let id = "a".repeat(64);
        assert_eq!(ids_in(&format!("0::/berth/{id}\n")), [id.as_str()]);
        assert!(ids_in(&"a".repeat(65)).is_empty());
    }

    #[test]
    fn sees_new_marked_files_only_outside_allowed_dirs() {
        let top = tempfile::tempdir().unwrap();
        let allowed = top.path().join("allowed");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(top.path().join("old-berthfuzz1"), "").unwrap();
        let mut w = EscapeWatch::new(std::slice::from_ref(&allowed), &[]);
        assert!(w.watched().contains(&real(top.path())));
        std::fs::write(allowed.join("in-berthfuzz2"), "").unwrap();
        std::fs::write(top.path().join("unrelated"), "").unwrap();
        assert!(w.new_escapes().is_empty());
        std::fs::write(top.path().join("out-berthfuzz3"), "").unwrap();
        let found = w.new_escapes();
        assert_eq!(found.len(), 1);
        assert_eq!(tag_of(&found[0].display().to_string()), Some(3));
        assert!(w.new_escapes().is_empty(), "reported once");
        w.remove_found();
        assert!(!top.path().join("out-berthfuzz3").exists());
        assert!(top.path().join("old-berthfuzz1").exists());
    }

    #[test]
    fn this_process_lives() {
        assert!(alive(std::process::id() as i32));
        assert!(!alive(i32::MAX));
    }
}
