//! Kubernetes' remote command protocol (exec and attach), whatever carries it: the client's
//! channels (stdin, stdout, stderr, resize, error) joined to a command's stdio, the terminal
//! resized as asked, and the command's end said on the error channel. `spdy` gathers the
//! channels from SPDY streams; `websocket` from WebSocket channel bytes.
//!
//! A session ends when the command has ended and its output has been sent (stdout and
//! stderr closed), then the status is written. A client that goes away ends the command:
//! the process is dropped, which kills it.

pub mod spdy;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::backend::{Backend, Process, Stdio};
use crate::server::Timeouts;
use crate::status::Outcome;

/// The remote command protocols berth serves over SPDY, in its order of preference when a
/// client offers several (the client's order decides; see `negotiate`).
pub const SPDY_PROTOCOLS: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// A remote command protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// `channel.k8s.io`: error text only on failure.
    V1,
    /// `v2.channel.k8s.io`.
    V2,
    /// `v3.channel.k8s.io`: adds the resize channel.
    V3,
    /// `v4.channel.k8s.io`: the error channel carries a JSON status, exit codes included.
    V4,
    /// `v5.channel.k8s.io` (WebSocket): v4 plus the close signal.
    V5,
}

impl Version {
    /// The version a negotiated protocol name stands for.
    pub fn of(protocol: &str) -> Option<Self> {
        Some(match protocol {
            "channel.k8s.io" | "base64.channel.k8s.io" | "" => Self::V1,
            "v2.channel.k8s.io" => Self::V2,
            "v3.channel.k8s.io" => Self::V3,
            "v4.channel.k8s.io" | "v4.base64.channel.k8s.io" => Self::V4,
            "v5.channel.k8s.io" => Self::V5,
            _ => return None,
        })
    }

    /// Whether a terminal's size comes on a resize channel.
    pub fn resizes(self) -> bool {
        self >= Self::V3
    }

    /// The bytes the error channel carries for `outcome`, if any.
    pub fn error_bytes(self, outcome: &Outcome) -> Option<Vec<u8>> {
        if self >= Self::V4 {
            Some(outcome.to_status_json())
        } else {
            outcome.to_text()
        }
    }
}

/// The client's side of a session, as channels.
#[derive(Default)]
pub struct Channels {
    /// Input from the client.
    pub stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Output to the client.
    pub stdout: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Standard error to the client.
    pub stderr: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Terminal sizes from the client, JSON objects one after another.
    pub resize: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Where the outcome goes.
    pub error: Option<Box<dyn AsyncWrite + Send + Unpin>>,
}

/// Bytes moved either way in a session, for the idle timeout.
#[derive(Debug, Default, Clone)]
pub struct Activity(Arc<AtomicU64>);

impl Activity {
    fn moved(&self, bytes: usize) {
        self.0.fetch_add(bytes as u64 + 1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Resolves once nothing moved for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        let step = (idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
        let mut last = (self.count(), tokio::time::Instant::now());
        loop {
            tokio::time::sleep(step).await;
            let now = self.count();
            if now != last.0 {
                last = (now, tokio::time::Instant::now());
            } else if last.1.elapsed() >= idle {
                return;
            }
        }
    }
}

/// What a remote command session runs in its container.
#[derive(Debug, Clone, Copy)]
pub enum Command<'a> {
    /// A new process: this command and its arguments.
    Exec(&'a [String]),
    /// Nothing new: the session joins the container's own stdio.
    Attach,
}

impl Command<'_> {
    /// What failed, in a failure's message.
    fn doing(self) -> &'static str {
        match self {
            Command::Exec(_) => "executing command in container",
            Command::Attach => "attaching to container",
        }
    }
}

