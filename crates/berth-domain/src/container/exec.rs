//! `ExecSync`: runs a command in a running container through the OCI runtime's `exec`, with
//! the container's own user, environment, capabilities and working directory; captures
//! stdout and stderr separately and returns its exit code. When the timeout passes, or the
//! caller goes away, the exec's process and its descendants are killed (DeadlineExceeded).
//!
//! Output: the whole reply must fit the 16 MiB message the kubelet and crictl accept, so
//! stdout and stderr together keep at most [`REPLY_OUTPUT_LIMIT`] bytes (the rest is read and
//! dropped, so the command never blocks on a full pipe). A cut is never silent: stderr ends
//! with a line `[berth: ExecSync output truncated: ...]` saying how many bytes of each stream
//! were kept, and berthd logs it. (containerd caps each stream at 16 MiB, so its reply then
//! exceeds the kubelet's limit and the call fails; CRI-O cuts to 16 MiB with a log line only.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::ContainerService;
use crate::Error;

/// Most output kept in one reply, stdout and stderr together: 16 MiB less room for the
/// protobuf and gRPC framing (a few bytes) and the truncation note.
pub const REPLY_OUTPUT_LIMIT: usize = (16 << 20) - (16 << 10);
/// How long output is still read after the command exited (a background child may hold the
/// pipe open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// What an exec produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error; ends with the truncation note when output was cut.
    pub stderr: Vec<u8>,
    /// The exit code (128 + signal when killed).
    pub exit_code: i32,
}

impl ContainerService {
    /// Runs `cmd` in the container; `timeout` zero means no timeout.
    pub async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, Error> {
        if cmd.is_empty() {
            return Err(Error::InvalidRequest("ExecSync: cmd is required".into()));
        }
        let (runtime, mut guard) = self.prepare_exec(id, &cmd, false).await?;
        let id = guard.container().to_owned();
        let command = guard.command(&runtime, &id);
        let result = run(command, &mut guard, timeout).await;
        guard.finished();
        drop(guard);
        match result {
            Ok(out) => Ok(out),
            Err(Outcome::TimedOut) => Err(Error::DeadlineExceeded(format!(
                "ExecSync {cmd:?} in container {id} timed out after {timeout:?}; its processes were killed"
            ))),
            Err(Outcome::Failed(e)) => Err(Error::container(&id, "exec", e)),
        }
    }

    /// The running container `id`, by full ID; FailedPrecondition when it is not running.
    pub(super) async fn running(&self, id: &str, to: &str) -> Result<String, Error> {
        let id = self.resolve(id)?;
        let record = self.shared.get(&id).await?;
        if !record.is_running() {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}, not running: cannot {to}",
                record.state
            )));
        }
        Ok(id)
    }

    /// What every exec needs before its runtime runs: the container running, its runtime,
    /// and the exec's files, with `cmd` as the process (on a terminal or not).
    pub(super) async fn prepare_exec(
        &self,
        id: &str,
        cmd: &[String],
        terminal: bool,
    ) -> Result<(berth_oci::Runtime, ExecGuard), Error> {
        let id = self.running(id, "exec in it").await?;
        let s = &self.shared;
        let record = s.get(&id).await?;
        let runtime = s.runtime(&record.runtime_handler)?;
        let guard = ExecGuard::new(&s.layout, &id, &crate::shared::new_id()?[..12]);
        write_process(
            &s.layout.container_spec(&id),
            &guard.process_file,
            cmd,
            terminal,
        )
        .map_err(|e| Error::container(&id, "prepare the exec", e))?;
        Ok((runtime, guard))
    }
}

/// What an exec leaves on the node until it is over: its process spec and PID file, and the
/// runtime's `exec` process. Dropped before the command finished (the caller went away and
/// tonic dropped the call), it kills the exec's process tree: nobody will read its output,
/// and a probe's stray process must not pile up in the container.
pub(super) struct ExecGuard {
    /// The container's ID.
    container: String,
    process_file: std::path::PathBuf,
    pid_file: std::path::PathBuf,
    /// The runtime's error log of this exec.
    log_file: std::path::PathBuf,
    /// A pidfd of the runtime's `exec` process, once it runs.
    runtime: Option<std::os::fd::OwnedFd>,
    done: bool,
}

impl ExecGuard {
    /// The files of the exec `tag` of container `id`, removed when the guard goes.
    pub(super) fn new(layout: &berth_config::StateLayout, id: &str, tag: &str) -> Self {
        Self {
            container: id.to_owned(),
            process_file: layout.exec_process(id, tag),
            pid_file: layout.exec_pid(id, tag),
            log_file: layout.exec_log(id, tag),
            runtime: None,
            done: false,
        }
    }

