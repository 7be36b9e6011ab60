//! The content store: blobs named by digest under `<root>/content/blobs/sha256/<hex>`.
//!
//! A blob is written to `<root>/content/ingest/<random>`, hashed as it streams, checked
//! against its digest and size, fsynced, then renamed into place. A blob under `blobs/` is
//! therefore always whole and verified; whatever is under `ingest/` is garbage after a crash.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{ImageError, reference::check_digest};

/// Blobs by digest.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

/// A blob being written; dropping it without `commit` deletes the partial file. Writes go
/// through tokio's file (the blocking pool), never blocking an async worker thread.
pub struct Ingest {
    file: tokio::fs::File,
    path: PathBuf,
    target: PathBuf,
    digest: String,
    hasher: Sha256,
    written: u64,
    committed: bool,
}

impl ContentStore {
    /// Opens the store where `layout` puts it, creating its directories.
    pub fn open(layout: &berth_config::StateLayout) -> Result<Self, ImageError> {
        let store = Self {
            blobs: layout.content_blobs(),
            ingest: layout.content_ingest(),
        };
        for dir in [&store.blobs, &store.ingest] {
            std::fs::create_dir_all(dir).map_err(ImageError::io(dir))?;
        }
        Ok(store)
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        let hex = check_digest(digest).map_err(|reason| ImageError::Corrupt {
            reference: String::new(),
            digest: digest.to_owned(),
            reason,
        })?;
        Ok(self.blobs.join(hex))
    }

    /// Whether the blob is present (and so verified).
    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.exists())
    }

    /// Reads a whole (small) blob: configs and manifests.
    pub fn read(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let path = self.path(digest)?;
        std::fs::read(&path).map_err(ImageError::io(path))
    }

    /// Starts writing the blob `digest`.
    pub fn ingest(&self, digest: &str) -> Result<Ingest, ImageError> {
        let target = self.path(digest)?;
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.ingest)
            .map_err(ImageError::io(&self.ingest))?;
        let (file, path) = tmp.keep().map_err(|e| ImageError::Io {
            path: self.ingest.clone(),
            source: e.error,
        })?;
        Ok(Ingest {
            file: tokio::fs::File::from_std(file),
            path,
            target,
            digest: digest.to_owned(),
            hasher: Sha256::new(),
            written: 0,
            committed: false,
        })
    }

    /// Deletes a blob; absent is fine.
    pub fn remove(&self, digest: &str) -> Result<(), ImageError> {
        let path = self.path(digest)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ImageError::io(path)(e)),
            _ => Ok(()),
        }
    }

    /// Every stored blob's digest.
    pub fn list(&self) -> Result<Vec<String>, ImageError> {
        let entries = std::fs::read_dir(&self.blobs).map_err(ImageError::io(&self.blobs))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .map(|hex| format!("sha256:{hex}"))
            .collect())
    }

    /// Deletes every partial blob (call when no pull is running: at start).
    pub fn clear_ingest(&self) -> Result<usize, ImageError> {
        crate::fsutil::empty_dir(&self.ingest)
    }

    /// The directory holding everything, for usage accounting.
    pub fn dir(&self) -> &Path {
        self.blobs
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.blobs)
    }
}

impl Ingest {
    /// Appends bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ImageError> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .await
            .map_err(ImageError::io(&self.path))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies digest (and size when known), fsyncs and moves the blob into place.
    pub async fn commit(mut self, expected_size: Option<u64>) -> Result<(), ImageError> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if actual != self.digest {
            return Err(ImageError::Corrupt {
                reference: String::new(),
                digest: self.digest.clone(),
                reason: format!("content hashes to {actual}"),
            });
        }
        if let Some(size) = expected_size
            && size != self.written
        {
            return Err(ImageError::Corrupt {
                reference: String::new(),
                digest: self.digest.clone(),
                reason: format!("{} bytes received, {size} expected", self.written),
            });
        }
        self.file
            .flush()
            .await
            .map_err(ImageError::io(&self.path))?;
        self.file
            .sync_all()
            .await
            .map_err(ImageError::io(&self.path))?;
        tokio::fs::rename(&self.path, &self.target)
            .await
            .map_err(ImageError::io(&self.target))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
