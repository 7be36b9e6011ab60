//! `ImageFsInfo`.

use std::path::PathBuf;

use super::ImageService;
use crate::Error;

/// Usage of the image file system.
#[derive(Debug, Clone)]
pub struct ImageFsUsage {
    /// When it was measured, ns since the epoch.
    pub timestamp_ns: i64,
    /// The image store's directory.
    pub mountpoint: PathBuf,
    /// Bytes allocated to blobs and layers.
    pub used_bytes: u64,
    /// Inodes used by blobs and layers.
    pub inodes_used: u64,
}

impl ImageService {
    /// Measures the image store now (walks it; blocking work runs off the async threads).
    pub async fn fs_usage(&self) -> Result<ImageFsUsage, Error> {
        let store = self.store.clone();
        let usage = tokio::task::spawn_blocking(move || store.usage())
            .await
            .map_err(|source| Error::Task {
                what: "measuring the image store",
                source,
            })?;
        Ok(ImageFsUsage {
            timestamp_ns: crate::clock::now_ns(),
            mountpoint: self.store.mountpoint(),
            used_bytes: usage.bytes,
            inodes_used: usage.inodes,
        })
    }
}
