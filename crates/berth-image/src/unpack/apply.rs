//! Creating each entry inside the layer root with `*at()` calls on its resolved parent.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec};
use rustix::io::Errno;
use tar::EntryType;

use super::UnpackError;
use super::meta::Meta;
use super::path::{normalise, split};
use super::safe::{Cleared, DIR_FLAGS, Root, clear, times};
use super::whiteout::{self, Whiteout};

/// Buffer for copying file content.
const COPY_BUFFER: usize = 128 * 1024;

/// What an entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// A character or block device, or a FIFO.
    Node(FileType),
}

impl Kind {
    /// The kind of an entry; `None` for headers that only describe other entries.
    fn of(header: &tar::Header, raw: &[u8], name: &str) -> Result<Option<Self>, UnpackError> {
        let kind = header.entry_type();
        Ok(Some(match kind {
            // Old archives mark directories with a trailing slash on a `\0` (regular) entry.
            EntryType::Regular if header.as_old().linkflag[0] == 0 && raw.ends_with(b"/") => {
                Kind::Dir
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::HardLink,
            EntryType::Char => Kind::Node(FileType::CharacterDevice),
            EntryType::Block => Kind::Node(FileType::BlockDevice),
            EntryType::Fifo => Kind::Node(FileType::Fifo),
            EntryType::XGlobalHeader => {
                tracing::debug!(entry = name, "PAX global header ignored");
                return Ok(None);
            }
            // The tar crate folds these into the next entry; never seen here, but harmless.
            EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink => {
                return Ok(None);
            }
            other => {
                return Err(UnpackError::UnsupportedEntry {
                    entry: name.to_owned(),
                    kind: format!("{other:?} (type flag {:?})", char::from(other.as_byte())),
                });
            }
        }))
    }
}

/// The layer being unpacked.
pub(super) struct Layer {
    root: Root,
    /// Bytes of regular-file content written.
    size: u64,
    /// Directory mtimes by path, applied last: later entries inside would change them.
    dir_times: HashMap<PathBuf, Timespec>,
    buffer: Box<[u8]>,
}

impl Layer {
    /// Opens the layer root.
    pub(super) fn open(dest: &Path) -> Result<Self, UnpackError> {
        Ok(Self {
            root: Root::open(dest)?,
            size: 0,
            dir_times: HashMap::new(),
            buffer: vec![0; COPY_BUFFER].into_boxed_slice(),
        })
    }

