//! The infra controller: the one way a sandbox's infra process is driven (created, started,
//! killed, awaited, asked about, deleted). It runs `berth-pause` through the handler's OCI
//! runtime under a `berth-monitor`.
//!
//! The lifecycle verbs (`run`, `stop`, `remove`, `status`, `list`) own namespaces, network
//! and files; the controller owns only the infra process. It is a concrete type, not a trait:
//! berth has one kind of sandbox. containerd's `sandbox.Controller` has ten methods for
//! pluggable sandboxes (VMs); the day berth runs a second kind, the trait is cut from the
//! methods below, which are the ones the verbs use.

use std::sync::Arc;
use std::time::Duration;

use berth_monitor::Exit;
use berth_oci::RuntimeError;

use super::blocking;
use super::spec::{InfraSpec, write_bundle};
use crate::context::Context;
use crate::monitor;
use crate::{Cause, Error};

/// Which sandbox, and under which runtime handler.
#[derive(Debug, Clone)]
pub struct InfraRef {
    /// The sandbox ID (also the OCI container ID of its infra).
    pub id: String,
    /// The runtime handler.
    pub handler: String,
    /// The infra PID once started; 0 before.
    pub pid: i32,
}

/// The infra's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfraStatus {
    /// Whether it still runs.
    pub running: bool,
    /// Its exit, once recorded.
    pub exit: Option<Exit>,
}

/// Drives infra processes.
pub struct InfraController {
    context: Arc<Context>,
}

/// The infra process did not exit after SIGKILL (a process in uninterruptible sleep).
#[derive(Debug, thiserror::Error)]
#[error("infra process {pid} did not exit within {} ms of SIGKILL", timeout.as_millis())]
struct StillRunning {
    pid: i32,
    timeout: Duration,
}

impl InfraController {
    /// Over the domain's context (handlers, helper binaries, layout).
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    fn failed(infra: &InfraRef, step: &'static str) -> impl FnOnce(Cause) -> Error {
        let id = infra.id.clone();
        move |cause| Error::sandbox(&id, step, cause)
    }

    /// Writes the infra's bundle and has a monitor run the runtime's `create`; returns the
    /// infra's PID.
    pub async fn create(&self, infra: &InfraRef, spec: &InfraSpec<'_>) -> Result<i32, Error> {
        let runtime = self.context.runtime(&infra.handler)?;
        let layout = &self.context.layout;
        let bundle = layout.sandbox_bundle(&infra.id);
        write_bundle(
            &layout.sandbox_rootfs(&infra.id),
            &layout.sandbox_spec(&infra.id),
            spec,
        )
        .map_err(|e| Self::failed(infra, "write the infra bundle")(e.into()))?;
        let (monitor, binary, root, state, id) = (
            self.context.helpers.monitor.clone(),
            runtime.binary().to_owned(),
            layout.runtime_root(&infra.handler),
            layout.monitor_dir(&infra.id),
            infra.id.clone(),
        );
        let systemd_cgroup = self.context.systemd_cgroup();
        blocking("creating the infra", move || {
            monitor::spawn(&monitor::Launch {
                monitor: &monitor,
                id: &id,
                bundle: &bundle,
                runtime: &binary,
                runtime_root: &root,
                state: &state,
                log_path: None,
                tty: false,
                stdin: false,
                stdin_once: false,
                systemd_cgroup,
            })
            .map_err(|e| Error::sandbox_runtime(&id, "create the infra process", e))
        })
        .await
    }

    /// Starts the created infra.
    pub async fn start(&self, infra: &InfraRef) -> Result<(), Error> {
        let state = self.context.layout.monitor_dir(&infra.id);
        let id = infra.id.clone();
        blocking("starting the infra", move || {
            monitor::start(&state)
                .map(drop)
                .map_err(|e| Error::sandbox(&id, "start the infra process", e))
        })
        .await
    }

    /// Sends SIGKILL to the infra without waiting.
    pub async fn kill(&self, infra: &InfraRef) {
        // The infra is alone in its cgroup (the pod's containers have their own and are
        // stopped first), and when it leads the pod's PID namespace the kernel kills the
        // rest with it: SIGKILL through the monitor's pidfd does it without a runtime
        // command. The runtime's kill-all is the fallback when the monitor cannot.
        let state = self.context.layout.monitor_dir(&infra.id);
        let signalled = monitor::signal(&state, libc::SIGKILL).await;
        if let (Err(e), Ok(runtime)) = (signalled, self.context.runtime(&infra.handler)) {
            tracing::debug!(pod_id = %infra.id, error = %e, "monitor signal; using the runtime");
            match runtime.kill(&infra.id, libc::SIGKILL, true).await {
                Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
                Err(e) => tracing::debug!(pod_id = %infra.id, error = %e, "kill"),
            }
        }
    }

    /// After a kill: waits (at most `timeout`) for the infra's exit to be recorded and for
    /// its monitor to leave. An infra never started (PID 0) has nothing to wait for.
    pub async fn await_exit(&self, infra: &InfraRef, timeout: Duration) -> Result<(), Error> {
        if infra.pid <= 0 {
            return Ok(());
        }
        let (state, pid, id) = (
            self.context.layout.monitor_dir(&infra.id),
            infra.pid,
            infra.id.clone(),
        );
        blocking("waiting for the infra exit", move || {
            let deadline = std::time::Instant::now() + timeout;
            // With its monitor gone (killed, crashed) there is no exit to wait for: the
            // infra's own end is watched until the deadline instead.
            while monitor::wait_exit(&state, timeout).is_none() && monitor::alive(&state, pid) {
                if std::time::Instant::now() >= deadline {
                    let still = StillRunning { pid, timeout };
                    return Err(Error::sandbox(&id, "stop the infra process", still));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if !monitor::wait_monitor_gone(&state, timeout) {
                tracing::warn!(pid, "the infra's monitor did not leave after the exit");
            }
            Ok(())
        })
        .await
    }

    /// The infra's state now, without holding a worker thread while its monitor answers.
    pub async fn status(&self, infra: &InfraRef) -> InfraStatus {
        let state = self.context.layout.monitor_dir(&infra.id);
        let exit = monitor::exit(&state);
        let running =
            exit.is_none() && infra.pid > 0 && monitor::alive_async(&state, infra.pid).await;
        InfraStatus { running, exit }
    }

    /// Deletes everything `create` made (the runtime's container, the monitor's
    /// directory); idempotent.
    pub async fn shutdown(&self, infra: &InfraRef) -> Result<(), Error> {
        if let Ok(runtime) = self.context.runtime(&infra.handler) {
            runtime
                .delete(&infra.id, true)
                .await
                .map_err(|e| Self::failed(infra, "delete the infra container")(e.into()))?;
        }
        let monitor_dir = self.context.layout.monitor_dir(&infra.id);
        match std::fs::remove_dir_all(&monitor_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                let cause = format!("{}: {e}", monitor_dir.display());
                Err(Self::failed(infra, "remove the monitor directory")(
                    cause.into(),
                ))
            }
            _ => Ok(()),
        }
    }
}
