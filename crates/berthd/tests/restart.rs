//! Restart and crash safety with real runc and berth's monitors: workloads outlive berthd,
//! exits while it is down are recorded, monitor and process faults end in a known state, and
//! a `kill -9` of berthd in the middle of any operation leaves a node that recovery brings
//! back to consistency. Needs root.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_cri_client::cri;
use common::Daemon;
use common::cni::{Cni, use_cni};
use common::node::{Node, keep_log, node, restart, spec};

/// A container that logs a line a second. Each line forks a `sleep`: with a score of them
/// running, faster ticks would be most of the load on a slow node (the suite's VM).
const TICKER: &str = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done";

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn pid_of(status: &cri::ContainerStatusResponse) -> i32 {
    pid_of_info(&status.info)
}

fn pid_of_info(info: &std::collections::HashMap<String, String>) -> i32 {
    let info: serde_json::Value = serde_json::from_str(&info["info"]).unwrap();
    info["pid"].as_i64().unwrap() as i32
}

/// Whether `pid` still runs: it exists and is not a zombie (a process whose monitor died is
/// reaped by whoever inherits it, which on this machine's init can take seconds).
fn alive(pid: i32) -> bool {
    pid > 0
        && unsafe { libc::kill(pid, 0) } == 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
}

async fn containers(n: &mut Node) -> Vec<cri::Container> {
    common::list_containers(&mut n.client).await
}

async fn pods(n: &mut Node) -> Vec<cri::PodSandbox> {
    common::list_pods(&mut n.client).await
}

/// Stops and removes every pod, then checks the node is clean.
async fn remove_everything(n: &mut Node) {
    for pod in pods(n).await {
        let stopped = n
            .client
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await;
        if let Err(e) = stopped {
            keep_log(n);
            let log = std::fs::read_to_string(n.dir.path().join("all-daemons.log")).unwrap();
            let about: Vec<&str> = log.lines().filter(|l| l.contains(&pod.id)).collect();
            panic!("StopPodSandbox {}: {e}\n{}", pod.id, about.join("\n"));
        }
        n.remove_pod(&pod.id).await;
    }
    assert!(containers(n).await.is_empty());
    n.assert_clean();
}

