//! The image store's typed errors, and what each means to a caller.

use std::path::PathBuf;

use crate::unpack::UnpackError;

/// What an image error means to a CRI client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageErrorKind {
    /// The request is malformed (bad reference).
    InvalidArgument,
    /// The registry has no such image.
    NotFound,
    /// The registry refused our credentials.
    Unauthenticated,
    /// The registry could not be reached.
    Unavailable,
    /// No progress for longer than the configured timeout.
    DeadlineExceeded,
    /// Corrupt content, local I/O, or the store.
    Internal,
}

/// Everything pulling, storing or removing an image can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The reference does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// What was given.
        reference: String,
        /// Why it is refused.
        reason: String,
    },
    /// An ID prefix matches several images.
    #[error("image name {name:?} is ambiguous: it matches {}", matches.join(", "))]
    Ambiguous {
        /// What was given.
        name: String,
        /// Some of the images it matches.
        matches: Vec<String>,
    },
    /// Every endpoint (mirrors, then the registry) failed; the attempts are listed.
    #[error("pulling {reference}: {}", attempts.join("; "))]
    Registry {
        /// The normalised reference.
        reference: String,
        /// `endpoint: error`, in the order tried.
        attempts: Vec<String>,
        /// What the last failure means.
        kind: ImageErrorKind,
    },
    /// A blob did not match its digest or size.
    #[error("blob {digest} from {reference} is corrupt: {reason}")]
    Corrupt {
        /// The image.
        reference: String,
        /// The expected digest.
        digest: String,
        /// What did not match.
        reason: String,
    },
    /// No bytes arrived for longer than `image_pull_progress_timeout`.
    #[error(
        "pulling {reference}: no progress on {what} for {seconds} s (image_pull_progress_timeout)"
    )]
    Stalled {
        /// The image.
        reference: String,
        /// The blob or manifest being fetched.
        what: String,
        /// The timeout.
        seconds: u64,
    },
    /// The image is not for this platform or its manifest is unusable.
    #[error("image {reference} is unusable: {reason}")]
    Unsupported {
        /// The image.
        reference: String,
        /// What is unusable: a config without readable diff IDs, diff IDs that do not match
        /// the manifest's layers, or a layer media type berth cannot unpack.
        reason: String,
    },
    /// A layer failed to unpack.
    #[error("unpacking layer {digest}: {source}")]
    Unpack {
        /// The layer blob.
        digest: String,
        /// The cause.
        #[source]
        source: UnpackError,
    },
    /// Local file system trouble.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    /// A blocking task died.
    #[error("image task failed: {0}")]
    Task(String),
}

impl ImageError {
    /// What this error means to the caller.
    pub fn kind(&self) -> ImageErrorKind {
        match self {
            ImageError::InvalidReference { .. } | ImageError::Ambiguous { .. } => {
                ImageErrorKind::InvalidArgument
            }
            ImageError::Registry { kind, .. } => *kind,
            ImageError::Stalled { .. } => ImageErrorKind::DeadlineExceeded,
            ImageError::Unsupported { .. } => ImageErrorKind::InvalidArgument,
            ImageError::Corrupt { .. }
            | ImageError::Unpack { .. }
            | ImageError::Io { .. }
            | ImageError::Store(_)
            | ImageError::Task(_) => ImageErrorKind::Internal,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }
}
