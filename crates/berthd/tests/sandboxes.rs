//! Pod sandboxes with real runc, real CNI plugins (bridge, host-local, portmap, loopback) and
//! berth's own pause and monitor. Needs root.

mod common;

use std::path::Path;
use std::process::Command;

use berth_cri_client::{CriClient, cri};
use berth_testkit::TestNetwork;
use common::Daemon;
use tonic::Code;

/// A temp root/state with a CNI network of its own and a config pointing berthd at it.
struct Net {
    net: TestNetwork,
    subnet: String,
    bridge: String,
}

impl Net {
    fn new(tag: u8, extra_plugin: Option<&str>) -> Net {
        let net = TestNetwork::new(198, tag, extra_plugin);
        let config = format!(
            "[network]\nconf_dir = \"{}\"\nbin_dirs = [\"/usr/lib/cni\", \"/opt/cni/bin\"]\n",
            net.conf_dir().display()
        );
        std::fs::write(net.dir().join("config.toml"), config).unwrap();
        let (subnet, bridge) = (net.subnet_prefix().to_owned(), net.bridge().to_owned());
        Net {
            net,
            subnet,
            bridge,
        }
    }

    fn path(&self) -> &Path {
        self.net.dir()
    }

    fn leases(&self) -> Vec<String> {
        self.net.leases()
    }

    /// Everything of a pod that must be gone after RemovePodSandbox.
    fn assert_no_trace(&self, id: &str, pid: i32) {
        assert!(
            self.leases().is_empty(),
            "IP leases left: {:?}",
            self.leases()
        );
        let state = self.path().join("state");
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        let root = self.path().display().to_string();
        assert!(
            !mounts.contains(&root),
            "mounts left:\n{}",
            mounts
                .lines()
                .filter(|l| l.contains(&root))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(
            !state.join("sandboxes").join(id).exists(),
            "sandbox files left"
        );
        if pid > 0 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let s = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            assert!(
                matches!(s, None | Some("Z" | "X")),
                "infra process {pid} still runs: {stat}"
            );
        }
        let procs = Command::new("pgrep").args(["-f", id]).output().unwrap();
        assert!(
            procs.stdout.is_empty(),
            "processes left: {}",
            String::from_utf8_lossy(&procs.stdout)
        );
        for controller in ["memory", "pids", "cpu"] {
            let cg = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join("berth")
                .join(id);
            assert!(!cg.exists(), "cgroup left: {}", cg.display());
        }
        let nat = Command::new("iptables")
            .args(["-t", "nat", "-S"])
            .output()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&nat.stdout).contains(id),
            "iptables rules left"
        );
        assert!(
            !state
                .join("cni/results")
                .read_dir()
                .map(|d| d
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().contains(id)))
                .unwrap_or(false),
            "CNI cache left"
        );
    }
}

/// When a test fails midway its pods are still running: kill their containers, their
/// monitors and mounts, so one failure does not leak into the node or the next test.
impl Drop for Net {
    fn drop(&mut self) {
        common::clean_leftovers(self.path());
    }
}

fn spawn(net: &Net) -> Daemon {
    Daemon::spawn(net.path(), &[])
}

fn pod_config(name: &str, host_port: i32) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.to_owned(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: format!("{name}-host"),
        dns_config: Some(cri::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec!["default.svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        }),
        port_mappings: if host_port > 0 {
            vec![cri::PortMapping {
                protocol: cri::Protocol::Tcp as i32,
                container_port: 80,
                host_port,
                host_ip: String::new(),
            }]
        } else {
            Vec::new()
        },
        labels: [("app".to_owned(), name.to_owned())].into(),
        linux: Some(cri::LinuxPodSandboxConfig {
            sysctls: [(
                "net.ipv4.ip_unprivileged_port_start".to_owned(),
                "0".to_owned(),
            )]
            .into(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    pid: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn run(
    client: &mut CriClient,
    config: cri::PodSandboxConfig,
) -> Result<String, tonic::Status> {
    client
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .map(|r| r.into_inner().pod_sandbox_id)
}

async fn status(
    client: &mut CriClient,
    id: &str,
) -> Result<cri::PodSandboxStatusResponse, tonic::Status> {
    client
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_owned(),
            verbose: true,
        })
        .await
        .map(|r| r.into_inner())
}

async fn stop(client: &mut CriClient, id: &str) -> Result<(), tonic::Status> {
    client
        .runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        })
        .await
        .map(drop)
}

async fn remove(client: &mut CriClient, id: &str) -> Result<(), tonic::Status> {
    client
        .runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.to_owned(),
        })
        .await
        .map(drop)
}

