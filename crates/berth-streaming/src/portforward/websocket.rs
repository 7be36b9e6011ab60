//! Port-forward over WebSocket channels, the kubelet's older form (before the SPDY tunnel):
//! the ports come in the URL's query, each gets a data and an error channel and one
//! connection to the port in the pod for the whole session. Each channel starts with the
//! port in two little-endian bytes, as the kubelet writes it. A port that refuses is said on
//! its error channel in the kubelet's words; the other ports are served on. The session ends
//! when every port's connection has ended, the client leaves, it idles out or berthd shuts
//! down.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::remotecommand::Activity;
use crate::server::Timeouts;
use crate::websocket::PortChannels;

/// Serves one session's `ports` on their channels, beside the pump that carries them.
pub async fn serve<B: Backend>(
    channels: Vec<PortChannels>,
    pump: impl Future<Output = ()>,
    backend: Arc<B>,
    pod: &str,
    ports: &[u16],
    timeouts: Timeouts,
    shutdown: CancellationToken,
) {
    let activity = Activity::default();
    let mut forwards = JoinSet::new();
    for (channels, &port) in channels.into_iter().zip(ports) {
        let (backend, pod, activity) = (backend.clone(), pod.to_owned(), activity.clone());
        forwards.spawn(async move { forward(&*backend, &pod, port, channels, activity).await });
    }
    let all_done = async { while forwards.join_next().await.is_some() {} };
    tokio::select! {
        // The pump ends once every output closed (then it says Close 1000) or the client left.
        ((), ()) = async { tokio::join!(pump, all_done) } => {}
        () = activity.idle_for(timeouts.idle) => {}
        () = shutdown.cancelled() => {}
    }
}

/// One port: its header bytes, its connection, bytes both ways until the pod's side ends.
async fn forward<B: Backend>(
    backend: &B,
    pod: &str,
    port: u16,
    channels: PortChannels,
    activity: Activity,
) {
    let PortChannels {
        data_in,
        mut data_out,
        mut error_out,
    } = channels;
    let header = port.to_le_bytes();
    if data_out.write_all(&header).await.is_err() || error_out.write_all(&header).await.is_err() {
        return;
    }
    match backend.port_forward(pod, port).await {
        Err(e) => {
            let text = format!("error forwarding port {port} to pod {pod}, uid : {e}");
            let _ = error_out.write_all(text.as_bytes()).await;
            let _ = data_out.shutdown().await;
        }
        Ok(tcp) => {
            let (from_pod, to_pod) = tcp.into_split();
            let up = crate::remotecommand::copy(data_in, to_pod, activity.clone());
            let down = crate::remotecommand::copy(from_pod, data_out, activity);
            // The client has no way to end its side: the pod's end ends the port.
            tokio::select! {
                () = down => {}
                () = async { up.await; std::future::pending::<()>().await } => {}
            }
        }
    }
    let _ = error_out.shutdown().await;
}
