//! The end of the container: waiting for its init (a pidfd, backed by a rare liveness
//! check), reaping the orphans the container leaves to the monitor (its subreaper) as their
//! SIGCHLD arrives, decoding the exit, recording it durably in the exit file, and then ending
//! the monitor. The wait is event-driven (the pidfd, SIGCHLD, the OOM notices), so an idle
//! monitor does not wake and stays trimmed (`idle`).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_monitor::attach::ATTACH_SOCKET_FILE;
use berth_monitor::{EXIT_FILE, Exit, SOCKET_FILE};

use crate::idle;
use crate::oom;
use crate::shared::Shared;
use crate::sys;

/// How often the reaper checks that the container still exists and sweeps orphans without
/// being woken, in case a notification was lost or an orphan ended while a runtime command
/// ran (then the sweep waits).
const BACKSTOP_MS: i32 = 60_000;
/// `idle::QUIET` as a poll timeout.
const QUIET_MS: i32 = idle::QUIET.as_millis() as i32;
/// How often it checks without a pidfd (Linux before 5.3), where nothing else wakes it.
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
    // Attachers have had every byte: tell them it is over.
    shared.attach.end();
    sweep_orphans(shared);
    // The socket goes first: a caller waits for it to know the monitor is done (nothing is
    // written after this). Then let the answers to waiters leave, and go.
    let _ = std::fs::remove_file(shared.state_dir.join(SOCKET_FILE));
    let _ = std::fs::remove_file(shared.state_dir.join(ATTACH_SOCKET_FILE));
    std::thread::sleep(Duration::from_millis(10));
    std::process::exit(0);
}

/// Waits until the init has ended and reaps it; sweeps orphans meanwhile. The OOM-kill
/// count is read each time its file changes and once more as the init ends (see `oom`).
fn wait_for_init(shared: &Shared) -> Exit {
    let mut oom_seen = false;
    let children = sys::child_signals().ok();
    // Activity since the last trim: then the next poll waits only until the monitor has
    // been quiet for `idle::QUIET`.
    let mut busy = true;
    loop {
        let mut fds = Vec::with_capacity(4);
        fds.extend(shared.idle.news());
        fds.extend(children.as_ref().map(AsFd::as_fd));
        fds.extend(shared.pidfd.as_ref().map(AsFd::as_fd));
        fds.extend(shared.oom.notices());
        if shared.pidfd.is_none() {
            std::thread::sleep(Duration::from_millis(LIVENESS_INTERVAL_MS as u64));
        } else {
            let timeout = if busy { QUIET_MS } else { BACKSTOP_MS };
            match sys::poll_readable(&fds, timeout) {
                // Quiet since the last activity: trim, once.
                Ok(ready) if busy && !ready.contains(&true) => {
                    busy = false;
                    shared.idle.trim();
                    continue;
                }
                // News, an ended child, an OOM notice or the backstop: activity, and the
                // checks below.
                _ => busy = true,
            }
        }
        let woken_by = [shared.idle.news(), children.as_ref().map(AsFd::as_fd)];
        for fd in woken_by.into_iter().flatten() {
            sys::drain_events(fd);
        }
        // Also read before the reap, the moment the init ended, in case no notice came.
        let last = shared.oom.kills();
        oom_seen |= last.unwrap_or(0) > 0;
        let exit = match sys::try_reap(shared.pid) {
            Ok(Some(status)) => decode(status),
            // Belt and braces: if the process is gone and we could not reap it, say so.
            Err(_) if !sys::exists(shared.pid) => Exit {
                code: 255,
                signal: None,
                at_ns: now_ns(),
                oom_killed: false,
            },
            _ => {
                sweep_orphans(shared);
                continue;
            }
        };
        let oom_killed = oom::judge(oom_seen, last, exit.signal, shared.kill_requested(), || {
            shared.oom.parent_counted_one()
        });
        return Exit { oom_killed, ..exit };
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
