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

/// The cause of a failed step: any error of the layer below (I/O, the OCI runtime, the
/// monitor, CNI), kept whole so that its own chain of sources survives.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything the domain can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An ID prefix is empty or ambiguous (a prefix that matches nothing is `NotFound`).
    #[error(transparent)]
    Lookup(LookupError),
    /// A name is taken.
    #[error(transparent)]
    Name(#[from] NameError),
    /// `UpdateRuntimeConfig` carried a pod CIDR that does not parse.
    #[error("invalid pod CIDR {cidr:?}: {source}")]
    InvalidPodCidr {
        /// What was sent.
        cidr: String,
        /// Why it is refused.
        #[source]
        source: crate::podcidr::PodCidrError,
    },
    /// The image store failed or refused.
    #[error(transparent)]
    Image(std::sync::Arc<berth_image::ImageError>),
    /// The request is malformed (a required field is missing).
    #[error("{0}")]
    InvalidRequest(String),
    /// The request's own content cannot be made into a container or pod (a user the image
    /// does not have, an unknown capability, a bad stop signal in the image): the cause says
    /// which.
    #[error("{object}: {source}")]
    Refused {
        /// `container "name"` or `image "ref"`.
        object: String,
        /// What is wrong.
        #[source]
        source: Cause,
    },
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
    /// The pod names a runtime handler whose start-up probe failed on this node.
    #[error("runtime handler {handler:?} does not work on this node: {problem}")]
    HandlerUnusable {
        /// The handler asked for.
        handler: String,
        /// What its probe found.
        problem: String,
    },
    /// A step of a sandbox operation failed.
    #[error("sandbox {id}: {step}: {source}")]
    Sandbox {
        /// The sandbox.
        id: String,
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: Cause,
    },
    /// A step of a container operation failed.
    #[error("container {id}: {step}: {source}")]
    Container {
        /// The container.
        id: String,
        /// What was being done.
        step: &'static str,
        /// The cause.
        #[source]
        source: Cause,
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
    /// The named object does not exist: `what` is "sandbox", "container" or "image".
    #[error("{what} {id:?} not found")]
    NotFound {
        /// The kind of object.
        what: &'static str,
        /// The ID, prefix or reference asked for.
        id: String,
    },
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
    /// A new ID could not be made.
    #[error(transparent)]
    Entropy(#[from] crate::shared::EntropyError),
    /// A blocking task died.
    #[error("{what} failed: {source}")]
    Task {
        /// What the task was doing.
        what: &'static str,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Error {
    /// What this error means to the caller.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(_) | Error::Task { .. } | Error::Entropy(_) => ErrorKind::Internal,
            Error::Lookup(LookupError::NotFound { .. }) => ErrorKind::NotFound,
            Error::Lookup(_) => ErrorKind::InvalidArgument,
            Error::Name(_) => ErrorKind::AlreadyExists,
            Error::InvalidPodCidr { .. }
            | Error::InvalidRequest(_)
            | Error::InvalidField(_)
            | Error::Refused { .. }
            | Error::RuntimeRefused { .. }
            | Error::UnknownHandler { .. }
            | Error::HandlerUnusable { .. } => ErrorKind::InvalidArgument,
            Error::Sandbox { .. } | Error::Container { .. } => ErrorKind::Internal,
            Error::FailedPrecondition(_) => ErrorKind::FailedPrecondition,
            Error::NotFound { .. } => ErrorKind::NotFound,
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
    /// A failed ID lookup of a `what` ("sandbox", "container"): a prefix that matches
    /// nothing is `NotFound` naming the object; an empty or ambiguous one is refused.
    pub fn lookup(what: &'static str, error: LookupError) -> Error {
        match error {
            LookupError::NotFound { prefix } => Error::NotFound { what, id: prefix },
            other => Error::Lookup(other),
        }
    }

    /// Whether this is `NotFound` (Stop and Remove of an unknown ID succeed).
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// Step `step` of sandbox `id` failed with `cause`.
    pub fn sandbox(id: &str, step: &'static str, cause: impl Into<Cause>) -> Error {
        Error::Sandbox {
            id: id.to_owned(),
            step,
            source: cause.into(),
        }
    }

    /// Step `step` of container `id` failed with `cause`.
    pub fn container(id: &str, step: &'static str, cause: impl Into<Cause>) -> Error {
        Error::Container {
            id: id.to_owned(),
            step,
            source: cause.into(),
        }
    }

    /// The runtime failed at `step` of container `id`: a refusal of the request's input when
    /// the runtime's words say so, otherwise internal.
    pub fn container_runtime(id: &str, step: &'static str, cause: impl Into<Cause>) -> Error {
        let cause = cause.into();
        Self::refused(&format!("container {id}"), &cause.to_string())
            .unwrap_or_else(|| Error::container(id, step, cause))
    }

    /// The runtime failed at `step` of sandbox `id`; as `container_runtime`.
    pub fn sandbox_runtime(id: &str, step: &'static str, cause: impl Into<Cause>) -> Error {
        let cause = cause.into();
        Self::refused(&format!("sandbox {id}"), &cause.to_string())
            .unwrap_or_else(|| Error::sandbox(id, step, cause))
    }

    fn refused(object: &str, reason: &str) -> Option<Error> {
        berth_oci::input_refusal(reason).map(|refusal| Error::RuntimeRefused {
            object: object.to_owned(),
            field: refusal.field(),
            reason: reason.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_fault_is_internal_and_keeps_its_cause() {
        let entropy = crate::shared::EntropyError(std::io::Error::other("no entropy"));
        assert_eq!(Error::Entropy(entropy).kind(), ErrorKind::Internal);
        let step = Error::container(
            "c1",
            "mount the root file system",
            std::io::Error::other("EBUSY"),
        );
        assert_eq!(step.kind(), ErrorKind::Internal);
        assert_eq!(
            step.to_string(),
            "container c1: mount the root file system: EBUSY"
        );
        let cause = std::error::Error::source(&step).expect("the cause is kept");
        assert_eq!(cause.to_string(), "EBUSY");
    }

    #[test]
    fn a_prefix_that_matches_nothing_is_not_found_naming_the_kind() {
        let e = Error::lookup(
            "sandbox",
            LookupError::NotFound {
                prefix: "abc".into(),
            },
        );
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "sandbox \"abc\" not found");
        assert_eq!(
            Error::lookup("sandbox", LookupError::EmptyPrefix).kind(),
            ErrorKind::InvalidArgument
        );
    }
}
