//! Starting and talking to `berth-monitor`, the per-container helper that holds a
//! container's stdio, reaps it and records its exit (infra processes and containers alike).
//! Blocking calls (run them off the async threads) bounded by timeouts, so a hung monitor
//! never hangs berthd.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_monitor::{EXIT_FILE, Exit, Request, Response, SOCKET_FILE, Status};

/// How long a signal request may wait for the monitor.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of one request to a monitor (a hung monitor never hangs berthd).
pub const MONITOR_TIMEOUT: Duration = Duration::from_secs(10);

/// A monitor could not be started or asked.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The monitor binary did not run.
    #[error("cannot run {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The monitor ran and reported why the container was not created (the runtime's
    /// words, passed through).
    #[error("{0}")]
    Failed(String),
    /// The monitor exited 0 without the PID it must print.
    #[error("the monitor did not report the container's PID")]
    NoPid,
    /// The monitor's socket did not take the request.
    #[error("monitor {socket}: {source}")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The monitor took the request but gave no answer in time.
    #[error("monitor {socket} did not answer: {source}")]
    NoAnswer {
        /// The socket.
        socket: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The monitor hung up without answering.
    #[error("monitor {socket} closed the connection")]
    Closed {
        /// The socket.
        socket: PathBuf,
    },
    /// The answer was not the protocol's.
    #[error("monitor answer: {0}")]
    Protocol(#[from] serde_json::Error),
    /// The monitor answered with an error of its own.
    #[error("{0}")]
    Refused(String),
    /// An async request passed its deadline.
    #[error("monitor {socket} did not answer a {what} request in {} ms", timeout.as_millis())]
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// The request.
        what: &'static str,
        /// The deadline.
        timeout: Duration,
    },
}

/// What a monitor is started for.
pub struct Launch<'a> {
    /// The `berth-monitor` binary.
    pub monitor: &'a Path,
    /// The OCI container ID.
    pub id: &'a str,
    /// The OCI bundle.
    pub bundle: &'a Path,
    /// The OCI runtime binary.
    pub runtime: &'a Path,
    /// The runtime's `--root`.
    pub runtime_root: &'a Path,
    /// The monitor's directory (socket, exit file, runtime logs).
    pub state: &'a Path,
    /// The CRI log file, if any.
    pub log_path: Option<&'a Path>,
    /// The container has a terminal.
    pub tty: bool,
    /// The container's input stays open for attachers.
    pub stdin: bool,
    /// ... and closes after the first attacher's input ends.
    pub stdin_once: bool,
    /// The runtime drives cgroups through systemd.
    pub systemd_cgroup: bool,
}

