//! `ImageStatus`.

use std::sync::Arc;

use super::{ImageDetails, ImageService};
use crate::Error;

impl ImageService {
    /// The image `name` means (ID, ID prefix, tag or digest) with its config, or `None`:
    /// an absent image is an empty answer, not an error, as the CRI says.
    pub async fn status(&self, name: &str) -> Result<Option<ImageDetails>, Error> {
        let store = self.store.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || store.details(&name))
            .await
            .map_err(|source| Error::Task {
                what: "reading an image config",
                source,
            })?
            .map_err(|e| Error::Image(Arc::new(e)))
    }
}
