//! The real `berthd` binary, started on a temp root, state and socket, driven over its CRI
//! socket with berth's own tonic client. Needs root (the socket is chowned to root) and runc.

use std::path::Path;

use berth_cri_client::{connect, cri};
use tonic::Code;

mod common;

use common::{Daemon, setup};

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

    // A request without its config is refused, naming what is missing.
    let bad = client
        .runtime
        .create_container(cri::CreateContainerRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(
        bad.message().contains("ContainerConfig"),
        "{}",
        bad.message()
    );
    assert_unimplemented(
        client
            .runtime
            .checkpoint_container(cri::CheckpointContainerRequest::default())
            .await,
        "CheckpointContainer",
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
    assert!(log.contains("line 2"), "{log}");
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

/// A kubelet that connects while berthd recovers sees a runtime coming up: Version answers,
/// Status says RuntimeReady false with the reason, and the rest is Unavailable until ready.
#[tokio::test]
async fn version_and_status_answer_while_recovery_runs() {
    let dir = setup("");
    // A runtime handler whose binary takes 3 s: its start-up probe holds recovery open.
    let slow = dir.path().join("slow-runc");
    berth_testkit::write_script(&slow, "#!/bin/sh\nsleep 3\nexec /usr/sbin/runc \"$@\"\n");
    let config = dir.path().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = format!(
        "[runtimes.slow]\npath = \"{}\"\ntype = \"oci\"\n\n{text}",
        slow.display()
    );
    std::fs::write(&config, text).unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let started = std::time::Instant::now();
    let mut client = loop {
        if let Ok(client) = connect(&daemon.socket).await {
            break client;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let version = client
        .runtime
        .version(cri::VersionRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "berth");
    let status = conditions(&mut client).await;
    let ready = condition(&status, "RuntimeReady");
    assert!(!ready.status);
    assert_eq!(ready.reason, "RuntimeRecovering", "{ready:?}");
    let pods = client
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .unwrap_err();
    assert_eq!(pods.code(), Code::Unavailable, "{pods}");
    assert!(pods.message().contains("recovering"), "{pods}");

    let mut client = daemon.ready_client().await;
    let status = conditions(&mut client).await;
    assert!(condition(&status, "RuntimeReady").status, "{status:?}");
    assert!(daemon.terminate().await.success());
}

/// The runtime's conditions, from a non-verbose Status.
async fn conditions(client: &mut berth_cri_client::CriClient) -> cri::RuntimeStatus {
    client
        .runtime
        .status(cri::StatusRequest { verbose: false })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap()
}
