//! Unpacking one OCI layer (a tar stream, maybe compressed) into a directory that overlayfs
//! will use as a lower dir.
//!
//! # Safety model
//!
//! The layer directory (`dest`) is a root that no write may leave, whatever the archive says:
//!
//! * Entry paths are normalised first ([`path`]): a leading `/` and `.` components are dropped,
//!   and a path whose `..` climbs above the root is refused with [`UnpackError::UnsafePath`].
//! * The parent directory of every entry is opened with
//!   `openat2(root, parent, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, so `..` and symlinks
//!   planted by earlier entries (`evil -> /etc`, `up -> ../../..`) resolve as if the layer were
//!   `/`: inside it. Missing parents are created one component at a time, each resolved the
//!   same way ([`safe`]).
//! * The final component is only ever touched with `*at()` calls relative to that parent fd
//!   that do not follow it: `O_NOFOLLOW | O_EXCL` for new files, `AT_SYMLINK_NOFOLLOW` for
//!   ownership and times, `unlinkat` and an fd-based recursive removal for replaced entries.
//! * Hard-link targets are resolved inside the root too, and must exist there.
//! * Whiteout names are checked to be single plain names (`.wh..` and `.wh...` are refused).
//!
//! Whiteouts become overlayfs whiteouts ([`whiteout`]): `.wh.NAME` is a 0:0 character device
//! `NAME`, and `.wh..wh..opq` marks its directory opaque with `trusted.overlay.opaque=y`.
//!
//! Needs Linux ≥ 5.6 (`openat2`) and, to create device nodes and keep ownership, root.

mod apply;
mod meta;
mod path;
#[cfg(test)]
mod props;
mod safe;
#[cfg(test)]
mod tests;
mod whiteout;

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// How a layer blob is compressed (from its media type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several concatenated members).
    Gzip,
    /// zstd (possibly several frames).
    Zstd,
}

impl Compression {
    /// From an OCI or Docker layer media type: `…tar` is [`Compression::None`], `…tar+gzip`
    /// and Docker's `…tar.gzip` are [`Compression::Gzip`], `…tar+zstd` is
    /// [`Compression::Zstd`]. Foreign and non-distributable variants are recognised by the same
    /// suffixes; anything else is [`UnpackError::UnsupportedMediaType`].
    pub fn from_media_type(media_type: &str) -> Result<Self, UnpackError> {
        let m = media_type;
        if m.ends_with(".tar+gzip") || m.ends_with(".tar.gzip") {
            Ok(Compression::Gzip)
        } else if m.ends_with(".tar+zstd") {
            Ok(Compression::Zstd)
        } else if m.ends_with(".tar") {
            Ok(Compression::None)
        } else {
            Err(UnpackError::UnsupportedMediaType(media_type.to_owned()))
        }
    }
}

/// The result of unpacking a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// `sha256:<hex>` of the whole uncompressed tar stream, end-of-archive blocks and padding
    /// included: what the image config lists in `rootfs.diff_ids`.
    pub diff_id: String,
    /// Bytes of regular-file content written.
    pub size: u64,
}

/// Why a layer could not be unpacked. Messages name the tar entry and the cause.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The media type is not a tar layer berth can read.
    #[error("unsupported layer media type {0:?}")]
    UnsupportedMediaType(String),
    /// The archive stream itself is unreadable: bad compression, truncated, not a tar.
    #[error(
        "reading the layer archive{}: {source}",
        entry.as_ref().map(|e| format!(" (in entry {e:?})")).unwrap_or_default()
    )]
    Tar {
        /// The entry being read when it failed, if any.
        entry: Option<String>,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A header field of an entry is malformed.
    #[error("entry {entry:?}: bad header: {source}")]
    Header {
        /// The entry's path as written in the archive.
        entry: String,
        /// What is wrong.
        #[source]
        source: io::Error,
    },
    /// An entry would land outside the layer, or names something it may not.
    #[error("entry {entry:?}: {reason}")]
    UnsafePath {
        /// The entry's path as written in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// An entry of a type berth does not unpack.
    #[error("entry {entry:?}: unsupported entry type {kind}")]
    UnsupportedEntry {
        /// The entry's path.
        entry: String,
        /// Its type.
        kind: String,
    },
    /// A file-system call failed.
    #[error("{path:?}: {op}: {source}")]
    Io {
        /// The tar entry's path (or the layer directory, when opening it failed).
        path: String,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl UnpackError {
    /// Maps a failing call on `path` to [`UnpackError::Io`].
    fn io<E: Into<io::Error>>(path: &str, op: &'static str) -> impl FnOnce(E) -> Self {
        move |e| UnpackError::Io {
            path: path.to_owned(),
            op,
            source: e.into(),
        }
    }

    /// Maps a failure reading the archive to [`UnpackError::Tar`].
    fn tar(entry: Option<&str>) -> impl FnOnce(io::Error) -> Self {
        move |source| UnpackError::Tar {
            entry: entry.map(str::to_owned),
            source,
        }
    }

    /// An [`UnpackError::UnsafePath`].
    fn unsafe_path(entry: &str, reason: impl Into<String>) -> Self {
        UnpackError::UnsafePath {
            entry: entry.to_owned(),
            reason: reason.into(),
        }
    }

    /// An [`UnpackError::Header`] with a message.
    fn header(entry: &str, reason: impl Into<String>) -> Self {
        UnpackError::Header {
            entry: entry.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidData, reason.into()),
        }
    }
}

/// Unpacks one layer into `dest`, an existing, empty directory that becomes this layer's
/// overlayfs dir. Blocking: run it on a blocking thread.
///
/// On error `dest` holds a partial layer: the caller discards it.
pub fn unpack_layer(
    blob: impl Read,
    compression: Compression,
    dest: &Path,
) -> Result<Unpacked, UnpackError> {
    let mut stream = Hashing {
        inner: decoder(blob, compression)?,
        hasher: Sha256::new(),
    };
    let mut layer = apply::Layer::open(dest)?;
    {
        let mut archive = tar::Archive::new(&mut stream);
        for entry in archive.entries().map_err(UnpackError::tar(None))? {
            let mut entry = entry.map_err(UnpackError::tar(None))?;
            layer.apply(&mut entry)?;
        }
    }
    let size = layer.finish()?;
    // The digest covers the whole stream, including the end-of-archive blocks and padding
    // that tar iteration stops before.
    io::copy(&mut stream, &mut io::sink()).map_err(UnpackError::tar(None))?;
    Ok(Unpacked {
        diff_id: format!("sha256:{}", hex::encode(stream.hasher.finalize())),
        size,
    })
}

/// The decompressed stream of `blob`.
fn decoder<'a>(
    blob: impl Read + 'a,
    compression: Compression,
) -> Result<Box<dyn Read + 'a>, UnpackError> {
    Ok(match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(blob).map_err(UnpackError::tar(None))?)
        }
    })
}

/// Feeds everything read through it to a SHA-256.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
