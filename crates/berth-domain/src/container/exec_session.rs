//! A streaming exec (CRI `Exec`, served by the streaming server): the command runs in the
//! running container through the OCI runtime's `exec` in the foreground, as ExecSync's does,
//! with the same user, environment and capabilities, and its stdio is handed to the caller:
//! pipes, or a terminal.
//!
//! With a terminal, berth gives the runtime one end of a pty of its own, raw, as stdio; the
//! runtime makes the container's terminal and copies between the two (runc and crun both
//! do), so the container's terminal is the only one that cooks and echoes. A resize sets the size of berth's
//! pty and sends the runtime SIGWINCH, on which it copies the size to the container's
//! terminal. Closing stdin on a terminal sends its EOF character (^D), since a terminal has
//! no other way to say "end of input"; with pipes, stdin's pipe is closed.
//!
//! The session owns the exec: dropped before the command ended (the client went away), it
//! kills the command's process tree, as ExecSync does at its timeout.

use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustix::pty::OpenptFlags;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

use super::ContainerService;
use super::exec::{ExecGuard, exit_code};
use crate::Error;

/// A command's input, as the caller writes it; shutting it down is the end of input.
pub type Input = Box<dyn AsyncWrite + Send + Unpin>;
/// One of a command's outputs, read to its end.
pub type Output = Box<dyn AsyncRead + Send + Unpin>;

/// What a streaming exec asks for (CRI `ExecRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// Run it on a terminal.
    pub tty: bool,
    /// Give it input.
    pub stdin: bool,
    /// Read its standard output (the terminal's output with `tty`).
    pub stdout: bool,
    /// Read its standard error (never with `tty`: a terminal has one output).
    pub stderr: bool,
}

/// A streaming exec's process, running.
pub struct ExecSession {
    /// Its input, when asked for.
    pub stdin: Option<Input>,
    /// Its output (the terminal's), when asked for.
    pub stdout: Option<Output>,
    /// Its standard error, when asked for (without a terminal).
    pub stderr: Option<Output>,
    /// Its terminal's size, with a terminal.
    pub terminal: Option<Terminal>,
    runtime: tokio::process::Child,
    guard: ExecGuard,
}

impl ExecSession {
    /// Waits for the command to end and answers its exit code (128 + the signal that killed
    /// it). The outputs may still hold its last bytes: read them to their end.
    pub async fn wait(mut self) -> Result<i32, Error> {
        let status = self.runtime.wait().await;
        self.guard.finished();
        let id = self.guard.container().to_owned();
        status
            .map(exit_code)
            .map_err(|e| Error::container(&id, "wait for the exec", e))
    }
}

/// The size of a streaming exec's terminal.
#[derive(Clone)]
pub struct Terminal {
    /// berth's side of the pty the runtime copies from.
    master: Arc<OwnedFd>,
    /// The runtime's `exec` process, told of each new size.
    runtime: Option<Arc<OwnedFd>>,
}

impl Terminal {
    /// Sets the terminal's size in columns and rows.
    pub fn resize(&self, width: u16, height: u16) {
        let size = rustix::termios::Winsize {
            ws_col: width,
            ws_row: height,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        if let Err(e) = rustix::termios::tcsetwinsize(&*self.master, size) {
            tracing::debug!(error = %e, "cannot resize an exec's terminal");
            return;
        }
        if let Some(pidfd) = &self.runtime {
            let _ = rustix::process::pidfd_send_signal(&**pidfd, rustix::process::Signal::WINCH);
        }
    }
}

impl ContainerService {
    /// Checks a streaming exec's request (as the kubelet does before it hands out a URL):
    /// a command, some stdio, no stderr beside a terminal, a running container. Answers the
    /// container's full ID.
    pub async fn check_exec(&self, id: &str, request: &ExecRequest) -> Result<String, Error> {
        if request.cmd.is_empty() {
            return Err(Error::InvalidRequest("Exec: cmd is required".into()));
        }
        check_streams(request.tty, request.stdin, request.stdout, request.stderr)?;
        self.running(id, "exec in it").await
    }

    /// Starts `request`'s command in the container.
    pub async fn exec_session(
        &self,
        id: &str,
        request: &ExecRequest,
    ) -> Result<ExecSession, Error> {
        let id = self.check_exec(id, request).await?;
        let fail = |step: &'static str| {
            let id = id.clone();
            move |cause: crate::Cause| Error::container(&id, step, cause)
        };
        let (runtime, mut guard) = self.prepare_exec(&id, &request.cmd, request.tty).await?;
        let mut command = guard.command(&runtime, &id);
        let stdio = if request.tty {
            Stdio::terminal(request).map_err(|e| fail("open a terminal")(e.into()))?
        } else {
            Stdio::pipes(request)
        };
        stdio.give_to(&mut command);
        // Not kill_on_drop: the runtime must outlive its killed child to reap it (ExecGuard).
        let mut child = command
            .spawn()
            .map_err(|e| fail("run the runtime's exec")(e.into()))?;
        guard.watch_runtime(&child);
        let session = stdio
            .take(&mut child)
            .map_err(|e| fail("open the exec's stdio")(e.into()))?;
        Ok(ExecSession {
            terminal: session.terminal.map(|master| Terminal {
                master,
                runtime: pidfd_of(&child).map(Arc::new),
            }),
            stdin: session.stdin,
            stdout: session.stdout,
            stderr: session.stderr,
            runtime: child,
            guard,
        })
    }
}

