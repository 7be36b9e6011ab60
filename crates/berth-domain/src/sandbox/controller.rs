//! The sandbox controller: the interface every sandbox implementation offers (containerd's
//! `sandbox.Controller`), and the default one, "podsandbox", which runs `berth-pause` through
//! the handler's OCI runtime under a `berth-monitor`.
//!
//! The lifecycle verbs (`run`, `stop`, `remove`, `status`) own namespaces, network and files;
//! the controller owns only the infra process. Its dependencies (binaries, paths, runtime
//! handlers) are passed in explicitly.

use std::path::PathBuf;
use std::time::Duration;

use berth_monitor::Exit;
use berth_oci::{Runtime, RuntimeError};

use super::spec::{InfraSpec, write_bundle};
use super::{Helpers, blocking};
use crate::Error;
use crate::monitor as infra;
use crate::runtime::Handlers;

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

/// Where the infra runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: &'static str,
    /// `amd64`, `arm64`, ...
    pub architecture: &'static str,
}

/// The infra's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfraStatus {
    /// Its PID.
    pub pid: i32,
    /// Whether it still runs.
    pub running: bool,
    /// Its exit, once recorded.
    pub exit: Option<Exit>,
}

/// What every sandbox implementation does.
#[allow(async_fn_in_trait)]
pub trait SandboxController: Send + Sync {
    /// Prepares the infra (bundle, runtime `create`) without starting it.
    async fn create(&self, infra: &InfraRef, spec: &InfraSpec<'_>) -> Result<i32, Error>;
    /// Starts the created infra.
    async fn start(&self, infra: &InfraRef) -> Result<(), Error>;
    /// The platform sandboxes run on.
    fn platform(&self) -> Platform;
    /// Sends SIGKILL to the infra without waiting.
    async fn kill(&self, infra: &InfraRef) -> Result<(), Error>;
    /// Kills the infra and waits (at most `timeout`) for its exit to be recorded.
    async fn stop(&self, infra: &InfraRef, timeout: Duration) -> Result<(), Error>;
    /// Waits for the infra's exit.
    async fn wait(&self, infra: &InfraRef, timeout: Duration) -> Result<Option<Exit>, Error>;
    /// The infra's state now.
    async fn status(&self, infra: &InfraRef) -> Result<InfraStatus, Error>;
    /// Deletes everything `create` made; idempotent.
    async fn shutdown(&self, infra: &InfraRef) -> Result<(), Error>;
    /// Resource usage of the sandbox.
    async fn metrics(&self, infra: &InfraRef) -> Result<serde_json::Value, Error>;
    /// Changes the sandbox's resources.
    async fn update(&self, infra: &InfraRef, resources: &serde_json::Value) -> Result<(), Error>;
}

/// The default controller.
pub struct PodSandboxController {
    helpers: Helpers,
    handlers: Handlers,
    state: PathBuf,
}

impl PodSandboxController {
    /// Runs infra processes with `helpers`, under `handlers`, keeping state under `state`.
    pub fn new(helpers: Helpers, handlers: Handlers, state: PathBuf) -> Self {
        Self {
            helpers,
            handlers,
            state,
        }
    }

    /// After a kill: waits (at most `timeout`) for the infra's exit to be recorded and for
    /// its monitor to leave. An infra never started (PID 0) has nothing to wait for.
    pub async fn await_exit(&self, infra: &InfraRef, timeout: Duration) -> Result<(), Error> {
        if infra.pid <= 0 {
            return Ok(());
        }
        let (state, pid) = (self.monitor_dir(&infra.id), infra.pid);
        blocking("waiting for the infra exit", move || {
            if infra::wait_exit(&state, timeout).is_none() && infra::alive(&state, pid) {
                return Err(Error::InvalidRequest(format!(
                    "infra process {pid} did not exit after SIGKILL"
                )));
            }
            if !infra::wait_monitor_gone(&state, timeout) {
                tracing::warn!(pid, "the infra's monitor did not leave after the exit");
            }
            Ok(())
        })
        .await
        .map_err(|e| Self::failed(infra, "stop the infra process")(e.to_string()))
    }

    /// The sandbox's directory.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.state.join("sandboxes").join(id)
    }

    /// The monitor's directory: short, because it holds a Unix socket (108-byte paths).
    pub fn monitor_dir(&self, id: &str) -> PathBuf {
        self.state.join("m").join(id)
    }

    fn runtime_root(&self, handler: &str) -> PathBuf {
        self.state.join("runtime").join(handler)
    }

    fn runtime(&self, infra: &InfraRef) -> Option<Runtime> {
        let binary = self.handlers.all().get(&infra.handler)?.binary.clone()?;
        Some(Runtime::new(
            binary,
            self.runtime_root(&infra.handler),
            self.dir(&infra.id).join("runtime-logs"),
        ))
    }

    fn failed(infra: &InfraRef, step: &'static str) -> impl FnOnce(String) -> Error {
        let id = infra.id.clone();
        move |reason| Error::Sandbox { id, step, reason }
    }
}

