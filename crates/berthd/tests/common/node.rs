//! A berthd over its own temp dirs and a registry of busybox images, with the CRI calls the
//! container and restart tests make.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_cri_client::{CriClient, cri};
use berth_testkit::{Registry, build_image, busybox_layer, default_config, push_image};

use super::{Daemon, setup};

/// A berthd over its own temp dirs and registry, cleaned up even when a test fails midway.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub daemon: Daemon,
    pub client: CriClient,
    pub image: String,
    /// Every pod and container ID made, for the leak checks.
    pub created: Vec<String>,
    /// Pods get their own network namespace and CNI network (see `use_cni`) instead of the
    /// host's network.
    pub pod_network: bool,
    _registry: Registry,
}

impl Drop for Node {
    fn drop(&mut self) {
        // A failing test shows what berthd said (every daemon of the node, restarts included).
        if std::thread::panicking() {
            let all = std::fs::read_to_string(self.dir.path().join("all-daemons.log"))
                .unwrap_or_default();
            let log = all + &self.daemon.log();
            let lines: Vec<&str> = log.lines().filter(|l| !l.contains(" DEBUG ")).collect();
            let tail = &lines[lines.len().saturating_sub(200)..];
            eprintln!(
                "---- berthd log (last {} lines) ----\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
        super::clean_leftovers(self.dir.path());
    }
}

/// Pushes busybox images (plain, StopSignal SIGUSR1, StopSignal bogus), starts berthd and
/// pulls them.
pub async fn node() -> Node {
    node_with("").await
}

/// `node()` with `extra` (tables) added to berthd's config.
pub async fn node_with(extra: &str) -> Node {
    let registry = Registry::start().await;
    let plain = default_config("amd64", "");
    let mut usr1 = plain.clone();
    usr1["config"]["StopSignal"] = "SIGUSR1".into();
    let mut bogus = plain.clone();
    bogus["config"]["StopSignal"] = "SIGBOGUS".into();
    for (tag, config) in [("latest", plain), ("usr1", usr1), ("bogus", bogus)] {
        let image = build_image(&[busybox_layer()], berth_testkit::Flavour::Gzip, config);
        push_image(&registry, "busybox", tag, &image).await;
    }
    let dir = setup(&format!(
        "{extra}\n[registries.\"{}\"]\ninsecure = true\n",
        registry.host()
    ));
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    let image = format!("{}/busybox:latest", registry.host());
    for tag in ["latest", "usr1", "bogus"] {
        client
            .image
            .pull_image(cri::PullImageRequest {
                image: Some(spec(&format!("{}/busybox:{tag}", registry.host()))),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    Node {
        dir,
        daemon,
        client,
        image,
        created: Vec::new(),
        pod_network: false,
        _registry: registry,
    }
}

pub fn spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.to_owned(),
        ..Default::default()
    }
}

impl Node {
    /// Whether berthd drives cgroups through systemd (as it detected on this node).
    pub async fn systemd_cgroups(&mut self) -> bool {
        let config = self
            .client
            .runtime
            .runtime_config(cri::RuntimeConfigRequest {})
            .await
            .unwrap()
            .into_inner();
        config.linux.unwrap().cgroup_driver == cri::CgroupDriver::Systemd as i32
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    pub fn pod_config(&self, name: &str) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.to_owned(),
                uid: format!("uid-{name}"),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.to_owned(),
            log_directory: self.logs().join(name).display().to_string(),
            linux: Some(cri::LinuxPodSandboxConfig {
                sysctls: [("kernel.shm_rmid_forced".to_owned(), "1".to_owned())].into(),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network: if self.pod_network {
                            cri::NamespaceMode::Pod
                        } else {
                            cri::NamespaceMode::Node
                        } as i32,
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

    /// `pod_config` for a pod whose containers share its PID namespace: such a pod has an
    /// infra process (`pod_config`'s has none: its PID mode is CONTAINER, the kubelet's).
    pub fn pod_config_with_infra(&self, name: &str) -> cri::PodSandboxConfig {
        let mut config = self.pod_config(name);
        let linux = config.linux.as_mut().unwrap();
        let options = linux.security_context.as_mut().unwrap();
        options.namespace_options.as_mut().unwrap().pid = cri::NamespaceMode::Pod as i32;
        config
    }

    pub async fn pod(&mut self, name: &str) -> (String, cri::PodSandboxConfig) {
        self.pod_with(self.pod_config(name)).await
    }

    /// Runs a pod from `config` (see `pod_config`).
    pub async fn pod_with(
        &mut self,
        config: cri::PodSandboxConfig,
    ) -> (String, cri::PodSandboxConfig) {
        let id = self
            .client
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .pod_sandbox_id;
        self.created.push(id.clone());
        (id, config)
    }

    pub fn config(&self, name: &str, script: &str) -> cri::ContainerConfig {
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.to_owned(),
                attempt: 0,
            }),
            image: Some(spec(&self.image)),
            command: vec!["sh".into(), "-c".into(), script.to_owned()],
            log_path: format!("{name}.log"),
            labels: [("app".to_owned(), name.to_owned())].into(),
            ..Default::default()
        }
    }

    pub async fn create(
        &mut self,
        pod: &(String, cri::PodSandboxConfig),
        config: cri::ContainerConfig,
    ) -> Result<String, tonic::Status> {
        let id = self
            .client
            .runtime
            .create_container(cri::CreateContainerRequest {
                pod_sandbox_id: pod.0.clone(),
                config: Some(config),
                sandbox_config: Some(pod.1.clone()),
            })
            .await
            .map(|r| r.into_inner().container_id)?;
        self.created.push(id.clone());
        Ok(id)
    }

    pub async fn run(
        &mut self,
        pod: &(String, cri::PodSandboxConfig),
        name: &str,
        script: &str,
    ) -> String {
        let config = self.config(name, script);
        let id = self.create(pod, config).await.unwrap();
        self.start(&id).await.unwrap();
        id
    }

    /// Waits (bounded) until the container's log holds `text`: a script says when it has
    /// set its traps, rather than a test guessing how long a slow node takes.
    pub async fn said(&mut self, id: &str, text: &str) {
        let path = self.state(id).await.log_path;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&path).is_ok_and(|log| log.contains(text)) {
            assert!(
                Instant::now() < deadline,
                "container {id} never said {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn start(&mut self, id: &str) -> Result<(), tonic::Status> {
        self.client
            .runtime
            .start_container(cri::StartContainerRequest {
                container_id: id.to_owned(),
            })
            .await
            .map(drop)
    }

    pub async fn stop(&mut self, id: &str, timeout: i64) -> Result<(), tonic::Status> {
        self.client
            .runtime
            .stop_container(cri::StopContainerRequest {
                container_id: id.to_owned(),
                timeout,
            })
            .await
            .map(drop)
    }

    pub async fn remove(&mut self, id: &str) -> Result<(), tonic::Status> {
        self.client
            .runtime
            .remove_container(cri::RemoveContainerRequest {
                container_id: id.to_owned(),
            })
            .await
            .map(drop)
    }

    /// UpdateContainerResources with `linux`.
    pub async fn update(
        &mut self,
        id: &str,
        linux: cri::LinuxContainerResources,
    ) -> Result<(), tonic::Status> {
        self.client
            .runtime
            .update_container_resources(cri::UpdateContainerResourcesRequest {
                container_id: id.to_owned(),
                linux: Some(linux),
                ..Default::default()
            })
            .await
            .map(drop)
    }

    pub async fn status(&mut self, id: &str) -> cri::ContainerStatusResponse {
        self.client
            .runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id.to_owned(),
                verbose: true,
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn pod_status(&mut self, id: &str) -> cri::PodSandboxStatusResponse {
        self.client
            .runtime
            .pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.to_owned(),
                verbose: true,
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn state(&mut self, id: &str) -> cri::ContainerStatus {
        self.status(id).await.status.unwrap()
    }

    /// Waits (bounded) for the container to exit on its own.
    pub async fn exited(&mut self, id: &str) -> cri::ContainerStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.state(id).await;
            if s.state == cri::ContainerState::ContainerExited as i32 {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} did not exit: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn exec(
        &mut self,
        id: &str,
        cmd: &[&str],
        timeout: i64,
    ) -> Result<cri::ExecSyncResponse, tonic::Status> {
        self.client
            .runtime
            .exec_sync(cri::ExecSyncRequest {
                container_id: id.to_owned(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout,
            })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn sh(&mut self, id: &str, script: &str) -> String {
        let out = self.exec(id, &["sh", "-c", script], 60).await.unwrap();
        assert_eq!(
            out.exit_code,
            0,
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub async fn remove_pod(&mut self, pod: &str) {
        self.client
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.to_owned(),
            })
            .await
            .unwrap();
        self.client
            .runtime
            .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: pod.to_owned(),
            })
            .await
            .unwrap();
    }

    /// Nothing of the node's containers is left: no process, mount, cgroup, runtime state
    /// or file.
    pub fn assert_clean(&self) {
        let path = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&path)).collect();
        assert!(left.is_empty(), "mounts left: {left:?}");
        let procs = std::process::Command::new("pgrep")
            .args(["-f", &path])
            .output()
            .unwrap();
        let daemon = self.daemon.pid().to_string();
        let left: Vec<String> = String::from_utf8_lossy(&procs.stdout)
            .split_whitespace()
            .filter(|p| *p != daemon)
            .map(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
            .collect();
        assert!(left.is_empty(), "processes left: {left:?}");
        let state = self.dir.path().join("state");
        for sub in ["containers", "m", "sandboxes"] {
            let entries: Vec<_> = std::fs::read_dir(state.join(sub))
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(entries.is_empty(), "{sub} left: {entries:?}");
        }
        let runc = super::runc_ids(&state);
        assert!(runc.is_empty(), "runc containers left: {runc:?}");
        // Each runtime command's log lives only while the command runs.
        let logs: Vec<_> = std::fs::read_dir(state.join("runtime-logs"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(logs.is_empty(), "runtime logs left: {logs:?}");
        for id in &self.created {
            // cgroup v1 (cgroupfs driver), then cgroup v2 under either driver.
            let left = ["memory", "pids", "cpu"]
                .iter()
                .map(|controller| format!("/sys/fs/cgroup/{controller}/berth/{id}"))
                .chain([
                    format!("/sys/fs/cgroup/berth/{id}"),
                    format!("/sys/fs/cgroup/system.slice/berth-{id}.scope"),
                ])
                .find(|cg| Path::new(cg).exists());
            assert!(left.is_none(), "cgroup left: {left:?}");
        }
    }
}

/// Stops berthd the way a node operator does (SIGTERM, workloads left running) or the way a
/// crash does (SIGKILL), then starts it again over the same dirs.
pub async fn restart(n: &mut Node, signal: i32) {
    n.daemon.signal(signal);
    n.daemon.wait().await;
    keep_log(n);
    n.daemon = Daemon::spawn(n.dir.path(), &[]);
    n.client = n.daemon.ready_client().await;
}

/// Appends the current berthd's log to `all-daemons.log` (each berthd starts its own).
pub fn keep_log(n: &Node) {
    use std::io::Write;
    let mut all = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(n.dir.path().join("all-daemons.log"))
        .unwrap();
    all.write_all(n.daemon.log().as_bytes()).unwrap();
}