/// Starts `command` in `container` for a session whose channels are open and runs it to its
/// end, or until `gone` resolves or the session idles out.
#[allow(clippy::too_many_arguments)]
pub async fn execute<B: Backend>(
    backend: &B,
    container: &str,
    command: Command<'_>,
    stdio: Stdio,
    version: Version,
    mut channels: Channels,
    timeouts: Timeouts,
    gone: impl std::future::Future<Output = ()>,
) {
    let started = match command {
        Command::Exec(cmd) => backend.exec(container, cmd, stdio).await,
        Command::Attach => backend.attach(container, stdio).await,
    };
    let process = match started {
        Ok(process) => process,
        Err(e) => {
            let outcome = Outcome::Failed {
                what: command.doing(),
                error: e.to_string(),
            };
            report(&mut channels, version, &outcome).await;
            return;
        }
    };
    let activity = Activity::default();
    let gone = async {
        tokio::select! {
            () = gone => {}
            () = activity.idle_for(timeouts.idle) => {}
        }
    };
    if run(process, channels, version, command, &activity, gone).await == Ended::Abandoned {
        tracing::debug!(container_id = %container, ?command, "session ended before its command; an exec's command was ended");
    }
}

/// How a session's command went, for the caller's log.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The command ended; its outcome was sent.
    Finished(Outcome),
    /// The client went away or the session idled out: the command was ended.
    Abandoned,
}

/// Joins `process` to `channels` and runs it to its end, or until `gone` resolves (the
/// client went away, the session idled out, berthd shuts down). `command` names the command
/// in a non-zero exit's message.
pub async fn run(
    process: Process,
    mut channels: Channels,
    version: Version,
    command: Command<'_>,
    activity: &Activity,
    gone: impl std::future::Future<Output = ()>,
) -> Ended {
    let Process {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = process;
    let mut copies = tokio::task::JoinSet::new();
    if let (Some(from), Some(to)) = (channels.stdin.take(), stdin) {
        copies.spawn(copy(from, to, activity.clone()));
    }
    let mut outputs = tokio::task::JoinSet::new();
    for (from, to) in [
        (stdout, channels.stdout.take()),
        (stderr, channels.stderr.take()),
    ] {
        match (from, to) {
            (Some(from), Some(to)) => {
                outputs.spawn(copy(from, to, activity.clone()));
            }
            // An output nobody reads is still drained, so the command never blocks on it.
            (Some(from), None) => {
                outputs.spawn(copy(from, tokio::io::sink(), activity.clone()));
            }
            (None, Some(mut to)) => {
                outputs.spawn(async move {
                    let _ = to.shutdown().await;
                });
            }
            (None, None) => {}
        }
    }
    if let (Some(sizes), Some(resize)) = (channels.resize.take(), resize) {
        copies.spawn(resizes(sizes, resize));
    }
    tokio::pin!(gone);
    let code = tokio::select! {
        code = exit => code,
        () = &mut gone => return Ended::Abandoned,
    };
    // The output may still hold the command's last bytes: send them while they move.
    tokio::select! {
        () = drain(&mut outputs, activity) => {}
        () = &mut gone => return Ended::Abandoned,
    }
    copies.abort_all();
    let outcome = match code {
        Ok(0) => Outcome::Success,
        Ok(code) => Outcome::Exited {
            code,
            cmd: match command {
                Command::Exec(cmd) => cmd.to_vec(),
                Command::Attach => Vec::new(),
            },
        },
        Err(e) => Outcome::Failed {
            what: command.doing(),
            error: e.to_string(),
        },
    };
    report(&mut channels, version, &outcome).await;
    Ended::Finished(outcome)
}

/// Writes `outcome` on the error channel (as `version` says it) and closes that channel.
pub async fn report(channels: &mut Channels, version: Version, outcome: &Outcome) {
    if let Some(mut error) = channels.error.take() {
        if let Some(bytes) = version.error_bytes(outcome) {
            let _ = error.write_all(&bytes).await;
        }
        let _ = error.shutdown().await;
    }
}

/// How long the outputs may go without a byte after the command ended before the session
/// ends anyway (a child the command left behind may hold them open for ever).
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// Waits for the outputs to end, or to stop moving for [`DRAIN_IDLE`].
async fn drain(outputs: &mut tokio::task::JoinSet<()>, activity: &Activity) {
    let mut seen = activity.count();
    loop {
        match tokio::time::timeout(DRAIN_IDLE, outputs.join_next()).await {
            Ok(None) => return,
            Ok(Some(_)) => {}
            Err(_) => {
                let now = activity.count();
                if now == seen {
                    outputs.abort_all();
                    return;
                }
                seen = now;
            }
        }
    }
}

/// Copies `from` to `to` until `from` ends, then shuts `to` (its end reaches the other side).
pub(crate) async fn copy(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    activity: Activity,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                let _ = to.flush().await;
                activity.moved(n);
            }
        }
    }
    let _ = to.shutdown().await;
}

