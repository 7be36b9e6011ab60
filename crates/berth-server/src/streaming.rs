//! The streaming server's view of the node: `berth_streaming::Backend` over the domain (an
//! exec runs and an attach joins through the container service, a port-forward connects
//! through the sandbox service), reached through the same gate as the RPCs.

use std::sync::Arc;

use berth_domain::container::{AttachRequest, ExecRequest, Input, Output};
use berth_streaming::{Backend, BackendError, Process, Stdio};

use crate::Gate;

/// The domain, for the streaming server.
#[derive(Clone)]
pub struct NodeBackend {
    gate: Gate,
}

impl NodeBackend {
    /// A backend that reaches the domain once `gate` opens.
    pub fn new(gate: Gate) -> Self {
        Self { gate }
    }

    fn domain(&self) -> Result<Arc<berth_domain::Domain>, BackendError> {
        self.gate
            .get()
            .cloned()
            .ok_or_else(|| "berthd is recovering its state; retry shortly".into())
    }
}

impl Backend for NodeBackend {
    async fn exec(
        &self,
        container: &str,
        cmd: &[String],
        stdio: Stdio,
    ) -> Result<Process, BackendError> {
        let domain = self.domain()?;
        let request = ExecRequest {
            cmd: cmd.to_vec(),
            tty: stdio.tty,
            stdin: stdio.stdin,
            stdout: stdio.stdout,
            stderr: stdio.stderr,
        };
        let mut session = domain.containers.exec_session(container, &request).await?;
        let (stdin, stdout, stderr) = (
            session.stdin.take(),
            session.stdout.take(),
            session.stderr.take(),
        );
        let terminal = session.terminal.take();
        Ok(process(
            (stdin, stdout, stderr),
            terminal,
            |t, w, h| t.resize(w, h),
            async move { Ok(session.wait().await?) },
        ))
    }

    async fn attach(&self, container: &str, stdio: Stdio) -> Result<Process, BackendError> {
        let domain = self.domain()?;
        let mut session = domain
            .containers
            .attach(container, &attach_request(stdio))
            .await?;
        let (stdin, stdout, stderr) = (
            session.stdin.take(),
            session.stdout.take(),
            session.stderr.take(),
        );
        let terminal = session.terminal.take();
        Ok(process(
            (stdin, stdout, stderr),
            terminal,
            |t, w, h| t.resize(w, h),
            async move {
                session.wait().await?;
                Ok(0)
            },
        ))
    }

    async fn port_forward(
        &self,
        pod: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, BackendError> {
        let domain = self.domain()?;
        Ok(domain.sandboxes.port_forward(pod, port).await?)
    }
}

/// A session's process: its stdio, its terminal (sized by `resize`), its end.
fn process<T: Send + Sync + 'static>(
    (stdin, stdout, stderr): (Option<Input>, Option<Output>, Option<Output>),
    terminal: Option<T>,
    resize: fn(&T, u16, u16),
    exit: impl Future<Output = Result<i32, BackendError>> + Send + 'static,
) -> Process {
    Process {
        stdin,
        stdout,
        stderr,
        resize: terminal.map(|terminal| {
            Box::new(move |w, h| resize(&terminal, w, h)) as Box<dyn Fn(u16, u16) + Send + Sync>
        }),
        exit: Box::pin(exit),
    }
}

/// The domain's attach request for a session's stdio.
pub(crate) fn attach_request(stdio: Stdio) -> AttachRequest {
    AttachRequest {
        tty: stdio.tty,
        stdin: stdio.stdin,
        stdout: stdio.stdout,
        stderr: stdio.stderr,
    }
}
