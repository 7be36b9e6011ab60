//! The pod's `cgroup_parent`, for the node's cgroup driver (see `sandbox::cgroup` for how
//! it becomes the runtime's `cgroupsPath`).

use crate::shared::cgroup::systemd_slice;

/// The kernel's `PATH_MAX`.
const PATH_MAX: usize = 4096;
/// systemd's `UNIT_NAME_MAX`, the terminating NUL left out.
const UNIT_NAME_MAX: usize = 255;

/// cgroupfs: a path under the cgroup root (a missing leading `/` is added), no `..`
/// component (it would climb out of the hierarchy), no control characters. Empty: berth's
/// default parent.
pub fn cgroupfs_parent(parent: &str) -> Result<(), String> {
    common(parent)
}

/// systemd: a slice name ending in `.slice` (`kubepods-burstable.slice`), or a cgroupfs-style
/// path the kubelet converts (`/kubepods/burstable`); either must give a slice name runc's
/// `ExpandSlice` and systemd accept: unit name characters, no `/`, no empty `-` component.
/// Empty: `system.slice`.
pub fn systemd_parent(parent: &str) -> Result<(), String> {
    common(parent)?;
    if parent.is_empty() {
        return Ok(());
    }
    let slice = systemd_slice(parent);
    let bad = |why: &str| Err(format!("gives the systemd slice {slice:?}, which {why}"));
    if slice.len() > UNIT_NAME_MAX {
        return bad("is longer than a unit name may be (255 bytes)");
    }
    if !slice
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":_.\\-".contains(&b))
    {
        return bad("has characters a unit name may not hold");
    }
    let name = slice.strip_suffix(".slice").unwrap_or(&slice);
    if name != "-" && name.split('-').any(str::is_empty) {
        return bad("has an empty '-' component (runc's ExpandSlice refuses it)");
    }
    Ok(())
}

fn common(parent: &str) -> Result<(), String> {
    if parent.len() >= PATH_MAX {
        return Err(format!("is longer than PATH_MAX ({PATH_MAX} bytes)"));
    }
    if parent.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if parent.split('/').any(|c| c == "..") {
        return Err("must not contain a '..' component".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroupfs_parents() {
        for ok in ["", "/kubepods/besteffort/pod1", "kubepods", "/a/./b/"] {
            assert_eq!(cgroupfs_parent(ok), Ok(()), "{ok:?}");
        }
        for bad in ["/kubepods/../../etc", "..", "/a\0b", "/a\nb"] {
            assert!(cgroupfs_parent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn systemd_parents() {
        for ok in [
            "",
            "kubepods-burstable-pod1.slice",
            "/kubepods.slice/kubepods-burstable.slice",
            "/kubepods/burstable/pod1",
            "-.slice",
            "system.slice",
        ] {
            assert_eq!(systemd_parent(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "kubepods--burstable.slice",
            "-kubepods.slice",
            ".slice",
            "/kubepods/../x",
            "pod 1.slice",
            "/a/b c",
            "pod\n.slice",
        ] {
            assert!(systemd_parent(bad).is_err(), "{bad:?}");
        }
    }
}
