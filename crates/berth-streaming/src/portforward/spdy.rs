//! Port-forward over SPDY (`portforward.k8s.io`): for each connection it forwards, the client
//! opens an `error` and a `data` stream with the same `port` and `requestid` headers. Each
//! pair is served on its own: a connection to the port in the pod, bytes copied both ways,
//! then both streams closed. A port that refuses is said on the pair's error stream
//! (`error forwarding port P to pod ID, uid : <cause>`, the kubelet's text) and the pair is
//! reset; the session stays for other pairs. A pair not complete within the creation timeout
//! is dropped.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;
use crate::remotecommand::Activity;
use crate::server::Timeouts;
use crate::spdy::{RstStatus, Session, Stream};

/// One forwarded connection's streams, as they arrive.
#[derive(Default)]
struct Pair {
    port: u16,
    error: Option<Stream>,
    data: Option<Stream>,
    since: Option<tokio::time::Instant>,
}

/// Serves one port-forward session on an upgraded connection.
pub async fn serve<IO, B>(
    io: IO,
    backend: Arc<B>,
    pod: &str,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    B: Backend,
{
    let (session, mut incoming) = Session::server(io);
    let activity = Activity::default();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut forwards = JoinSet::new();
    let mut sweep = tokio::time::interval(timeouts.creation.min(std::time::Duration::from_secs(5)));
    // One watch for the whole session: made anew at each turn of the loop it would restart
    // with every sweep and never fire.
    let idle = activity.idle_for(timeouts.idle);
    tokio::pin!(idle);
    loop {
        let stream = tokio::select! {
            next = incoming.next() => match next {
                Some(stream) => stream,
                None => break,
            },
            Some(_) = forwards.join_next(), if !forwards.is_empty() => continue,
            _ = sweep.tick() => {
                pairs.retain(|_, p| p.since.is_none_or(|t| t.elapsed() < timeouts.creation));
                continue;
            }
            () = &mut idle => break,
            () = shutdown.cancelled() => break,
        };
        let headers = stream.headers();
        let port = headers
            .get("port")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p > 0);
        let kind = headers.get("streamtype").unwrap_or("").to_owned();
        let Some(port) = port.filter(|_| kind == "error" || kind == "data") else {
            tracing::debug!(streamtype = %kind, "port-forward stream without a valid port or type; reset");
            stream.reset(RstStatus::CANCEL);
            continue;
        };
        let key = headers
            .get("requestid")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                // Clients without request IDs open error then data, two IDs apart.
                let id = if kind == "data" {
                    stream.id().saturating_sub(2)
                } else {
                    stream.id()
                };
                id.to_string()
            });
        if stream.reply().is_err() {
            break;
        }
        let pair = pairs.entry(key.clone()).or_default();
        pair.port = port;
        pair.since.get_or_insert_with(tokio::time::Instant::now);
        if kind == "error" {
            pair.error = Some(stream)
        } else {
            pair.data = Some(stream)
        }
        if pair.error.is_some() && pair.data.is_some() {
            let pair = pairs.remove(&key).expect("the pair");
            let (error, data) = (pair.error.expect("error"), pair.data.expect("data"));
            let (backend, pod) = (backend.clone(), pod.to_owned());
            let activity = activity.clone();
            forwards.spawn(async move {
                let conn = backend.port_forward(&pod, pair.port);
                forward(conn, &pod, pair.port, error, data, activity).await;
            });
        }
    }
    forwards.abort_all();
    session.close().await;
}

/// Serves one pair: connects, copies both ways until both ends are done.
async fn forward(
    conn: impl Future<Output = Result<tokio::net::TcpStream, crate::BackendError>>,
    pod: &str,
    port: u16,
    error: Stream,
    data: Stream,
    activity: Activity,
) {
    let tcp = match conn.await {
        Ok(tcp) => tcp,
        Err(e) => {
            let (_, mut error_out) = error.split();
            let text = format!("error forwarding port {port} to pod {pod}, uid : {e}");
            let _ = error_out.write_all(text.as_bytes()).await;
            let _ = error_out.shutdown().await;
            data.reset(RstStatus::CANCEL);
            return;
        }
    };
    let (from_client, to_client) = data.split();
    let (from_pod, to_pod) = tcp.into_split();
    let up = crate::remotecommand::copy(from_client, to_pod, activity.clone());
    let down = crate::remotecommand::copy(from_pod, to_client, activity);
    tokio::join!(up, down);
    let (_, mut error_out) = error.split();
    let _ = error_out.shutdown().await;
}
