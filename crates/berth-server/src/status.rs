//! The one place where failures become gRPC statuses.

use berth_domain::{Error, ErrorKind};
use tonic::{Code, Status};

/// Why an RPC did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The domain refused or failed.
    Domain(Error),
    /// The RPC's issue has not landed yet.
    Unimplemented(&'static str),
    /// Start-up recovery is still running.
    Recovering,
    /// The request itself is malformed before it reaches the domain.
    BadRequest(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Domain(e)
    }
}

impl Failure {
    /// The gRPC code.
    pub(crate) fn code(&self) -> Code {
        match self {
            Failure::Domain(e) => match e.kind() {
                ErrorKind::InvalidArgument => Code::InvalidArgument,
                ErrorKind::NotFound => Code::NotFound,
                ErrorKind::AlreadyExists => Code::AlreadyExists,
                ErrorKind::FailedPrecondition => Code::FailedPrecondition,
                ErrorKind::Unavailable => Code::Unavailable,
                ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
                ErrorKind::Unauthenticated => Code::Unauthenticated,
                ErrorKind::Internal => Code::Internal,
            },
            Failure::Unimplemented(_) => Code::Unimplemented,
            Failure::Recovering => Code::Unavailable,
            Failure::BadRequest(_) => Code::InvalidArgument,
        }
    }

    /// The status sent to the client: the whole cause chain in the message.
    pub(crate) fn to_status(&self, rpc: &str) -> Status {
        let message = match self {
            Failure::Domain(e) => chain(e),
            Failure::Unimplemented(rpc) => format!("{rpc} is not implemented by berth yet"),
            Failure::Recovering => format!("{rpc}: berthd is recovering its state; retry shortly"),
            Failure::BadRequest(why) => format!("{rpc}: {why}"),
        };
        Status::new(self.code(), message)
    }
}

/// `e: cause: cause...`, skipping causes already spelled out by their parent (thiserror's
/// `transparent` and messages that embed `{source}`).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(Failure::Unimplemented("X").code(), Code::Unimplemented);
        assert_eq!(Failure::Recovering.code(), Code::Unavailable);
        let e = Error::InvalidPodCidr {
            cidr: "x".into(),
            reason: "bad".into(),
        };
        let s = Failure::from(e).to_status("UpdateRuntimeConfig");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("\"x\""), "{}", s.message());
    }

    #[test]
    fn unimplemented_names_the_rpc() {
        let s = Failure::Unimplemented("RunPodSandbox").to_status("RunPodSandbox");
        assert_eq!(s.message(), "RunPodSandbox is not implemented by berth yet");
    }
}