#[tokio::test]
async fn workloads_outlive_a_restart_and_exits_while_down_are_recorded() {
    let mut n = node().await;
    let mut ticking = Vec::new();
    let mut kept = Vec::new();
    for p in 0..10 {
        let pod = n.pod(&format!("keep-{p}")).await;
        kept.push(pod.clone());
        for c in 0..2 {
            let id = n.run(&pod, &format!("tick-{c}"), TICKER).await;
            ticking.push(id);
        }
    }
    // The pods "keep-*" have no infra process (their PID mode is CONTAINER); "last" has one.
    let last = n.pod_with(n.pod_config_with_infra("last")).await;
    let exits = n.run(&last, "exits", "sleep 2; exit 3").await;
    let killed = n.run(&last, "killed", "exec sleep 1000").await;
    let mut before = Vec::new();
    for id in &ticking {
        let s = n.status(id).await;
        before.push((id.clone(), pid_of(&s), s.status.unwrap()));
    }
    let killed_pid = pid_of(&n.status(&killed).await);
    // berthd tells a process from one that reused its PID by its cgroup, which names the
    // container (or pod) ID.
    for (id, pid, _) in &before {
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(cgroups.contains(id.as_str()), "{id}: {cgroups}");
    }
    let infra = n.pod_status(&last.0).await;
    let cgroups =
        std::fs::read_to_string(format!("/proc/{}/cgroup", pid_of_info(&infra.info))).unwrap();
    assert!(cgroups.contains(last.0.as_str()), "{cgroups}");

    // berthd goes (SIGTERM: workloads stay); meanwhile one container exits with 3 and
    // another is killed from outside.
    n.daemon.signal(libc::SIGTERM);
    n.daemon.wait().await;
    for (id, pid, _) in &before {
        assert!(alive(*pid), "container {id} (PID {pid}) died with berthd");
    }
    assert_eq!(unsafe { libc::kill(killed_pid, libc::SIGKILL) }, 0);
    let killed_at = now_ns();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let down_until = now_ns();
    n.daemon = Daemon::spawn(n.dir.path(), &[]);
    n.client = n.daemon.ready_client().await;

    // Same containers, same PIDs, same state; logs keep flowing.
    for (id, pid, status) in &before {
        let s = n.status(id).await;
        assert_eq!(pid_of(&s), *pid, "{id}: PID changed");
        let now = s.status.unwrap();
        assert_eq!(now.state, cri::ContainerState::ContainerRunning as i32);
        assert_eq!(
            (now.created_at, now.started_at, &now.log_path),
            (status.created_at, status.started_at, &status.log_path)
        );
    }
    let log = n.state(&before[0].0).await.log_path;
    let size = std::fs::metadata(&log).unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&log).unwrap().len() == size {
        assert!(Instant::now() < deadline, "log stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A pod without infra is still ready, and a new container joins the namespaces its
    // first container is in.
    let ready = n.pod_status(&kept[0].0).await.status.unwrap().state;
    assert_eq!(ready, cri::PodSandboxState::SandboxReady as i32);
    let joined = n.run(&kept[0], "joined", "exec sleep 1000").await;
    let (first, new) = (before[0].1, pid_of(&n.status(&joined).await));
    for ns in ["net", "ipc", "uts"] {
        let of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_eq!(of(first), of(new), "{ns} namespace");
    }

    // The exits that happened while berthd was down, with their own times.
    let s = n.exited(&exits).await;
    assert_eq!((s.exit_code, s.reason.as_str()), (3, "Error"));
    assert!(s.finished_at >= s.started_at + 2_000_000_000, "{s:?}");
    assert!(
        s.finished_at < down_until,
        "finished_at is the restart's: {s:?}"
    );
    let s = n.exited(&killed).await;
    assert_eq!(s.exit_code, 137, "{s:?}");
    assert!(
        (s.finished_at - killed_at).abs() < 1_000_000_000,
        "finished at {} but killed at {killed_at}",
        s.finished_at
    );

    // A crash (SIGKILL) keeps them as well.
    restart(&mut n, libc::SIGKILL).await;
    for (id, pid, _) in &before {
        assert_eq!(pid_of(&n.status(id).await), *pid);
    }
    remove_everything(&mut n).await;
}

#[tokio::test]
async fn monitor_and_process_faults_end_in_a_known_state() {
    let mut n = node().await;
    let pod = n.pod("faults").await;

    // The container's process killed from outside: exited, with its signal.
    let victim = n.run(&pod, "victim", "exec sleep 1000").await;
    let pid = pid_of(&n.status(&victim).await);
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let s = n.exited(&victim).await;
    assert_eq!((s.exit_code, s.reason.as_str()), (137, "Error"));

    // Its monitor killed: the container is killed and recorded as exited (255), never left
    // RUNNING; Stop and Remove still clean it up.
    let orphan = n.run(&pod, "orphan", "exec sleep 1000").await;
    let pid = pid_of(&n.status(&orphan).await);
    let monitor = monitor_pid(&n, &orphan);
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGKILL) }, 0);
    let s = n.exited(&orphan).await;
    assert_eq!(s.exit_code, 255, "{s:?}");
    assert!(!alive(pid), "the container of a lost monitor still runs");
    n.stop(&orphan, 0).await.unwrap();
    n.remove(&orphan).await.unwrap();

    // A hung monitor: calls that need it are bounded, and calls that do not still answer.
    let hung = n.run(&pod, "hung", "exec sleep 1000").await;
    let monitor = monitor_pid(&n, &hung);
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGSTOP) }, 0);
    let t = Instant::now();
    let _ = n.stop(&hung, 1).await;
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "Stop hung with its monitor: {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    n.status(&hung).await;
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(unsafe { libc::kill(monitor, libc::SIGCONT) }, 0);
    n.exited(&hung).await;
    remove_everything(&mut n).await;
}

