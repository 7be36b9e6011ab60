//! The pod's `cgroup_parent`, for the node's cgroup driver (see `sandbox::cgroup` for how
//! it becomes the runtime's `cgroupsPath`).

use crate::shared::cgroup::systemd_slice;

/// The kernel's `PATH_MAX`.
const PATH_MAX: usize = 4096;
/// systemd's `UNIT_NAME_MAX`, the terminating NUL left out.
const UNIT_NAME_MAX: usize = 255;

/// Why a pod's cgroup parent is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CgroupRefusal {
    /// Longer than a path may be.
    #[error("is longer than PATH_MAX ({max} bytes)")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
        /// The parent's length, in bytes.
        len: usize,
    },
    /// A control character (NUL, newline ...).
    #[error("must not contain control characters")]
    Control,
    /// A `..` component, which would climb out of the hierarchy.
    #[error("must not contain a '..' component")]
    DotDot,
    /// The systemd slice the parent stands for is not one systemd and runc accept.
    #[error("gives the systemd slice {slice:?}, which {why}")]
    Slice {
        /// The slice name the parent converts to.
        slice: String,
        /// What is wrong with it.
        #[source]
        why: SliceRefusal,
    },
}

/// What is wrong with a systemd slice name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SliceRefusal {
    /// Longer than a unit name.
    #[error("is longer than a unit name may be ({max} bytes)")]
    TooLong {
        /// systemd's limit, in bytes.
        max: usize,
        /// The slice name's length, in bytes.
        len: usize,
    },
    /// A character other than letters, digits, `:`, `_`, `.`, `\` and `-`.
    #[error("has characters a unit name may not hold")]
    Characters,
    /// `--`, or a `-` at either end of the name.
    #[error("has an empty '-' component (runc's ExpandSlice refuses it)")]
    EmptyDashComponent,
}

/// cgroupfs: a path under the cgroup root (a missing leading `/` is added), no `..`
/// component (it would climb out of the hierarchy), no control characters. Empty: berth's
/// default parent.
pub fn cgroupfs_parent(parent: &str) -> Result<(), CgroupRefusal> {
    common(parent)
}

/// systemd: a slice name ending in `.slice` (`kubepods-burstable.slice`), or a cgroupfs-style
/// path the kubelet converts (`/kubepods/burstable`); either must give a slice name runc's
/// `ExpandSlice` and systemd accept: unit name characters, no `/`, no empty `-` component.
/// Empty: `system.slice`.
pub fn systemd_parent(parent: &str) -> Result<(), CgroupRefusal> {
    common(parent)?;
    if parent.is_empty() {
        return Ok(());
    }
    let slice = systemd_slice(parent);
    let bad = |why| {
        Err(CgroupRefusal::Slice {
            slice: slice.clone(),
            why,
        })
    };
    if slice.len() > UNIT_NAME_MAX {
        return bad(SliceRefusal::TooLong {
            max: UNIT_NAME_MAX,
            len: slice.len(),
        });
    }
    if !slice
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":_.\\-".contains(&b))
    {
        return bad(SliceRefusal::Characters);
    }
    let name = slice.strip_suffix(".slice").unwrap_or(&slice);
    if name != "-" && name.split('-').any(str::is_empty) {
        return bad(SliceRefusal::EmptyDashComponent);
    }
    Ok(())
}

fn common(parent: &str) -> Result<(), CgroupRefusal> {
    if parent.len() >= PATH_MAX {
        return Err(CgroupRefusal::TooLong {
            max: PATH_MAX,
            len: parent.len(),
        });
    }
    if parent.chars().any(char::is_control) {
        return Err(CgroupRefusal::Control);
    }
    if parent.split('/').any(|c| c == "..") {
        return Err(CgroupRefusal::DotDot);
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