/// The stdio rules the kubelet applies to Exec and Attach: some stdio, and no stderr beside a
/// terminal (a terminal has one output).
pub(crate) fn check_streams(
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<(), Error> {
    if tty && stderr {
        return Err(Error::InvalidRequest(
            "tty and stderr cannot both be true: a terminal has one output".into(),
        ));
    }
    if !(stdin || stdout || stderr) {
        return Err(Error::InvalidRequest(
            "one of stdin, stdout and stderr must be true".into(),
        ));
    }
    Ok(())
}

/// A pidfd of `child`, while it runs.
fn pidfd_of(child: &tokio::process::Child) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(child.id()? as i32)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// The exec's stdio before the runtime runs.
enum Stdio {
    /// Pipes (or nothing) per stream.
    Pipes {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// A pty: the runtime gets the peer as stdin, stdout and stderr.
    Terminal {
        master: OwnedFd,
        peer: OwnedFd,
        stdin: bool,
        stdout: bool,
    },
}

/// The caller's ends of the exec's stdio.
struct Ends {
    stdin: Option<Input>,
    stdout: Option<Output>,
    stderr: Option<Output>,
    terminal: Option<Arc<OwnedFd>>,
}

impl Stdio {
    fn pipes(request: &ExecRequest) -> Self {
        Self::Pipes {
            stdin: request.stdin,
            stdout: request.stdout,
            stderr: request.stderr,
        }
    }

    fn terminal(request: &ExecRequest) -> std::io::Result<Self> {
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = rustix::pty::openpt(flags)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let peer = rustix::pty::ioctl_tiocgptpeer(&master, flags)?;
        // Raw from the start: the runtime sets it raw too, but only once it runs, and input
        // that arrives before then must not be cooked (a ^D would end the runtime's own
        // input instead of reaching the command).
        let mut termios = rustix::termios::tcgetattr(&peer)?;
        termios.make_raw();
        rustix::termios::tcsetattr(&peer, rustix::termios::OptionalActions::Now, &termios)?;
        Ok(Self::Terminal {
            master,
            peer,
            stdin: request.stdin,
            stdout: request.stdout,
        })
    }

    fn give_to(&self, command: &mut tokio::process::Command) {
        use std::process::Stdio as S;
        let piped = |wanted: bool| if wanted { S::piped() } else { S::null() };
        match self {
            Self::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                command
                    .stdin(piped(*stdin))
                    .stdout(piped(*stdout))
                    .stderr(piped(*stderr));
            }
            Self::Terminal { peer, .. } => {
                let dup = || peer.try_clone().map(S::from).unwrap_or_else(|_| S::null());
                command.stdin(dup()).stdout(dup()).stderr(dup());
            }
        }
    }

    /// The caller's ends, once the runtime runs (berth's copy of the pty's peer is closed
    /// here, so the master reads end when the runtime has gone).
    fn take(self, child: &mut tokio::process::Child) -> std::io::Result<Ends> {
        match self {
            Self::Pipes { .. } => Ok(Ends {
                stdin: child.stdin.take().map(|p| Box::new(p) as Input),
                stdout: child.stdout.take().map(|p| Box::new(p) as Output),
                stderr: child.stderr.take().map(|p| Box::new(p) as Output),
                terminal: None,
            }),
            Self::Terminal {
                master,
                peer,
                stdin,
                stdout,
            } => {
                drop(peer);
                let input = if stdin {
                    let fd = master.as_fd().try_clone_to_owned()?;
                    Some(Box::new(TerminalInput {
                        inner: pipe::Sender::from_owned_fd_unchecked(fd)?,
                        eof_sent: false,
                    }) as Input)
                } else {
                    None
                };
                let output = if stdout {
                    let fd = master.as_fd().try_clone_to_owned()?;
                    Some(
                        Box::new(TerminalOutput(pipe::Receiver::from_owned_fd_unchecked(fd)?))
                            as Output,
                    )
                } else {
                    None
                };
                Ok(Ends {
                    stdin: input,
                    stdout: output,
                    stderr: None,
                    terminal: Some(Arc::new(master)),
                })
            }
        }
    }
}

/// Input into a terminal: its end is the terminal's EOF character.
struct TerminalInput {
    inner: pipe::Sender,
    eof_sent: bool,
}

/// The EOF character of a terminal in its default settings (VEOF, ^D).
const TERMINAL_EOF: u8 = 0x04;

impl AsyncWrite for TerminalInput {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.eof_sent {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.inner).poll_write(cx, &[TERMINAL_EOF]) {
            Poll::Ready(Ok(_)) => {
                self.eof_sent = true;
                Poll::Ready(Ok(()))
            }
            // The terminal is gone: its command ended; nothing more to say.
            Poll::Ready(Err(_)) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Output of a terminal: reading it once its last user closed it fails with EIO, which is its
/// end.
struct TerminalOutput(pipe::Receiver);

impl AsyncRead for TerminalOutput {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EIO) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_rules_are_the_kubelets() {
        assert!(check_streams(true, true, true, false).is_ok());
        assert!(check_streams(false, false, false, true).is_ok());
        let both = check_streams(true, false, true, true).unwrap_err();
        assert!(both.to_string().contains("tty and stderr"), "{both}");
        let none = check_streams(false, false, false, false).unwrap_err();
        assert!(none.to_string().contains("one of stdin"), "{none}");
    }
}
