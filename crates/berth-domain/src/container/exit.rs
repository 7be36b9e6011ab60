//! The exit path (docs/lifecycle.md): each container has one watcher. It waits for the exit at the
//! container's monitor (or, when the monitor is gone, reads the exit file, or watches the
//! process itself), then handles it: reads the cgroup's OOM count, records exit code, reason
//! and finish time, persists the record and raises the "stopped" signal Stop and Remove wait
//! on; then deletes the runtime's container and unmounts the root file system. A failed
//! handling is retried with backoff (1 s doubling to 5 min); it is never dropped.

use std::sync::Arc;
use std::time::Duration;

use berth_monitor::{Exit, Request};
use berth_store::ContainerState;

use super::{Live, Shared, blocking};
use crate::Error;
use crate::events::LifecycleKind;
use crate::monitor;

/// First retry delay of a failed exit handling.
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest retry delay.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Starts the exit watcher of a created container; the task belongs to its `Live` entry and
/// is aborted when the container is removed.
pub(super) fn watch(shared: &Arc<Shared>, id: &str, live: &Arc<Live>) {
    let (shared, id) = (shared.clone(), id.to_owned());
    let task = tokio::spawn(async move {
        let exit = wait_for_exit(&shared, &id).await;
        let mut delay = RETRY_FIRST;
        loop {
            let handled = match exit {
                Some(exit) => handle(&shared, &id, exit).await,
                None => mark_unknown(&shared, &id).await,
            };
            let Err(e) = handled else { break };
            tracing::warn!(container_id = %id, error = %e, retry_in = ?delay, "exit handling failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    });
    *live.watcher.lock().expect("watcher") = Some(task);
}

/// How many times a monitor that does not answer is asked again before it counts as lost.
const LOST_MONITOR_RETRIES: u32 = 3;
/// How long a killed container of a lost monitor may take to disappear.
const LOST_KILL_WAIT: Duration = Duration::from_secs(10);

/// Waits until the container's exit is known; `None` when it can no longer be accounted for
/// (its monitor is lost and its process would not go).
async fn wait_for_exit(shared: &Shared, id: &str) -> Option<Exit> {
    let dir = shared.monitor_dir(id);
    for attempt in 0..=LOST_MONITOR_RETRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Ok(status) = monitor::ask_async(&dir, &Request::Wait).await
            && let Some(exit) = status.exit
        {
            return Some(exit);
        }
        if let Some(exit) = monitor::exit(&dir) {
            return Some(exit);
        }
    }
    // The monitor is gone without an exit file: nothing holds the container's output or
    // would record its exit. Like containerd after a dead shim, kill what is left of the
    // container (through the runtime, which checks the process is still the container's) and
    // record 255.
    let record = shared.load(id).await.ok().flatten();
    let pid = record.as_ref().map_or(0, |r| r.pid);
    tracing::warn!(container_id = %id, pid, "the container's monitor is gone without an exit; killing the container");
    if let Some(record) = &record
        && let Ok(runtime) = shared.runtime(&record.runtime_handler)
        && let Err(e) = runtime.kill(id, libc::SIGKILL, true).await
    {
        tracing::debug!(container_id = %id, error = %e, "kill after the monitor was lost");
    }
    if pid > 0
        && tokio::time::timeout(LOST_KILL_WAIT, wait_pid_gone(pid, id))
            .await
            .is_err()
    {
        tracing::warn!(container_id = %id, pid, "the container of a lost monitor did not disappear; its state is unknown");
        return None;
    }
    Some(monitor::exit(&dir).unwrap_or_else(|| {
        tracing::warn!(container_id = %id, "the monitor left no exit status; recording 255");
        Exit {
            code: 255,
            signal: None,
            at_ns: crate::clock::now_ns(),
            oom_killed: false,
        }
    }))
}

/// Records a container that can no longer be accounted for as UNKNOWN (docs/lifecycle.md): Stop
/// kills it through the runtime, Remove deletes it. Raises "stopped" so nobody waits on an
/// exit that no monitor will report.
async fn mark_unknown(shared: &Shared, id: &str) -> Result<(), Error> {
    let Some(live) = shared.live(id) else {
        return Ok(());
    };
    let _guard = live.lock.lock().await;
    if let Some(mut record) = shared.load(id).await?
        && record.may_run()
    {
        record.state = ContainerState::Unknown;
        shared.save(&record).await?;
    }
    live.stopped.send_replace(true);
    Ok(())
}

/// Returns once `pid` is no longer the container `id` (gone, or reused by another process);
/// checked every 100 ms.
async fn wait_pid_gone(pid: i32, id: &str) {
    while monitor::still_the_container(pid, id) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records one exit, then releases what the exited container still holds. Idempotent: an
/// exit already recorded goes straight to the release (a retry after a failed release), and
/// a container being removed only raises the signal (removal releases it).
///
/// The exit is recorded and the "stopped" signal raised before the runtime's container is
/// deleted, so that Stop returns as soon as the exit is durable rather than a runtime
/// command later. The lock is held throughout: Remove, which deletes too, waits for the
/// release to finish.
async fn handle(shared: &Shared, id: &str, exit: Exit) -> Result<(), Error> {
    let Some(live) = shared.live(id) else {
        return Ok(());
    };
    let _guard = live.lock.lock().await;
    let Some(mut record) = shared.load(id).await? else {
        live.stopped.send_replace(true);
        return Ok(());
    };
    match record.state {
        ContainerState::Removing => {
            live.stopped.send_replace(true);
            return Ok(());
        }
        ContainerState::Exited => {}
        _ => {
            let oom = exit.oom_killed || shared.host.oom_kills(&record.spec.memory_cgroup) > 0;
            record.state = ContainerState::Exited;
            record.finished_at_ns = exit.at_ns;
            record.exit_code = exit.code;
            record.reason = if oom {
                "OOMKilled"
            } else if exit.code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .to_owned();
            shared.save(&record).await?;
            shared.exits.exited(oom);
            live.stopped.send_replace(true);
            shared
                .events
                .container(id, &record.sandbox_id, LifecycleKind::Stopped);
            tracing::info!(container_id = %id, exit_code = exit.code, reason = %record.reason, "container exited");
        }
    }
    let fail = |step: &'static str| {
        let id = id.to_owned();
        move |cause: crate::Cause| Error::container(&id, step, cause)
    };
    shared
        .runtime(&record.runtime_handler)?
        .delete(id, true)
        .await
        .map_err(|e| fail("delete the runtime's container")(e.into()))?;
    let (rootfs, cid) = (shared.rootfs(id), id.to_owned());
    blocking("unmounting a root file system", move || {
        berth_image::rootfs::unmount(&rootfs)
            .map_err(|e| Error::container(&cid, "unmount the root file system", e))
    })
    .await?;
    live.released
        .store(true, std::sync::atomic::Ordering::Release);
    Ok(())
}