async fn list(client: &mut CriClient, filter: cri::PodSandboxFilter) -> Vec<cri::PodSandbox> {
    client
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .into_inner()
        .items
}

/// Whether `ip` answers one ping within 2 s.
fn answers_ping(ip: &str) -> bool {
    Command::new("busybox")
        .args(["ping", "-c", "1", "-W", "2", ip])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn infra_pid(status: &cri::PodSandboxStatusResponse) -> i32 {
    let info: serde_json::Value = serde_json::from_str(&status.info["info"]).unwrap();
    info["pid"].as_i64().unwrap() as i32
}

#[tokio::test]
async fn a_pod_runs_with_its_own_network_and_leaves_nothing_behind() {
    let net = Net::new(1, None);
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let port = 21000 + (std::process::id() % 10000) as i32;
    let id = run(&mut client, pod_config("web", port)).await.unwrap();

    let st = status(&mut client, &id).await.unwrap();
    let s = st.status.as_ref().unwrap();
    assert_eq!(s.state, cri::PodSandboxState::SandboxReady as i32);
    assert_eq!(s.metadata.as_ref().unwrap().name, "web");
    let ip = s.network.as_ref().unwrap().ip.clone();
    assert!(ip.starts_with(&net.subnet), "{ip}");
    let pid = infra_pid(&st);
    assert!(pid > 0);
    assert!(answers_ping(&ip), "the pod IP answers");
    let hostname = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-u", "hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&hostname.stdout).trim(), "web-host");
    let sysctl = Command::new("nsenter")
        .args([
            "-t",
            &pid.to_string(),
            "-n",
            "cat",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sysctl.stdout).trim(),
        "0",
        "the pod's sysctl is applied in its netns"
    );
    let mut bad = pod_config("badsysctl", 0);
    bad.linux.as_mut().unwrap().sysctls = [("vm.swappiness".to_owned(), "1".to_owned())].into();
    let err = run(&mut client, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("vm.swappiness"), "{}", err.message());
    let sandbox_dir = net.path().join("state/sandboxes").join(&id);
    let resolv = std::fs::read_to_string(sandbox_dir.join("resolv.conf")).unwrap();
    assert!(
        resolv.contains("nameserver 10.96.0.10") && resolv.contains("options ndots:5"),
        "{resolv}"
    );
    let hosts = std::fs::read_to_string(sandbox_dir.join("hosts")).unwrap();
    assert!(hosts.contains(&format!("{ip}\tweb-host")), "{hosts}");
    let nat = String::from_utf8_lossy(
        &Command::new("iptables")
            .args(["-t", "nat", "-S"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(nat.contains(&port.to_string()), "hostPort rule installed");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        mounts.contains(&format!("{}/shm tmpfs", sandbox_dir.display())),
        "pod /dev/shm"
    );

    // Lists and filters.
    assert_eq!(list(&mut client, Default::default()).await.len(), 1);
    let by_label = cri::PodSandboxFilter {
        label_selector: [("app".to_owned(), "web".to_owned())].into(),
        ..Default::default()
    };
    assert_eq!(list(&mut client, by_label).await.len(), 1);
    let by_prefix = cri::PodSandboxFilter {
        id: id[..8].to_owned(),
        ..Default::default()
    };
    assert_eq!(list(&mut client, by_prefix).await[0].id, id);
    let not_ready = cri::PodSandboxFilter {
        state: Some(cri::PodSandboxStateValue {
            state: cri::PodSandboxState::SandboxNotready as i32,
        }),
        ..Default::default()
    };
    assert!(list(&mut client, not_ready.clone()).await.is_empty());

    // A duplicate name is refused, naming the holder.
    let dup = run(&mut client, pod_config("web", 0)).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup:?}");
    assert!(dup.message().contains(&id), "{}", dup.message());

    // Stop twice, remove twice.
    stop(&mut client, &id[..12]).await.unwrap();
    stop(&mut client, &id).await.unwrap();
    let st = status(&mut client, &id).await.unwrap();
    assert_eq!(
        st.status.unwrap().state,
        cri::PodSandboxState::SandboxNotready as i32
    );
    assert_eq!(list(&mut client, not_ready).await.len(), 1);
    remove(&mut client, &id).await.unwrap();
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, pid);
    assert_eq!(
        status(&mut client, &id).await.unwrap_err().code(),
        Code::NotFound
    );
    // Unknown or already removed: Stop and Remove succeed (CRI idempotence;
    // docs/lifecycle.md, "Pod sandboxes").
    stop(&mut client, "0123456789abcdef").await.unwrap();
    stop(&mut client, &id).await.unwrap();
    remove(&mut client, "0123456789abcdef").await.unwrap();

    // The name is free again.
    let again = run(&mut client, pod_config("web", 0)).await.unwrap();
    stop(&mut client, &again).await.unwrap();
    remove(&mut client, &again).await.unwrap();
    net.assert_no_trace(&again, 0);
    drop(client);
    assert!(daemon.terminate().await.success());
}

