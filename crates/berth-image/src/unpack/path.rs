//! Entry paths: normalised relative to the layer root, never above it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The path relative to the layer root: a leading `/` and `.` components are dropped, `..`
/// climbs only within the path. Empty means the root itself; `None` means it climbs above.
pub(super) fn normalise(raw: &[u8]) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Some(out)
}

/// Splits a normalised path into its parent (maybe empty: the root) and its final name, a
/// plain component (never `.` or `..`). `None` for the root itself.
pub(super) fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    Some((path.parent().unwrap_or(Path::new("")), path.file_name()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        let n = |raw: &[u8]| normalise(raw).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(n(b"/abs/file").as_deref(), Some("abs/file"));
        assert_eq!(n(b"//abs//file").as_deref(), Some("abs/file"));
        assert_eq!(n(b"./a/./b/").as_deref(), Some("a/b"));
        assert_eq!(n(b"a/../b").as_deref(), Some("b"));
        assert_eq!(n(b"./").as_deref(), Some(""));
        assert_eq!(n(b"/").as_deref(), Some(""));
        assert_eq!(n(b"...").as_deref(), Some("..."));
        assert_eq!(n(b"../escape"), None);
        assert_eq!(n(b"a/../../escape"), None);
        assert_eq!(n(b"/../escape"), None);
    }

    #[test]
    fn splits_into_parent_and_name() {
        assert_eq!(
            split(Path::new("a/b/c")),
            Some((Path::new("a/b"), OsStr::new("c")))
        );
        assert_eq!(
            split(Path::new("c")),
            Some((Path::new(""), OsStr::new("c")))
        );
        assert_eq!(split(Path::new("")), None);
    }
}
