//! `PullImage`.

use berth_store::ImageRecord;

use super::{Credentials, ImageService};
use crate::Error;

impl ImageService {
    /// Pulls `image` and returns its record; the image ID is the config digest.
    pub async fn pull(&self, image: &str, credentials: &Credentials) -> Result<ImageRecord, Error> {
        let started = std::time::Instant::now();
        let result = self.store.pull(image, credentials).await;
        let size = result.as_ref().ok().map(|image| image.size);
        self.pulls.pulled(size, started.elapsed());
        give_back_memory();
        result.map_err(Error::Image)
    }
}

/// A pull's buffers (TLS, decompression, tar) are freed but glibc keeps the pages in its
/// arenas, so an idle daemon would stay at its peak; hand the free pages back to the kernel.
fn give_back_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
