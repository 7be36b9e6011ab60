//! Locating a runtime binary given as an absolute path or a bare name.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Resolves `path` to an executable file: absolute paths as they are, bare names through
/// `PATH`. `None` when nothing executable is found.
pub fn resolve_binary(path: &Path) -> Option<PathBuf> {
    if path.is_absolute() || path.components().count() > 1 {
        return is_executable(path).then(|| path.to_owned());
    }
    let search = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&search)
        .map(|dir| dir.join(path))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_by_name_and_path() {
        let sh = resolve_binary(Path::new("sh")).expect("sh on PATH");
        assert!(sh.is_absolute());
        assert_eq!(resolve_binary(&sh), Some(sh));
        assert_eq!(resolve_binary(Path::new("no-such-binary-berth")), None);
        assert_eq!(resolve_binary(Path::new("/etc/passwd")), None);
    }
}
