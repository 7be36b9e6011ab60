//! A pod's cgroup parent (the CRI `cgroup_parent`) on the node, and its release when berth
//! made it.
//!
//! The kubelet makes each pod's cgroup (`kubepods-besteffort-pod<uid>.slice` under the
//! systemd driver, `/kubepods/besteffort/pod<uid>` under cgroupfs) before RunPodSandbox and
//! removes it after RemovePodSandbox, so on a kubelet's node berth never touches it. A client
//! without a kubelet (crictl, critest) names a parent that does not exist yet: the OCI runtime
//! then makes it when it creates the infra (runc and crun `mkdir` it; systemd starts the
//! slice implicitly), and nobody would ever remove it. So RunPodSandbox notes whether the
//! parent existed, and RemovePodSandbox releases a parent berth made, once it is empty: the
//! directories go (rmdir, which the kernel refuses while anything is inside), the slice is
//! stopped (only when its cgroup is empty, so that nothing is killed). Only the pod's own
//! level: the QoS levels above it (`kubepods.slice`, `/kubepods/besteffort`) are shared by
//! every pod and stay.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_config::CgroupDriver;

use crate::shared::cgroup::systemd_slice;

/// How long `systemctl stop` of an empty slice may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a pod's cgroup parent lives on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PodCgroupParent {
    /// Its directories: one on cgroup v2, one per v1 hierarchy on v1.
    dirs: Vec<PathBuf>,
    /// Its systemd slice, under the systemd driver.
    slice: Option<String>,
}

impl PodCgroupParent {
    /// The parent `parent` names under `driver`, in the cgroup file system mounted at `root`
    /// (`/sys/fs/cgroup`); `None` without a parent (berth's own `/berth` or `system.slice`,
    /// which every pod shares).
    pub fn locate(driver: CgroupDriver, parent: &str, root: &Path) -> Option<Self> {
        let relative = pod_cgroup_path(driver, parent)?;
        let dirs = if root.join("cgroup.controllers").exists() {
            vec![root.join(&relative)]
        } else {
            v1_hierarchies(root)
                .into_iter()
                .map(|h| h.join(&relative))
                .collect()
        };
        Some(Self {
            dirs,
            slice: (driver == CgroupDriver::Systemd).then(|| systemd_slice(parent)),
        })
    }

    /// Whether it exists on the node now.
    pub fn exists(&self) -> bool {
        self.dirs.iter().any(|d| d.is_dir())
    }

    /// Removes it if it is empty; a parent still in use (another pod, or a process someone
    /// put there) is left as it is. Blocking.
    pub fn release(&self) -> Result<(), String> {
        if !self.dirs.iter().all(|d| is_empty_cgroup(d)) {
            return Ok(());
        }
        if let Some(slice) = &self.slice {
            stop_unit(slice)?;
        }
        for dir in &self.dirs {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", dir.display())),
            }
        }
        Ok(())
    }
}

/// Where the pod cgroup `parent` names lives under `driver`, relative to a cgroup
/// hierarchy's root (`kubepods.slice/kubepods-pod1.slice`, `kubepods/besteffort/pod1`);
/// `None` without a parent. Every process of the pod is below it, however deep the runtime
/// puts it (crun under systemd on v2 adds a `container` level inside each scope).
pub(crate) fn pod_cgroup_path(driver: CgroupDriver, parent: &str) -> Option<PathBuf> {
    match driver {
        _ if parent.trim_matches('/').is_empty() => None,
        CgroupDriver::Cgroupfs => Some(PathBuf::from(parent.trim_matches('/'))),
        CgroupDriver::Systemd => Some(slice_path(&systemd_slice(parent))),
    }
}

/// The cgroup path of a systemd slice: `a-b-c.slice` is `a.slice/a-b.slice/a-b-c.slice`.
fn slice_path(slice: &str) -> PathBuf {
    let name = slice.strip_suffix(".slice").unwrap_or(slice);
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in name.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    path
}

