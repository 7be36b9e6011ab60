//! The end of the container: waiting for its init (a pidfd, backed by a periodic liveness
//! check), reaping the orphans the container leaves to the monitor (its subreaper), decoding
//! the exit, recording it durably in the exit file, and then ending the monitor.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_monitor::{EXIT_FILE, Exit, SOCKET_FILE, cgroup};

use crate::shared::Shared;
use crate::sys;

/// How often the reaper checks that the container still exists, in case an exit
/// notification was lost.
const LIVENESS_INTERVAL_MS: i32 = 1000;
/// How long the output may keep draining after the container exited.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Starts the reaper thread.
pub fn spawn(shared: &Arc<Shared>) {
    let shared = shared.clone();
    std::thread::spawn(move || reap(&shared));
}

/// Waits for the init, records its exit durably, then (once the output is drained) ends the
/// monitor.
fn reap(shared: &Shared) -> ! {
    let exit = wait_for_init(shared);
    // Let the output drain (bounded) so that whoever learns of the exit finds the whole log
    // written. Processes the init left behind (it shared a PID namespace, so the kernel did
    // not kill them) may hold the pipes open: like containerd's shim, kill what is left of the
    // container then.
    shared.await_drained(DRAIN_LIMIT, || shared.runtime.kill_all());
    shared.sync_log();
    // The exit is durable before anyone is told of it. Without the file a restarted berthd
    // would not know the exit; it is still served live to waiters.
    let _ = write_exit(&shared.state_dir, &exit);
    shared.record_exit(exit);
    sweep_orphans(shared);
    // The socket goes first: a caller waits for it to know the monitor is done (nothing is
    // written after this). Then let the answers to waiters leave, and go.
    let _ = std::fs::remove_file(shared.state_dir.join(SOCKET_FILE));
    std::thread::sleep(Duration::from_millis(10));
    std::process::exit(0);
}

/// Waits until the init has ended and reaps it; sweeps orphans meanwhile.
fn wait_for_init(shared: &Shared) -> Exit {
    loop {
        match &shared.pidfd {
            Some(pidfd) => {
                let _ = sys::poll_readable(&[pidfd.as_fd()], LIVENESS_INTERVAL_MS);
            }
            None => std::thread::sleep(Duration::from_millis(LIVENESS_INTERVAL_MS as u64)),
        }
        // Read before the reap, the moment the init ended: under the systemd driver its
        // scope, and the counter with it, goes as soon as systemd sees it empty.
        let oom_killed = oom_kills(shared.oom_counter.as_deref()) > 0;
        match sys::try_reap(shared.pid) {
            Ok(Some(status)) => {
                return Exit {
                    oom_killed,
                    ..decode(status)
                };
            }
            // Belt and braces: if the process is gone and we could not reap it, say so.
            Err(_) if !sys::exists(shared.pid) => {
                return Exit {
                    code: 255,
                    signal: None,
                    at_ns: now_ns(),
                    oom_killed,
                };
            }
            _ => {}
        }
        sweep_orphans(shared);
    }
}

/// Reaps processes orphaned to us (the container's own children), never a runtime command
/// and never the container's init: its status belongs to the reaper, so each zombie is
/// looked at first and only reaped when it is someone else.
fn sweep_orphans(shared: &Shared) {
    let Some(_idle) = shared.runtime.idle() else {
        return;
    };
    while let Some(pid) = sys::ended_child() {
        if pid == shared.pid {
            return;
        }
        let _ = sys::try_reap(pid);
    }
}

/// The exit a raw wait status describes, reaped now.
/// The OOM-kill counter file of `pid`'s cgroup (see `Shared::oom_counter`).
pub fn oom_counter(pid: i32) -> Option<PathBuf> {
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    Some(cgroup::memory_cgroup(&proc_cgroup, unified)?.join(cgroup::oom_counter_file(unified)))
}

/// The `oom_kill` count in a counter file; 0 when it cannot be read.
fn oom_kills(counter: Option<&Path>) -> u64 {
    counter
        .and_then(|file| std::fs::read_to_string(file).ok())
        .and_then(|text| cgroup::oom_kill_count(&text))
        .unwrap_or(0)
}

fn decode(status: i32) -> Exit {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        Exit {
            code: 128 + signal,
            signal: Some(signal),
            at_ns: now_ns(),
            oom_killed: false,
        }
    } else {
        Exit {
            code: libc::WEXITSTATUS(status),
            signal: None,
            at_ns: now_ns(),
            oom_killed: false,
        }
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Writes the exit record: temp file, fsync, rename, fsync of the directory.
fn write_exit(dir: &Path, exit: &Exit) -> std::io::Result<()> {
    let tmp = dir.join(format!("{EXIT_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(exit)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(EXIT_FILE))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_counter_counts_no_kill() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("memory.events");
        std::fs::write(&events, "oom 1\noom_kill 1\n").unwrap();
        assert_eq!(oom_kills(Some(&events)), 1);
        assert_eq!(oom_kills(Some(&dir.path().join("gone"))), 0);
        assert_eq!(oom_kills(None), 0);
    }

    #[test]
    fn exits_decode_codes_and_signals() {
        // A raw wait status: the code in the second byte, or the signal in the low bits.
        let exited = decode(3 << 8);
        assert_eq!((exited.code, exited.signal), (3, None));
        let killed = decode(libc::SIGKILL);
        assert_eq!((killed.code, killed.signal), (137, Some(libc::SIGKILL)));
    }

    #[test]
    fn the_exit_file_replaces_the_old_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let exit = Exit {
            code: 1,
            signal: None,
            at_ns: 7,
            oom_killed: false,
        };
        write_exit(dir.path(), &exit).unwrap();
        write_exit(dir.path(), &exit).unwrap();
        let read: Exit =
            serde_json::from_slice(&std::fs::read(dir.path().join(EXIT_FILE)).unwrap()).unwrap();
        assert_eq!(read, exit);
        assert!(!dir.path().join(format!("{EXIT_FILE}.tmp")).exists());
    }
}
