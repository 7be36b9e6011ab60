//! The streaming server's view of the node: `berth_streaming::Backend` over the domain (an
//! exec runs through the container service, a port-forward connects through the sandbox
//! service), reached through the same gate as the RPCs.

use std::sync::Arc;

use berth_domain::container::ExecRequest;
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
        let resize = session.terminal.take().map(|terminal| {
            Box::new(move |w, h| terminal.resize(w, h)) as Box<dyn Fn(u16, u16) + Send + Sync>
        });
        Ok(Process {
            stdin: session.stdin.take(),
            stdout: session.stdout.take(),
            stderr: session.stderr.take(),
            resize,
            exit: Box::pin(async move { session.wait().await.map_err(BackendError::from) }),
        })
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
