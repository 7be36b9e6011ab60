//! Entry paths: normalised relative to the layer root, never above it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::UnpackError;

/// The entry path relative to the layer root: a leading `/` and `.` components are dropped,
/// `..` climbs only within the path. Empty means the root itself.
pub fn normalise(raw: &[u8]) -> Result<PathBuf, UnpackError> {
    let mut out = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(UnpackError::UnsafePath {
                        entry: String::from_utf8_lossy(raw).into_owned(),
                        reason: "it climbs above the layer root with ..".into(),
                    });
                }
            }
            Component::Normal(part) => out.push(part),
        }
    }
    Ok(out)
}

/// Splits a normalised path into its parent (maybe empty) and final name.
pub fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    Some((path.parent().unwrap_or(Path::new("")), path.file_name()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(normalise(b"/abs/file").unwrap(), Path::new("abs/file"));
        assert_eq!(normalise(b"./a/./b/").unwrap(), Path::new("a/b"));
        assert_eq!(normalise(b"a/../b").unwrap(), Path::new("b"));
        assert_eq!(normalise(b"./").unwrap(), Path::new(""));
        assert!(normalise(b"../escape").is_err());
        assert!(normalise(b"a/../../escape").is_err());
    }
}
