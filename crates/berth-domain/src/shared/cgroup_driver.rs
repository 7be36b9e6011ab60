//! Which cgroup driver the node uses.

use std::path::Path;

use berth_config::CgroupDriver;

/// systemd when it is PID 1 and manages the cgroup tree (`/run/systemd/system` exists, as
/// `sd_booted()` checks), else cgroupfs. This is what the kubelet must match.
pub fn detect_cgroup_driver() -> CgroupDriver {
    detect_in(Path::new("/"))
}

fn detect_in(root: &Path) -> CgroupDriver {
    let init = std::fs::read_to_string(root.join("proc/1/comm")).unwrap_or_default();
    if init.trim() == "systemd" && root.join("run/systemd/system").is_dir() {
        CgroupDriver::Systemd
    } else {
        CgroupDriver::Cgroupfs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_needs_both_pid1_and_its_run_dir() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc/1")).unwrap();
        std::fs::write(root.path().join("proc/1/comm"), "systemd\n").unwrap();
        assert_eq!(detect_in(root.path()), CgroupDriver::Cgroupfs);
        std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
        assert_eq!(detect_in(root.path()), CgroupDriver::Systemd);
        std::fs::write(root.path().join("proc/1/comm"), "tini\n").unwrap();
        assert_eq!(detect_in(root.path()), CgroupDriver::Cgroupfs);
    }
}
