//! `PullImage`.

use berth_store::ImageRecord;

use super::{Credentials, ImageService};
use crate::Error;

impl ImageService {
    /// Pulls `image` and returns its record; the image ID is the config digest.
    pub async fn pull(&self, image: &str, credentials: &Credentials) -> Result<ImageRecord, Error> {
        self.store
            .pull(image, credentials)
            .await
            .map_err(Error::Image)
    }
}