/// Starts a monitor that creates the container; returns the container init's PID.
pub fn spawn(launch: &Launch<'_>) -> Result<i32, MonitorError> {
    let mut command = std::process::Command::new(launch.monitor);
    command
        .args(["--id", launch.id])
        .arg("--bundle")
        .arg(launch.bundle)
        .arg("--runtime")
        .arg(launch.runtime)
        .arg("--runtime-root")
        .arg(launch.runtime_root)
        .arg("--state-dir")
        .arg(launch.state);
    if let Some(log) = launch.log_path {
        command.arg("--log-path").arg(log);
    }
    if launch.tty {
        command.args(["--tty", "true"]);
    }
    if launch.stdin {
        command.args(["--stdin", "true"]);
        if launch.stdin_once {
            command.args(["--stdin-once", "true"]);
        }
    }
    if launch.systemd_cgroup {
        command.args(["--systemd-cgroup", "true"]);
    }
    let monitor = launch.monitor;
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| MonitorError::Spawn {
            path: monitor.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(MonitorError::Failed(
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .trim_start_matches("berth-monitor: ")
                .to_owned(),
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| MonitorError::NoPid)
}

/// One request to the monitor in `state`.
pub fn ask(state: &Path, request: &Request, timeout: Duration) -> Result<Status, MonitorError> {
    let socket = state.join(SOCKET_FILE);
    let connect = |source| MonitorError::Connect {
        socket: socket.clone(),
        source,
    };
    let mut conn = UnixStream::connect(&socket).map_err(connect)?;
    conn.set_read_timeout(Some(timeout)).ok();
    conn.set_write_timeout(Some(MONITOR_TIMEOUT)).ok();
    conn.write_all(&request_line(request)?).map_err(connect)?;
    let mut answer = String::new();
    BufReader::new(conn)
        .read_line(&mut answer)
        .map_err(|source| MonitorError::NoAnswer {
            socket: socket.clone(),
            source,
        })?;
    parse_answer(&socket, &answer)
}

fn request_line(request: &Request) -> Result<Vec<u8>, MonitorError> {
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    Ok(line)
}

fn parse_answer(socket: &Path, answer: &str) -> Result<Status, MonitorError> {
    if answer.is_empty() {
        return Err(MonitorError::Closed {
            socket: socket.to_owned(),
        });
    }
    match serde_json::from_str(answer)? {
        Response::Ok { status } => Ok(status),
        Response::Error { message } => Err(MonitorError::Refused(message)),
    }
}

/// Starts the created container.
pub fn start(state: &Path) -> Result<Status, MonitorError> {
    ask(state, &Request::Start, MONITOR_TIMEOUT)
}

/// The recorded exit, if the container has exited (from the exit file, which outlives the
/// monitor).
pub fn exit(state: &Path) -> Option<Exit> {
    let bytes = std::fs::read(state.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether the container init still runs: the monitor says so, or (monitor gone, its
/// directory still there) no exit was recorded and the PID is still the container's.
pub fn alive(state: &Path, pid: i32) -> bool {
    // No state dir: the runtime's container was deleted (which kills it) before the dir was
    // removed. The PID may belong to another process by now, so it is not consulted.
    if known_gone(state) {
        return false;
    }
    match ask(state, &Request::Status, MONITOR_TIMEOUT) {
        Ok(status) => status.exit.is_none(),
        Err(_) => judged_by_pid(state, pid),
    }
}

/// An exit recorded, or the monitor's directory gone (the runtime's container was deleted,
/// which kills it, before the directory was removed).
fn known_gone(state: &Path) -> bool {
    exit(state).is_some() || !state.exists()
}

/// Without the monitor: whether `pid` is still the container whose monitor directory is
/// `state` (its name is the ID).
fn judged_by_pid(state: &Path, pid: i32) -> bool {
    state
        .file_name()
        .and_then(|id| id.to_str())
        .is_some_and(|id| still_the_container(pid, id))
}

/// `alive` from async code: the same answer, without holding a worker thread while a slow
/// monitor answers (bounded by `MONITOR_TIMEOUT`).
pub async fn alive_async(state: &Path, pid: i32) -> bool {
    if known_gone(state) {
        return false;
    }
    let asked = tokio::time::timeout(MONITOR_TIMEOUT, ask_async(state, &Request::Status)).await;
    match asked {
        Ok(Ok(status)) => status.exit.is_none(),
        _ => judged_by_pid(state, pid),
    }
}

/// Whether `pid` exists and is still the container (or infra) `id`: its cgroup path names
/// the ID (berth's cgroups paths end in it, whatever the driver). A PID reused by another
/// process since (pid_max may be as low as 32768) does not pass.
/// A zombie (dead, not yet reaped by whoever inherited it from its dead monitor) no longer
/// runs and does not pass either.
pub fn still_the_container(pid: i32, id: &str) -> bool {
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|cgroups| cgroups.contains(id))
        && !is_zombie(pid)
}

/// Whether `pid` has exited and waits to be reaped (state `Z` in `/proc/<pid>/stat`; the
/// command name before it may hold any byte, so the state is read after its last `)`).
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Waits (bounded) until the container's exit is recorded.
pub fn wait_exit(state: &Path, timeout: Duration) -> Option<Exit> {
    if let Some(exit) = exit(state) {
        return Some(exit);
    }
    match ask(state, &Request::Wait, timeout) {
        Ok(status) => status.exit,
        Err(_) => exit(state),
    }
}

/// Waits (bounded) until the monitor has left: it removes its socket as it exits.
/// A monitor killed outright leaves its socket file behind with nothing listening on it:
/// that counts as gone too (checked every 50 ms; a connection to a live monitor costs it a
/// request it reads as an empty line).
pub fn wait_monitor_gone(state: &Path, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let socket = state.join(SOCKET_FILE);
    let mut polls = 0u32;
    while socket.exists() {
        if polls.is_multiple_of(50) && nobody_listens(&socket) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        polls += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

fn nobody_listens(socket: &Path) -> bool {
    matches!(UnixStream::connect(socket), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// Sends `signal` to the container's init through the monitor's pidfd (never to a process
/// that reused its PID); an init that already exited is not an error.
/// Bounded: a monitor that hangs must not hang a Stop (the caller falls back to the runtime).
pub async fn signal(state: &Path, signal: i32) -> Result<(), MonitorError> {
    match tokio::time::timeout(
        SIGNAL_TIMEOUT,
        ask_async(state, &Request::Signal { signal }),
    )
    .await
    {
        Ok(answer) => answer.map(drop),
        Err(_) => Err(MonitorError::Timeout {
            socket: state.join(SOCKET_FILE),
            what: "signal",
            timeout: SIGNAL_TIMEOUT,
        }),
    }
}

/// One request to the monitor in `state`, from async code. No deadline of its own: the
/// caller bounds it (a `Wait` blocks until the container exits).
pub async fn ask_async(state: &Path, request: &Request) -> Result<Status, MonitorError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let socket = state.join(SOCKET_FILE);
    let connect = |source| MonitorError::Connect {
        socket: socket.clone(),
        source,
    };
    let conn = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(connect)?;
    let (read, mut write) = conn.into_split();
    write
        .write_all(&request_line(request)?)
        .await
        .map_err(connect)?;
    let mut answer = String::new();
    tokio::io::BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(|source| MonitorError::NoAnswer {
            socket: socket.clone(),
            source,
        })?;
    parse_answer(&socket, &answer)
}
