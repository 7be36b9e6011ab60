//! Unpacking one OCI layer (a tar stream, maybe compressed) into a directory that overlayfs
//! will use as a lower dir.
//!
//! Safety model: the layer directory is a root that no entry may leave. Every entry's parent
//! directory is opened with `openat2(RESOLVE_IN_ROOT)`, so `..`, absolute paths and symlinks
//! planted by earlier entries all resolve inside the layer; the final component is created
//! with `*at()` calls that never follow it (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `O_EXCL`).
//! An entry path that climbs above the root is refused outright.
//!
//! Whiteouts become overlayfs whiteouts: `.wh.NAME` is a 0:0 character device `NAME`, and
//! `.wh..wh..opq` marks its directory opaque with `trusted.overlay.opaque=y`.

mod apply;
mod path;
#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// From an OCI or Docker layer media type (foreign and non-distributable variants too).
    pub fn from_media_type(media_type: &str) -> Result<Self, UnpackError> {
        let m = media_type;
        if m == "application/vnd.docker.image.rootfs.diff.tar.gzip"
            || m == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
            || m.ends_with(".tar+gzip")
        {
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
    /// `sha256:<hex>` of the whole uncompressed tar stream.
    pub diff_id: String,
    /// Bytes of regular-file content written.
    pub size: u64,
}

/// Why a layer could not be unpacked. Messages name the tar entry.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The media type is not a tar layer berth can read.
    #[error("unsupported layer media type {0:?}")]
    UnsupportedMediaType(String),
    /// The archive itself is unreadable (bad compression, truncated, not a tar).
    #[error("reading the layer archive: {0}")]
    Archive(#[source] io::Error),
    /// An entry would land outside the layer.
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
    /// A file-system call failed on an entry.
    #[error("entry {entry:?}: {op}: {source}")]
    Io {
        /// The entry's path.
        entry: String,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
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

/// Unpacks one layer into `dest`, an existing empty directory. Blocking.
pub fn unpack_layer(
    blob: impl Read,
    compression: Compression,
    dest: &Path,
) -> Result<Unpacked, UnpackError> {
    let decoded: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(blob).map_err(UnpackError::Archive)?)
        }
    };
    let hashing = Hashing {
        inner: decoded,
        hasher: Sha256::new(),
    };
    let mut archive = tar::Archive::new(hashing);
    let mut layer = apply::Layer::open(dest)?;
    for entry in archive.entries().map_err(UnpackError::Archive)? {
        let mut entry = entry.map_err(UnpackError::Archive)?;
        layer.apply(&mut entry)?;
    }
    layer.finish()?;
    // The digest covers the whole stream, including the end-of-archive blocks and padding.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(UnpackError::Archive)?;
    Ok(Unpacked {
        diff_id: format!("sha256:{}", hex::encode(rest.hasher.finalize())),
        size: layer.size(),
    })
}
