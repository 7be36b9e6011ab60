//! The control socket: berthd's requests (status, start, wait, signal, reopen the log), one
//! JSON request per line and one JSON answer per line, on a thread per connection. berthd
//! keeps one connection open per container, waiting for its exit. The main thread accepts
//! here and on the attach socket (`attach`).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

use berth_monitor::{Request, Response, SOCKET_FILE};

use crate::attach::Attach;
use crate::output::open_log;
use crate::shared::Shared;
use crate::sys;

/// Read size of a control connection: berthd's requests are short lines of JSON.
const REQUEST_BUFFER: usize = 1024;

/// Listens at the control socket in `state_dir`, replacing a stale one.
pub fn bind(state_dir: &Path) -> Result<UnixListener, String> {
    let socket = state_dir.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    UnixListener::bind(&socket).map_err(|e| format!("{}: {e}", socket.display()))
}

/// Serves every connection to `listener`, each on its own thread, and hands each one to
/// `attach` to the attachers. The reaper ends the process; this returns only if polling fails.
pub fn serve(listener: UnixListener, attach: UnixListener, shared: &Arc<Shared>) {
    // Non-blocking, so a connection gone between the poll and the accept blocks nothing.
    let _ = listener.set_nonblocking(true);
    let _ = attach.set_nonblocking(true);
    loop {
        let ready = match sys::poll_readable(&[listener.as_fd(), attach.as_fd()], -1) {
            Ok(ready) => ready,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if ready[0]
            && let Ok((conn, _)) = listener.accept()
        {
            let shared = shared.clone();
            std::thread::spawn(move || serve_connection(conn, &shared));
        }
        if ready[1]
            && let Ok((conn, _)) = attach.accept()
        {
            Attach::admit(shared, conn);
        }
    }
}

/// Answers the requests of one connection until it closes.
fn serve_connection(conn: UnixStream, shared: &Shared) {
    let Ok(reader_conn) = conn.try_clone() else {
        return;
    };
    let mut writer = conn;
    for line in BufReader::with_capacity(REQUEST_BUFFER, reader_conn).lines() {
        let Ok(line) = line else { return };
        let (response, waited) = match serde_json::from_str::<Request>(&line) {
            Err(e) => {
                let message = format!("bad request: {e}");
                (Response::Error { message }, false)
            }
            Ok(request) => {
                let waited = matches!(request, Request::Wait);
                (handle(request, shared), waited)
            }
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_default();
        out.push(b'\n');
        if writer.write_all(&out).is_err() {
            return;
        }
        // After a wait the container is gone and the monitor about to end.
        if !waited {
            shared.idle.busy();
        }
    }
}

fn handle(request: Request, shared: &Shared) -> Response {
    let result = match request {
        Request::Status => Ok(()),
        Request::Start => {
            let status = shared.status();
            if status.started || status.exit.is_some() {
                Ok(())
            } else {
                shared.runtime.start().map(|()| shared.mark_started())
            }
        }
        Request::Wait => {
            shared.idle.busy();
            shared.await_exit();
            Ok(())
        }
        Request::Signal { signal } => signal_init(shared, signal),
        Request::ReopenLog => match &shared.log_path {
            None => Ok(()),
            Some(path) => open_log(path)
                .map(|f| shared.replace_log(f))
                .map_err(|e| format!("reopen {}: {e}", path.display())),
        },
    };
    match result {
        Ok(()) => Response::Ok {
            status: shared.status(),
        },
        Err(message) => Response::Error { message },
    }
}

/// Signals the container's init, and only it, through its pidfd (the rest of the container
/// follows only if the init's exit takes it along: the kernel kills a PID namespace with its
/// init). An init that already exited is not an error.
fn signal_init(shared: &Shared, signal: i32) -> Result<(), String> {
    let Some(pidfd) = &shared.pidfd else {
        return Err("the container's pidfd is not available".into());
    };
    if signal == libc::SIGKILL {
        shared.note_kill_requested();
    }
    match sys::pidfd_send_signal(pidfd.as_fd(), signal) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        Err(e) => Err(format!("signal {signal}: {e}")),
    }
}
