//! A CRI v1 client over a Unix socket, for berth's own tests and for `berth-bench`.
//!
//! It speaks to any CRI runtime (berth, containerd, CRI-O): nothing here is berth-specific.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

pub use k8s_cri::v1 as cri;

/// The largest reply the client takes: the kubelet's limit.
pub const MAX_REPLY_BYTES: usize = 16 << 20;

/// Both CRI services of one runtime, over one HTTP/2 connection.
#[derive(Clone, Debug)]
pub struct CriClient {
    /// `runtime.v1.RuntimeService`.
    pub runtime: RuntimeServiceClient<Channel>,
    /// `runtime.v1.ImageService`.
    pub image: ImageServiceClient<Channel>,
}

/// Connects to the CRI socket at `socket` (a path, or `unix://` + path).
pub async fn connect(socket: impl AsRef<Path>) -> Result<CriClient, tonic::transport::Error> {
    let path = socket_path(socket.as_ref());
    // The URI is required by tonic but unused: the connector below ignores it.
    let channel = Endpoint::from_static("http://cri.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await?;
    // Replies up to 16 MiB, as the kubelet accepts (`k8s.io/cri-client`'s maxMsgSize);
    // requests are not capped here, so tests can send what a careless client would.
    Ok(CriClient {
        runtime: RuntimeServiceClient::new(channel.clone())
            .max_decoding_message_size(MAX_REPLY_BYTES),
        image: ImageServiceClient::new(channel).max_decoding_message_size(MAX_REPLY_BYTES),
    })
}

/// The reason berth gives in `Status` while its start-up recovery runs.
pub const RECOVERING_REASON: &str = "RuntimeRecovering";

/// Connects to the CRI socket at `socket` and waits, up to `timeout`, until the runtime has
/// started: `Status` answers and its `RuntimeReady` condition is not berth's
/// "RuntimeRecovering" (during recovery berth answers Version and Status, and everything
/// else with `Unavailable`). Works against any CRI runtime.
pub async fn connect_ready(
    socket: impl AsRef<Path>,
    timeout: std::time::Duration,
) -> Result<CriClient, String> {
    let socket = socket.as_ref();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last;
    loop {
        match connect(socket).await {
            Ok(mut client) => match client
                .runtime
                .status(cri::StatusRequest { verbose: false })
                .await
            {
                Ok(answer) => {
                    let recovering = answer.into_inner().status.is_some_and(|s| {
                        s.conditions.iter().any(|c| c.reason == RECOVERING_REASON)
                    });
                    if !recovering {
                        return Ok(client);
                    }
                    last = "the runtime is recovering".into();
                }
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    last = status.message().to_owned();
                }
                Err(status) => return Err(format!("Status: {status}")),
            },
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{} not ready within {timeout:?}: {last}",
                socket.display()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn socket_path(socket: &Path) -> PathBuf {
    match socket.to_str().and_then(|s| s.strip_prefix("unix://")) {
        Some(rest) => PathBuf::from(rest),
        None => socket.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_paths_and_unix_urls() {
        assert_eq!(
            socket_path(Path::new("/run/berth/berth.sock")),
            Path::new("/run/berth/berth.sock")
        );
        assert_eq!(
            socket_path(Path::new("unix:///run/containerd/containerd.sock")),
            Path::new("/run/containerd/containerd.sock")
        );
    }
}