/// A pod whose containers do not share a PID namespace (the kubelet's default) has no infra
/// process: its network, IPC and UTS namespaces are pinned in its directory, with its
/// hostname and sysctls set inside, and nothing runs for it. Its status is READY until it is
/// stopped, or until its pins vanish (as after a reboot); stop and remove take every pin.
#[tokio::test]
async fn a_pod_without_infra_pins_its_namespaces_and_leaves_nothing_behind() {
    let net = Net::new(8, None);
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let without_infra = |name: &str| {
        let mut config = pod_config(name, 0);
        let linux = config.linux.as_mut().unwrap();
        linux
            .sysctls
            .insert("kernel.shm_rmid_forced".into(), "1".into());
        let options = linux.security_context.as_mut().unwrap();
        options.namespace_options.as_mut().unwrap().pid = cri::NamespaceMode::Container as i32;
        config
    };
    let id = run(&mut client, without_infra("lean")).await.unwrap();
    let st = status(&mut client, &id).await.unwrap();
    let s = st.status.as_ref().unwrap();
    assert_eq!(s.state, cri::PodSandboxState::SandboxReady as i32);
    let ip = s.network.as_ref().unwrap().ip.clone();
    assert!(ip.starts_with(&net.subnet), "{ip}");
    let info: serde_json::Value = serde_json::from_str(&st.info["info"]).unwrap();
    assert_eq!(
        (info["pid"].as_i64(), info["infra"].as_bool()),
        (Some(0), Some(false))
    );
    let procs = Command::new("pgrep").args(["-f", &id]).output().unwrap();
    assert!(
        procs.stdout.is_empty(),
        "a process runs for the pod: {}",
        String::from_utf8_lossy(&procs.stdout)
    );

    // The pins hold the namespaces, set up as asked.
    let dir = net.path().join("state/sandboxes").join(&id);
    let inside = |flag: &str, pin: &str, command: &[&str]| {
        let out = Command::new("nsenter")
            .arg(format!("{flag}={}", dir.join(pin).display()))
            .args(command)
            .output()
            .unwrap();
        assert!(out.status.success(), "nsenter {flag}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(inside("--uts", "utsns", &["hostname"]), "lean-host");
    assert_eq!(
        inside(
            "--ipc",
            "ipcns",
            &["cat", "/proc/sys/kernel/shm_rmid_forced"]
        ),
        "1"
    );
    assert_eq!(
        inside(
            "--net",
            "netns",
            &["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]
        ),
        "0"
    );
    assert!(inside("--net", "netns", &["ip", "-o", "addr"]).contains(&ip));
    assert!(answers_ping(&ip), "the pod IP answers");

    // Stop takes the pins (and the network); remove leaves nothing.
    stop(&mut client, &id).await.unwrap();
    let st = status(&mut client, &id).await.unwrap();
    assert_eq!(
        st.status.unwrap().state,
        cri::PodSandboxState::SandboxNotready as i32
    );
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&id), "pins left after stop: {mounts}");
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, 0);

    // A sysctl value the kernel refuses is the request's fault, and undone.
    let mut bad = without_infra("badvalue");
    let sysctls = &mut bad.linux.as_mut().unwrap().sysctls;
    sysctls.insert("kernel.msgmax".into(), "abc".into());
    let err = run(&mut client, bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("kernel.msgmax=abc"),
        "{}",
        err.message()
    );

    // Pins gone from under a ready pod (a reboot empties the state dir): NOTREADY, and Stop
    // and Remove still work.
    let id = run(&mut client, without_infra("rebooted")).await.unwrap();
    let dir = net.path().join("state/sandboxes").join(&id);
    for pin in ["ipcns", "utsns"] {
        let unmounted = Command::new("umount").arg(dir.join(pin)).status().unwrap();
        assert!(unmounted.success());
    }
    let st = status(&mut client, &id).await.unwrap();
    assert_eq!(
        st.status.unwrap().state,
        cri::PodSandboxState::SandboxNotready as i32
    );
    stop(&mut client, &id).await.unwrap();
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, 0);
    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn a_host_network_pod_leaves_the_host_network_alone() {
    let net = Net::new(2, None);
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let mut config = pod_config("hostnet", 0);
    // A net.* sysctl needs the pod's own netns: a host-network pod must not carry one.
    config.linux.as_mut().unwrap().sysctls.clear();
    let options = config
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap();
    options.network = cri::NamespaceMode::Node as i32;
    let id = run(&mut client, config).await.unwrap();
    let st = status(&mut client, &id).await.unwrap();
    assert_eq!(st.status.as_ref().unwrap().network.as_ref().unwrap().ip, "");
    let bridge = Command::new("ip")
        .args(["link", "show", &net.bridge])
        .output()
        .unwrap();
    assert!(
        !bridge.status.success(),
        "CNI never ran: no bridge, no veth"
    );
    assert!(net.leases().is_empty());
    let pid = infra_pid(&st);
    stop(&mut client, &id).await.unwrap();
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, pid);
    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn a_cni_failure_fails_the_run_and_leaves_nothing() {
    let net = Net::new(3, Some("no-such-plugin"));
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let err = run(&mut client, pod_config("broken", 0)).await.unwrap_err();
    assert!(err.message().contains("no-such-plugin"), "{err:?}");
    assert!(list(&mut client, Default::default()).await.is_empty());
    assert!(net.leases().is_empty(), "bridge's lease was undone");
    let sandboxes = net.path().join("state/sandboxes");
    assert_eq!(
        sandboxes.read_dir().map(|d| d.count()).unwrap_or(0),
        0,
        "no sandbox files"
    );
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(&net.path().display().to_string()),
        "no mounts"
    );
    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn an_infra_killed_from_outside_makes_the_pod_not_ready_and_stop_still_works() {
    let net = Net::new(0, None);
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let id = run(&mut client, pod_config("victim", 0)).await.unwrap();
    let pid = infra_pid(&status(&mut client, &id).await.unwrap());
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let st = status(&mut client, &id).await.unwrap();
        if st.status.unwrap().state == cri::PodSandboxState::SandboxNotready as i32 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still READY after its infra died"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop(&mut client, &id).await.unwrap();
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, pid);
    drop(client);
    assert!(daemon.terminate().await.success());
}

