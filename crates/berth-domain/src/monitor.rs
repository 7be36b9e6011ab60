//! Starting and talking to `berth-monitor`, the per-container helper that holds a
//! container's stdio, reaps it and records its exit (infra processes and containers alike).
//! Blocking calls (run them off the async threads) bounded by timeouts, so a hung monitor
//! never hangs berthd.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use berth_monitor::{EXIT_FILE, Exit, Request, Response, SOCKET_FILE, Status};

/// How long a signal request may wait for the monitor.
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of one request to a monitor (a hung monitor never hangs berthd).
pub const MONITOR_TIMEOUT: Duration = Duration::from_secs(10);

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
}

/// Starts a monitor that creates the container; returns the container init's PID.
pub fn spawn(launch: &Launch<'_>) -> Result<i32, String> {
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
    let monitor = launch.monitor;
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", monitor.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .trim()
            .trim_start_matches("berth-monitor: ")
            .to_owned());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "the monitor did not report the infra PID".to_owned())
}

/// One request to the monitor in `state`.
pub fn ask(state: &Path, request: &Request, timeout: Duration) -> Result<Status, String> {
    let socket = state.join(SOCKET_FILE);
    let mut conn =
        UnixStream::connect(&socket).map_err(|e| format!("monitor {}: {e}", socket.display()))?;
    conn.set_read_timeout(Some(timeout)).ok();
    conn.set_write_timeout(Some(MONITOR_TIMEOUT)).ok();
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    conn.write_all(&line)
        .map_err(|e| format!("monitor {}: {e}", socket.display()))?;
    let mut answer = String::new();
    BufReader::new(conn)
        .read_line(&mut answer)
        .map_err(|e| format!("monitor {} did not answer: {e}", socket.display()))?;
    match serde_json::from_str(&answer).map_err(|e| format!("monitor answer: {e}"))? {
        Response::Ok { status } => Ok(status),
        Response::Error { message } => Err(message),
    }
}

/// Starts the created container.
pub fn start(state: &Path) -> Result<Status, String> {
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
    if exit(state).is_some() || !state.exists() {
        return false;
    }
    match ask(state, &Request::Status, MONITOR_TIMEOUT) {
        Ok(status) => status.exit.is_none(),
        Err(_) => state
            .file_name()
            .and_then(|id| id.to_str())
            .is_some_and(|id| still_the_container(pid, id)),
    }
}

/// Whether `pid` exists and is still the container (or infra) `id`: its cgroup path names
/// the ID (berth's cgroups paths end in it, whatever the driver). A PID reused by another
/// process since (pid_max may be as low as 32768) does not pass.
pub fn still_the_container(pid: i32, id: &str) -> bool {
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|cgroups| cgroups.contains(id))
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
pub fn wait_monitor_gone(state: &Path, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while state.join(SOCKET_FILE).exists() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Sends `signal` to the container's init through the monitor's pidfd (never to a process
/// that reused its PID); an init that already exited is not an error.
/// Bounded: a monitor that hangs must not hang a Stop (the caller falls back to the runtime).
pub async fn signal(state: &Path, signal: i32) -> Result<(), String> {
    match tokio::time::timeout(
        SIGNAL_TIMEOUT,
        ask_async(state, &Request::Signal { signal }),
    )
    .await
    {
        Ok(answer) => answer.map(drop),
        Err(_) => Err(format!(
            "monitor {} did not answer a signal request in {} s",
            state.display(),
            SIGNAL_TIMEOUT.as_secs()
        )),
    }
}

/// One request to the monitor in `state`, from async code. No deadline of its own: the
/// caller bounds it (a `Wait` blocks until the container exits).
pub async fn ask_async(state: &Path, request: &Request) -> Result<Status, String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let socket = state.join(SOCKET_FILE);
    let conn = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| format!("monitor {}: {e}", socket.display()))?;
    let (read, mut write) = conn.into_split();
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    write
        .write_all(&line)
        .await
        .map_err(|e| format!("monitor {}: {e}", socket.display()))?;
    let mut answer = String::new();
    tokio::io::BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(|e| format!("monitor {} did not answer: {e}", socket.display()))?;
    if answer.is_empty() {
        return Err(format!(
            "monitor {} closed the connection",
            socket.display()
        ));
    }
    match serde_json::from_str(&answer).map_err(|e| format!("monitor answer: {e}"))? {
        Response::Ok { status } => Ok(status),
        Response::Error { message } => Err(message),
    }
}
