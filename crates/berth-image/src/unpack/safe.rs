//! File-system operations confined to the layer root.
//!
//! Directories are reached with `openat2(RESOLVE_IN_ROOT)` from the root's fd; names inside
//! them are handled with `*at()` calls that never follow the final component. The fds are
//! opened read-only rather than `O_PATH` because `fsetxattr` (opaque marker), `futimens` and
//! `getdents` need a real open file.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;
use rustix::path::Arg;

use super::UnpackError;

/// How directories are opened.
pub(super) const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

/// Mode of parent directories the archive does not list.
const IMPLICIT_DIR_MODE: Mode = Mode::from_raw_mode(0o755);

/// `openat2` fails with `EAGAIN` when a rename races a `..` lookup; retry that many times.
const RESOLVE_RETRIES: usize = 8;

/// The layer root.
pub(super) struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens the layer directory (a path the caller chose: it is trusted).
    pub(super) fn open(dest: &Path) -> Result<Self, UnpackError> {
        let name = dest.to_string_lossy();
        let fd = rustix::fs::open(dest, DIR_FLAGS, Mode::empty())
            .map_err(UnpackError::io(&name, "open the layer directory"))?;
        Ok(Self { fd })
    }

    /// Opens the directory `rel` (empty: the root), every component, symlinks included,
    /// resolved as if the root were `/`.
    pub(super) fn open_dir(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        let path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(
                &self.fd,
                path,
                DIR_FLAGS,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ) {
                Err(Errno::AGAIN) if tries < RESOLVE_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    /// Opens the directory `rel`, first creating its missing components (0755, owned by us)
    /// one at a time, each resolved inside the root.
    pub(super) fn ensure_dir(&self, rel: &Path, entry: &str) -> Result<OwnedFd, UnpackError> {
        match self.open_dir(rel) {
            Err(Errno::NOENT) => {}
            other => return other.map_err(UnpackError::io(entry, "open parent directory")),
        }
        let mut current = self
            .open_dir(Path::new(""))
            .map_err(UnpackError::io(entry, "open the layer root"))?;
        let mut walked = PathBuf::new();
        for part in rel.iter() {
            walked.push(part);
            let created = match rustix::fs::mkdirat(&current, part, IMPLICIT_DIR_MODE) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                Err(e) => return Err(UnpackError::io(entry, "create parent directory")(e)),
            };
            current = self.open_dir(&walked).map_err(|e| match e {
                Errno::NOENT => UnpackError::unsafe_path(
                    entry,
                    format!(
                        "parent {} is a symlink whose target is not in the layer",
                        walked.display()
                    ),
                ),
                e => UnpackError::io(entry, "open parent directory")(e),
            })?;
            if created {
                // mkdirat's mode went through the umask.
                rustix::fs::fchmod(&current, IMPLICIT_DIR_MODE)
                    .map_err(UnpackError::io(entry, "chmod parent directory"))?;
            }
        }
        Ok(current)
    }
}

/// What [`clear`] found at a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cleared {
    /// Nothing was there, or it was removed.
    Free,
    /// A directory is there and was kept.
    KeptDir,
}

/// Makes `name` in `parent` free for a new entry: removes what is there (a whole tree if it
/// is a directory), except a directory when `keep_dir` (a directory entry over a directory
/// only updates its metadata).
pub(super) fn clear(parent: impl AsFd, name: &OsStr, keep_dir: bool) -> Result<Cleared, Errno> {
    let parent = parent.as_fd();
    let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(Cleared::Free),
        Err(e) => return Err(e),
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
    } else if keep_dir {
        return Ok(Cleared::KeptDir);
    } else {
        remove_tree(parent, name)?;
    }
    Ok(Cleared::Free)
}

/// Removes the directory `name` in `parent` and everything under it, through fds, never
/// following a symlink.
fn remove_tree<P: Arg + Copy>(parent: impl AsFd, name: P) -> Result<(), Errno> {
    let parent = parent.as_fd();
    let dir = rustix::fs::openat(parent, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())?;
    empty_dir(dir)?;
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

/// Removes everything in a directory.
fn empty_dir(dir: OwnedFd) -> Result<(), Errno> {
    let mut entries = Dir::new(dir)?;
    while let Some(child) = entries.read() {
        let child = child?;
        let name = child.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let dir = entries.fd()?;
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            // NOENT: a name seen twice while the directory shrinks.
            Ok(()) | Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) => remove_tree(dir, name)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A path naming `name` in the open directory `parent` through `/proc/self/fd`, for the
/// calls that have no fd-relative form (`lsetxattr`). The directory is reached through its
/// fd; `name` itself is not followed by `l*` calls.
pub(super) fn proc_path(parent: impl AsFd, name: &OsStr) -> PathBuf {
    let mut path = PathBuf::from(format!("/proc/self/fd/{}", parent.as_fd().as_raw_fd()));
    path.push(name);
    path
}

/// Access and modification times both set to `mtime`.
pub(super) fn times(mtime: Timespec) -> Timestamps {
    Timestamps {
        last_access: mtime,
        last_modification: mtime,
    }
}
