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
pub fn host_absolute(path: &str) -> Result<(), String> {
    absolute(path)
}

/// A path in the container (mount point, working directory, masked path): absolute, no
/// `..`, no NUL. runc resolves it inside the root; relative ones it refuses or guesses.
pub fn container_absolute(path: &str) -> Result<(), String> {
    absolute(path)
}

/// Where a bind mount lands in the container: absolute, and not inside `/proc` (bar the few
/// files the runtime allows), which the runtime refuses.
pub fn mount_point(path: &str) -> Result<(), String> {
    absolute(path)?;
    let trimmed = path.trim_end_matches('/');
    let inside_proc = trimmed == "/proc" || trimmed.starts_with("/proc/");
    if inside_proc && !PROC_MOUNTABLE.contains(&trimmed) {
        return Err("is inside /proc, where the runtime refuses mounts".into());
    }
    Ok(())
}

/// The container's working directory: absolute, and not inside `/proc`, where the runtime
/// cannot create a missing one.
pub fn working_dir(path: &str) -> Result<(), String> {
    absolute(path)?;
    if path.trim_end_matches('/').starts_with("/proc/") {
        return Err("is inside /proc, where the runtime cannot create it".into());
    }
    Ok(())
}

fn absolute(path: &str) -> Result<(), String> {
    common(path)?;
    if !path.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    Ok(())
}

/// A container's log path: relative, inside the pod's log directory, naming a file.
/// containerd joins it the way Go's `filepath.Join` does, which keeps an absolute path
/// inside the directory; Rust's `Path::join` would replace the directory, so berth refuses it.
pub fn relative_inside(path: &str) -> Result<(), String> {
    common(path)?;
    if path.starts_with('/') {
        return Err("must be relative to the pod's log_directory".into());
    }
    if path.ends_with('/') || path.split('/').all(|c| c.is_empty() || c == ".") {
        return Err("must name a file inside the pod's log_directory".into());
    }
    Ok(())
}

/// What every path must meet.
fn common(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("must not be empty".into());
    }
    if path.contains('\0') {
        return Err("must not contain a NUL byte".into());
    }
    if path.len() >= PATH_MAX {
        return Err(format!("is longer than PATH_MAX ({PATH_MAX} bytes)"));
    }
    if path.split('/').any(|c| c == "..") {
        return Err("must not contain a '..' component".into());
    }
    if path.split('/').any(|c| c.len() > NAME_MAX) {
        return Err(format!(
            "has a component longer than NAME_MAX ({NAME_MAX} bytes)"
        ));
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
            let e = relative_inside(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
