//! The domain's error type and the meaning of each error for a caller.

use berth_image::ImageErrorKind;
use berth_store::{LookupError, NameError, StoreError};

/// What an error means to a CRI client; the server maps each kind to a gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed.
    InvalidArgument,
    /// The named object does not exist.
    NotFound,
    /// The object exists already.
    AlreadyExists,
    /// The object is in the wrong state for the request.
    FailedPrecondition,
    /// Try again later (recovery in progress, dependency down).
    Unavailable,
    /// The caller's credentials were refused.
    Unauthenticated,
    /// The request's deadline passed.
    DeadlineExceeded,
    /// A fault of berth or of the node.
    Internal,
}

/// Everything the domain can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An ID or prefix did not resolve.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A name is taken.
    #[error(transparent)]
    Name(#[from] NameError),
    /// `UpdateRuntimeConfig` carried a pod CIDR that does not parse.
    #[error("invalid pod CIDR {cidr:?}: {reason}")]
    InvalidPodCidr {
        /// What was sent.
        cidr: String,
        /// Why it is refused.
        reason: String,
    },
    /// The image store failed or refused.
    #[error(transparent)]
    Image(std::sync::Arc<berth_image::ImageError>),
    /// The request is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// A request field is refused by validation, before anything was made.
    #[error(transparent)]
    InvalidField(#[from] crate::validate::InvalidField),
    /// The pod names a runtime handler berth does not have.
    #[error("runtime handler {handler:?} is not configured (known: {known})")]
    UnknownHandler {
        /// The handler asked for.
        handler: String,
        /// The handlers that exist.
        known: String,
    },
    /// A step of a sandbox operation failed.
    #[error("sandbox {id}: {step}: {reason}")]
    Sandbox {
        /// The sandbox.
        id: String,
        /// What was being done.
        step: &'static str,
        /// The cause.
        reason: String,
    },
    /// A step of a container operation failed.
    #[error("container {id}: {step}: {reason}")]
    Container {
        /// The container.
        id: String,
        /// What was being done.
        step: &'static str,
        /// The cause.
        reason: String,
    },
    /// The OCI runtime refused the request's own input (an executable missing from the
    /// image, a sysctl or resource value the kernel does not take): InvalidArgument.
    #[error("{object}: the runtime refused the request's {field}: {reason}")]
    RuntimeRefused {
        /// The sandbox or container, as "sandbox ID" / "container ID".
        object: String,
        /// The request field at fault.
        field: &'static str,
        /// The runtime's words.
        reason: String,
    },
    /// The object is in the wrong state for the request.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A named object (an image, a sandbox) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request's deadline passed.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// RemovePodSandbox while the pod's network namespace is still pinned.
    #[error("sandbox {id}: network namespace {path} is not fully closed; stop the sandbox again")]
    NetnsNotClosed {
        /// The sandbox.
        id: String,
        /// The pin.
        path: String,
    },
    /// A blocking task died.
    #[error("{what} failed: {reason}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// The join error.
        reason: String,
    },
}

impl Error {
    /// What this error means to the caller.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(_) | Error::Task { .. } => ErrorKind::Internal,
            Error::Lookup(LookupError::NotFound { .. }) => ErrorKind::NotFound,
            Error::Lookup(_) => ErrorKind::InvalidArgument,
            Error::Name(_) => ErrorKind::AlreadyExists,
            Error::InvalidPodCidr { .. }
            | Error::InvalidRequest(_)
            | Error::InvalidField(_)
            | Error::RuntimeRefused { .. }
            | Error::UnknownHandler { .. } => ErrorKind::InvalidArgument,
            Error::Sandbox { .. } | Error::Container { .. } => ErrorKind::Internal,
            Error::FailedPrecondition(_) => ErrorKind::FailedPrecondition,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::DeadlineExceeded(_) => ErrorKind::DeadlineExceeded,
            Error::NetnsNotClosed { .. } => ErrorKind::FailedPrecondition,
            Error::Image(e) => match e.kind() {
                ImageErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                ImageErrorKind::NotFound => ErrorKind::NotFound,
                ImageErrorKind::Unauthenticated => ErrorKind::Unauthenticated,
                ImageErrorKind::Unavailable => ErrorKind::Unavailable,
                ImageErrorKind::DeadlineExceeded => ErrorKind::DeadlineExceeded,
                ImageErrorKind::Internal => ErrorKind::Internal,
            },
        }
    }
}

impl Error {
    /// The runtime failed at `step` of container `id`: a refusal of the request's input when
    /// the runtime's words say so, otherwise internal.
    pub fn container_runtime(id: &str, step: &'static str, reason: String) -> Error {
        Self::refused(&format!("container {id}"), &reason).unwrap_or_else(|| Error::Container {
            id: id.to_owned(),
            step,
            reason,
        })
    }

    /// The runtime failed at `step` of sandbox `id`; as `container_runtime`.
    pub fn sandbox_runtime(id: &str, step: &'static str, reason: String) -> Error {
        Self::refused(&format!("sandbox {id}"), &reason).unwrap_or_else(|| Error::Sandbox {
            id: id.to_owned(),
            step,
            reason,
        })
    }

    fn refused(object: &str, reason: &str) -> Option<Error> {
        berth_oci::input_refusal(reason).map(|refusal| Error::RuntimeRefused {
            object: object.to_owned(),
            field: refusal.field(),
            reason: reason.to_owned(),
        })
    }
}
