//! Entry metadata (mode, owner, mtime, device, xattrs) read from the header and PAX records,
//! and applied to what was created.
//!
//! Order matters: ownership first (chown clears set-id bits and file capabilities), then the
//! mode, then xattrs, then times.
//!
//! Xattrs come from `SCHILY.xattr.NAME` PAX records. `trusted.overlay.*` ones are dropped:
//! they would steer overlayfs itself (redirects, metacopy), and layers express opacity with
//! `.wh..wh..opq`. A `user.*` xattr that cannot be set on a file or directory fails the
//! unpack; other failures (`security.*` or `trusted.*` the file system refuses, anything on
//! symlinks and device nodes, where Linux allows no `user.*`) are logged at debug level and
//! skipped.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{AtFlags, Dev, Gid, Mode, Timespec, Uid, XattrFlags};
use rustix::io::Errno;

use super::UnpackError;
use super::safe::{proc_path, times};

const XATTR_RECORD: &[u8] = b"SCHILY.xattr.";
const OVERLAY_XATTRS: &[u8] = b"trusted.overlay.";
const STRICT_XATTRS: &[u8] = b"user.";

/// What to apply to a created entry.
#[derive(Debug)]
pub(super) struct Meta {
    /// Permission bits, set-id and sticky bits included.
    pub mode: Mode,
    /// Owner: the tar header's numeric UID (its user name is not looked up).
    pub uid: Uid,
    /// Group: the tar header's numeric GID.
    pub gid: Gid,
    /// Modification time (also used as the access time).
    pub mtime: Timespec,
    /// Device number, for device nodes.
    pub device: Dev,
    /// Extended attributes.
    pub xattrs: Vec<Xattr>,
}

/// An extended attribute: name and value.
pub(super) type Xattr = (OsString, Vec<u8>);

impl Meta {
    /// Reads the entry's metadata. Blank numeric fields mean 0, as Go's archive/tar (which
    /// wrote most layers) reads them; malformed ones are errors.
    pub(super) fn read<R: Read>(
        entry: &mut tar::Entry<'_, R>,
        name: &str,
    ) -> Result<Self, UnpackError> {
        let (pax_mtime, xattrs) = pax_records(entry, name)?;
        let header = entry.header();
        let old = header.as_old();
        let bad = |source| UnpackError::Header {
            entry: name.to_owned(),
            source,
        };
        let mode = numeric(header.mode().map(u64::from), &old.mode).map_err(bad)?;
        let uid = numeric(header.uid(), &old.uid).map_err(bad)?;
        let gid = numeric(header.gid(), &old.gid).map_err(bad)?;
        let mtime = match pax_mtime {
            Some(t) => t,
            None => Timespec {
                tv_sec: i64::try_from(numeric(header.mtime(), &old.mtime).map_err(bad)?)
                    .unwrap_or(i64::MAX),
                tv_nsec: 0,
            },
        };
        let id = |v: u64, what: &str| {
            u32::try_from(v)
                .map_err(|_| UnpackError::header(name, format!("{what} {v} out of range")))
        };
        let kind = header.entry_type();
        let device = if kind.is_character_special() || kind.is_block_special() {
            let (major, minor) = device_numbers(header).map_err(bad)?;
            rustix::fs::makedev(major, minor)
        } else {
            0
        };
        Ok(Self {
            mode: Mode::from_raw_mode(id(mode, "mode")? & 0o7777),
            uid: Uid::from_raw(id(uid, "uid")?),
            gid: Gid::from_raw(id(gid, "gid")?),
            mtime,
            device,
            xattrs,
        })
    }

    /// Applies owner, mode, xattrs and (if `with_times`) times to an open file or directory.
    pub(super) fn apply_fd(
        &self,
        fd: impl AsFd,
        with_times: bool,
        name: &str,
    ) -> Result<(), UnpackError> {
        let fd = fd.as_fd();
        rustix::fs::fchown(fd, Some(self.uid), Some(self.gid))
            .map_err(UnpackError::io(name, "chown"))?;
        rustix::fs::fchmod(fd, self.mode).map_err(UnpackError::io(name, "chmod"))?;
        self.apply_xattrs(name, true, |key, value| {
            rustix::fs::fsetxattr(fd, key, value, XattrFlags::empty())
        })?;
        if with_times {
            rustix::fs::futimens(fd, &times(self.mtime))
                .map_err(UnpackError::io(name, "set times"))?;
        }
        Ok(())
    }

