//! The CLI driver against real runc, with a busybox rootfs unpacked by berth's own layer
//! unpacker. Needs root and runc.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_oci::{Runtime, RuntimeError, resolve_binary};

fn bundle(dir: &Path, args: &[&str]) {
    berth_testkit::busybox_bundle(
        dir,
        args,
        &format!("/berth-test-driver-{}", std::process::id()),
    );
}

async fn wait_for(runtime: &Runtime, id: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = runtime.state(id).await.unwrap();
        if state.status == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {status}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn create_start_kill_and_delete_a_real_container() {
    let Some(runc) = resolve_binary(Path::new("runc")) else {
        panic!("runc is not installed (scripts/install-deps)");
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle_dir = dir.path().join("bundle");
    bundle(&bundle_dir, &["sleep", "60"]);
    let runtime = Runtime::new(runc, dir.path().join("state"), dir.path().join("logs"));
    let id = format!("berth-driver-{}", std::process::id());
    let pid_file = dir.path().join("pid");

    runtime.create(&id, &bundle_dir, &pid_file).await.unwrap();
    let state = runtime.state(&id).await.unwrap();
    assert_eq!(state.status, "created");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(state.pid, pid);
    runtime.start(&id).await.unwrap();
    wait_for(&runtime, &id, "running").await;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"sleep"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );

    runtime.kill(&id, 9, true).await.unwrap();
    wait_for(&runtime, &id, "stopped").await;
    runtime.delete(&id, false).await.unwrap();
    let gone = runtime.state(&id).await.unwrap_err();
    assert!(matches!(gone, RuntimeError::NotFound { .. }), "{gone}");
    // Deleting what is gone is fine; starting it names the container.
    runtime.delete(&id, true).await.unwrap();
    let err = runtime.start(&id).await.unwrap_err();
    assert!(err.to_string().contains(&id), "{err}");
    // The init was reparented when runc exited; whoever reaps orphans here may take a moment.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().next());
    assert!(
        matches!(state, None | Some("Z" | "X")),
        "the process is dead: {stat}"
    );
}

#[tokio::test]
async fn a_refused_create_reports_the_runtime_message() {
    let runc = resolve_binary(Path::new("runc")).expect("runc");
    let dir = tempfile::tempdir().unwrap();
    let bundle_dir = dir.path().join("bundle");
    bundle(&bundle_dir, &["/no/such/binary"]);
    let runtime = Runtime::new(runc, dir.path().join("state"), dir.path().join("logs"));
    let id = format!("berth-driver-bad-{}", std::process::id());
    let err = runtime
        .create(&id, &bundle_dir, &dir.path().join("pid"))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("no/such/binary"), "{err}");
    runtime.delete(&id, true).await.unwrap();
}
