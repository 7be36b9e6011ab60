//! A streaming attach (CRI `Attach`, served by the streaming server): joins the running
//! container's own stdio, which its monitor holds, over the monitor's attach socket (the
//! protocol is `berth_monitor::attach`'s). The session gets the container's output from the
//! moment it attached (the CRI log has what came before), writes its input when the
//! container was created with `stdin`, and resizes its terminal. Leaving never touches the
//! container; the session ends when the container has exited and its output was sent.

use berth_monitor::attach::{
    ATTACH_SOCKET_FILE, FrameDecoder, FrameKind, MAX_PAYLOAD, encode_frame, encode_size,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::UnixStream;
use tokio::sync::watch;

use super::ContainerService;
use super::exec_session::{Input, Output, check_streams};
use crate::Error;

/// What an attach asks for (CRI `AttachRequest`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachRequest {
    /// The client sends terminal sizes.
    pub tty: bool,
    /// Write to the container's input.
    pub stdin: bool,
    /// Read its standard output (its terminal's output, with one).
    pub stdout: bool,
    /// Read its standard error.
    pub stderr: bool,
}

/// Room between the monitor's connection and the session, each way.
const PIPE_BUFFER: usize = 64 * 1024;

/// An attachment to a running container.
pub struct AttachSession {
    /// Its input, when asked for; shutting it down ends this attacher's input (the
    /// container's with `stdin_once`).
    pub stdin: Option<Input>,
    /// Its output (its terminal's), when asked for.
    pub stdout: Option<Output>,
    /// Its standard error, when asked for.
    pub stderr: Option<Output>,
    /// Its terminal's size, when the client sends sizes.
    pub terminal: Option<AttachTerminal>,
    link: Link,
}

/// The size of an attached container's terminal; the latest size wins.
pub struct AttachTerminal(watch::Sender<(u16, u16)>);

impl AttachTerminal {
    /// Sets the terminal's size in columns and rows.
    pub fn resize(&self, width: u16, height: u16) {
        self.0.send_replace((width, height));
    }
}

/// The session's side of the monitor's connection, moved by [`AttachSession::wait`].
struct Link {
    id: String,
    conn: UnixStream,
    stdin: Option<DuplexStream>,
    stdout: Option<DuplexStream>,
    stderr: Option<DuplexStream>,
    sizes: Option<watch::Receiver<(u16, u16)>>,
}

impl AttachSession {
    /// Carries the session until the container has exited and its output was sent (or the
    /// monitor went away). Dropped before then, it detaches and nothing else.
    pub async fn wait(self) -> Result<(), Error> {
        let id = self.link.id.clone();
        self.link
            .carry()
            .await
            .map_err(|e| Error::container(&id, "attach to the container", e))
    }
}

impl Link {
    async fn carry(mut self) -> std::io::Result<()> {
        let (mut from_monitor, mut to_monitor) = self.conn.split();
        if self.stdin.is_some() {
            // Says that this attacher carries input (see the monitor's `stdin_once`).
            to_monitor
                .write_all(&encode_frame(FrameKind::Stdin, b""))
                .await?;
        }
        let mut decoder = FrameDecoder::default();
        let mut read = vec![0u8; MAX_PAYLOAD];
        let mut input = vec![0u8; MAX_PAYLOAD];
        'session: loop {
            tokio::select! {
                n = from_monitor.read(&mut read) => {
                    let n = n?;
                    if n == 0 {
                        break 'session;
                    }
                    decoder.push(&read[..n]);
                    while let Some((kind, payload)) = decoder.next_frame()? {
                        let to = match kind {
                            FrameKind::End => break 'session,
                            FrameKind::Stdout => &mut self.stdout,
                            FrameKind::Stderr => &mut self.stderr,
                            _ => continue,
                        };
                        if let Some(out) = to
                            && out.write_all(&payload).await.is_err()
                        {
                            *to = None;
                        }
                    }
                }
                n = read_some(&mut self.stdin, &mut input), if self.stdin.is_some() => {
                    match n {
                        Ok(n) if n > 0 => {
                            to_monitor.write_all(&encode_frame(FrameKind::Stdin, &input[..n])).await?;
                        }
                        _ => {
                            self.stdin = None;
                            to_monitor.write_all(&encode_frame(FrameKind::StdinClosed, b"")).await?;
                        }
                    }
                }
                changed = changed(&mut self.sizes), if self.sizes.is_some() => {
                    match changed {
                        Some((width, height)) => {
                            to_monitor.write_all(&encode_frame(FrameKind::Resize, &encode_size(width, height))).await?;
                        }
                        None => self.sizes = None,
                    }
                }
            }
        }
        for out in [self.stdout.as_mut(), self.stderr.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = out.shutdown().await;
        }
        Ok(())
    }
}

async fn read_some(from: &mut Option<DuplexStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match from {
        Some(from) => from.read(buf).await,
        None => Ok(0),
    }
}

/// The next size set, or `None` once nobody can set one.
async fn changed(sizes: &mut Option<watch::Receiver<(u16, u16)>>) -> Option<(u16, u16)> {
    let sizes = sizes.as_mut()?;
    sizes.changed().await.ok()?;
    Some(*sizes.borrow_and_update())
}

impl ContainerService {
    /// Checks an attach's request (as the kubelet does before it hands out a URL): some
    /// stdio, no stderr beside a terminal, a running container. Answers the container's full
    /// ID.
    pub async fn check_attach(&self, id: &str, request: &AttachRequest) -> Result<String, Error> {
        check_streams(request.tty, request.stdin, request.stdout, request.stderr)?;
        self.running(id, "attach to it").await
    }

    /// Attaches to the container's stdio as `request` asks.
    pub async fn attach(&self, id: &str, request: &AttachRequest) -> Result<AttachSession, Error> {
        let id = self.check_attach(id, request).await?;
        let socket = self.shared.monitor_dir(&id).join(ATTACH_SOCKET_FILE);
        let conn = UnixStream::connect(&socket)
            .await
            .map_err(|e| Error::container(&id, "reach the monitor's attach socket", e))?;
        let (stdin, stdin_far) = pipe_if(request.stdin);
        let (stdout, stdout_far) = pipe_if(request.stdout);
        let (stderr, stderr_far) = pipe_if(request.stderr);
        let (terminal, sizes) = if request.tty {
            let (set, sizes) = watch::channel((0, 0));
            (Some(AttachTerminal(set)), Some(sizes))
        } else {
            (None, None)
        };
        Ok(AttachSession {
            stdin: stdin_far.map(|s| Box::new(s) as Input),
            stdout: stdout_far.map(|s| Box::new(s) as Output),
            stderr: stderr_far.map(|s| Box::new(s) as Output),
            terminal,
            link: Link {
                id,
                conn,
                stdin,
                stdout,
                stderr,
                sizes,
            },
        })
    }
}

/// Both ends of an in-process pipe, when `wanted`: the link's, and the session's.
fn pipe_if(wanted: bool) -> (Option<DuplexStream>, Option<DuplexStream>) {
    if wanted {
        let (near, far) = tokio::io::duplex(PIPE_BUFFER);
        (Some(near), Some(far))
    } else {
        (None, None)
    }
}