#[tokio::test]
async fn shutdown_can_stop_every_pod_and_tells_systemd_when_ready() {
    let mut n = node().await;
    let pod = n.pod("going").await;
    let id = n.run(&pod, "app", "exec sleep 1000").await;
    let pid = pid_of(&n.status(&id).await);
    n.daemon.signal(libc::SIGTERM);
    n.daemon.wait().await;
    assert!(alive(pid), "the default shutdown stopped a container");

    // shutdown_stops_pods, under a service manager listening on NOTIFY_SOCKET.
    let config = n.dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("shutdown_stops_pods = true\n{text}")).unwrap();
    let notify_path = n.dir.path().join("notify.sock");
    let manager = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    n.daemon = Daemon::spawn_env(n.dir.path(), &[], &[("NOTIFY_SOCKET", &notify_path)]);
    let mut buf = [0u8; 64];
    let len = manager.recv(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"READY=1");
    // READY=1 comes after recovery: RPCs are served at once.
    n.client = n.daemon.ready_client().await;
    assert_eq!(pid_of(&n.status(&id).await), pid);
    n.daemon.signal(libc::SIGTERM);
    let len = manager.recv(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"STOPPING=1");
    assert!(n.daemon.wait().await.success());
    assert!(!alive(pid), "shutdown_stops_pods left a container running");

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("shutdown_stops_pods = true\n", "", 1),
    )
    .unwrap();
    n.daemon = Daemon::spawn(n.dir.path(), &[]);
    n.client = n.daemon.ready_client().await;
    assert_eq!(
        n.state(&id).await.state,
        cri::ContainerState::ContainerExited as i32
    );
    let pods = pods(&mut n).await;
    assert_eq!(pods[0].state, cri::PodSandboxState::SandboxNotready as i32);
    remove_everything(&mut n).await;
}

/// The PID of a container's monitor (the process whose command line names its ID).
fn monitor_pid(n: &Node, id: &str) -> i32 {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("berth-monitor --id {id}")])
        .output()
        .unwrap();
    let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(pids.len(), 1, "monitors of {id} under {:?}", n.dir.path());
    pids[0]
}

/// A small deterministic generator (the seed is printed, so a failing round can be replayed
/// with BERTH_FAULT_SEED).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

const OPERATIONS: [&str; 8] = [
    "RunPodSandbox",
    "CreateContainer",
    "StartContainer",
    "StopContainer",
    "StopPodSandbox",
    "RemoveContainer",
    "RemovePodSandbox",
    "PullImage",
];