    /// The container's ID.
    pub(super) fn container(&self) -> &str {
        &self.container
    }

    /// The runtime's `exec` for this exec's files.
    pub(super) fn command(
        &self,
        runtime: &berth_oci::Runtime,
        id: &str,
    ) -> tokio::process::Command {
        runtime.exec_command(id, &self.process_file, &self.pid_file, &self.log_file)
    }

    /// Keeps a pidfd of the runtime's `exec` process `child`, to make sure it ends.
    pub(super) fn watch_runtime(&mut self, child: &tokio::process::Child) {
        self.runtime = child
            .id()
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
            .and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
            });
    }

    /// The exec ended by itself: nothing to kill when the guard goes.
    pub(super) fn finished(&mut self) {
        self.done = true;
    }

    /// Kills the exec's process tree now.
    pub(super) fn kill(&self) {
        kill_exec(&self.pid_file);
    }
}

impl Drop for ExecGuard {
    fn drop(&mut self) {
        if !self.done {
            kill_exec(&self.pid_file);
            // The runtime's exec reaps its killed child and exits by itself; a thread makes
            // sure it does (SIGKILL after RUNTIME_EXIT_WAIT). tokio reaps it either way.
            if let Some(pidfd) = self.runtime.take() {
                let spawned = std::thread::Builder::new()
                    .name("exec-reaper".into())
                    .spawn(move || {
                        if !wait_readable(&pidfd, RUNTIME_EXIT_WAIT) {
                            let _ = rustix::process::pidfd_send_signal(
                                &pidfd,
                                rustix::process::Signal::KILL,
                            );
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot watch an abandoned exec's runtime");
                }
            }
        }
        let _ = std::fs::remove_file(&self.process_file);
        let _ = std::fs::remove_file(&self.pid_file);
        let _ = std::fs::remove_file(&self.log_file);
    }
}

/// How long the runtime's `exec` may take to reap its killed child and exit.
const RUNTIME_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Whether `pidfd` became readable (its process exited) within `wait`.
fn wait_readable(pidfd: &std::os::fd::OwnedFd, wait: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: wait.subsec_nanos() as i64,
    };
    matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}

enum Outcome {
    TimedOut,
    Failed(String),
}

/// The exec's process spec could not be written.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the container's spec: {0}")]
    Spec(#[from] serde_json::Error),
    #[error("the container's spec has no process")]
    NoProcess,
}

/// Writes the container's process with `cmd` as its arguments, with a terminal or not, to
/// `out`.
fn write_process(
    config: &std::path::Path,
    out: &std::path::Path,
    cmd: &[String],
    terminal: bool,
) -> Result<(), PrepareError> {
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| PrepareError::Io { path, source }
    };
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config).map_err(io(config))?)?;
    let mut process = spec
        .get("process")
        .cloned()
        .ok_or(PrepareError::NoProcess)?;
    process["args"] = serde_json::json!(cmd);
    process["terminal"] = terminal.into();
    std::fs::write(out, process.to_string()).map_err(io(out))
}

async fn run(
    mut command: tokio::process::Command,
    guard: &mut ExecGuard,
    timeout: Duration,
) -> Result<ExecOutput, Outcome> {
    // Not kill_on_drop: the runtime's exec must outlive its killed child to reap it (see
    // ExecGuard); killing it first would leave that child a zombie of the container's init.
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Outcome::Failed(format!("cannot run the runtime: {e}")))?;
    guard.watch_runtime(&child);
    let stdout = Arc::new(Mutex::new(Captured::default()));
    let stderr = Arc::new(Mutex::new(Captured::default()));
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(tokio::spawn(read_capped(pipe, stdout.clone())));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(tokio::spawn(read_capped(pipe, stderr.clone())));
    }
    let limit = if timeout.is_zero() {
        Duration::from_secs(365 * 24 * 3600)
    } else {
        timeout
    };
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => status.map_err(|e| Outcome::Failed(e.to_string()))?,
        Err(_) => {
            // The tree first, then let the runtime's exec reap it and exit: when the call
            // returns, the timed-out process is gone, not a zombie (critest checks `pgrep`).
            guard.kill();
            if tokio::time::timeout(RUNTIME_EXIT_WAIT, child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
            for r in readers {
                r.abort();
            }
            return Err(Outcome::TimedOut);
        }
    };
    for r in readers {
        if tokio::time::timeout(DRAIN_AFTER_EXIT, async { r.await.ok() })
            .await
            .is_err()
        {
            tracing::debug!(
                "exec output still open after the command exited; keeping what was read"
            );
        }
    }
    let take = |v: &Arc<Mutex<Captured>>| std::mem::take(&mut *v.lock().expect("exec output"));
    let exit_code = exit_code(status);
    let (stdout, stderr) = fit_reply(take(&stdout), take(&stderr));
    Ok(ExecOutput {
        stdout,
        stderr,
        exit_code,
    })
}