/// One terminal size, as clients send it (`{"Width":80,"Height":24}`).
#[derive(Debug, serde::Deserialize)]
struct Size {
    #[serde(alias = "width", default)]
    #[serde(rename = "Width")]
    width: u16,
    #[serde(alias = "height", default)]
    #[serde(rename = "Height")]
    height: u16,
}

/// Most bytes of one resize message kept while it is incomplete.
const MAX_RESIZE_MESSAGE: usize = 4096;

/// Applies each size read from `sizes`; sizes with a zero side are skipped (containerd does
/// the same: a 0x0 terminal is a client that does not know yet).
async fn resizes(mut sizes: impl AsyncRead + Unpin, resize: Box<dyn Fn(u16, u16) + Send + Sync>) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = match sizes.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut stream = serde_json::Deserializer::from_slice(&pending).into_iter::<Size>();
        let mut used = 0;
        loop {
            match stream.next() {
                Some(Ok(size)) => {
                    used = stream.byte_offset();
                    if size.width > 0 && size.height > 0 {
                        resize(size.width, size.height);
                    }
                }
                Some(Err(e)) if e.is_eof() => break,
                // Not a size: the client speaks nonsense on this channel; stop listening.
                Some(Err(_)) => return,
                None => {
                    used = pending.len();
                    break;
                }
            }
        }
        pending.drain(..used);
        if pending.len() > MAX_RESIZE_MESSAGE {
            return;
        }
    }
}

/// The first of `offered` (the client's order of preference) that is in `served`.
pub fn negotiate<'a>(offered: &[&str], served: &[&'a str]) -> Option<&'a str> {
    offered
        .iter()
        .find_map(|o| served.iter().find(|s| *s == o).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_order_decides_the_protocol() {
        let offered = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"];
        assert_eq!(
            negotiate(&offered, SPDY_PROTOCOLS),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(
            negotiate(&["channel.k8s.io"], SPDY_PROTOCOLS),
            Some("channel.k8s.io")
        );
        assert_eq!(negotiate(&["v9"], SPDY_PROTOCOLS), None);
    }

    #[tokio::test]
    async fn sizes_split_across_reads_are_applied_in_order() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let (mut tx, rx) = tokio::io::duplex(64);
        let task = tokio::spawn(resizes(
            rx,
            Box::new(move |w, h| record.lock().unwrap().push((w, h))),
        ));
        tx.write_all(b"{\"Width\":80,\"Hei").await.unwrap();
        tx.write_all(b"ght\":24}\n{\"Width\":0,\"Height\":5}{\"Width\":100,\"Height\":40}\n")
            .await
            .unwrap();
        drop(tx);
        task.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(80, 24), (100, 40)]);
    }

    #[tokio::test]
    async fn idleness_is_counted_from_the_last_byte_moved() {
        let activity = Activity::default();
        let idle = Duration::from_millis(200);
        let started = tokio::time::Instant::now();
        let watch = activity.idle_for(idle);
        tokio::pin!(watch);
        // Bytes keep moving for 500 ms: no idle timeout meanwhile.
        while started.elapsed() < Duration::from_millis(500) {
            tokio::select! {
                () = &mut watch => panic!("idle while bytes moved"),
                () = tokio::time::sleep(Duration::from_millis(20)) => activity.moved(1),
            }
        }
        watch.await;
        assert!(
            started.elapsed() >= Duration::from_millis(700),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn versions_say_what_the_error_channel_carries() {
        assert!(Version::V4.error_bytes(&Outcome::Success).is_some());
        assert!(Version::V2.error_bytes(&Outcome::Success).is_none());
        assert!(!Version::V2.resizes() && Version::V3.resizes());
        assert_eq!(Version::of("v4.channel.k8s.io"), Some(Version::V4));
    }
}