/// The hierarchies mounted under `root` on a v1 node (directories, not the links that name a
/// joint hierarchy twice, such as `cpu` for `cpu,cpuacct`), with the hybrid layout's
/// `unified`, where runc makes the pod's cgroup too.
fn v1_hierarchies(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Whether a cgroup directory is gone or holds no process and no child cgroup.
fn is_empty_cgroup(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    let no_children = !entries
        .flatten()
        .any(|e| e.file_type().is_ok_and(|t| t.is_dir()));
    let no_procs = std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|p| p.trim().is_empty())
        .unwrap_or(true);
    no_children && no_procs
}

/// Stops a systemd unit with `systemctl` and waits for it; a unit systemd does not know is
/// already gone.
fn stop_unit(unit: &str) -> Result<(), String> {
    let mut child = std::process::Command::new("systemctl")
        .args(["stop", "--", unit])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("systemctl stop {unit}: {e}"))?;
    let deadline = std::time::Instant::now() + STOP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return Err(format!(
                    "systemctl stop {unit}: {status}: {}",
                    stderr.trim()
                ));
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "systemctl stop {unit}: no answer in {STOP_TIMEOUT:?}"
                ));
            }
            Err(e) => return Err(format!("systemctl stop {unit}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_nest_by_their_dashes() {
        assert_eq!(
            slice_path("kubepods-besteffort-pod1.slice"),
            PathBuf::from(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice"
            )
        );
        assert_eq!(slice_path("a.slice"), PathBuf::from("a.slice"));
    }

    #[test]
    fn a_parent_is_found_on_either_cgroup_version() {
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "memory pids\n").unwrap();
        let systemd = PodCgroupParent::locate(
            CgroupDriver::Systemd,
            "kubepods-besteffort-pod1.slice",
            v2.path(),
        )
        .unwrap();
        assert_eq!(
            systemd.dirs,
            [v2.path()
                .join("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice")]
        );
        assert_eq!(
            systemd.slice.as_deref(),
            Some("kubepods-besteffort-pod1.slice")
        );
        assert_eq!(
            PodCgroupParent::locate(CgroupDriver::Systemd, "", v2.path()),
            None
        );
        assert_eq!(
            PodCgroupParent::locate(CgroupDriver::Cgroupfs, "/", v2.path()),
            None
        );

        let v1 = tempfile::tempdir().unwrap();
        for h in ["memory", "pids"] {
            std::fs::create_dir(v1.path().join(h)).unwrap();
        }
        std::os::unix::fs::symlink("memory", v1.path().join("mem")).unwrap();
        let cgroupfs =
            PodCgroupParent::locate(CgroupDriver::Cgroupfs, "/kubepods/pod1/", v1.path()).unwrap();
        assert_eq!(
            cgroupfs.dirs,
            [
                v1.path().join("memory/kubepods/pod1"),
                v1.path().join("pids/kubepods/pod1")
            ]
        );
        assert_eq!(cgroupfs.slice, None);
    }

    #[test]
    fn only_an_empty_parent_is_released_and_only_its_own_level() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "").unwrap();
        let parent =
            PodCgroupParent::locate(CgroupDriver::Cgroupfs, "/kubepods/pod1", root.path()).unwrap();
        assert!(!parent.exists());
        parent.release().unwrap();
        let pod = root.path().join("kubepods/pod1");
        std::fs::create_dir_all(pod.join("container")).unwrap();
        assert!(parent.exists());
        parent.release().unwrap();
        assert!(pod.exists(), "a parent with a child cgroup stays");
        std::fs::remove_dir(pod.join("container")).unwrap();
        std::fs::write(pod.join("cgroup.procs"), "42\n").unwrap();
        parent.release().unwrap();
        assert!(pod.exists(), "a parent with a process stays");
        std::fs::remove_file(pod.join("cgroup.procs")).unwrap();
        parent.release().unwrap();
        assert!(!pod.exists());
        assert!(
            root.path().join("kubepods").exists(),
            "the level above stays"
        );
    }
}
