//! The terminal of a container created with one: the console socket the runtime connects to
//! during `create`, and the pty master it sends there, which the monitor then reads as the
//! container's output (a terminal has one stream).

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::output::Stream;
use crate::sys;

/// How long the runtime has to connect and send the terminal after `create`.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The console socket, listening in the state directory.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Listens at `console.sock` in `state_dir`, replacing a stale socket.
    pub fn bind(state_dir: &Path) -> Result<Self, String> {
        let path = state_dir.join("console.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { path, listener })
    }

    /// The socket's path, for the runtime's `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the terminal the runtime sent, as the container's `stdout`; the socket is
    /// removed either way.
    pub fn receive_terminal(self) -> Result<Stream, String> {
        let master = self.receive().map_err(|e| format!("console socket: {e}"));
        let _ = std::fs::remove_file(&self.path);
        master.map(|fd| Stream::new(fd, "stdout"))
    }

    /// Accepts the runtime's connection and takes the one fd it sends (SCM_RIGHTS), waiting
    /// at most [`RECEIVE_TIMEOUT`] for each.
    fn receive(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        self.listener.set_nonblocking(true)?;
        let deadline = Instant::now() + RECEIVE_TIMEOUT;
        let conn = loop {
            match self.listener.accept() {
                Ok((conn, _)) => break conn,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err(std::io::Error::other("the runtime sent no terminal"));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        };
        conn.set_nonblocking(false)?;
        conn.set_read_timeout(Some(RECEIVE_TIMEOUT))?;
        sys::receive_fd(&conn)
    }
}
