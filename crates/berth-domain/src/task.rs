//! Blocking work (the metadata store, the file system, helper processes) run off the async
//! threads, with a panic or cancellation of that work reported as an error, never lost.

use crate::Error;

/// Runs `f` on tokio's blocking pool; `what` names the work in the error if the task dies.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| Error::Task { what, source })?
}
