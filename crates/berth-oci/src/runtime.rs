//! Driving an OCI runtime (runc, crun, any runc-compatible binary) through its command line.
//!
//! Each call is one runtime command, built by [`crate::cli`], with a deadline. The container's
//! own stdio is never a pipe of ours: the container init inherits the runtime's stdio and
//! outlives `create`, so a pipe would never see EOF. Runtime errors are captured from its
//! `--log` file instead.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;

use crate::cli::{RuntimeCli, Subcommand, read_log_errors};

/// Default deadline of one runtime command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// What a runtime command failed with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime binary could not be run.
    #[error("cannot run {binary}: {source}")]
    Spawn {
        /// The runtime.
        binary: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The container does not exist for the runtime.
    #[error("{binary} {op} {id}: container does not exist")]
    NotFound {
        /// The runtime.
        binary: PathBuf,
        /// The command.
        op: &'static str,
        /// The container.
        id: String,
    },
    /// The runtime refused.
    #[error("{binary} {op} {id} failed ({status}): {message}")]
    Failed {
        /// The runtime.
        binary: PathBuf,
        /// The command.
        op: &'static str,
        /// The container.
        id: String,
        /// Exit status.
        status: std::process::ExitStatus,
        /// The runtime's error message.
        message: String,
    },
    /// The runtime did not finish in time (it is killed).
    #[error("{binary} {op} {id} did not finish within {seconds} s")]
    Timeout {
        /// The runtime.
        binary: PathBuf,
        /// The command.
        op: &'static str,
        /// The container.
        id: String,
        /// The deadline.
        seconds: u64,
    },
    /// `state` printed something that is not a state.
    #[error("{binary} state {id}: unreadable answer: {reason}")]
    BadState {
        /// The runtime.
        binary: PathBuf,
        /// The container.
        id: String,
        /// The parse error.
        reason: String,
    },
}

/// What `state` reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContainerState {
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// The init PID (0 once stopped, for some runtimes).
    #[serde(default)]
    pub pid: i32,
    /// The bundle directory.
    #[serde(default)]
    pub bundle: PathBuf,
}

/// One runtime binary with its own state directory (`--root`), driven asynchronously with a
/// deadline per command.
#[derive(Debug, Clone)]
pub struct Runtime {
    cli: RuntimeCli,
    log_dir: PathBuf,
    timeout: Duration,
}

impl Runtime {
    /// `binary` keeps its container state under `root`; its error logs go to `log_dir`.
    pub fn new(binary: PathBuf, root: PathBuf, log_dir: PathBuf) -> Self {
        Self {
            cli: RuntimeCli::new(binary, root),
            log_dir,
            timeout: COMMAND_TIMEOUT,
        }
    }

    /// Drives cgroups through systemd (see [`RuntimeCli::systemd_cgroup`]).
    pub fn systemd_cgroup(mut self, on: bool) -> Self {
        self.cli = self.cli.systemd_cgroup(on);
        self
    }

    /// The runtime binary.
    pub fn binary(&self) -> &Path {
        self.cli.binary()
    }

    /// Where `op` on `id` logs the runtime's errors.
    fn log_path(&self, id: &str, op: &str) -> PathBuf {
        self.log_dir.join(format!("{id}.{op}.log"))
    }

    /// A ready `exec` command running the process described in `process_json` (an OCI
    /// `process` object) in the container; the caller gives it stdio and a deadline. The
    /// runtime's log is `log` (one per exec, so that concurrent execs do not share one), which
    /// the caller removes when the exec is over.
    pub fn exec_command(
        &self,
        id: &str,
        process_json: &Path,
        pid_file: &Path,
        log: &Path,
    ) -> Command {
        // A missing log dir shows as the runtime failing to open its log; `run` makes it too.
        if let Some(dir) = log.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let exec = Subcommand::Exec {
            id,
            process: process_json,
            pid_file,
        };
        Command::from(self.cli.command(&exec, Some(log)))
    }

    /// Applies new resources (an OCI `LinuxResources` JSON file) to a running container.
    pub async fn update(&self, id: &str, resources_json: &Path) -> Result<(), RuntimeError> {
        let update = Subcommand::Update {
            id,
            resources: resources_json,
        };
        self.run(update).await.map(drop)
    }

    /// Creates a container whose process has no stdio (an infra process).
    pub async fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
    ) -> Result<(), RuntimeError> {
        let create = Subcommand::Create {
            id,
            bundle,
            pid_file: Some(pid_file),
            console_socket: None,
        };
        self.run(create).await.map(drop)
    }

    /// Starts a created container.
    pub async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run(Subcommand::Start { id }).await.map(drop)
    }

    /// The container's state.
    pub async fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let out = self.run(Subcommand::State { id }).await?;
        serde_json::from_slice(&out).map_err(|e| RuntimeError::BadState {
            binary: self.binary().to_owned(),
            id: id.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Sends `signal` to the init process, or with `all` to every process of the container.
    pub async fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        self.run(Subcommand::Kill { id, signal, all })
            .await
            .map(drop)
    }

    /// Deletes the container; `force` kills it first if it still runs. A container the
    /// runtime does not know is already deleted.
    pub async fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        match self.run(Subcommand::Delete { id, force }).await {
            Ok(_) | Err(RuntimeError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The IDs of every container this runtime holds under its root (`list --quiet`).
    pub async fn list(&self) -> Result<Vec<String>, RuntimeError> {
        let out = self.run(Subcommand::List).await?;
        Ok(String::from_utf8_lossy(&out)
            .split_whitespace()
            .map(str::to_owned)
            .collect())
    }

    /// Runs one command; returns its stdout.
    async fn run(&self, subcommand: Subcommand<'_>) -> Result<Vec<u8>, RuntimeError> {
        let op = subcommand.name();
        let id = subcommand.id().unwrap_or("all");
        let spawn_err = |source| RuntimeError::Spawn {
            binary: self.binary().to_owned(),
            source,
        };
        std::fs::create_dir_all(&self.log_dir).map_err(spawn_err)?;
        let log = self.log_path(id, op);
        let _ = std::fs::remove_file(&log);
        // Only `state` and `list` print something we read; for the others stdout is /dev/null so a
        // container init that inherits it holds no pipe of ours.
        let stdout = if matches!(subcommand, Subcommand::State { .. } | Subcommand::List) {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let child = Command::from(self.cli.command(&subcommand, Some(&log)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| RuntimeError::Timeout {
                binary: self.binary().to_owned(),
                op,
                id: id.to_owned(),
                seconds: self.timeout.as_secs(),
            })?
            .map_err(spawn_err)?;
        let message = read_log_errors(&log);
        let _ = std::fs::remove_file(&log);
        if output.status.success() {
            return Ok(output.stdout);
        }
        if message.contains("does not exist") || message.contains("not found") {
            return Err(RuntimeError::NotFound {
                binary: self.binary().to_owned(),
                op,
                id: id.to_owned(),
            });
        }
        Err(RuntimeError::Failed {
            binary: self.binary().to_owned(),
            op,
            id: id.to_owned(),
            status: output.status,
            message,
        })
    }
}