/// The infra's monitor killed from outside: nothing will record the infra's exit, yet a
/// Stop kills the infra (through the runtime) and waits for it to be gone rather than
/// failing at once, and the pod goes without a trace.
#[tokio::test]
async fn a_pod_whose_infra_monitor_died_still_stops_and_goes() {
    let net = Net::new(7, None);
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let id = run(&mut client, pod_config("orphaned", 0)).await.unwrap();
    let pid = infra_pid(&status(&mut client, &id).await.unwrap());
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("berth-monitor --id {id}")])
        .output()
        .unwrap();
    let monitors: Vec<i32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(monitors.len(), 1, "monitors of {id}: {monitors:?}");
    assert_eq!(unsafe { libc::kill(monitors[0], libc::SIGKILL) }, 0);
    stop(&mut client, &id).await.unwrap();
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, pid);
    drop(client);
    assert!(daemon.terminate().await.success());
}

/// Fifty pods at once (`BERTH_TEST_PODS_AT_ONCE` pods where set: scripts/node-vm sets 20,
/// because under emulation, about ten times slower, systemd cannot start fifty scopes at once
/// within runc's 30-second wait for each).
#[tokio::test]
async fn many_pods_run_and_go_concurrently_without_a_leak() {
    let many: usize = std::env::var("BERTH_TEST_PODS_AT_ONCE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let net = Net::new(4, None);
    let mut daemon = spawn(&net);
    let client = daemon.ready_client().await;
    let runs: Vec<_> = (0..many)
        .map(|i| {
            let mut c = client.clone();
            tokio::spawn(async move { run(&mut c, pod_config(&format!("many{i}"), 0)).await })
        })
        .collect();
    let mut ids = Vec::new();
    for r in runs {
        ids.push(r.await.unwrap().expect("RunPodSandbox"));
    }
    let mut c = client.clone();
    assert_eq!(list(&mut c, Default::default()).await.len(), many);
    assert_eq!(net.leases().len(), many);
    let ends: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let mut c = client.clone();
            tokio::spawn(async move {
                stop(&mut c, &id).await?;
                remove(&mut c, &id).await
            })
        })
        .collect();
    for e in ends {
        e.await.unwrap().expect("stop and remove");
    }
    assert!(list(&mut c, Default::default()).await.is_empty());
    for id in &ids {
        net.assert_no_trace(id, 0);
    }
    drop((client, c));
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn a_pod_outlives_a_berthd_restart_and_is_stopped_by_the_next_one() {
    let net = Net::new(5, None);
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let id = run(&mut client, pod_config("survivor", 0)).await.unwrap();
    let pid = infra_pid(&status(&mut client, &id).await.unwrap());
    drop(client);
    assert!(daemon.terminate().await.success());
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "SIGTERM leaves pods running"
    );

    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let st = status(&mut client, &id).await.unwrap();
    assert_eq!(
        st.status.unwrap().state,
        cri::PodSandboxState::SandboxReady as i32
    );
    let dup = run(&mut client, pod_config("survivor", 0))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "the name is still held");
    stop(&mut client, &id).await.unwrap();
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, pid);
    drop(client);
    assert!(daemon.terminate().await.success());
}

