//! The seam between the streaming protocols and the node: what a session asks of berth's
//! domain (run a command in a container, attach to one, connect to a pod's port). berthd implements it over
//! the domain services; unit tests implement it with plain processes.

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// Why the node could not do what a session asked; its text reaches the client.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Which of a command's stdio a session carries (CRI `ExecRequest`/`AttachRequest`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stdio {
    /// On a terminal (one output, no stderr).
    pub tty: bool,
    /// Input from the client.
    pub stdin: bool,
    /// Output to the client.
    pub stdout: bool,
    /// Standard error to the client (never with `tty`).
    pub stderr: bool,
}

/// A command running for a session: its stdio as asked, its terminal, its end.
pub struct Process {
    /// Input; shutting it down is the end of input.
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Output, read to its end.
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Standard error, read to its end.
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Sets the terminal's size (columns, rows), with a terminal.
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    /// The command's exit code once it ended. Dropping it before then ends the command
    /// (the client went away).
    pub exit: Pin<Box<dyn Future<Output = Result<i32, BackendError>> + Send>>,
}

/// What the streaming server asks of the node.
pub trait Backend: Send + Sync + 'static {
    /// Starts `cmd` in `container` with `stdio`.
    fn exec(
        &self,
        container: &str,
        cmd: &[String],
        stdio: Stdio,
    ) -> impl Future<Output = Result<Process, BackendError>> + Send;

    /// Joins the stdio of `container` itself, as `stdio` says; the process "exits" (with 0)
    /// once the container has exited and its output was sent, and dropping it detaches.
    fn attach(
        &self,
        container: &str,
        stdio: Stdio,
    ) -> impl Future<Output = Result<Process, BackendError>> + Send;

    /// Connects to `port` on the localhost of `pod` (inside its network namespace).
    fn port_forward(
        &self,
        pod: &str,
        port: u16,
    ) -> impl Future<Output = Result<tokio::net::TcpStream, BackendError>> + Send;
}
