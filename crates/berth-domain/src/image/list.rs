//! `ListImages`.

use std::sync::Arc;

use berth_store::ImageRecord;

use super::ImageService;
use crate::Error;

impl ImageService {
    /// Every image, or only the one `filter` names (ID, ID prefix, tag or digest).
    pub fn list(&self, filter: Option<&str>) -> Result<Vec<ImageRecord>, Error> {
        match filter.filter(|f| !f.is_empty()) {
            None => Ok(self.store.list()),
            Some(name) => Ok(self
                .store
                .find(name)
                .map_err(|e| Error::Image(Arc::new(e)))?
                .into_iter()
                .collect()),
        }
    }
}
