//! Containers with real runc, berth's monitor, and images the test kit builds from Debian's
//! busybox and pushes to a real registry on loopback. Needs root.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_cri_client::cri;
use common::node::{node, spec};
use tonic::Code;
/// Parses one CRI log line: (stream, tag, text).
fn parse_log_line(line: &str) -> (String, String, String) {
    let mut parts = line.splitn(4, ' ');
    let (ts, stream, tag) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let text = parts.next().unwrap_or("");
    // RFC 3339 with nanoseconds in UTC: 2026-12-02T18:27:08.123456789Z
    assert_eq!(ts.len(), 30, "timestamp {ts:?}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.');
    assert!(matches!(stream, "stdout" | "stderr"), "{line}");
    assert!(matches!(tag, "P" | "F"), "{line}");
    (stream.into(), tag.into(), text.into())
}

#[tokio::test]
async fn containers_run_exit_and_log_in_the_cri_format() {
    let mut n = node().await;
    let pod = n.pod("life").await;

    // Exit codes 0 and 1, with reasons and times.
    let ok = n.run(&pod, "ok", "echo hello; echo oops >&2").await;
    let failed = n.run(&pod, "failed", "exit 1").await;
    let ok_status = n.exited(&ok).await;
    assert_eq!(
        (ok_status.exit_code, ok_status.reason.as_str()),
        (0, "Completed")
    );
    assert!(ok_status.started_at >= ok_status.created_at);
    assert!(ok_status.finished_at >= ok_status.started_at);
    let failed_status = n.exited(&failed).await;
    assert_eq!(
        (failed_status.exit_code, failed_status.reason.as_str()),
        (1, "Error")
    );
    assert_eq!(failed_status.image.unwrap().image, n.image);
    assert!(failed_status.image_ref.starts_with("sha256:"));
    assert_eq!(failed_status.labels["app"], "failed");
    let log = std::fs::read_to_string(&ok_status.log_path).unwrap();
    let records: Vec<_> = log.lines().map(parse_log_line).collect();
    assert!(
        records.contains(&("stdout".into(), "F".into(), "hello".into())),
        "{log}"
    );
    assert!(
        records.contains(&("stderr".into(), "F".into(), "oops".into())),
        "{log}"
    );

    // With a terminal, the output is one stream, logged as stdout without the CRs.
    let mut tty = n.config("tty", "echo hi-tty; test -t 1 && echo is-a-tty");
    tty.tty = true;
    let tty = n.create(&pod, tty).await.unwrap();
    n.start(&tty).await.unwrap();
    let tty_status = n.exited(&tty).await;
    assert_eq!(tty_status.exit_code, 0);
    let log = std::fs::read_to_string(&tty_status.log_path).unwrap();
    let records: Vec<_> = log.lines().map(parse_log_line).collect();
    assert_eq!(
        records,
        [
            ("stdout".into(), "F".into(), "hi-tty".into()),
            ("stdout".into(), "F".into(), "is-a-tty".into())
        ],
        "{log}"
    );

    // Exit 137: killed by Stop with timeout 0; verbose status has the PID and the spec.
    let sleeper = n.run(&pod, "sleeper", "sleep 600").await;
    let status = n.status(&sleeper).await;
    assert_eq!(
        status.status.as_ref().unwrap().state,
        cri::ContainerState::ContainerRunning as i32
    );
    let info: serde_json::Value = serde_json::from_str(&status.info["info"]).unwrap();
    assert!(info["pid"].as_i64().unwrap() > 0);
    assert_eq!(info["runtimeSpec"]["process"]["args"][2], "sleep 600");
    n.stop(&sleeper, 0).await.unwrap();
    let s = n.state(&sleeper).await;
    assert_eq!(s.state, cri::ContainerState::ContainerExited as i32);
    assert_eq!((s.exit_code, s.reason.as_str()), (137, "Error"));
    // Stop is idempotent.
    n.stop(&sleeper, 10).await.unwrap();

    // A 40 KiB line is cut into 16 KiB partial records; a last line without a newline is
    // written whole.
    let long = n
        .run(
            &pod,
            "long",
            "s=0123456789abcdef; for i in 1 2 3 4 5 6 7 8 9; do s=$s$s; done; a=$s; s=$s$s; s=$s$s; \
             printf '%s%s\\n' \"$s\" \"$a\"; printf partial >&2",
        )
        .await;
    let long_status = n.exited(&long).await;
    let log = std::fs::read_to_string(&long_status.log_path).unwrap();
    let records: Vec<_> = log.lines().map(parse_log_line).collect();
    let out: Vec<_> = records.iter().filter(|r| r.0 == "stdout").collect();
    assert_eq!(
        out.len(),
        3,
        "{:?}",
        out.iter().map(|r| (&r.1, r.2.len())).collect::<Vec<_>>()
    );
    assert_eq!((out[0].1.as_str(), out[0].2.len()), ("P", 16384));
    assert_eq!((out[1].1.as_str(), out[1].2.len()), ("P", 16384));
    assert_eq!((out[2].1.as_str(), out[2].2.len()), ("F", 8192));
    let joined: String = out.iter().map(|r| r.2.as_str()).collect();
    assert!(joined.starts_with("0123456789abcdef0123"));
    assert!(
        records.contains(&("stderr".into(), "F".into(), "partial".into())),
        "{log}"
    );

    // ReopenContainerLog after the kubelet renamed the file: a new file gets the new lines.
    let chatty = n
        .run(
            &pod,
            "chatty",
            "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done",
        )
        .await;
    let path = PathBuf::from(n.state(&chatty).await.log_path);
    n.said(&chatty, "line1").await;
    let rotated = path.with_extension("log.1");
    std::fs::rename(&path, &rotated).unwrap();
    n.client
        .runtime
        .reopen_container_log(cri::ReopenContainerLogRequest {
            container_id: chatty.clone(),
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        let fresh = std::fs::read_to_string(&path).unwrap_or_default();
        if fresh.lines().count() >= 2 {
            break fresh;
        }
        assert!(
            Instant::now() < deadline,
            "no new lines after the reopen: {fresh}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        fresh
            .lines()
            .all(|l| parse_log_line(l).2.starts_with("line"))
    );
    // Reopening an exited container's log is refused.
    let err = n
        .client
        .runtime
        .reopen_container_log(cri::ReopenContainerLogRequest {
            container_id: ok.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");

    // ListContainers filters by state, pod, label and ID prefix.
    let list = |f: cri::ContainerFilter| cri::ListContainersRequest { filter: Some(f) };
    let running = n
        .client
        .runtime
        .list_containers(list(cri::ContainerFilter {
            state: Some(cri::ContainerStateValue {
                state: cri::ContainerState::ContainerRunning as i32,
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .containers;
    assert_eq!(
        running.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [chatty.as_str()]
    );
    let by_label = n
        .client
        .runtime
        .list_containers(list(cri::ContainerFilter {
            pod_sandbox_id: pod.0.clone(),
            label_selector: [("app".to_owned(), "failed".to_owned())].into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .containers;
    assert_eq!(by_label.len(), 1);
    assert_eq!(by_label[0].id, failed);

    // Errors name the object: unknown IDs, a second start, a duplicate name, a bad stop
    // signal in the image, a missing image.
    assert_eq!(n.start("nope").await.unwrap_err().code(), Code::NotFound);
    // Stop and Remove are idempotent: an unknown ID succeeds (CRI; docs/lifecycle.md,
    // "Containers").
    n.stop("nope", 1).await.unwrap();
    n.remove("nope").await.unwrap();
    assert_eq!(
        n.start(&ok).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let dup = n.create(&pod, n.config("ok", "true")).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists, "{dup}");
    let mut bogus = n.config("bogus", "true");
    bogus.image = Some(spec(&n.image.replace(":latest", ":bogus")));
    let err = n.create(&pod, bogus).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    assert!(err.message().contains("SIGBOGUS"), "{err}");
    let mut missing = n.config("missing", "true");
    missing.image = Some(spec("example.invalid/none:1"));
    assert_eq!(
        n.create(&pod, missing).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut group_only = n.config("group-only", "true");
    group_only.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            run_as_group: Some(cri::Int64Value { value: 5 }),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(
        n.create(&pod, group_only).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // Remove works on exited and running containers and releases the name.
    n.remove(&ok).await.unwrap();
    n.remove(&ok).await.unwrap();
    n.create(&pod, n.config("ok", "true")).await.unwrap();
    n.remove(&chatty).await.unwrap();

    // Removing the pod removes its containers and leaves nothing behind.
    n.remove_pod(&pod.0).await;
    let left = common::list_containers(&mut n.client).await;
    assert!(left.is_empty(), "{left:?}");
    n.assert_clean();
    assert_eq!(n.daemon.terminate().await.code(), Some(0));
}

#[tokio::test]
async fn stop_is_bounded_signals_right_and_never_blocks_other_calls() {
    let mut n = node().await;
    let pod = n.pod("stops").await;

    // A container that exits on SIGTERM stops well under its timeout.
    let polite = n
        .run(
            &pod,
            "polite",
            "trap 'exit 0' TERM; echo trapped; while true; do sleep 0.1; done",
        )
        .await;
    n.said(&polite, "trapped").await;
    let t = Instant::now();
    n.stop(&polite, 30).await.unwrap();
    // Bounds here are far from the grace periods, not tight: a TCG node VM is slow.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(n.state(&polite).await.exit_code, 0);

    // One that ignores SIGTERM is killed just after the timeout.
    let stubborn = n
        .run(
            &pod,
            "stubborn",
            "trap '' TERM; echo trapped; while true; do sleep 0.1; done",
        )
        .await;
    n.said(&stubborn, "trapped").await;
    let t = Instant::now();
    n.stop(&stubborn, 2).await.unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(n.state(&stubborn).await.exit_code, 137);

    // The image's StopSignal (SIGUSR1) is the signal delivered.
    let mut usr1 = n.config(
        "usr1",
        "trap 'echo got-usr1; exit 7' USR1; trap 'echo got-term; exit 8' TERM; \
         echo trapped; while true; do sleep 0.1; done",
    );
    usr1.image = Some(spec(&n.image.replace(":latest", ":usr1")));
    let usr1 = n.create(&pod, usr1).await.unwrap();
    n.start(&usr1).await.unwrap();
    n.said(&usr1, "trapped").await;
    n.stop(&usr1, 10).await.unwrap();
    let s = n.state(&usr1).await;
    assert_eq!(s.exit_code, 7);
    assert!(
        std::fs::read_to_string(&s.log_path)
            .unwrap()
            .contains("got-usr1")
    );

    // timeout 0 kills at once.
    let sleeper = n
        .run(&pod, "sleeper", "trap '' TERM; echo trapped; sleep 600")
        .await;
    n.said(&sleeper, "trapped").await;
    let t = Instant::now();
    n.stop(&sleeper, 0).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // During a long stop, Status and ExecSync answer at once; a concurrent Stop and Remove
    // both succeed and the container is gone.
    let slow = n
        .run(
            &pod,
            "slow",
            "trap '' TERM; echo trapped; while true; do sleep 0.1; done",
        )
        .await;
    n.said(&slow, "trapped").await;
    let mut other = berth_cri_client::connect(&n.daemon.socket).await.unwrap();
    let stopping = {
        let id = slow.clone();
        tokio::spawn(async move {
            other
                .runtime
                .stop_container(cri::StopContainerRequest {
                    container_id: id,
                    timeout: 30,
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    assert_eq!(
        n.state(&slow).await.state,
        cri::ContainerState::ContainerRunning as i32
    );
    assert_eq!(n.sh(&slow, "echo alive").await, "alive");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    n.remove(&slow).await.unwrap();
    stopping.await.unwrap().unwrap();
    let gone = n
        .client
        .runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: slow.clone(),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

#[tokio::test]
async fn exec_sync_update_and_oom() {
    let mut n = node().await;
    let pod = n.pod("exec").await;
    let id = n.run(&pod, "app", "sleep 600").await;

    // Output per stream and the exit code.
    let out = n
        .exec(&id, &["sh", "-c", "echo out; echo err >&2; exit 3"], 60)
        .await
        .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code, 3);
    // The timeout kills the exec's processes and fails the call.
    let t = Instant::now();
    let err = n
        .exec(&id, &["sh", "-c", "sleep 100; echo late"], 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ps = n.sh(&id, "ps -o args").await;
    assert!(!ps.contains("sleep 100"), "{ps}");
    // No command is a bad request; an exited container refuses.
    assert_eq!(
        n.exec(&id, &[], 1).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // UpdateContainerResources goes through to the cgroup.
    n.update(
        &id,
        cri::LinuxContainerResources {
            memory_limit_in_bytes: 96 << 20,
            cpu_shares: 256,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let status = n.state(&id).await;
    let r = status.resources.unwrap().linux.unwrap();
    assert_eq!((r.memory_limit_in_bytes, r.cpu_shares), (96 << 20, 256));
    let pid: i32 = {
        let s = n.status(&id).await;
        let info: serde_json::Value = serde_json::from_str(&s.info["info"]).unwrap();
        info["pid"].as_i64().unwrap() as i32
    };
    assert_eq!(memory_limit_of(pid), (96u64 << 20).to_string());
    n.stop(&id, 0).await.unwrap();
    assert_eq!(
        n.exec(&id, &["true"], 1).await.unwrap_err().code(),
        Code::FailedPrecondition
    );

    // A tiny memory limit and an allocation: OOMKilled.
    let hog = with_memory_limit(
        n.config("hog", "x=a; while true; do x=$x$x; done"),
        16 << 20,
    );
    let hog = n.create(&pod, hog).await.unwrap();
    n.start(&hog).await.unwrap();
    let s = n.exited(&hog).await;
    assert_eq!(s.reason, "OOMKilled", "{s:?}");
    assert_eq!(s.exit_code, 137);

    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

#[tokio::test]
async fn security_context_mounts_and_pod_sysctls_apply() {
    let mut n = node().await;
    let pod = n.pod("secure").await;
    let host_dir = n.dir.path().join("host-data");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("hello"), "from the node").unwrap();
    // Propagation from the node needs a shared mount on the node's side, as the kubelet
    // makes its volume dirs.
    let sh = |cmd: String| {
        let ok = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .unwrap();
        assert!(ok.success(), "{cmd}");
    };
    let hd = host_dir.display();
    sh(format!(
        "mount --bind {hd} {hd} && mount --make-shared {hd} && mkdir {hd}/later"
    ));
    let link = n.dir.path().join("host-link");
    std::os::unix::fs::symlink(&host_dir, &link).unwrap();
    let created_by_berth = n.dir.path().join("made/by/berth");
    let profile = n.dir.path().join("deny-sethostname.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["sethostname"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .unwrap();

    let mut config = n.config("secure", "sleep 600");
    config.devices = vec![cri::Device {
        container_path: "/dev/berth-zero".into(),
        host_path: "/dev/zero".into(),
        permissions: "r".into(),
    }];
    config.mounts = vec![
        cri::Mount {
            container_path: "/data".into(),
            host_path: link.display().to_string(),
            readonly: true,
            propagation: cri::MountPropagation::PropagationHostToContainer as i32,
            ..Default::default()
        },
        cri::Mount {
            container_path: "/made".into(),
            host_path: created_by_berth.display().to_string(),
            ..Default::default()
        },
    ];
    config.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            run_as_user: Some(cri::Int64Value { value: 1000 }),
            supplemental_groups: vec![4000],
            readonly_rootfs: true,
            no_new_privs: true,
            masked_paths: vec!["/etc/hostname".into()],
            capabilities: Some(cri::Capability {
                add_capabilities: vec!["SYS_ADMIN".into()],
                drop_capabilities: vec!["CHOWN".into()],
                ..Default::default()
            }),
            seccomp: Some(cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::Localhost as i32,
                localhost_ref: profile.display().to_string(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let id = n.create(&pod, config).await.unwrap();
    n.start(&id).await.unwrap();

    // User 1000 from the image's /etc/passwd, its group "extra" (3000) and the request's.
    assert_eq!(n.sh(&id, "id -u; id -g").await, "1000\n1000");
    let groups = n.sh(&id, "id -G").await;
    for g in ["1000", "3000", "4000"] {
        assert!(groups.split_whitespace().any(|x| x == g), "{groups}");
    }
    // Capabilities: SYS_ADMIN added (bit 21), CHOWN (bit 0) dropped; no_new_privs set.
    let status = n.sh(&id, "cat /proc/self/status").await;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let bounding = u64::from_str_radix(&field("CapBnd:"), 16).unwrap();
    assert!(
        bounding & (1 << 21) != 0 && bounding & 1 == 0,
        "{bounding:x}"
    );
    assert_eq!(field("NoNewPrivs:"), "1");
    // The primary GID is among the process's supplementary groups too (CVE-2023-25173).
    let groups = field("Groups:");
    assert!(
        groups.split_whitespace().any(|g| g == "1000"),
        "Groups: {groups}"
    );
    // Read-only root, a masked path, the bind mounts (symlink resolved, missing host path
    // created), and seccomp refusing sethostname even with CAP_SYS_ADMIN.
    let out = n.exec(&id, &["touch", "/rootfile"], 60).await.unwrap();
    assert_ne!(out.exit_code, 0);
    assert_eq!(n.sh(&id, "cat /etc/hostname | wc -c").await, "0");
    assert_eq!(n.sh(&id, "cat /data/hello").await, "from the node");
    assert_ne!(
        n.exec(&id, &["touch", "/data/new"], 60)
            .await
            .unwrap()
            .exit_code,
        0
    );
    assert!(created_by_berth.is_dir());
    let mountinfo = n.sh(&id, "cat /proc/self/mountinfo").await;
    let data = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/data"))
        .unwrap();
    assert!(
        data.contains("master:"),
        "/data is not a slave mount: {data}"
    );
    sh(format!(
        "mount -t tmpfs -o size=1m later {hd}/later && touch {hd}/later/seen"
    ));
    assert_eq!(n.sh(&id, "ls /data/later").await, "seen");
    let out = n.exec(&id, &["hostname", "evil"], 60).await.unwrap();
    assert_ne!(out.exit_code, 0, "sethostname was allowed");
    // The device asked for is there and readable.
    assert_eq!(n.sh(&id, "head -c 4 /dev/berth-zero | wc -c").await, "4");
    // An ephemeral container (PID namespace TARGET) sees the target's processes.
    let mut debug = n.config("debug", "sleep 600");
    debug.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            namespace_options: Some(cri::NamespaceOption {
                pid: cri::NamespaceMode::Target as i32,
                target_id: id.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let debug = n.create(&pod, debug).await.unwrap();
    n.start(&debug).await.unwrap();
    let ps = n.sh(&debug, "ps -o pid,args").await;
    assert!(ps.contains("sleep 600") && ps.lines().count() >= 3, "{ps}");
    // A privileged container gets the node's devices.
    let mut privileged = n.config("privileged", "sleep 600");
    privileged.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            privileged: true,
            ..Default::default()
        }),
        ..Default::default()
    });
    let privileged = n.create(&pod, privileged).await.unwrap();
    n.start(&privileged).await.unwrap();
    if Path::new("/dev/kmsg").exists() {
        assert_eq!(
            n.sh(&privileged, "test -c /dev/kmsg && echo yes").await,
            "yes"
        );
    }
    // The pod's sysctl is visible in the container's IPC namespace.
    assert_eq!(n.sh(&id, "cat /proc/sys/kernel/shm_rmid_forced").await, "1");

    // RuntimeDefault seccomp without CAP_SYS_ADMIN refuses unshare; Unconfined does not
    // filter. An unprefixed custom profile is refused at create.
    let mut confined = n.config("confined", "sleep 600");
    confined.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            seccomp: Some(cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let confined = n.create(&pod, confined).await.unwrap();
    n.start(&confined).await.unwrap();
    assert_eq!(
        n.sh(&confined, "grep Seccomp: /proc/self/status").await,
        "Seccomp:\t2"
    );
    let mut unprefixed = n.config("unprefixed", "true");
    unprefixed.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(
            #[allow(deprecated)]
            cri::LinuxContainerSecurityContext {
                seccomp_profile_path: "my-profile.json".into(),
                ..Default::default()
            },
        ),
        ..Default::default()
    });
    assert_eq!(
        n.create(&pod, unprefixed).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    n.remove_pod(&pod.0).await;
    sh(format!("umount {hd}/later && umount {hd}"));
    n.assert_clean();
}

#[tokio::test]
async fn a_terminating_pod_takes_no_new_container() {
    let mut n = node().await;
    let pod = n.pod("ending").await;
    let id = n.run(&pod, "app", "sleep 600").await;
    let created = n.create(&pod, n.config("late", "sleep 600")).await.unwrap();
    n.client
        .runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.0.clone(),
        })
        .await
        .unwrap();
    // Stopping the pod stopped its containers.
    assert_eq!(
        n.state(&id).await.state,
        cri::ContainerState::ContainerExited as i32
    );
    let err = n.create(&pod, n.config("new", "true")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    let err = n.start(&created).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    // Images removed while containers exist keep their layers until the containers go.
    let layers = n.dir.path().join("root/layers");
    let unpacked = || {
        std::fs::read_dir(&layers)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != "tmp")
            .count()
    };
    assert_eq!(unpacked(), 1);
    for tag in ["latest", "usr1", "bogus"] {
        n.client
            .image
            .remove_image(cri::RemoveImageRequest {
                image: Some(spec(&n.image.replace(":latest", &format!(":{tag}")))),
            })
            .await
            .unwrap();
    }
    assert_eq!(unpacked(), 1, "layers in use were deleted");
    n.client
        .runtime
        .remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.0.clone(),
        })
        .await
        .unwrap();
    assert_eq!(unpacked(), 0, "unused layers were kept");
    let err = n.create(&pod, n.config("after", "true")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");
    n.assert_clean();
}

/// critest's "rshared" spec: a mount made inside the container under a Bidirectional volume
/// appears on the node; and its "drop ALL capabilities" spec: no capability left anywhere.
#[tokio::test]
async fn bidirectional_mounts_reach_the_node_and_all_capabilities_can_be_dropped() {
    let mut n = node().await;
    let pod = n.pod("propagation").await;
    let source = n.dir.path().join("bidir");
    std::fs::create_dir_all(&source).unwrap();
    let sh = |cmd: String| {
        let ok = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .unwrap();
        assert!(ok.success(), "{cmd}");
    };
    let src = source.display().to_string();
    sh(format!(
        "mount --bind {src} {src} && mount --make-rshared {src}"
    ));
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("sh")
                .args(["-c", &format!("umount -l {0}/inner; umount -l {0}", self.0)])
                .status();
        }
    }
    let _unmount = Unmount(src.clone());

    let mut config = n.config("bidir", "sleep 600");
    config.mounts = vec![cri::Mount {
        container_path: src.clone(),
        host_path: src.clone(),
        propagation: cri::MountPropagation::PropagationBidirectional as i32,
        ..Default::default()
    }];
    config.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            privileged: true,
            ..Default::default()
        }),
        ..Default::default()
    });
    let id = n.create(&pod, config).await.unwrap();
    n.start(&id).await.unwrap();
    n.sh(
        &id,
        &format!("mkdir -p {src}/inner && mount --bind /etc {src}/inner"),
    )
    .await;
    let seen: Vec<_> = std::fs::read_dir(source.join("inner"))
        .unwrap()
        .flatten()
        .collect();
    assert!(
        !seen.is_empty(),
        "the container's mount did not reach the node"
    );
    sh(format!("umount -l {src}/inner"));

    let mut config = n.config("nocaps", "sleep 600");
    config.linux = Some(cri::LinuxContainerConfig {
        security_context: Some(cri::LinuxContainerSecurityContext {
            capabilities: Some(cri::Capability {
                drop_capabilities: vec!["ALL".into()],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let nocaps = n.create(&pod, config).await.unwrap();
    n.start(&nocaps).await.unwrap();
    let status = n.sh(&nocaps, "grep ^Cap /proc/self/status").await;
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            status.contains(&format!("{field}:\t0000000000000000")),
            "{field}: {status}"
        );
    }
    n.remove_pod(&pod.0).await;
    drop(_unmount);
    n.assert_clean();
}

/// What only a cgroup v2 node shows (scripts/node-vm runs it there; on a v1 host it checks
/// that cgroup v2 settings are refused, and says it skipped the rest): each container has a
/// cgroup namespace of its own, so `/sys/fs/cgroup` is its own cgroup, read-only, with its
/// limits (memory, CPU, hugepages, and `unified` files such as `pids.max`), and an update is
/// seen from inside, as a JVM or Go's automaxprocs would read it.
#[tokio::test]
async fn on_cgroup_v2_a_container_sees_its_own_cgroup_and_its_limits() {
    let mut n = node().await;
    let pod = n.pod("v2").await;
    let mut config = with_memory_limit(n.config("limits", "exec sleep 1000"), 64 << 20);
    let resources = config.linux.as_mut().unwrap().resources.as_mut().unwrap();
    resources.cpu_quota = 50_000;
    resources.cpu_period = 100_000;
    resources.unified = [
        ("pids.max".to_owned(), "64".to_owned()),
        ("memory.high".to_owned(), (48u64 << 20).to_string()),
    ]
    .into();
    let hugepages = Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists();
    if hugepages {
        resources.hugepage_limits = vec![cri::HugepageLimit {
            page_size: "2MB".into(),
            limit: 4 << 20,
        }];
    }
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let refused = n.create(&pod, config).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(
            refused.message().contains("linux.resources.unified")
                && refused.message().contains("cgroup v2"),
            "{}",
            refused.message()
        );
        n.remove_pod(&pod.0).await;
        n.assert_clean();
        eprintln!("SKIPPED: not a cgroup v2 node; scripts/node-vm runs this test on one");
        return;
    }
    let id = n.create(&pod, config).await.unwrap();
    n.start(&id).await.unwrap();
    assert_eq!(
        n.sh(&id, "cat /proc/self/cgroup").await,
        "0::/",
        "the container's cgroup is the root of its view"
    );
    let inside = |file: &str| format!("cat /sys/fs/cgroup/{file}");
    assert_eq!(
        n.sh(&id, &inside("memory.max")).await,
        (64u64 << 20).to_string()
    );
    assert_eq!(n.sh(&id, &inside("cpu.max")).await, "50000 100000");
    assert_eq!(n.sh(&id, &inside("pids.max")).await, "64");
    assert_eq!(
        n.sh(&id, &inside("memory.high")).await,
        (48u64 << 20).to_string()
    );
    if hugepages {
        assert_eq!(
            n.sh(&id, &inside("hugetlb.2MB.max")).await,
            (4u64 << 20).to_string()
        );
    }
    let touched = n
        .exec(&id, &["touch", "/sys/fs/cgroup/x"], 60)
        .await
        .unwrap();
    assert_ne!(touched.exit_code, 0, "/sys/fs/cgroup is read-only");
    n.update(
        &id,
        cri::LinuxContainerResources {
            memory_limit_in_bytes: 96 << 20,
            unified: [("pids.max".to_owned(), "32".to_owned())].into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        n.sh(&id, &inside("memory.max")).await,
        (96u64 << 20).to_string()
    );
    assert_eq!(n.sh(&id, &inside("pids.max")).await, "32");
    n.stop(&id, 0).await.unwrap();
    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

/// The memory limit the kernel applies to `pid`, read from its cgroup: `memory.limit_in_bytes`
/// of its memory controller's cgroup on cgroup v1, `memory.max` of its cgroup on v2.
fn memory_limit_of(pid: i32) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v1 = cgroups
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned()));
    let file = match v1 {
        Some(path) => format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"),
        None => {
            let path = cgroups
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .expect("a cgroup v2 line");
            format!("/sys/fs/cgroup{path}/memory.max")
        }
    };
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .to_owned()
}

/// `config` with a memory limit of `bytes`.
fn with_memory_limit(mut config: cri::ContainerConfig, bytes: i64) -> cri::ContainerConfig {
    config.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: bytes,
            ..Default::default()
        }),
        ..Default::default()
    });
    config
}

/// The kubelet's pod cgroup (the CRI `cgroup_parent`) holds the pod's infra (if it has one)
/// and containers,
/// under either cgroup driver and cgroup version. A parent that did not exist before the pod
/// (no kubelet made it) goes with the pod; one that existed (the kubelet's) stays.
#[tokio::test]
async fn a_pod_nests_under_its_cgroup_parent_and_removes_the_one_it_made() {
    let mut n = node().await;
    let systemd = n.systemd_cgroups().await;
    let tag = std::process::id();
    // (the CRI parent, its cgroup path, the QoS level above it that the test removes)
    let parent = |pod: &str| {
        if systemd {
            (
                format!("berthkubepods-besteffort-pod{pod}{tag}.slice"),
                format!(
                    "/berthkubepods.slice/berthkubepods-besteffort.slice/berthkubepods-besteffort-pod{pod}{tag}.slice"
                ),
            )
        } else {
            let path = format!("/berthkubepods{tag}/besteffort/pod{pod}");
            (path.clone(), path)
        }
    };
    let (made, made_path) = parent("a");
    let (kubelets, kubelets_path) = parent("b");
    // The kubelet's parent exists before its pod.
    let existing = if systemd {
        let unit = kubelets.clone();
        std::process::Command::new("systemctl")
            .args(["start", &unit])
            .status()
            .unwrap();
        None
    } else {
        Some(cgroup_dirs(&kubelets_path))
    };
    if let Some(dirs) = &existing {
        for dir in dirs {
            std::fs::create_dir_all(dir).unwrap();
        }
    }
    assert!(cgroup_dirs(&kubelets_path).iter().any(|d| d.exists()));
    let mut pods = Vec::new();
    for (name, parent, path) in [
        ("made", &made, &made_path),
        ("kubelets", &kubelets, &kubelets_path),
    ] {
        // One pod with an infra process, one without (nothing of its own to put there).
        let with_infra = name == "made";
        let mut config = if with_infra {
            n.pod_config_with_infra(name)
        } else {
            n.pod_config(name)
        };
        config.linux.as_mut().unwrap().cgroup_parent = parent.clone();
        let (pod, config) = n.pod_with(config).await;
        if with_infra {
            let infra = n.pod_status(&pod).await;
            let info: serde_json::Value = serde_json::from_str(&infra.info["info"]).unwrap();
            let infra_cgroup = cgroup_of(info["pid"].as_i64().unwrap() as i32);
            assert!(
                infra_cgroup.starts_with(&format!("{path}/")),
                "the infra's cgroup {infra_cgroup} is under {path}"
            );
        }
        let limited = with_memory_limit(n.config(name, "exec sleep 1000"), 64 << 20);
        let id = n.create(&(pod.clone(), config), limited).await.unwrap();
        n.start(&id).await.unwrap();
        let status = n.status(&id).await;
        let info: serde_json::Value = serde_json::from_str(&status.info["info"]).unwrap();
        let pid = info["pid"].as_i64().unwrap() as i32;
        let cgroup = cgroup_of(pid);
        assert!(
            cgroup.starts_with(&format!("{path}/")),
            "the container's cgroup {cgroup} is under {path}"
        );
        assert_eq!(memory_limit_of(pid), (64u64 << 20).to_string());
        pods.push(pod);
    }
    for pod in &pods {
        n.remove_pod(pod).await;
    }
    let left: Vec<_> = cgroup_dirs(&made_path)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "the parent berth made is left: {left:?}");
    assert!(
        cgroup_dirs(&kubelets_path).iter().any(|d| d.exists()),
        "the kubelet's parent stays"
    );
    // What the kubelet would remove: its pod's cgroup and the QoS levels.
    if systemd {
        std::process::Command::new("systemctl")
            .args(["stop", "berthkubepods.slice"])
            .status()
            .unwrap();
    } else {
        for dir in cgroup_dirs(&format!("/berthkubepods{tag}"))
            .into_iter()
            .filter(|d| d.exists())
        {
            for level in [
                dir.join("besteffort/podb"),
                dir.join("besteffort"),
                dir.clone(),
            ] {
                std::fs::remove_dir(&level).unwrap_or_else(|e| panic!("{}: {e}", level.display()));
            }
        }
    }
    n.assert_clean();
}

/// The cgroup of `pid` (its memory controller's on cgroup v1).
fn cgroup_of(pid: i32) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    cgroups
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_owned()))
        .or_else(|| {
            cgroups
                .lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        })
        .expect("a memory or unified cgroup line")
}

/// The directories of the cgroup `path` in every hierarchy: one on cgroup v2, one per v1
/// hierarchy (with the hybrid layout's `unified`).
fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let relative = path.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        return vec![root.join(relative)];
    }
    std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(relative))
        .collect()
}
