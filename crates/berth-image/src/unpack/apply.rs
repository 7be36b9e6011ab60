//! Creating each entry inside the layer root with `*at()` calls on a resolved parent.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, Dev, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use super::UnpackError;
use super::path::{normalise, split};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const COPY_BUFFER: usize = 1 << 17;

/// The layer being unpacked.
pub struct Layer {
    root: OwnedFd,
    size: u64,
    /// Directory mtimes, applied last: later entries inside would change them.
    dir_times: Vec<(PathBuf, i64)>,
    buffer: Vec<u8>,
}

/// Attaches the entry name to a failing call.
fn io_err<'a>(entry: &'a str, op: &'static str) -> impl FnOnce(Errno) -> UnpackError + 'a {
    move |e| UnpackError::Io {
        entry: entry.to_owned(),
        op,
        source: e.into(),
    }
}

fn timestamps(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

impl Layer {
    /// Opens the layer root.
    pub fn open(dest: &Path) -> Result<Self, UnpackError> {
        let name = dest.display().to_string();
        let root = rustix::fs::open(
            dest,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err(&name, "open the layer directory"))?;
        Ok(Self {
            root,
            size: 0,
            dir_times: Vec::new(),
            buffer: vec![0; COPY_BUFFER],
        })
    }

    /// Bytes of file content written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Opens a directory inside the root, resolving every component inside it.
    fn resolve_dir(&self, rel: &Path, entry: &str) -> Result<OwnedFd, UnpackError> {
        let path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        rustix::fs::openat2(
            &self.root,
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(io_err(entry, "open parent directory"))
    }

    /// Opens `rel` as a directory, creating missing components (0755, root-owned) one by one,
    /// each resolved inside the root.
    fn ensure_dir(&self, rel: &Path, entry: &str) -> Result<OwnedFd, UnpackError> {
        match self.resolve_dir(rel, entry) {
            Ok(fd) => return Ok(fd),
            Err(UnpackError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut current = self.resolve_dir(Path::new(""), entry)?;
        let mut walked = PathBuf::new();
        for part in rel.components() {
            walked.push(part);
            match rustix::fs::mkdirat(&current, part.as_os_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err(entry, "create parent directory")(e)),
            }
            current = self.resolve_dir(&walked, entry).map_err(|e| match e {
                UnpackError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                    UnpackError::UnsafePath {
                        entry: entry.to_owned(),
                        reason: format!("parent {} is a dangling symlink", walked.display()),
                    }
                }
                e => e,
            })?;
        }
        Ok(current)
    }

    /// Unpacks one entry.
    pub fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = normalise(&raw)?;
        let Some((parent_rel, file_name)) = split(&rel) else {
            return Ok(()); // the root itself: its metadata belongs to the runtime
        };
        let parent_rel = parent_rel.to_path_buf();
        let file_name = file_name.to_os_string();
        let parent = self.ensure_dir(&parent_rel, &name)?;
        let bytes = file_name.as_bytes();
        if bytes == OPAQUE_MARKER {
            return rustix::fs::fsetxattr(&parent, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(io_err(&name, "mark directory opaque"));
        }
        if let Some(hidden) = bytes.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                return Ok(()); // other AUFS metadata: nothing for overlayfs
            }
            let hidden = OsStr::from_bytes(hidden);
            self.clear(&parent, hidden, false, &name)?;
            return rustix::fs::mknodat(
                &parent,
                hidden,
                FileType::CharacterDevice,
                Mode::empty(),
                0,
            )
            .map_err(io_err(&name, "create whiteout"));
        }
        let header = entry.header();
        let kind = header.entry_type();
        let mode = Mode::from_raw_mode(header.mode().map_err(|e| self.bad(&name, e))? & 0o7777);
        // Blank numeric fields mean 0, as Go's archive/tar (which wrote most layers) reads them.
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let device = (
            header.device_major().ok().flatten().unwrap_or(0),
            header.device_minor().ok().flatten().unwrap_or(0),
        );
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let xattrs = xattrs(entry, &name)?;
        let owner = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        let fname = file_name.as_os_str();
        use tar::EntryType as T;
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                self.clear(&parent, fname, false, &name)?;
                let fd = rustix::fs::openat(
                    &parent,
                    fname,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(io_err(&name, "create file"))?;
                let mut file = File::from(fd);
                self.size +=
                    copy(entry, &mut file, &mut self.buffer).map_err(|source| UnpackError::Io {
                        entry: name.clone(),
                        op: "write file",
                        source,
                    })?;
                self.finish_fd(file.as_fd(), owner, mode, &xattrs, Some(mtime), &name)?;
            }
            T::Directory => {
                self.clear(&parent, fname, true, &name)?;
                match rustix::fs::mkdirat(&parent, fname, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io_err(&name, "create directory")(e)),
                }
                let dir = rustix::fs::openat(
                    &parent,
                    fname,
                    OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err(&name, "open directory"))?;
                self.finish_fd(dir.as_fd(), owner, mode, &xattrs, None, &name)?;
                self.dir_times.push((rel.clone(), mtime));
            }
            T::Symlink => {
                let target = link
                    .ok_or_else(|| self.bad(&name, io::Error::other("symlink without target")))?;
                self.clear(&parent, fname, false, &name)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, fname)
                    .map_err(io_err(&name, "create symlink"))?;
                rustix::fs::chownat(&parent, fname, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_err(&name, "chown symlink"))?;
                rustix::fs::utimensat(
                    &parent,
                    fname,
                    &timestamps(mtime),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(io_err(&name, "set symlink times"))?;
            }
            T::Link => {
                let target = link
                    .ok_or_else(|| self.bad(&name, io::Error::other("hard link without target")))?;
                let target_rel = normalise(&target)?;
                let (target_parent, target_name) =
                    split(&target_rel).ok_or_else(|| UnpackError::UnsafePath {
                        entry: name.clone(),
                        reason: "hard link to the layer root".into(),
                    })?;
                let target_dir = self.resolve_dir(target_parent, &name)?;
                self.clear(&parent, fname, false, &name)?;
                rustix::fs::linkat(&target_dir, target_name, &parent, fname, AtFlags::empty())
                    .map_err(|e| UnpackError::UnsafePath {
                        entry: name.clone(),
                        reason: format!(
                            "hard link target {} is not a file in this layer: {e}",
                            String::from_utf8_lossy(&target)
                        ),
                    })?;
            }
            T::Char | T::Block | T::Fifo => {
                let file_type = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev: Dev = rustix::fs::makedev(device.0, device.1);
                self.clear(&parent, fname, false, &name)?;
                rustix::fs::mknodat(&parent, fname, file_type, mode, dev)
                    .map_err(io_err(&name, "create device node"))?;
                rustix::fs::chownat(&parent, fname, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_err(&name, "chown device node"))?;
                rustix::fs::chmodat(&parent, fname, mode, AtFlags::empty())
                    .map_err(io_err(&name, "chmod device node"))?;
                rustix::fs::utimensat(
                    &parent,
                    fname,
                    &timestamps(mtime),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(io_err(&name, "set device node times"))?;
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            other => {
                return Err(UnpackError::UnsupportedEntry {
                    entry: name,
                    kind: format!("{other:?}"),
                });
            }
        }
        Ok(())
    }

    fn bad(&self, name: &str, source: io::Error) -> UnpackError {
        UnpackError::Io {
            entry: name.to_owned(),
            op: "read header",
            source,
        }
    }

    /// Ownership, then mode (chown clears set-id bits), xattrs and times on an open file.
    fn finish_fd(
        &self,
        fd: std::os::fd::BorrowedFd<'_>,
        owner: (Option<Uid>, Option<Gid>),
        mode: Mode,
        xattrs: &[(String, Vec<u8>)],
        mtime: Option<i64>,
        name: &str,
    ) -> Result<(), UnpackError> {
        rustix::fs::fchown(fd, owner.0, owner.1).map_err(io_err(name, "chown"))?;
        rustix::fs::fchmod(fd, mode).map_err(io_err(name, "chmod"))?;
        for (key, value) in xattrs {
            if let Err(e) = rustix::fs::fsetxattr(fd, key.as_str(), value, XattrFlags::empty()) {
                if key.starts_with("user.") {
                    return Err(io_err(name, "set xattr")(e));
                }
                tracing::debug!(entry = name, xattr = %key, error = %e, "xattr not kept");
            }
        }
        if let Some(mtime) = mtime {
            rustix::fs::futimens(fd, &timestamps(mtime)).map_err(io_err(name, "set times"))?;
        }
        Ok(())
    }

    /// Removes whatever is at `name` in `parent`, unless it is a directory and a directory is
    /// wanted (then its metadata is updated instead).
    fn clear(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        keep_dir: bool,
        entry: &str,
    ) -> Result<(), UnpackError> {
        let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io_err(entry, "inspect existing entry")(e)),
        };
        let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        if is_dir && keep_dir {
            return Ok(());
        }
        if !is_dir {
            return rustix::fs::unlinkat(parent, name, AtFlags::empty())
                .map_err(io_err(entry, "replace existing entry"));
        }
        // A whole tree: remove it through the parent's fd, which is already inside the root.
        let fd_path = PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(parent)
        ))
        .join(name);
        std::fs::remove_dir_all(&fd_path).map_err(|source| UnpackError::Io {
            entry: entry.to_owned(),
            op: "replace existing directory",
            source,
        })
    }

    /// Applies directory times, deepest first.
    pub fn finish(&mut self) -> Result<(), UnpackError> {
        let mut times = std::mem::take(&mut self.dir_times);
        times.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        for (rel, mtime) in times {
            let name = rel.display().to_string();
            let Ok(dir) = self.resolve_dir(&rel, &name) else {
                continue; // replaced by a later entry
            };
            rustix::fs::futimens(&dir, &timestamps(mtime))
                .map_err(io_err(&name, "set directory times"))?;
        }
        Ok(())
    }
}

/// `SCHILY.xattr.*` PAX records of the entry.
fn xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let Some(extensions) = entry.pax_extensions().map_err(|source| UnpackError::Io {
        entry: name.to_owned(),
        op: "read PAX header",
        source,
    })?
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for ext in extensions.flatten() {
        if let Ok(key) = ext.key()
            && let Some(xattr) = key.strip_prefix("SCHILY.xattr.")
        {
            out.push((xattr.to_owned(), ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

/// Copies with a reused buffer; returns the bytes copied.
fn copy(from: &mut impl Read, to: &mut File, buffer: &mut [u8]) -> io::Result<u64> {
    use std::io::Write;
    let mut total = 0u64;
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
        total += n as u64;
    }
}
