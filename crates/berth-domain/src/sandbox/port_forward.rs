//! `PortForward`'s connections (served by the streaming server): a TCP connection to
//! `localhost:<port>` inside the pod's network namespace, as the kubelet's and containerd's
//! port-forward make it: IPv4 first, then IPv6. A host-network pod's is the node's own.
//! The connection is made on a short-lived thread that enters the namespace; the socket
//! stays in that namespace, and no thread of berthd changes namespace for longer.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::{SandboxService, blocking};
use crate::Error;

/// How long a connection to the pod's port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl SandboxService {
    /// Checks that the pod can be port-forwarded to: it exists and is ready. Answers its full
    /// ID.
    pub async fn check_port_forward(&self, id: &str) -> Result<String, Error> {
        if id.is_empty() {
            return Err(Error::InvalidRequest(
                "PortForward: pod_sandbox_id is required".into(),
            ));
        }
        let id = self.resolve(id)?;
        let Some(record) = self.load(&id).await? else {
            return Err(Error::NotFound {
                what: "sandbox",
                id,
            });
        };
        if !record.is_ready() {
            return Err(Error::FailedPrecondition(format!(
                "sandbox {id} is {:?}, not ready: cannot forward a port to it",
                record.state
            )));
        }
        Ok(id)
    }

    /// Connects to `port` on the pod's localhost.
    pub async fn port_forward(&self, id: &str, port: u16) -> Result<tokio::net::TcpStream, Error> {
        let id = self.check_port_forward(id).await?;
        let record = self.load(&id).await?.ok_or_else(|| Error::NotFound {
            what: "sandbox",
            id: id.clone(),
        })?;
        let netns = (!record.network.host_network).then(|| self.context.layout.sandbox_netns(&id));
        let pod = id.clone();
        let stream = blocking("connect to a forwarded port", move || {
            connect_localhost(netns.as_deref(), port).map_err(|source| {
                Error::sandbox(
                    &pod,
                    "connect to the forwarded port",
                    PortError { port, source },
                )
            })
        })
        .await?;
        // Bytes are relayed as they come: no Nagle delay on the pod's side.
        let _ = stream.set_nodelay(true);
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::sandbox(&id, "forward a port", e))?;
        tokio::net::TcpStream::from_std(stream)
            .map_err(|e| Error::sandbox(&id, "forward a port", e))
    }
}

/// A connection to a pod's port failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to localhost:{port} in the pod: {source}")]
pub struct PortError {
    port: u16,
    #[source]
    source: std::io::Error,
}

/// Connects to `localhost:port` in the network namespace pinned at `netns` (the caller's own
/// with `None`): 127.0.0.1 first, then ::1; the IPv4 error is kept when both fail.
fn connect_localhost(
    netns: Option<&std::path::Path>,
    port: u16,
) -> std::io::Result<std::net::TcpStream> {
    let connect = move || {
        let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
        std::net::TcpStream::connect_timeout(&v4, CONNECT_TIMEOUT)
            .or_else(|e| std::net::TcpStream::connect_timeout(&v6, CONNECT_TIMEOUT).map_err(|_| e))
    };
    match netns {
        Some(path) => berth_cni::netns::run_in(path, connect),
        None => connect(),
    }
}
