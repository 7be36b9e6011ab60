//! `RemoveImage`.

use std::sync::Arc;

use super::ImageService;
use crate::Error;

impl ImageService {
    /// Removes an image by ID, tag or digest. Idempotent: an absent image succeeds. A tag of
    /// an image with other tags only removes that tag.
    pub async fn remove(&self, name: &str) -> Result<(), Error> {
        self.store
            .remove(name)
            .await
            .map_err(|e| Error::Image(Arc::new(e)))
    }
}
