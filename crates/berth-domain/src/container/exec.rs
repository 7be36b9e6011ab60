//! `ExecSync`: runs a command in a running container through the OCI runtime's `exec`, with
//! the container's own user, environment, capabilities and working directory; captures
//! stdout and stderr separately (each up to 16 MiB, the rest read and dropped so the command
//! never blocks on a full pipe) and returns its exit code. When the timeout passes, the
//! exec's process and its descendants are killed and the call fails with DeadlineExceeded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_store::ContainerState;
use tokio::io::AsyncReadExt;

use super::ContainerService;
use crate::Error;

/// Most output kept per stream.
const OUTPUT_LIMIT: usize = 16 << 20;
/// How long output is still read after the command exited (a background child may hold the
/// pipe open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// What an exec produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Standard output, at most 16 MiB.
    pub stdout: Vec<u8>,
    /// Standard error, at most 16 MiB.
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
        let id = self.resolve(id)?;
        let s = &self.shared;
        let record = s.get(&id).await?;
        if record.state != ContainerState::Running {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}, not running: cannot exec in it",
                record.state
            )));
        }
        let fail = |step: &'static str| {
            let id = id.clone();
            move |reason: String| Error::Container { id, step, reason }
        };
        let nonce = crate::sandbox::new_id()?;
        let dir = s.dir(&id);
        let process_file = dir.join(format!("exec-{}.json", &nonce[..12]));
        let pid_file = dir.join(format!("exec-{}.pid", &nonce[..12]));
        write_process(&s.bundle(&id).join("config.json"), &process_file, &cmd)
            .map_err(fail("prepare the exec"))?;
        let runtime = s.runtime(&record.runtime_handler)?;
        let result = run(
            runtime.exec_command(&id, &process_file, &pid_file),
            &pid_file,
            timeout,
        )
        .await;
        let _ = std::fs::remove_file(&process_file);
        let _ = std::fs::remove_file(&pid_file);
        match result {
            Ok(out) => Ok(out),
            Err(Outcome::TimedOut) => Err(Error::DeadlineExceeded(format!(
                "ExecSync {cmd:?} in container {id} timed out after {timeout:?}; its processes were killed"
            ))),
            Err(Outcome::Failed(e)) => Err(fail("exec")(e)),
        }
    }
}

enum Outcome {
    TimedOut,
    Failed(String),
}

/// The container's process with `cmd` as its arguments and no terminal.
fn write_process(
    config: &std::path::Path,
    out: &std::path::Path,
    cmd: &[String],
) -> Result<(), String> {
    let spec: serde_json::Value = std::fs::read(config)
        .map_err(|e| format!("{}: {e}", config.display()))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))?;
    let mut process = spec
        .get("process")
        .cloned()
        .ok_or("the container's spec has no process")?;
    process["args"] = serde_json::json!(cmd);
    process["terminal"] = false.into();
    std::fs::write(out, process.to_string()).map_err(|e| format!("{}: {e}", out.display()))
}

async fn run(
    mut command: tokio::process::Command,
    pid_file: &std::path::Path,
    timeout: Duration,
) -> Result<ExecOutput, Outcome> {
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Outcome::Failed(format!("cannot run the runtime: {e}")))?;
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
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
            kill_exec(pid_file);
            let _ = child.kill().await;
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
    let take = |v: &Arc<Mutex<Vec<u8>>>| std::mem::take(&mut *v.lock().expect("exec output"));
    let exit_code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    Ok(ExecOutput {
        stdout: take(&stdout),
        stderr: take(&stderr),
        exit_code,
    })
}

/// Reads a pipe to its end, keeping the first 16 MiB.
async fn read_capped(mut pipe: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<u8>>>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut out = into.lock().expect("exec output");
                let room = OUTPUT_LIMIT.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
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
