//! Exec and attach over SPDY: the client opens one stream per channel, each named by
//! its `streamtype` header (`error`, `stdin`, `stdout`, `stderr`, `resize`), one after the
//! other, and waits for each stream's reply before it opens the next; so every stream is
//! replied to at once. The session starts when every stream the request asked for is open
//! (1 + stdin + stdout + stderr, + resize with a terminal from v3 on), or fails after the
//! creation timeout. At the end: the outputs are closed (FIN), the status goes on the error
//! stream, the connection gets GOAWAY and is closed.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::{Channels, Command, Version};
use crate::backend::{Backend, Stdio};
use crate::server::Timeouts;
use crate::spdy::{Incoming, Session, StreamWriter};

/// Serves one exec or attach session on an upgraded connection.
#[allow(clippy::too_many_arguments)]
pub async fn serve<IO, B>(
    io: IO,
    backend: &B,
    container: &str,
    command: Command<'_>,
    stdio: Stdio,
    version: Version,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    B: Backend,
{
    let (session, mut incoming) = Session::server(io);
    let expected = expected_streams(stdio, version);
    let gathered = tokio::select! {
        gathered = gather(&mut incoming, expected, timeouts.creation) => gathered,
        () = shutdown.cancelled() => None,
    };
    let Some((channels, _inputs)) = gathered else {
        tracing::debug!(container_id = %container, ?command, "client did not open its streams in time");
        session.close().await;
        return;
    };
    let gone = async {
        tokio::select! {
            () = session.closed() => {}
            () = shutdown.cancelled() => {}
        }
    };
    super::execute(
        backend, container, command, stdio, version, channels, timeouts, gone,
    )
    .await;
    session.close().await;
}

/// How many streams a request's client opens.
fn expected_streams(stdio: Stdio, version: Version) -> usize {
    1 + usize::from(stdio.stdin)
        + usize::from(stdio.stdout)
        + usize::from(stdio.stderr)
        + usize::from(stdio.tty && version.resizes())
}

/// Replies to the client's streams as they come and sorts them into channels, until
/// `expected` known ones are open; `None` when they are not within `within` or the client
/// left. Also answers our sides of the input streams (stdin, resize), to be held open until
/// the session ends: Kubernetes' client closes its stdin as soon as the server closes its
/// side, and any later input would be lost (`kubectl exec -i` fed by a slow pipe).
async fn gather(
    incoming: &mut Incoming,
    expected: usize,
    within: Duration,
) -> Option<(Channels, Vec<StreamWriter>)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut channels = Channels::default();
    let mut inputs = Vec::new();
    let mut known = 0;
    while known < expected {
        let stream = tokio::time::timeout_at(deadline, incoming.next())
            .await
            .ok()??;
        if stream.reply().is_err() {
            return None;
        }
        let kind = stream.headers().get("streamtype").unwrap_or("").to_owned();
        let (reader, writer) = stream.split();
        let slot_free = match kind.as_str() {
            "error" => channels.error.is_none(),
            "stdin" => channels.stdin.is_none(),
            "stdout" => channels.stdout.is_none(),
            "stderr" => channels.stderr.is_none(),
            "resize" => channels.resize.is_none(),
            _ => false,
        };
        if !slot_free {
            tracing::debug!(streamtype = %kind, "ignoring an unknown or repeated exec stream");
            continue;
        }
        match kind.as_str() {
            "error" => channels.error = Some(Box::new(writer)),
            "stdin" => {
                channels.stdin = Some(Box::new(reader));
                inputs.push(writer);
            }
            "stdout" => channels.stdout = Some(Box::new(writer)),
            "stderr" => channels.stderr = Some(Box::new(writer)),
            _ => {
                channels.resize = Some(Box::new(reader));
                inputs.push(writer);
            }
        }
        known += 1;
    }
    Some((channels, inputs))
}
