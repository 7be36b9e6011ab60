//! What the monitor's threads share once the container exists: who it is (its init's PID and
//! pidfd, its runtime), its status, the CRI log file and how many output streams have ended,
//! with the condition variable that announces each change. Every lock of that state is taken
//! here, briefly; nothing waits on a process while holding it.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_monitor::{Exit, Status};

use crate::attach::Attach;
use crate::idle::Idle;
use crate::oom::OomWatch;
use crate::runtime::Runtime;

/// How often a wait for the output to drain looks again.
const DRAIN_TICK: Duration = Duration::from_millis(20);

/// The container the monitor watches, and its changing state.
pub struct Shared {
    /// This container's runtime commands.
    pub runtime: Runtime,
    /// The monitor's directory: control socket, exit file, runtime logs.
    pub state_dir: PathBuf,
    /// The CRI log file, reopened at the same path on request.
    pub log_path: Option<PathBuf>,
    /// The container init's PID.
    pub pid: i32,
    /// The init's pidfd, where the kernel has pidfds: waited on by the reaper, and the only
    /// way a signal reaches the init.
    pub pidfd: Option<OwnedFd>,
    /// The container's OOM-kill counters (see `oom`).
    pub oom: OomWatch,
    /// Its attachers, input and terminal (see `attach`).
    pub attach: Attach,
    /// When it last did some work (see `idle`).
    pub idle: Idle,
    /// Whether berthd asked the monitor for a SIGKILL (a kill it asked for is not the OOM
    /// killer's).
    kill_requested: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    status: Status,
    log: Option<File>,
    /// Output streams that reached their end.
    drained: usize,
    /// Output streams there are (2 with pipes, 1 with a terminal).
    streams: usize,
}

impl Shared {
    /// A created container whose init is `pid`, with `streams` output streams to copy into
    /// `log`. The init's pidfd is opened now, before anyone can ask for a signal.
    pub fn new(
        runtime: Runtime,
        state_dir: PathBuf,
        log_path: Option<PathBuf>,
        log: Option<File>,
        pid: i32,
        streams: usize,
        attach: Attach,
    ) -> Self {
        Self {
            runtime,
            state_dir,
            log_path,
            pid,
            pidfd: crate::sys::pidfd_open(pid),
            oom: OomWatch::of(pid),
            attach,
            idle: Idle::new(),
            kill_requested: AtomicBool::new(false),
            state: Mutex::new(State {
                status: Status {
                    pid,
                    started: false,
                    exit: None,
                },
                log,
                drained: 0,
                streams,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("state")
    }

    /// The container's state now.
    pub fn status(&self) -> Status {
        self.lock().status.clone()
    }

    /// Records that berthd asked for a SIGKILL.
    pub fn note_kill_requested(&self) {
        self.kill_requested.store(true, Ordering::SeqCst);
    }

    /// Whether berthd asked for a SIGKILL.
    pub fn kill_requested(&self) -> bool {
        self.kill_requested.load(Ordering::SeqCst)
    }

    /// Records that `start` succeeded.
    pub fn mark_started(&self) {
        self.lock().status.started = true;
    }

    /// Writes what it can of `bytes` to the log (all of it goes nowhere without a log).
    pub fn write_log(&self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.lock().log.as_mut() {
            Some(f) => std::io::Write::write(f, bytes),
            None => Ok(bytes.len()),
        }
    }

    /// Writes the log to `log` from now on (after the kubelet rotated it).
    pub fn replace_log(&self, log: File) {
        self.lock().log = Some(log);
    }

    /// Records that one output stream reached its end.
    pub fn stream_ended(&self) {
        self.lock().drained += 1;
        self.changed.notify_all();
    }

    /// Waits, at most `limit`, until every output stream has ended. If they have not after a
    /// first short wait, `stragglers` runs once (without the lock): processes other than the
    /// init may hold the output open.
    pub fn await_drained(&self, limit: Duration, stragglers: impl FnOnce()) {
        let deadline = Instant::now() + limit;
        let mut stragglers = Some(stragglers);
        let mut state = self.lock();
        while state.drained < state.streams && Instant::now() < deadline {
            let (next, timeout) = self.changed.wait_timeout(state, DRAIN_TICK).expect("state");
            state = next;
            if timeout.timed_out()
                && state.drained < state.streams
                && let Some(stragglers) = stragglers.take()
            {
                drop(state);
                stragglers();
                state = self.lock();
            }
        }
    }

    /// Flushes the log to disk.
    pub fn sync_log(&self) {
        if let Some(log) = self.lock().log.as_mut() {
            let _ = log.sync_data();
        }
    }

    /// Records the exit and wakes everyone waiting for it.
    pub fn record_exit(&self, exit: Exit) {
        self.lock().status.exit = Some(exit);
        self.changed.notify_all();
    }

    /// Blocks until the exit is recorded.
    pub fn await_exit(&self) {
        let mut state = self.lock();
        while state.status.exit.is_none() {
            state = self.changed.wait(state).expect("state");
        }
    }
}
