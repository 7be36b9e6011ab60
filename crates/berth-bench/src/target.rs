//! One runtime under test: its socket, a client, its daemon PID and what the scenarios need
//! to make pods and containers on it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_cri_client::{CriClient, cri};
use regex::Regex;

use crate::procs;

/// A runtime under test.
pub struct Target {
    /// The socket as given.
    pub socket: PathBuf,
    /// Its CRI name and version (`berth 0.1.0`).
    pub name: String,
    /// A client (cheap to clone; one HTTP/2 connection).
    pub client: CriClient,
    /// The daemon's PID, when it could be found.
    pub daemon: Option<i32>,
    /// Helper processes (shims, monitors, pause).
    pub helpers: Regex,
    /// Where pod log directories go.
    pub logs: PathBuf,
    /// The image every container runs.
    pub image: String,
    /// This runtime's index, for unique names.
    pub index: usize,
    counter: AtomicU64,
}

/// Why a scenario failed.
pub type Failure = String;

/// Turns a gRPC error into a failure naming the call.
pub fn failed(call: &'static str) -> impl Fn(tonic::Status) -> Failure {
    move |s| format!("{call}: {:?}: {}", s.code(), s.message())
}

impl Target {
    /// Connects to `socket` and pulls `image`.
    pub async fn open(
        index: usize,
        socket: &Path,
        image: &str,
        helpers: Option<&str>,
        logs: &Path,
    ) -> Result<Target, Failure> {
        // A runtime that was just started may still be recovering (berth answers Version
        // and Status then, everything else Unavailable): wait for it.
        let mut client =
            berth_cri_client::connect_ready(socket, std::time::Duration::from_secs(60)).await?;
        let version = client
            .runtime
            .version(cri::VersionRequest::default())
            .await
            .map_err(failed("Version"))?
            .into_inner();
        let pattern = helpers
            .unwrap_or_else(|| procs::default_helper_pattern(&version.runtime_name))
            .to_owned();
        client
            .image
            .pull_image(cri::PullImageRequest {
                image: Some(image_spec(image)),
                ..Default::default()
            })
            .await
            .map_err(failed("PullImage"))?;
        let logs = logs.join(format!("runtime{index}"));
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        Ok(Target {
            socket: socket.to_owned(),
            name: format!("{} {}", version.runtime_name, version.runtime_version),
            client,
            daemon: procs::socket_owner(socket),
            helpers: Regex::new(&pattern).map_err(|e| format!("helper regex {pattern:?}: {e}"))?,
            logs,
            image: image.to_owned(),
            index,
            counter: AtomicU64::new(0),
        })
    }

    /// A pod config with a unique name, its own network and PID namespace, logs under
    /// this runtime's log dir.
    pub fn pod_config(&self) -> cri::PodSandboxConfig {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("bench-{}-{}-{n}", std::process::id(), self.index);
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.clone(),
                uid: format!("uid-{name}"),
                namespace: "berth-bench".into(),
                attempt: 0,
            }),
            hostname: format!("p{n}"),
            log_directory: self.logs.join(&name).display().to_string(),
            linux: Some(cri::LinuxPodSandboxConfig {
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        pid: cri::NamespaceMode::Container as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A container config running `script` with `sh -c`, in its own PID namespace, logging
    /// to `<name>.log` in its pod's log dir.
    pub fn container_config(&self, name: &str, script: &str) -> cri::ContainerConfig {
        cri::ContainerConfig {
            log_path: format!("{name}.log"),
            ..sh_container(&self.image, name, script)
        }
    }
}

/// A container config running `script` with `sh -c` from `image`, in its own PID namespace
/// (as the kubelet asks by default), without a log.
pub fn sh_container(image: &str, name: &str, script: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.to_owned(),
            attempt: 0,
        }),
        image: Some(image_spec(image)),
        command: vec!["sh".into(), "-c".into(), script.to_owned()],
        linux: Some(cri::LinuxContainerConfig {
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    pid: cri::NamespaceMode::Container as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The CRI spec of image reference `image`.
pub fn image_spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.to_owned(),
        ..Default::default()
    }
}

/// A pod on one runtime, made through the CRI, with helpers for its containers.
pub struct Pod {
    /// Its ID.
    pub id: String,
    /// Its config (containers need it).
    pub config: cri::PodSandboxConfig,
    client: CriClient,
}

impl Pod {
    /// Runs a pod on `target`, with a config of its own ([`Target::pod_config`]).
    pub async fn run(target: &Target) -> Result<Pod, Failure> {
        Self::run_with(&target.client, target.pod_config()).await
    }

    /// Runs a pod with `config` through `client`.
    pub async fn run_with(
        client: &CriClient,
        config: cri::PodSandboxConfig,
    ) -> Result<Pod, Failure> {
        let mut client = client.clone();
        let id = client
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .map_err(failed("RunPodSandbox"))?
            .into_inner()
            .pod_sandbox_id;
        Ok(Pod { id, config, client })
    }

    /// Creates a container in the pod.
    pub async fn create(&self, config: cri::ContainerConfig) -> Result<String, Failure> {
        Ok(self
            .client
            .clone()
            .runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: self.id.clone(),
                config: Some(config),
                sandbox_config: Some(self.config.clone()),
            })
            .await
            .map_err(failed("CreateContainer"))?
            .into_inner()
            .container_id)
    }

    /// Starts a container.
    pub async fn start(&self, id: &str) -> Result<(), Failure> {
        self.client
            .clone()
            .runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.to_owned(),
            })
            .await
            .map_err(failed("StartContainer"))
            .map(drop)
    }

    /// Stops a container with `timeout` seconds of grace.
    pub async fn stop_container(&self, id: &str, timeout: i64) -> Result<(), Failure> {
        self.client
            .clone()
            .runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.to_owned(),
                timeout,
            })
            .await
            .map_err(failed("StopContainer"))
            .map(drop)
    }

    /// Removes a container.
    pub async fn remove_container(&self, id: &str) -> Result<(), Failure> {
        self.client
            .clone()
            .runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.to_owned(),
            })
            .await
            .map_err(failed("RemoveContainer"))
            .map(drop)
    }

    /// Stops the pod.
    pub async fn stop(&self) -> Result<(), Failure> {
        self.client
            .clone()
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: self.id.clone(),
            })
            .await
            .map_err(failed("StopPodSandbox"))
            .map(drop)
    }

    /// Removes the pod.
    pub async fn remove(&self) -> Result<(), Failure> {
        self.client
            .clone()
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: self.id.clone(),
            })
            .await
            .map_err(failed("RemovePodSandbox"))
            .map(drop)
    }

    /// Stops and removes the pod.
    pub async fn destroy(&self) -> Result<(), Failure> {
        self.stop().await?;
        self.remove().await
    }

    /// The log file of container `name`.
    pub fn log_path(&self, name: &str) -> PathBuf {
        Path::new(&self.config.log_directory).join(format!("{name}.log"))
    }
}

/// Waits until `path` contains `text`, polling every millisecond, at most `limit`.
pub async fn wait_for_text(path: &Path, text: &str, limit: Duration) -> Result<(), Failure> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if std::fs::read_to_string(path)
            .map(|s| s.contains(text))
            .unwrap_or(false)
        {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("{text:?} did not appear in {}", path.display()));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