#[tokio::test]
async fn a_kill_at_any_instant_loses_nothing_and_leaks_nothing() {
    let rounds: usize = std::env::var("BERTH_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let seed = std::env::var("BERTH_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| now_ns() as u64);
    eprintln!("fault injection: {rounds} rounds, BERTH_FAULT_SEED={seed}");
    let mut rng = Rng(seed);
    let mut n = node().await;
    let cni = use_cni(&mut n).await;
    for round in 0..rounds {
        let op = OPERATIONS[round % OPERATIONS.len()];
        let delay = Duration::from_millis(rng.next(300));
        // What the operation needs exists before it starts. Pods with and without infra
        // alternate, the other way round on the next pass over the operations: each
        // operation is killed in both within two passes, and one pass has both kinds.
        let name = format!("f{round}");
        let pod = if (round + round / OPERATIONS.len()) % 2 == 1 {
            n.pod_with(n.pod_config_with_infra(&name)).await
        } else {
            n.pod(&name).await
        };
        let created = n.create(&pod, n.config("c", TICKER)).await.unwrap();
        if matches!(op, "StopContainer" | "RemoveContainer" | "StopPodSandbox") {
            n.start(&created).await.unwrap();
        }
        let mut client = n.client.clone();
        let image = n.image.clone();
        let (pod_id, config) = pod.clone();
        let sandbox_config = config.clone();
        let container_config = n.config("d", TICKER);
        let cid = created.clone();
        let task = tokio::spawn(async move {
            let r = &mut client.runtime;
            let _ = match op {
                "RunPodSandbox" => {
                    let mut config = sandbox_config;
                    config.metadata.as_mut().unwrap().name += "-again";
                    r.run_pod_sandbox(cri::RunPodSandboxRequest {
                        config: Some(config),
                        runtime_handler: String::new(),
                    })
                    .await
                    .map(drop)
                }
                "CreateContainer" => r
                    .create_container(cri::CreateContainerRequest {
                        pod_sandbox_id: pod_id,
                        config: Some(container_config),
                        sandbox_config: Some(config),
                    })
                    .await
                    .map(drop),
                "StartContainer" => r
                    .start_container(cri::StartContainerRequest { container_id: cid })
                    .await
                    .map(drop),
                "StopContainer" => r
                    .stop_container(cri::StopContainerRequest {
                        container_id: cid,
                        timeout: 0,
                    })
                    .await
                    .map(drop),
                "StopPodSandbox" => r
                    .stop_pod_sandbox(cri::StopPodSandboxRequest {
                        pod_sandbox_id: pod_id,
                    })
                    .await
                    .map(drop),
                "RemoveContainer" => r
                    .remove_container(cri::RemoveContainerRequest { container_id: cid })
                    .await
                    .map(drop),
                "RemovePodSandbox" => r
                    .remove_pod_sandbox(cri::RemovePodSandboxRequest {
                        pod_sandbox_id: pod_id,
                    })
                    .await
                    .map(drop),
                _ => client
                    .image
                    .pull_image(cri::PullImageRequest {
                        image: Some(spec(&image)),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            };
        });
        tokio::time::sleep(delay).await;
        restart(&mut n, libc::SIGKILL).await;
        let _ = task.await;
        let recovered = n
            .daemon
            .log()
            .lines()
            .find(|l| l.contains("records recovered"))
            .map(|l| {
                l.split("records recovered")
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default();
        let found = check_consistency(&mut n, &cni).await;
        eprintln!("round {round}: {op} killed after {delay:?}: recovery: {recovered}; {found}");
    }
    remove_everything(&mut n).await;
    cni.assert_clean();
}

/// A berthd killed while a runtime command runs leaves that command's error log, and one
/// killed between writing a CNI result and renaming it into place leaves the temp file.
/// Recovery removes both. The first is made at its real instant: the runtime's `kill` of a
/// StopPodSandbox has run runc (which opened its log) but not returned (a wrapper around runc
/// holds it), and berthd is killed then. The
/// second instant is a rename away from the write and cannot be hit from outside, so the
/// file it leaves is put there while berthd is down.
#[tokio::test]
async fn recovery_removes_what_a_kill_mid_command_leaves() {
    let mut n = node().await;
    let dir = n.dir.path().to_owned();
    let hang = dir.join("hang-kill");
    let hanging = dir.join("kill-hanging");
    // Whichever runtime the suite runs under (BERTH_TEST_CONFIG may pick crun), wrapped.
    let mut config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    for (name, binary) in [("runc", "/usr/sbin/runc"), ("crun", "/usr/bin/crun")] {
        if !Path::new(binary).exists() {
            continue;
        }
        let wrapper = dir.join(format!("slow-{name}"));
        berth_testkit::write_script(
            &wrapper,
            &format!(
                "#!/bin/sh\ncase \" $* \" in *\" kill \"*) if [ -e {hang} ]; then {binary} \"$@\"; echo $$ > {hanging}; exec sleep 60; fi;; esac\nexec {binary} \"$@\"\n",
                hang = hang.display(),
                hanging = hanging.display()
            ),
        );
        config = format!(
            "[runtimes.{name}]\npath = \"{}\"\n{config}",
            wrapper.display()
        );
    }
    std::fs::write(dir.join("config.toml"), config).unwrap();
    restart(&mut n, libc::SIGTERM).await;

    let pod = n.pod("leftovers").await;
    let c = n.run(&pod, "c", "exec sleep 1000").await;
    std::fs::write(&hang, "").unwrap();
    let mut client = n.client.clone();
    let pod_id = pod.0.clone();
    let stop = tokio::spawn(async move {
        let _ = client
            .runtime
            .stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: pod_id,
            })
            .await;
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&hanging).map_or(true, |pid| !pid.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the runtime's kill never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = dir.join("state/runtime-logs");
    let kill_log = logs.join(format!("{c}.kill.log"));
    assert!(kill_log.exists(), "no kill log while the kill runs");
    std::fs::remove_file(&hang).unwrap();
    n.daemon.signal(libc::SIGKILL);
    n.daemon.wait().await;
    let _ = stop.await;
    // The hung command (its PID was written before it became `sleep`).
    let hung: i32 = std::fs::read_to_string(&hanging)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(unsafe { libc::kill(hung, libc::SIGKILL) }, 0);
    let results = dir.join("state/cni/results");
    std::fs::create_dir_all(&results).unwrap();
    let tmp = results.join(format!("berth-{}-eth0.tmp", pod.0));
    std::fs::write(&tmp, "{").unwrap();
    keep_log(&n);
    n.daemon = Daemon::spawn(&dir, &[]);
    n.client = n.daemon.ready_client().await;

    assert!(!kill_log.exists(), "the kill log outlived recovery");
    assert!(!tmp.exists(), "the CNI temp file outlived recovery");
    n.stop(&c, 0).await.unwrap();
    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

/// The invariants after a recovery: every listed object answers Status with a settled state
/// that matches the node, and nothing on the node (runtime container, directory, mount) is
/// without a record. Returns a one-line summary.
async fn check_consistency(n: &mut Node, cni: &Cni) -> String {
    let pods = pods(n).await;
    let containers = containers(n).await;
    let mut known: HashSet<String> = pods.iter().map(|p| p.id.clone()).collect();
    for c in &containers {
        assert!(
            known.contains(&c.pod_sandbox_id),
            "container {} points at a missing pod",
            c.id
        );
        known.insert(c.id.clone());
        let s = n.status(&c.id).await;
        let info: serde_json::Value = serde_json::from_str(&s.info["info"]).unwrap();
        assert!(
            !matches!(info["state"].as_str(), Some("creating" | "removing")),
            "container {} left {} by recovery",
            c.id,
            info["state"]
        );
        let status = s.status.clone().unwrap();
        match cri::ContainerState::try_from(status.state).unwrap() {
            cri::ContainerState::ContainerRunning => {
                let pid = pid_of(&s);
                assert!(alive(pid), "container {} RUNNING without its process", c.id);
            }
            cri::ContainerState::ContainerCreated | cri::ContainerState::ContainerExited => {}
            cri::ContainerState::ContainerUnknown => {
                panic!("container {} left UNKNOWN after recovery", c.id)
            }
        }
    }
    for p in &pods {
        let status = n.pod_status(&p.id).await;
        let info: serde_json::Value = serde_json::from_str(&status.info["info"]).unwrap();
        assert!(
            !matches!(info["state"].as_str(), Some("creating" | "terminating")),
            "pod {} left {} by recovery",
            p.id,
            info["state"]
        );
        assert!(
            p.state == cri::PodSandboxState::SandboxReady as i32
                || p.state == cri::PodSandboxState::SandboxNotready as i32,
            "pod {} in state {}",
            p.id,
            p.state
        );
    }
    let state = n.dir.path().join("state");
    for sub in ["containers", "sandboxes", "m"] {
        for entry in std::fs::read_dir(state.join(sub)).into_iter().flatten() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(known.contains(&name), "{sub}/{name} has no record");
        }
    }
    for id in common::runc_ids(&state) {
        assert!(known.contains(&id), "runc container {id} has no record");
    }
    // No command of the killed berthd runs any more: none of their logs may remain.
    let logs: Vec<_> = std::fs::read_dir(state.join("runtime-logs"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(logs.is_empty(), "runtime logs left by recovery: {logs:?}");
    for entry in std::fs::read_dir(state.join("cni/results"))
        .into_iter()
        .flatten()
    {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".tmp"),
            "CNI temp file {name} left by recovery"
        );
        assert!(
            known.iter().any(|id| name.contains(id.as_str())),
            "CNI result {name} of no known pod"
        );
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    for m in mounts.lines().filter_map(|l| l.split(' ').nth(1)) {
        if let Ok(rest) = Path::new(m).strip_prefix(&state) {
            let owner = rest.iter().nth(1).map(|s| s.to_string_lossy().into_owned());
            assert!(
                owner.as_ref().is_some_and(|o| known.contains(o)),
                "mount {m} has no record"
            );
        }
    }
    // And the other way: a ready pod has its lease and its rule.
    let (holders, owners) = (cni.lease_holders(), cni.rule_owners());
    for p in pods
        .iter()
        .filter(|p| p.state == cri::PodSandboxState::SandboxReady as i32)
    {
        assert!(
            holders.contains(&p.id),
            "ready pod {} has no IP lease",
            p.id
        );
        assert!(owners.contains(&p.id), "ready pod {} has no NAT rule", p.id);
    }
    for holder in cni.lease_holders() {
        assert!(
            known.contains(&holder),
            "IP lease of {holder} has no record"
        );
    }
    for owner in cni.rule_owners() {
        assert!(
            known.contains(&owner),
            "iptables rule of {owner} has no record"
        );
    }
    format!(
        "{} pods, {} containers, consistent",
        pods.len(),
        containers.len()
    )
}
