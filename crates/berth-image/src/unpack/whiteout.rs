//! AUFS-style whiteouts in the archive, turned into their overlayfs form.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{FileType, Mode, XattrFlags};
use rustix::io::Errno;

/// `.wh.NAME` hides `NAME` of the lower layers.
const PREFIX: &[u8] = b".wh.";
/// `.wh..wh.*` is AUFS metadata.
const META_PREFIX: &[u8] = b".wh..wh.";
/// Hides everything the lower layers have in this directory.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// How overlayfs marks an opaque directory.
pub(super) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What a whiteout entry asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Whiteout<'a> {
    /// Mark the entry's directory opaque.
    Opaque,
    /// Hide this name of the entry's directory.
    Hide(&'a OsStr),
    /// AUFS metadata (`.wh..wh.plnk`, …): nothing for overlayfs.
    AufsMeta,
}

/// Classifies an entry's final name; `Ok(None)` if it is not a whiteout, `Err(reason)` if it
/// is one that names no plain file (`.wh.`, `.wh..`, `.wh...`).
pub(super) fn classify(name: &OsStr) -> Result<Option<Whiteout<'_>>, &'static str> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE_MARKER {
        return Ok(Some(Whiteout::Opaque));
    }
    if bytes.starts_with(META_PREFIX) {
        return Ok(Some(Whiteout::AufsMeta));
    }
    match bytes.strip_prefix(PREFIX) {
        None => Ok(None),
        Some(b"" | b"." | b"..") => Err("a whiteout must name a file, not \"\", \".\" or \"..\""),
        Some(hidden) => Ok(Some(Whiteout::Hide(OsStr::from_bytes(hidden)))),
    }
}

/// Creates the overlayfs whiteout for `hidden`: a 0:0 character device. The name must be free.
pub(super) fn hide(parent: impl AsFd, hidden: &OsStr) -> Result<(), Errno> {
    rustix::fs::mknodat(
        parent,
        hidden,
        FileType::CharacterDevice,
        Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
}

/// Marks a directory opaque for overlayfs.
pub(super) fn mark_opaque(dir: impl AsFd) -> Result<(), Errno> {
    rustix::fs::fsetxattr(dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_whiteout_names() {
        fn c(s: &str) -> Result<Option<Whiteout<'_>>, &'static str> {
            classify(OsStr::new(s))
        }
        assert_eq!(c("file"), Ok(None));
        assert_eq!(c(".hidden"), Ok(None));
        assert_eq!(c(".wh..wh..opq"), Ok(Some(Whiteout::Opaque)));
        assert_eq!(c(".wh..wh.plnk"), Ok(Some(Whiteout::AufsMeta)));
        assert_eq!(c(".wh.gone"), Ok(Some(Whiteout::Hide(OsStr::new("gone")))));
        assert_eq!(c(".wh...."), Ok(Some(Whiteout::Hide(OsStr::new("...")))));
        assert!(c(".wh.").is_err());
        assert!(c(".wh..").is_err());
        assert!(c(".wh...").is_err());
    }
}