    /// Applies owner, mode (if `with_mode`: not for symlinks), xattrs and times to the
    /// symlink or device node `file` in `parent`, without following it.
    pub(super) fn apply_at(
        &self,
        parent: impl AsFd,
        file: &OsStr,
        with_mode: bool,
        name: &str,
    ) -> Result<(), UnpackError> {
        let parent = parent.as_fd();
        rustix::fs::chownat(
            parent,
            file,
            Some(self.uid),
            Some(self.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(UnpackError::io(name, "chown"))?;
        if with_mode {
            // Not a symlink (the caller has just made this node), so following is moot; and
            // fchmodat's AT_SYMLINK_NOFOLLOW is missing on older kernels.
            rustix::fs::chmodat(parent, file, self.mode, AtFlags::empty())
                .map_err(UnpackError::io(name, "chmod"))?;
        }
        if !self.xattrs.is_empty() {
            let path = proc_path(parent, file);
            self.apply_xattrs(name, false, |key, value| {
                rustix::fs::lsetxattr(&path, key, value, XattrFlags::empty())
            })?;
        }
        rustix::fs::utimensat(parent, file, &times(self.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(UnpackError::io(name, "set times"))
    }

    /// Sets the xattrs with `set`, by the policy in the module doc.
    fn apply_xattrs(
        &self,
        name: &str,
        strict: bool,
        mut set: impl FnMut(&OsStr, &[u8]) -> Result<(), Errno>,
    ) -> Result<(), UnpackError> {
        for (key, value) in &self.xattrs {
            let bytes = key.as_bytes();
            if bytes.starts_with(OVERLAY_XATTRS) {
                tracing::debug!(entry = name, xattr = ?key, "overlayfs xattr in a layer dropped");
                continue;
            }
            match set(key, value) {
                Ok(()) => {}
                Err(e) if strict && bytes.starts_with(STRICT_XATTRS) => {
                    return Err(UnpackError::io(name, "set xattr")(e));
                }
                Err(e) => {
                    tracing::debug!(entry = name, xattr = ?key, error = %e, "xattr not kept");
                }
            }
        }
        Ok(())
    }
}

/// `true` if a header's numeric field is blank (NULs and spaces).
fn blank(field: &[u8]) -> bool {
    field.iter().all(|b| *b == 0 || *b == b' ')
}

/// A numeric header field: 0 if blank, else its parsed value.
fn numeric(parsed: std::io::Result<u64>, raw: &[u8]) -> std::io::Result<u64> {
    if blank(raw) { Ok(0) } else { parsed }
}

/// A device node's major and minor numbers (blank fields, or none in a v7 header, are 0).
fn device_numbers(header: &tar::Header) -> std::io::Result<(u32, u32)> {
    let (major, minor) = match (header.as_ustar(), header.as_gnu()) {
        (Some(ustar), _) => (ustar.dev_major, ustar.dev_minor),
        (None, Some(gnu)) => (gnu.dev_major, gnu.dev_minor),
        (None, None) => return Ok((0, 0)),
    };
    let major = if blank(&major) {
        0
    } else {
        header.device_major()?.unwrap_or(0)
    };
    let minor = if blank(&minor) {
        0
    } else {
        header.device_minor()?.unwrap_or(0)
    };
    Ok((major, minor))
}

/// The PAX `mtime` (which may carry a fraction) and `SCHILY.xattr.*` records of the entry.
/// (The tar crate already applies PAX `path`, `linkpath`, `size`, `uid` and `gid`.)
fn pax_records<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
) -> Result<(Option<Timespec>, Vec<Xattr>), UnpackError> {
    let mut mtime = None;
    let mut xattrs = Vec::new();
    let Some(records) = entry
        .pax_extensions()
        .map_err(UnpackError::tar(Some(name)))?
    else {
        return Ok((mtime, xattrs));
    };
    for record in records {
        let record = record.map_err(|source| UnpackError::Header {
            entry: name.to_owned(),
            source,
        })?;
        let key = record.key_bytes();
        if key == b"mtime" {
            let value = String::from_utf8_lossy(record.value_bytes());
            mtime =
                Some(parse_pax_time(&value).ok_or_else(|| {
                    UnpackError::header(name, format!("bad PAX mtime {value:?}"))
                })?);
        } else if let Some(xattr) = key.strip_prefix(XATTR_RECORD) {
            xattrs.push((
                OsString::from_vec(xattr.to_vec()),
                record.value_bytes().to_vec(),
            ));
        }
    }
    Ok((mtime, xattrs))
}

/// A PAX time: decimal seconds, maybe negative, maybe with a fraction (`-1.5`, `1700000000.25`).
fn parse_pax_time(value: &str) -> Option<Timespec> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if !fraction.bytes().all(|b| b.is_ascii_digit())
        || !whole
            .trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    if whole.starts_with('-') && nanos > 0 {
        Some(Timespec {
            tv_sec: secs.checked_sub(1)?,
            tv_nsec: 1_000_000_000 - nanos,
        })
    } else {
        Some(Timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pax_times() {
        let t = |s| parse_pax_time(s).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.25"), Some((1_700_000_000, 250_000_000)));
        assert_eq!(t("1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(t("-0.5"), Some((-1, 500_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t(""), None);
        assert_eq!(t("1.x"), None);
        assert_eq!(t("+1"), None);
        assert_eq!(t("99999999999999999999"), None);
    }

    #[test]
    fn blank_fields_are_zero() {
        assert!(blank(b"\0\0\0\0"));
        assert!(blank(b"   \0"));
        assert!(!blank(b"0000644\0"));
        assert_eq!(
            numeric(Err(std::io::Error::other("x")), b"\0\0").unwrap(),
            0
        );
        assert!(numeric(Err(std::io::Error::other("x")), b"zz").is_err());
    }
}