impl SandboxController for PodSandboxController {
    async fn create(&self, infra: &InfraRef, spec: &InfraSpec<'_>) -> Result<i32, Error> {
        let runtime = self.runtime(infra).ok_or_else(|| {
            Self::failed(infra, "find the runtime")(format!(
                "handler {:?} has no binary",
                infra.handler
            ))
        })?;
        let bundle = self.dir(&infra.id).join("bundle");
        write_bundle(&bundle, spec).map_err(Self::failed(infra, "write the infra bundle"))?;
        let (monitor, binary, root, state, id) = (
            self.helpers.monitor.clone(),
            runtime.binary().to_owned(),
            self.runtime_root(&infra.handler),
            self.monitor_dir(&infra.id),
            infra.id.clone(),
        );
        blocking("creating the infra", move || {
            infra::spawn(&infra::Launch {
                monitor: &monitor,
                id: &id,
                bundle: &bundle,
                runtime: &binary,
                runtime_root: &root,
                state: &state,
                log_path: None,
                tty: false,
            })
            .map_err(|reason| Error::sandbox_runtime(&id, "create the infra process", reason))
        })
        .await
    }

    async fn start(&self, infra: &InfraRef) -> Result<(), Error> {
        let state = self.monitor_dir(&infra.id);
        blocking("starting the infra", move || {
            infra::start(&state)
                .map(drop)
                .map_err(Error::InvalidRequest)
        })
        .await
        .map_err(|e| Self::failed(infra, "start the infra process")(e.to_string()))
    }

    fn platform(&self) -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Platform {
            os: "linux",
            architecture,
        }
    }

    async fn kill(&self, infra: &InfraRef) -> Result<(), Error> {
        // The infra is alone in its cgroup (the pod's containers have their own and are
        // stopped first), and when it leads the pod's PID namespace the kernel kills the
        // rest with it: SIGKILL through the monitor's pidfd does it without a runtime
        // command. The runtime's kill-all is the fallback when the monitor cannot.
        let signalled = infra::signal(&self.monitor_dir(&infra.id), libc::SIGKILL).await;
        if let (Err(e), Some(runtime)) = (signalled, self.runtime(infra)) {
            tracing::debug!(pod_id = %infra.id, error = %e, "monitor signal; using the runtime");
            match runtime.kill(&infra.id, libc::SIGKILL, true).await {
                Ok(()) | Err(RuntimeError::NotFound { .. }) => {}
                Err(e) => tracing::debug!(pod_id = %infra.id, error = %e, "kill"),
            }
        }
        Ok(())
    }

    async fn stop(&self, infra: &InfraRef, timeout: Duration) -> Result<(), Error> {
        self.kill(infra).await?;
        self.await_exit(infra, timeout).await
    }

    async fn wait(&self, infra: &InfraRef, timeout: Duration) -> Result<Option<Exit>, Error> {
        let state = self.monitor_dir(&infra.id);
        blocking("waiting for the infra", move || {
            Ok(infra::wait_exit(&state, timeout))
        })
        .await
    }

    async fn status(&self, infra: &InfraRef) -> Result<InfraStatus, Error> {
        let state = self.monitor_dir(&infra.id);
        let exit = infra::exit(&state);
        let running = exit.is_none() && infra.pid > 0 && infra::alive(&state, infra.pid);
        Ok(InfraStatus {
            pid: infra.pid,
            running,
            exit,
        })
    }

    async fn shutdown(&self, infra: &InfraRef) -> Result<(), Error> {
        if let Some(runtime) = self.runtime(infra) {
            runtime
                .delete(&infra.id, true)
                .await
                .map_err(|e| Self::failed(infra, "delete the infra container")(e.to_string()))?;
        }
        let monitor_dir = self.monitor_dir(&infra.id);
        match std::fs::remove_dir_all(&monitor_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Self::failed(infra, "remove the monitor directory")(
                    format!("{}: {e}", monitor_dir.display()),
                ))
            }
            _ => Ok(()),
        }
    }

    async fn metrics(&self, infra: &InfraRef) -> Result<serde_json::Value, Error> {
        Err(Self::failed(infra, "metrics")(
            "sandbox metrics are not implemented by berth yet".into(),
        ))
    }

    async fn update(&self, infra: &InfraRef, _resources: &serde_json::Value) -> Result<(), Error> {
        Err(Self::failed(infra, "update")(
            "the pause infra has no resources to update".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller() -> PodSandboxController {
        let helpers = Helpers {
            pause: "/nonexistent/berth-pause".into(),
            monitor: "/nonexistent/berth-monitor".into(),
        };
        PodSandboxController::new(helpers, Handlers::default(), "/run/berth-test".into())
    }

    fn infra() -> InfraRef {
        InfraRef {
            id: "abc".into(),
            handler: "runc".into(),
            pid: 0,
        }
    }

    #[test]
    fn the_platform_is_this_host() {
        let p = controller().platform();
        assert_eq!(p.os, "linux");
        assert!(!p.architecture.is_empty());
    }

    #[tokio::test]
    async fn unbuilt_operations_fail_instead_of_pretending() {
        let c = controller();
        assert!(c.metrics(&infra()).await.is_err());
        assert!(c.update(&infra(), &serde_json::Value::Null).await.is_err());
        // Unknown handler: create names it.
        let sysctls = Default::default();
        let spec = InfraSpec {
            hostname: "h",
            netns: None,
            host_ipc: true,
            host_pid: true,
            cgroups_path: "/berth/abc".into(),
            sysctls: &sysctls,
            oom_score_adj: 0,
            pause: std::path::Path::new("/nonexistent"),
            shm: None,
        };
        let err = c.create(&infra(), &spec).await.unwrap_err();
        assert!(err.to_string().contains("runc"), "{err}");
        // Nothing started: status says so, stop and shutdown are no-ops.
        let status = c.status(&infra()).await.unwrap();
        assert!(!status.running);
        c.stop(&infra(), Duration::from_millis(10)).await.unwrap();
        c.shutdown(&infra()).await.unwrap();
    }
}
