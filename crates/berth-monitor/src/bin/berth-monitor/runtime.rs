//! This container's OCI runtime commands, each run to its end: `create` (with the container's
//! output drained meanwhile), `start`, `delete --force` and the last `kill --all`. The command
//! lines come from `berth_oci::RuntimeCli`; a failure's message from the runtime's JSON log,
//! `runtime-<op>.log` in the state directory.
//!
//! A runtime command is a child of the monitor, and `std` waits for it by PID: so the reaper's
//! orphan sweep, which reaps any child, runs only while no command does ([`Runtime::idle`]).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};

use berth_oci::{RuntimeCli, Subcommand, read_log_errors};

use crate::output::Stream;
use crate::sys;

/// Read size while draining the output during `create`.
const DRAIN_BUFFER: usize = 16 * 1024;

/// The runtime of one container.
pub struct Runtime {
    cli: RuntimeCli,
    id: String,
    state_dir: PathBuf,
    /// Held while a runtime command runs.
    busy: Mutex<()>,
}

impl Runtime {
    /// Container `id` of `cli`; the runtime's logs go to `state_dir`.
    pub fn new(cli: RuntimeCli, id: String, state_dir: PathBuf) -> Self {
        Self {
            cli,
            id,
            state_dir,
            busy: Mutex::new(()),
        }
    }

    /// Creates the container from `bundle`; the runtime writes its init's PID to `pid_file`.
    /// With `console` (a socket's path) the container gets a terminal, which the runtime sends
    /// there, and no stream is returned; without, its stdout and stderr are pipes, whose read
    /// ends are returned, and with `stdin` its input is a pipe too, whose write end is
    /// returned (on a terminal, input is the terminal's).
    pub fn create(
        &self,
        bundle: &Path,
        pid_file: &Path,
        console: Option<&Path>,
        stdin: bool,
    ) -> Result<(Vec<Stream>, Option<File>), String> {
        let _busy = self.busy.lock().expect("runtime lock");
        let create = Subcommand::Create {
            id: &self.id,
            bundle,
            pid_file: Some(pid_file),
            console_socket: console,
        };
        let log = self.log("create");
        let mut command = self.command(&create, Some(&log));
        let mut input = None;
        if stdin && console.is_none() {
            // The read end goes to the init (and is closed here when `command` goes, so the
            // container reads end of file once the write end closes).
            let (in_r, in_w) = sys::pipe().map_err(|e| e.to_string())?;
            command.stdin(in_r);
            input = Some(File::from(in_w));
        } else {
            command.stdin(Stdio::null());
        }
        let mut streams = Vec::new();
        if console.is_some() {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        } else {
            // The container init inherits the write ends as its stdout and stderr (std clears
            // CLOEXEC on the fds it installs as a child's stdio).
            let (out_r, out_w) = sys::pipe().map_err(|e| e.to_string())?;
            let (err_r, err_w) = sys::pipe().map_err(|e| e.to_string())?;
            streams.push(Stream::new(out_r, "stdout"));
            streams.push(Stream::new(err_r, "stderr"));
            command.stdout(out_w).stderr(err_w);
        }
        // The runtime writes its own errors to the container's stderr pipe: read the pipes
        // while it runs, or an error longer than a pipe's buffer blocks it (and us) forever.
        let status = run_draining(&mut command, &streams);
        self.check("create", status, &log)?;
        Ok((streams, input))
    }

    /// Starts the created container.
    pub fn start(&self) -> Result<(), String> {
        self.run(Subcommand::Start { id: &self.id })
    }

    /// Deletes the container, killing it first if it runs.
    pub fn delete_force(&self) -> Result<(), String> {
        self.run(Subcommand::Delete {
            id: &self.id,
            force: true,
        })
    }

    /// SIGKILL to every process of the container, through the runtime (which finds them in
    /// the container's cgroup); nothing is logged and a failure is ignored.
    pub fn kill_all(&self) {
        let _busy = self.busy.lock().expect("runtime lock");
        let kill = Subcommand::Kill {
            id: &self.id,
            signal: libc::SIGKILL,
            all: true,
        };
        let _ = self
            .command(&kill, None)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// A guard that keeps runtime commands from starting, or `None` while one runs.
    pub fn idle(&self) -> Option<MutexGuard<'_, ()>> {
        self.busy.try_lock().ok()
    }

    /// The runtime's command line for `subcommand`, started with no signal blocked.
    fn command(&self, subcommand: &Subcommand<'_>, log: Option<&Path>) -> Command {
        let mut command = self.cli.command(subcommand, log);
        sys::unblock_signals_in(&mut command);
        command
    }

    fn log(&self, op: &str) -> PathBuf {
        self.state_dir.join(format!("runtime-{op}.log"))
    }

    /// Runs `subcommand` without stdio.
    fn run(&self, subcommand: Subcommand<'_>) -> Result<(), String> {
        let _busy = self.busy.lock().expect("runtime lock");
        let op = subcommand.name();
        let log = self.log(op);
        let status = self
            .command(&subcommand, Some(&log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        self.check(op, status, &log)
    }

    /// The outcome of `op`, with the runtime's own words from `log` when it failed.
    fn check(
        &self,
        op: &str,
        status: std::io::Result<ExitStatus>,
        log: &Path,
    ) -> Result<(), String> {
        let binary = self.cli.binary().display();
        let status = status.map_err(|e| format!("cannot run {binary}: {e}"))?;
        if status.success() {
            return Ok(());
        }
        Err(format!(
            "{binary} {op} {} failed ({status}): {}",
            self.id,
            read_log_errors(log)
        ))
    }
}

/// Runs `command` to its end while reading (and dropping) whatever arrives on `streams`, the
/// container's output pipes. Before `start` only the runtime writes there (its diagnostics,
/// which its `--log` file has too); the container's own output begins after `start`, when the
/// copiers own the pipes.
fn run_draining(command: &mut Command, streams: &[Stream]) -> std::io::Result<ExitStatus> {
    if streams.is_empty() {
        return command.status();
    }
    let (wake_r, wake_w) = sys::pipe()?;
    std::thread::scope(|scope| {
        scope.spawn(|| drain_until_woken(streams, wake_r.as_fd()));
        let status = command.status();
        drop(wake_w);
        status
    })
}

/// Reads `streams` as data arrives, dropping it, until `wake` is readable (its write end
/// closed); a stream at its end is left out of the wait.
fn drain_until_woken(streams: &[Stream], wake: BorrowedFd<'_>) {
    let mut open: Vec<&Stream> = streams.iter().collect();
    let mut buf = vec![0u8; DRAIN_BUFFER];
    loop {
        let fds: Vec<BorrowedFd<'_>> = std::iter::once(wake)
            .chain(open.iter().map(|s| s.file.as_fd()))
            .collect();
        let ready = match sys::poll_readable(&fds, -1) {
            Ok(ready) => ready,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if ready[0] {
            return;
        }
        let mut i = 0;
        open.retain(|stream| {
            i += 1;
            !ready[i] || matches!((&stream.file).read(&mut buf), Ok(n) if n > 0)
        });
    }
}
