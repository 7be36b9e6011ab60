//! Paths from a request: host paths and paths in the container are absolute, a log path is
//! relative to its pod's log directory and stays inside it.
//!
//! `..` is refused everywhere: Kubernetes refuses it in a hostPath and a subPath, a log path
//! must not leave its directory, and a path that means what it says is easier to audit.
//! Relative host paths would resolve against berthd's working directory (`/` under systemd).

/// The kernel's `PATH_MAX`, terminating NUL included.
const PATH_MAX: usize = 4096;
/// The kernel's `NAME_MAX`: the longest single path component.
const NAME_MAX: usize = 255;

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// No path at all.
    #[error("must not be empty")]
    Empty,
    /// A NUL byte, which would cut the path short in a syscall.
    #[error("must not contain a NUL byte")]
    Nul,
    /// Longer than a syscall takes.
    #[error("is longer than PATH_MAX ({max} bytes)")]
    TooLong {
        /// The limit, in bytes (the terminating NUL included).
        max: usize,
        /// The path's length, in bytes.
        len: usize,
    },
    /// A `..` component.
    #[error("must not contain a '..' component")]
    DotDot,
    /// A component longer than a file name may be.
    #[error("has a component longer than NAME_MAX ({max} bytes)")]
    ComponentTooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// A relative path where an absolute one is needed.
    #[error("must be an absolute path")]
    NotAbsolute,
    /// An absolute log path, which would leave the pod's log directory.
    #[error("must be relative to the pod's log_directory")]
    NotRelative,
    /// A log path that names the directory itself (`.`, `dir/`).
    #[error("must name a file inside the pod's log_directory")]
    NotAFile,
    /// A mount point inside `/proc` other than the few files the runtime allows.
    #[error("is inside /proc, where the runtime refuses mounts")]
    ProcMountPoint,
    /// A working directory inside `/proc`.
    #[error("is inside /proc, where the runtime cannot create it")]
    ProcWorkingDir,
    /// A container log path in a pod without a log directory.
    #[error("the pod has no log_directory to hold it")]
    NoLogDirectory,
}

/// The files under `/proc` the runtime lets a container mount over (runc's `checkProcMount`
/// list, e.g. for lxcfs); anything else inside `/proc` it refuses.
const PROC_MOUNTABLE: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// A path on the node: absolute, no `..`, no NUL.
pub fn host_absolute(path: &str) -> Result<(), PathRefusal> {
    absolute(path)
}

/// A path in the container (mount point, working directory, masked path): absolute, no
/// `..`, no NUL. runc resolves it inside the root; relative ones it refuses or guesses.
pub fn container_absolute(path: &str) -> Result<(), PathRefusal> {
    absolute(path)
}

/// Where a bind mount lands in the container: absolute, and not inside `/proc` (bar the few
/// files the runtime allows), which the runtime refuses.
pub fn mount_point(path: &str) -> Result<(), PathRefusal> {
    absolute(path)?;
    let trimmed = path.trim_end_matches('/');
    let inside_proc = trimmed == "/proc" || trimmed.starts_with("/proc/");
    if inside_proc && !PROC_MOUNTABLE.contains(&trimmed) {
        return Err(PathRefusal::ProcMountPoint);
    }
    Ok(())
}

/// The container's working directory: absolute, and not inside `/proc`, where the runtime
/// cannot create a missing one.
pub fn working_dir(path: &str) -> Result<(), PathRefusal> {
    absolute(path)?;
    if path.trim_end_matches('/').starts_with("/proc/") {
        return Err(PathRefusal::ProcWorkingDir);
    }
    Ok(())
}

fn absolute(path: &str) -> Result<(), PathRefusal> {
    common(path)?;
    if !path.starts_with('/') {
        return Err(PathRefusal::NotAbsolute);
    }
    Ok(())
}

/// A container's log path: relative, inside the pod's log directory, naming a file.
/// containerd joins it the way Go's `filepath.Join` does, which keeps an absolute path
/// inside the directory; Rust's `Path::join` would replace the directory, so berth refuses it.
pub fn relative_inside(path: &str) -> Result<(), PathRefusal> {
    common(path)?;
    if path.starts_with('/') {
        return Err(PathRefusal::NotRelative);
    }
    if path.ends_with('/') || path.split('/').all(|c| c.is_empty() || c == ".") {
        return Err(PathRefusal::NotAFile);
    }
    Ok(())
}

/// What every path must meet.
fn common(path: &str) -> Result<(), PathRefusal> {
    if path.is_empty() {
        return Err(PathRefusal::Empty);
    }
    if path.contains('\0') {
        return Err(PathRefusal::Nul);
    }
    if path.len() >= PATH_MAX {
        return Err(PathRefusal::TooLong {
            max: PATH_MAX,
            len: path.len(),
        });
    }
    if path.split('/').any(|c| c == "..") {
        return Err(PathRefusal::DotDot);
    }
    if path.split('/').any(|c| c.len() > NAME_MAX) {
        return Err(PathRefusal::ComponentTooLong { max: NAME_MAX });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_components_and_proc_mount_points_are_refused() {
        let long = format!("/var/log/{}", "a".repeat(256));
        assert!(host_absolute(&long).is_err());
        assert_eq!(host_absolute(&format!("/x/{}", "a".repeat(255))), Ok(()));
        for bad in ["/proc", "/proc/", "/proc/self", "/proc/sys/kernel"] {
            assert!(mount_point(bad).is_err(), "{bad:?}");
        }
        for ok in ["/proc/cpuinfo", "/procfs", "/data", "/sys/fs/bpf"] {
            assert_eq!(mount_point(ok), Ok(()), "{ok:?}");
        }
        assert!(working_dir("/proc/missing").is_err());
        assert_eq!(working_dir("/proc"), Ok(()));
        assert_eq!(working_dir("/work"), Ok(()));
    }

    #[test]
    fn absolute_paths() {
        for ok in ["/", "/var/log/pods/x", "/a/./b", "/a..b/c", "/with space"] {
            assert_eq!(host_absolute(ok), Ok(()), "{ok:?}");
            assert_eq!(container_absolute(ok), Ok(()), "{ok:?}");
        }
        let long = format!("/{}", "a".repeat(PATH_MAX));
        for bad in [
            "",
            "relative-logs",
            "..",
            "./x",
            "/a/../b",
            "/a/..",
            "/a\0b",
            long.as_str(),
        ] {
            assert!(host_absolute(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn log_paths() {
        for ok in ["c.log", "c/0.log", "./c.log", "a..b.log"] {
            assert_eq!(relative_inside(ok), Ok(()), "{ok:?}");
        }
        for (bad, why) in [
            ("/etc/evil.log", "relative"),
            ("../evil.log", ".."),
            ("c/../../evil.log", ".."),
            ("c\0.log", "NUL"),
            ("", "empty"),
            (".", "name a file"),
            ("c/", "name a file"),
            ("./", "name a file"),
        ] {
            let e = relative_inside(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