/// The container spec berth builds, run by berth-monitor inside a real pod: it must join the
/// pod's network and UTS namespaces and see the pod's files. (CreateContainer is the next
/// issue; this proves its spec and monitor against a real sandbox now.)
#[tokio::test]
async fn a_container_spec_joins_its_pod() {
    use berth_domain::container::process::{User, capabilities};
    use berth_domain::container::spec::{
        ContainerSpecInput, PodFiles, PodNamespaces, Resources, container_spec,
    };
    use berth_domain::shared::NamespaceMode;
    use berth_monitor::{Request, Response, SOCKET_FILE};
    use std::io::{BufRead, BufReader, Write};

    let net = Net::new(6, None);
    let mut daemon = spawn(&net);
    let mut client = daemon.ready_client().await;
    let id = run(&mut client, pod_config("withc", 0)).await.unwrap();
    let st = status(&mut client, &id).await.unwrap();
    let ip = st
        .status
        .as_ref()
        .unwrap()
        .network
        .as_ref()
        .unwrap()
        .ip
        .clone();
    let pid = infra_pid(&st);

    let c = net.path().join("c1");
    let cid = format!("berth-c1-{}", std::process::id());
    berth_testkit::busybox_bundle(&c.join("bundle"), &["true"], "/unused");
    let input = ContainerSpecInput {
        args: vec![
            "sh".into(),
            "-c".into(),
            "hostname; cat /etc/resolv.conf; ip -4 addr show eth0".into(),
        ],
        env: vec!["PATH=/bin".into()],
        cwd: "/".into(),
        user: User {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        },
        tty: false,
        capabilities: capabilities(&[], &[], false).unwrap(),
        privileged: false,
        readonly_rootfs: true,
        no_new_privs: true,
        masked_paths: vec![],
        readonly_paths: vec![],
        mounts: vec![],
        pod_files: PodFiles::of(
            &berth_config::StateLayout::new(net.path().join("root"), net.path().join("state")),
            &id,
        ),
        pod_namespaces: PodNamespaces::Infra(pid),
        host_network: false,
        host_ipc: false,
        pid: NamespaceMode::Pod,
        pid_target: 0,
        resources: Resources {
            memory_limit: 64 << 20,
            ..Default::default()
        },
        oom_score_adj: 0,
        cgroups_path: format!("/{cid}"),
        cgroup_namespace: false,
        sysctls: Default::default(),
    };
    container_spec(&input)
        .unwrap()
        .save(c.join("bundle/config.json"))
        .unwrap();
    let monitor = Path::new(env!("CARGO_BIN_EXE_berthd")).with_file_name("berth-monitor");
    let log = c.join("c1.log");
    let out = Command::new(&monitor)
        .args(["--id", &cid])
        .arg("--bundle")
        .arg(c.join("bundle"))
        .args(["--runtime", "/usr/sbin/runc"])
        .arg("--runtime-root")
        .arg(c.join("runc"))
        .arg("--state-dir")
        .arg(c.join("m"))
        .arg("--log-path")
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ask = |request: Request| {
        let mut conn =
            std::os::unix::net::UnixStream::connect(c.join("m").join(SOCKET_FILE)).unwrap();
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        conn.write_all(&line).unwrap();
        let mut answer = String::new();
        BufReader::new(conn).read_line(&mut answer).unwrap();
        serde_json::from_str::<Response>(&answer).unwrap()
    };
    assert!(matches!(ask(Request::Start), Response::Ok { .. }));
    match ask(Request::Wait) {
        Response::Ok { status } => assert_eq!(
            status.exit.unwrap().code,
            0,
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ),
        Response::Error { message } => panic!("{message}"),
    }
    let _ = Command::new("/usr/sbin/runc")
        .arg("--root")
        .arg(c.join("runc"))
        .args(["delete", "--force", &cid])
        .status();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(" stdout F withc-host"),
        "the pod's hostname:\n{text}"
    );
    assert!(
        text.contains("nameserver 10.96.0.10"),
        "the pod's resolv.conf:\n{text}"
    );
    assert!(
        text.contains(&format!("inet {ip}/")),
        "the pod's network:\n{text}"
    );

    stop(&mut client, &id).await.unwrap();
    remove(&mut client, &id).await.unwrap();
    net.assert_no_trace(&id, pid);
    drop(client);
    assert!(daemon.terminate().await.success());
}
