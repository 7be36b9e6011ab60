//! SPDY/3.1 as Kubernetes clients speak it: frames, header compression and sessions.
//!
//! Owns: the wire format ([`frame`], [`headers`]) and the multiplexed connection
//! ([`Session`], [`Incoming`], [`Stream`]) over any tokio byte stream. It must not know
//! about HTTP (the upgrade that precedes SPDY is the caller's), about exec or port-forward
//! (which streams a request opens and what they carry), or about containers.
//!
//! The peer is Go's `github.com/moby/spdystream` driven by
//! `k8s.io/apimachinery/pkg/util/httpstream/spdy` (kubectl, crictl, the kubelet's proxy).
//! What that implementation does on the wire, rather than what the SPDY draft allows, is
//! what this module matches; [`session`]'s header records what was found in its source.

pub mod frame;
pub mod headers;
pub mod session;
pub mod stream;

pub use frame::{Frame, FrameDecoder, FrameEncoder, FrameError, GoAwayStatus, RstStatus};
pub use headers::{HeaderDecoder, HeaderEncoder, HeaderError, Headers};
pub use session::{Incoming, Role, Session, SessionConfig};
pub use stream::{Stream, StreamReader, StreamWriter};

/// Errors of a SPDY session and its streams.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    /// The connection is closed, closing, or was lost.
    #[error("SPDY connection closed")]
    ConnectionClosed,
    /// The peer sent GOAWAY, so it accepts no new streams.
    #[error("the peer sent GOAWAY and accepts no new streams")]
    GoneAway,
    /// The peer reset the stream.
    #[error("stream {stream_id} reset by the peer ({status})")]
    ResetByPeer {
        /// The stream.
        stream_id: u32,
        /// The peer's RST_STREAM status.
        status: RstStatus,
    },
    /// This side reset the stream.
    #[error("stream {stream_id} was reset here ({status})")]
    ResetLocally {
        /// The stream.
        stream_id: u32,
        /// The status sent.
        status: RstStatus,
    },
    /// This side already sent FIN on the stream.
    #[error("stream {stream_id} is closed for writing")]
    WriteAfterFin {
        /// The stream.
        stream_id: u32,
    },
    /// Every stream id of this side's parity has been used (2^30 streams).
    #[error("no stream ids left on this connection")]
    StreamIdsExhausted,
}

impl SpdyError {
    /// The `std::io::Error` a stream's reader or writer returns for this error.
    pub(crate) fn into_io(self) -> std::io::Error {
        use std::io::ErrorKind;
        let kind = match self {
            SpdyError::ConnectionClosed => ErrorKind::ConnectionAborted,
            SpdyError::ResetByPeer { .. } | SpdyError::ResetLocally { .. } => {
                ErrorKind::ConnectionReset
            }
            SpdyError::WriteAfterFin { .. } | SpdyError::GoneAway => ErrorKind::BrokenPipe,
            SpdyError::StreamIdsExhausted => ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}
