//! berth's streaming server: CRI Exec, Attach and PortForward over SPDY/3.1 and WebSocket.
//!
//! Owns: the HTTP listener and its upgrades (`server`), the single-use URL tokens
//! (`tokens`), the wire protocols (`spdy`, `websocket`), and Kubernetes' streaming protocols
//! on top of them (`remotecommand` for exec and attach, `portforward`). It must not know containers or
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

/// What a streaming URL was made for: the request Exec, Attach or PortForward checked.
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
    /// Join the stdio of `container` itself, as `stdio` says.
    Attach {
        /// The container's full ID.
        container: String,
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
    /// The container, the command and the stdio of an exec's or an attach's target.
    pub fn remote_command(&self) -> Option<(&str, remotecommand::Command<'_>, Stdio)> {
        match self {
            Target::Exec {
                container,
                cmd,
                stdio,
            } => Some((container, remotecommand::Command::Exec(cmd), *stdio)),
            Target::Attach { container, stdio } => {
                Some((container, remotecommand::Command::Attach, *stdio))
            }
            Target::PortForward { .. } => None,
        }
    }

    /// The URL path's first part for this target.
    pub fn verb(&self) -> &'static str {
        match self {
            Target::Exec { .. } => "exec",
            Target::Attach { .. } => "attach",
            Target::PortForward { .. } => "portforward",
        }
    }
}
