//! The image service: one file per verb. A thin layer over `berth_image::ImageStore`, which
//! owns the records, blobs and layers.

mod fsinfo;
mod list;
mod pull;
mod remove;
mod status;

use std::sync::Arc;
use std::time::Duration;

use berth_config::Config;
use berth_image::{ImageStore, ImageStoreConfig};
use berth_store::Store;

pub use berth_image::{Credentials, ImageDetails, Usage};
pub use fsinfo::ImageFsUsage;

use crate::Error;

/// A zero `image_pull_progress_timeout` turns the timeout off; this stands for "never".
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Pull, status, list, remove and usage of images.
pub struct ImageService {
    store: Arc<ImageStore>,
    /// Pulls since berthd started.
    pulls: crate::stats::census::PullCounters,
}

impl ImageService {
    /// Opens the image store under `root` and collects what an interrupted run left.
    pub async fn start(config: &Config, db: Arc<Store>) -> Result<Self, Error> {
        let timeout = match config.image_pull_progress_timeout.0 {
            Duration::ZERO => NO_TIMEOUT,
            t => t,
        };
        let settings = ImageStoreConfig {
            layout: config.layout(),
            registries: config.registries.clone(),
            progress_timeout: timeout,
        };
        let store = tokio::task::spawn_blocking(move || ImageStore::open(settings, db))
            .await
            .map_err(|source| Error::Task {
                what: "opening the image store",
                source,
            })?
            .map_err(|e| Error::Image(Arc::new(e)))?;
        Ok(Self {
            store: Arc::new(store),
            pulls: Default::default(),
        })
    }

    /// Pulls since berthd started.
    pub(crate) fn pulls(&self) -> &crate::stats::census::PullCounters {
        &self.pulls
    }

    /// The store, for other services (containers need layer paths).
    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }
}