/// The runtime's exit status as an exit code: 128 + the signal when one killed it.
pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// What was read from one of the exec's pipes.
#[derive(Debug, Default)]
struct Captured {
    /// The first [`REPLY_OUTPUT_LIMIT`] bytes.
    kept: Vec<u8>,
    /// Every byte read, kept or not.
    total: u64,
}

/// Reads a pipe to its end, keeping the first [`REPLY_OUTPUT_LIMIT`] bytes and counting all.
async fn read_capped(mut pipe: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Captured>>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut out = into.lock().expect("exec output");
                let room = REPLY_OUTPUT_LIMIT.saturating_sub(out.kept.len());
                out.kept.extend_from_slice(&buf[..n.min(room)]);
                out.total += n as u64;
            }
        }
    }
}

/// Fits both streams into one reply of at most [`REPLY_OUTPUT_LIMIT`] bytes. When they do not
/// fit, stderr keeps up to a quarter of the room (error text is short and says why), stdout
/// the rest, and a note at the end of stderr says what was cut.
fn fit_reply(stdout: Captured, stderr: Captured) -> (Vec<u8>, Vec<u8>) {
    let cut = stdout.total + stderr.total > REPLY_OUTPUT_LIMIT as u64;
    if !cut {
        return (stdout.kept, stderr.kept);
    }
    let (mut out, mut err) = (stdout.kept, stderr.kept);
    let err_room = err.len().min(REPLY_OUTPUT_LIMIT / 4);
    err.truncate(err_room);
    out.truncate(REPLY_OUTPUT_LIMIT - err_room);
    let note = format!(
        "\n[berth: ExecSync output truncated to fit the 16 MiB CRI reply: stdout {} of {} bytes kept, stderr {} of {} bytes kept]\n",
        out.len(),
        stdout.total,
        err.len(),
        stderr.total
    );
    tracing::warn!(
        stdout_bytes = stdout.total,
        stderr_bytes = stderr.total,
        stdout_kept = out.len(),
        stderr_kept = err.len(),
        "ExecSync output truncated to fit the 16 MiB CRI reply"
    );
    err.extend_from_slice(note.as_bytes());
    (out, err)
}

/// Kills the exec'd process and every descendant of it (found before any is killed, so the
/// tree is still intact).
fn kill_exec(pid_file: &std::path::Path) {
    let Some(root) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    for pid in tree {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// The parent PID from `/proc/<pid>/stat` (the field after the parenthesised name).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(len: usize, total: u64) -> Captured {
        Captured {
            kept: vec![b'x'; len],
            total,
        }
    }

    #[test]
    fn output_that_fits_is_untouched() {
        let (out, err) = fit_reply(captured(10, 10), captured(5, 5));
        assert_eq!((out.len(), err.len()), (10, 5));
    }

    #[test]
    fn a_huge_stdout_is_cut_to_fit_the_reply_and_says_so() {
        let (out, err) = fit_reply(captured(REPLY_OUTPUT_LIMIT, 100_000_000), captured(0, 0));
        assert_eq!(out.len(), REPLY_OUTPUT_LIMIT);
        let note = String::from_utf8(err).unwrap();
        assert!(note.contains("truncated"), "{note}");
        assert!(note.contains("of 100000000 bytes"), "{note}");
        assert!(out.len() + note.len() < 16 << 20);
    }

    #[test]
    fn both_streams_huge_share_the_reply() {
        let (out, err) = fit_reply(
            captured(REPLY_OUTPUT_LIMIT, 50_000_000),
            captured(REPLY_OUTPUT_LIMIT, 50_000_000),
        );
        assert_eq!(out.len() + err.len() - note_len(&err), REPLY_OUTPUT_LIMIT);
        assert!(out.len() + err.len() < (16 << 20) - 64);
    }

    fn note_len(err: &[u8]) -> usize {
        let text = String::from_utf8_lossy(err);
        text.len() - text.rfind("\n[berth:").unwrap()
    }
}
