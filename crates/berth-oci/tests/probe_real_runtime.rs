//! The probe against the real runc and crun of this machine (root required).

use std::path::Path;

use berth_oci::{probe_runtime, resolve_binary};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[tokio::test]
async fn runc_passes_the_probe_and_leaves_nothing() {
    let Some(runc) = resolve_binary(Path::new("runc")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "runc must be installed in CI"
        );
        eprintln!("SKIPPED: runc is not installed");
        return;
    };
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        eprintln!("SKIPPED: the runtime probe needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("probe");
    probe_runtime(&runc, &scratch, false)
        .await
        .expect("runc works on this host");
    assert!(!scratch.exists(), "probe directory removed");
    let cgroup = format!("/sys/fs/cgroup/pids/berth-probe-{}", std::process::id());
    assert!(
        !Path::new(&cgroup).exists(),
        "probe cgroup {cgroup} removed"
    );
}

#[tokio::test]
async fn a_refusing_runtime_is_reported_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-runtime");
    berth_testkit::write_script(
        &fake,
        "#!/bin/sh\necho \"no containers today\" >&2\nexit 3\n",
    );
    let e = probe_runtime(&fake, &dir.path().join("p"), false)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("create failed"), "{msg}");
    assert!(msg.contains("no containers today"), "{msg}");
}

/// On a node whose cgroups systemd manages (scripts/node-vm), runc and crun pass the probe
/// through the systemd driver too, and it leaves no scope. A runtime that cannot reach
/// systemd fails this probe, rather than every pod later.
#[tokio::test]
async fn on_a_systemd_node_the_probe_goes_through_systemd() {
    let systemd = std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
        && Path::new("/run/systemd/system").is_dir();
    if !systemd || !is_root() {
        eprintln!("SKIPPED: not a systemd node; scripts/node-vm runs this test on one");
        return;
    }
    for name in ["runc", "crun"] {
        let Some(binary) = resolve_binary(Path::new(name)) else {
            eprintln!("SKIPPED for {name}: not installed");
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        probe_runtime(&binary, &dir.path().join("probe"), true)
            .await
            .unwrap_or_else(|e| panic!("{name} works through systemd: {e}"));
        let scope = format!(
            "/sys/fs/cgroup/system.slice/berth-probe-{}.scope",
            std::process::id()
        );
        assert!(!Path::new(&scope).exists(), "{name}: {scope} is left");
    }
}