    /// Unpacks one entry.
    pub(super) fn apply<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let Some(kind) = Kind::of(entry.header(), &raw, &name)? else {
            return Ok(());
        };
        let rel = normalise(&raw).ok_or_else(|| {
            UnpackError::unsafe_path(&name, "it climbs above the layer root with ..")
        })?;
        let Some((parent_rel, file)) = split(&rel) else {
            // The root itself: its metadata belongs to whoever made the layer directory.
            tracing::debug!(entry = name, "entry for the layer root ignored");
            return Ok(());
        };
        match whiteout::classify(file).map_err(|reason| UnpackError::unsafe_path(&name, reason))? {
            Some(Whiteout::Opaque) => {
                let dir = self.root.ensure_dir(parent_rel, &name)?;
                return whiteout::mark_opaque(&dir)
                    .map_err(UnpackError::io(&name, "mark directory opaque"));
            }
            Some(Whiteout::Hide(hidden)) => {
                let dir = self.root.ensure_dir(parent_rel, &name)?;
                clear(&dir, hidden, false)
                    .map_err(UnpackError::io(&name, "remove hidden entry"))?;
                return whiteout::hide(&dir, hidden)
                    .map_err(UnpackError::io(&name, "create whiteout"));
            }
            Some(Whiteout::AufsMeta) => {
                tracing::debug!(entry = name, "AUFS metadata ignored");
                return Ok(());
            }
            None => {}
        }
        let meta = Meta::read(entry, &name)?;
        let parent = self.root.ensure_dir(parent_rel, &name)?;
        match kind {
            Kind::File => self.file(entry, &parent, file, &meta, &name),
            Kind::Dir => {
                self.dir(&parent, file, &meta, &name)?;
                self.dir_times.insert(rel, meta.mtime);
                Ok(())
            }
            Kind::Symlink => {
                let target = link_target(entry, &name)?;
                replace(&parent, file, &name)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, file)
                    .map_err(UnpackError::io(&name, "create symlink"))?;
                meta.apply_at(&parent, file, false, &name)
            }
            Kind::HardLink => {
                let target = link_target(entry, &name)?;
                self.hard_link(&parent, file, &target, &name)
            }
            Kind::Node(file_type) => {
                replace(&parent, file, &name)?;
                rustix::fs::mknodat(&parent, file, file_type, meta.mode, meta.device)
                    .map_err(UnpackError::io(&name, "create device node"))?;
                meta.apply_at(&parent, file, true, &name)
            }
        }
    }

    /// A regular file: created anew (never opened through an existing name), then filled.
    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &OwnedFd,
        file: &OsStr,
        meta: &Meta,
        name: &str,
    ) -> Result<(), UnpackError> {
        replace(parent, file, name)?;
        let fd = rustix::fs::openat(
            parent,
            file,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(UnpackError::io(name, "create file"))?;
        let mut out = File::from(fd);
        self.size += copy(entry, &mut out, &mut self.buffer, name)?;
        meta.apply_fd(&out, true, name)
    }

    /// A directory: created, or kept if one is there; its time is set at the end.
    fn dir(
        &self,
        parent: &OwnedFd,
        file: &OsStr,
        meta: &Meta,
        name: &str,
    ) -> Result<(), UnpackError> {
        let cleared =
            clear(parent, file, true).map_err(UnpackError::io(name, "replace existing entry"))?;
        if cleared == Cleared::Free {
            rustix::fs::mkdirat(parent, file, Mode::from_raw_mode(0o700))
                .map_err(UnpackError::io(name, "create directory"))?;
        }
        let dir = rustix::fs::openat(parent, file, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
            .map_err(UnpackError::io(name, "open directory"))?;
        meta.apply_fd(&dir, false, name)
    }

    /// A hard link to an entry already in the layer.
    fn hard_link(
        &self,
        parent: &OwnedFd,
        file: &OsStr,
        target: &[u8],
        name: &str,
    ) -> Result<(), UnpackError> {
        let shown = String::from_utf8_lossy(target);
        let outside =
            |why: &str| UnpackError::unsafe_path(name, format!("hard link target {shown:?} {why}"));
        let target_rel = normalise(target).ok_or_else(|| outside("climbs above the layer root"))?;
        let (target_parent, target_file) =
            split(&target_rel).ok_or_else(|| outside("is the layer root"))?;
        let target_dir = self.root.open_dir(target_parent).map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => outside("is not in the layer"),
            e => UnpackError::io(name, "open hard link target directory")(e),
        })?;
        let target_stat = rustix::fs::statat(&target_dir, target_file, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => outside("is not in the layer"),
            e => UnpackError::io(name, "inspect hard link target")(e),
        })?;
        if let Ok(existing) = rustix::fs::statat(parent, file, AtFlags::SYMLINK_NOFOLLOW)
            && (existing.st_dev, existing.st_ino) == (target_stat.st_dev, target_stat.st_ino)
        {
            return Ok(()); // already this file (a link to itself, or listed twice)
        }
        replace(parent, file, name)?;
        rustix::fs::linkat(
            &target_dir,
            target_file,
            parent,
            file,
            AtFlags::empty(), // links the target itself, even if it is a symlink
        )
        .map_err(UnpackError::io(name, "create hard link"))
    }

    /// Sets directory times (after every entry, since entries inside changed them) and
    /// returns the bytes of file content written.
    pub(super) fn finish(self) -> Result<u64, UnpackError> {
        for (rel, mtime) in &self.dir_times {
            let Some((parent_rel, file)) = split(rel) else {
                continue;
            };
            let name = rel.to_string_lossy();
            let dir = self.root.open_dir(parent_rel).and_then(|parent| {
                rustix::fs::openat(&parent, file, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
            });
            let dir = match dir {
                Ok(dir) => dir,
                // Replaced by a later entry.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(UnpackError::io(&name, "open directory")(e)),
            };
            rustix::fs::futimens(&dir, &times(*mtime))
                .map_err(UnpackError::io(&name, "set directory times"))?;
        }
        Ok(self.size)
    }
}

/// Frees `file` in `parent` for a non-directory entry.
fn replace(parent: impl AsFd, file: &OsStr, name: &str) -> Result<(), UnpackError> {
    clear(parent, file, false)
        .map(drop)
        .map_err(UnpackError::io(name, "replace existing entry"))
}

/// The link target of a symlink or hard link entry.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, name: &str) -> Result<Vec<u8>, UnpackError> {
    match entry.link_name_bytes() {
        Some(target) if !target.is_empty() => Ok(target.into_owned()),
        _ => Err(UnpackError::header(name, "link without a target")),
    }
}

/// Copies the entry's content through `buffer`; returns the bytes copied. Read failures are
/// the archive's, write failures the file system's.
fn copy(
    from: &mut impl Read,
    to: &mut File,
    buffer: &mut [u8],
    name: &str,
) -> Result<u64, UnpackError> {
    let mut total = 0u64;
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::tar(Some(name))(e)),
        };
        let chunk = buffer.get(..n).unwrap_or_default();
        to.write_all(chunk)
            .map_err(UnpackError::io(name, "write file"))?;
        total += n as u64;
    }
}
