//! The real `berthd` binary, started on a temp root, state and socket, driven over its CRI
//! socket with berth's own tonic client. Needs root (the socket is chowned to root) and runc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use berth_cri_client::{CriClient, connect, cri};
use tonic::Code;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A berthd child process, killed on drop if a test fails midway.
struct Daemon {
    child: Option<Child>,
    socket: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    fn spawn(dir: &Path, extra_args: &[&str]) -> Daemon {
        let stderr = dir.join(format!("berthd-{}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--config")
            .arg(dir.join("config.toml"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn berthd");
        Daemon {
            child: Some(child),
            socket: dir.join("state/berth.sock"),
            stderr,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Connects once the socket answers and recovery is done (Version stops being Unavailable).
    async fn ready_client(&mut self) -> CriClient {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("berthd exited early with {status}:\n{}", self.log());
            }
            if let Ok(mut client) = connect(&self.socket).await {
                match client.runtime.version(cri::VersionRequest::default()).await {
                    Ok(_) => return client,
                    Err(s) if s.code() == Code::Unavailable => {}
                    Err(s) => panic!("Version failed: {s}"),
                }
            }
            assert!(
                Instant::now() < deadline,
                "berthd not ready in time:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: i32) {
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits asynchronously: the test's own client must keep answering the server's
    /// HTTP/2 GOAWAY ping while berthd drains, or the drain waits for the grace period.
    async fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berthd did not exit in time:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait().await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A temp dir whose CNI conf and bin dirs are empty, so NetworkReady is predictably false.
fn setup(extra_config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cni-conf")).unwrap();
    std::fs::create_dir(dir.path().join("cni-bin")).unwrap();
    let config = format!(
        "[network]\nconf_dir = \"{0}/cni-conf\"\nbin_dirs = [\"{0}/cni-bin\"]\n{extra_config}",
        dir.path().display()
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    dir
}

fn assert_unimplemented<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, rpc: &str) {
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(status.message().contains(rpc), "{}", status.message());
}

fn condition<'a>(status: &'a cri::RuntimeStatus, kind: &str) -> &'a cri::RuntimeCondition {
    status
        .conditions
        .iter()
        .find(|c| c.r#type == kind)
        .unwrap_or_else(|| panic!("no {kind} condition in {status:?}"))
}

#[tokio::test]
async fn serves_the_runtime_service_and_shuts_down_cleanly_on_sigterm() {
    let dir = setup("");
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;

    let version = client
        .runtime
        .version(cri::VersionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "berth");
    assert_eq!(version.runtime_api_version, "v1");
    assert_eq!(version.runtime_version, env!("CARGO_PKG_VERSION"));

    let status = client
        .runtime
        .status(cri::StatusRequest { verbose: true })
        .await
        .unwrap()
        .into_inner();
    let conditions = status.status.as_ref().expect("status");
    let runtime_ready = condition(conditions, "RuntimeReady");
    assert!(
        runtime_ready.status,
        "runc should pass its probe: {runtime_ready:?}"
    );
    let network_ready = condition(conditions, "NetworkReady");
    assert!(!network_ready.status);
    assert_eq!(network_ready.reason, "NetworkPluginNotReady");
    assert!(!network_ready.message.is_empty());
    let config: serde_json::Value = serde_json::from_str(&status.info["config"]).unwrap();
    assert_eq!(
        config["network"]["conf_dir"],
        format!("{}/cni-conf", dir.path().display())
    );
    assert!(status.runtime_handlers.iter().any(|h| h.name == "runc"));

    let runtime_config = client
        .runtime
        .runtime_config(cri::RuntimeConfigRequest {})
        .await
        .unwrap()
        .into_inner();
    let driver = runtime_config.linux.expect("linux config").cgroup_driver;
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap();
    let expected = if pid1.trim() == "systemd" && Path::new("/run/systemd/system").exists() {
        cri::CgroupDriver::Systemd
    } else {
        cri::CgroupDriver::Cgroupfs
    };
    assert_eq!(driver, expected as i32);

    let update = |cidr: &str| cri::UpdateRuntimeConfigRequest {
        runtime_config: Some(cri::RuntimeConfig {
            network_config: Some(cri::NetworkConfig {
                pod_cidr: cidr.to_owned(),
            }),
        }),
    };
    client
        .runtime
        .update_runtime_config(update("10.244.1.0/24,fd00:10:244:1::/64"))
        .await
        .unwrap();
    let bad = client
        .runtime
        .update_runtime_config(update("10.244.1.0/99"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(bad.message().contains("10.244.1.0/99"), "{}", bad.message());

    assert_unimplemented(
        client
            .runtime
            .run_pod_sandbox(cri::RunPodSandboxRequest::default())
            .await,
        "RunPodSandbox",
    );
    assert_unimplemented(
        client
            .image
            .list_images(cri::ListImagesRequest::default())
            .await,
        "ListImages",
    );

    drop(client);
    let exit = daemon.terminate().await;
    assert!(
        exit.success(),
        "berthd exited with {exit}:\n{}",
        daemon.log()
    );
    assert!(!daemon.socket.exists(), "socket left behind");
    let log = daemon.log();
    assert!(
        log.contains("UpdateRuntimeConfig"),
        "mutating RPCs are logged:\n{log}"
    );

    // The pod CIDR was persisted: a new daemon on the same root reports it.
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    let status = client
        .runtime
        .status(cri::StatusRequest { verbose: true })
        .await
        .unwrap()
        .into_inner();
    let network: serde_json::Value = serde_json::from_str(&status.info["network"]).unwrap();
    assert_eq!(network["podCIDR"], "10.244.1.0/24,fd00:10:244:1::/64");
    drop(client);
    daemon.signal(libc::SIGINT);
    assert!(daemon.wait().await.success());
}

#[tokio::test]
async fn a_second_daemon_on_the_same_state_dir_refuses_to_start() {
    let dir = setup("");
    let mut first = Daemon::spawn(dir.path(), &[]);
    let _client = first.ready_client().await;
    let mut second = Daemon::spawn(dir.path(), &["--log-format", "json"]);
    let exit = second.wait().await;
    assert!(!exit.success());
    assert!(second.log().contains("another berthd"), "{}", second.log());
    // The first one still serves.
    let mut client = connect(&first.socket).await.unwrap();
    client
        .runtime
        .version(cri::VersionRequest::default())
        .await
        .unwrap();
    assert!(first.terminate().await.success());
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = setup("");
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    // A socket file nobody listens on, as a crash leaves it.
    drop(std::os::unix::net::UnixListener::bind(dir.path().join("state/berth.sock")).unwrap());
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let _client = daemon.ready_client().await;
    let mode = std::fs::metadata(&daemon.socket).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(mode.permissions().mode() & 0o777, 0o660);
    assert_eq!((mode.uid(), mode.gid()), (0, 0));
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn an_unknown_config_key_stops_start_up_naming_the_key_and_line() {
    let dir = setup("[streaming]\naddres = \"127.0.0.1:0\"\n");
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let exit = daemon.wait().await;
    assert!(!exit.success());
    let log = daemon.log();
    assert!(log.contains("addres"), "{log}");
    assert!(log.contains("line 5"), "{log}");
    assert!(
        !dir.path().join("state").exists(),
        "nothing is created on a bad config"
    );
}

#[tokio::test]
async fn a_missing_named_config_file_is_an_error() {
    let dir = setup("");
    std::fs::remove_file(dir.path().join("config.toml")).unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    assert!(!daemon.wait().await.success());
    assert!(daemon.log().contains("config.toml"), "{}", daemon.log());
}
