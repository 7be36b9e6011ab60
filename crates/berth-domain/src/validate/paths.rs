//! Paths from a request: host paths and paths in the container are absolute, a log path is
//! relative to its pod's log directory and stays inside it.
//!
//! `..` is refused everywhere: Kubernetes refuses it in a hostPath and a subPath, a log path
//! must not leave its directory, and a path that means what it says is easier to audit.
//! Relative host paths would resolve against berthd's working directory (`/` under systemd).

/// The kernel's `PATH_MAX`, terminating NUL included.
const PATH_MAX: usize = 4096;

/// A path on the node: absolute, no `..`, no NUL.
pub fn host_absolute(path: &str) -> Result<(), String> {
    absolute(path)
}

/// A path in the container (mount point, working directory, masked path): absolute, no
/// `..`, no NUL. runc resolves it inside the root; relative ones it refuses or guesses.
pub fn container_absolute(path: &str) -> Result<(), String> {
    absolute(path)
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
