//! berth's streaming server: CRI Exec, Attach and PortForward over SPDY/3.1 and WebSocket.
//!
//! Owns: the HTTP listener and its upgrades (`server`), the single-use URL tokens
//! (`tokens`), the wire protocols (`spdy`, `websocket`), and Kubernetes' streaming protocols
//! on top of them (`remotecommand` for exec, `portforward`). It must not know containers or
//! pods: what a session asks of the node goes through [`Backend`], which berthd implements
//! over its domain.

mod backend;
pub mod portforward;
pub mod remotecommand;
mod server;
pub mod spdy;
mod status;
mod tokens;
pub mod websocket;

pub use backend::{Backend, BackendError, Process, Stdio};
pub use server::{BindError, PORT_FORWARD_PROTOCOL, Streaming, Timeouts, Tls, TlsError, bind};
pub use status::Outcome;
pub use tokens::{MAX_IN_FLIGHT, TOKEN_TTL, TokenError, Tokens};

/// What a streaming URL was made for: the request Exec or PortForward checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Run `cmd` in `container` with `stdio`.
    Exec {
        /// The container's full ID.
        container: String,
        /// The command and its arguments.
        cmd: Vec<String>,
        /// Which stdio the session carries.
        stdio: Stdio,
    },
    /// Forward connections to ports of `pod`.
    PortForward {
        /// The pod's full ID.
        pod: String,
    },
}

impl Target {
    /// The URL path's first part for this target.
    pub fn verb(&self) -> &'static str {
        match self {
            Target::Exec { .. } => "exec",
            Target::PortForward { .. } => "portforward",
        }
    }
}
