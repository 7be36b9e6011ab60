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
    /// No streaming URL could be made.
    Streaming(berth_streaming::TokenError),
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
            Failure::Streaming(berth_streaming::TokenError::Full) => Code::ResourceExhausted,
            Failure::Streaming(berth_streaming::TokenError::Entropy(_)) => Code::Internal,
        }
    }

    /// The status sent to the client: the whole cause chain in the message.
    pub(crate) fn to_status(&self, rpc: &str) -> Status {
        let message = match self {
            Failure::Domain(e) => chain(e),
            Failure::Unimplemented(rpc) => format!("{rpc} is not implemented by berth"),
            Failure::Recovering => format!("{rpc}: berthd is recovering its state; retry shortly"),
            Failure::BadRequest(why) => format!("{rpc}: {why}"),
            Failure::Streaming(e) => format!("{rpc}: {e}"),
        };
        Status::new(self.code(), capped(message))
    }
}

/// The longest status message sent. A message quotes the request's values, and a hostile
/// request's value can be megabytes: sent whole in the `grpc-message` header it would exceed
/// the client's header-list limit (16 KiB in hyper/h2), and the client would drop the whole
/// HTTP/2 connection, failing every other call on it.
const MAX_MESSAGE: usize = 4096;

/// `message`, cut at a character boundary to [`MAX_MESSAGE`] bytes with a note of the cut.
fn capped(mut message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let total = message.len();
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str(&format!("... ({} more bytes cut)", total - end));
    message
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
            source: berth_domain::PodCidrError::NoPrefix,
        };
        let s = Failure::from(e).to_status("UpdateRuntimeConfig");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("\"x\""), "{}", s.message());
    }

    #[test]
    fn huge_messages_are_cut_at_a_character_boundary() {
        let s =
            Failure::BadRequest(format!("image {:?}", "é".repeat(1 << 20))).to_status("PullImage");
        assert!(
            s.message().len() < MAX_MESSAGE + 64,
            "{}",
            s.message().len()
        );
        assert!(s.message().ends_with("more bytes cut)"));
        assert_eq!(capped("short".into()), "short");
    }

    #[test]
    fn unimplemented_names_the_rpc() {
        let s = Failure::Unimplemented("RunPodSandbox").to_status("RunPodSandbox");
        assert_eq!(s.message(), "RunPodSandbox is not implemented by berth");
    }
}
