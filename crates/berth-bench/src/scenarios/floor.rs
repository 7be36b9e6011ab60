//! Floor: the same busybox bundle run directly with the OCI runtime (`runc run`), printing
//! `ready`, and `runc exec` of `true` in a running one: the physical limits a CRI runtime's
//! overhead (cold start, exec round trip) is measured above.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::{Figures, ms};
use crate::target::Failure;

/// One `runc run` of `echo ready`.
pub async fn round(runtime: &Path, dir: &Path, n: usize) -> Result<Figures, Failure> {
    let bundle = dir.join(format!("bundle{n}"));
    let id = format!("berth-bench-floor-{}-{n}", std::process::id());
    berth_testkit::busybox_bundle(
        &bundle,
        &["sh", "-c", "echo ready"],
        &format!("/berth-bench/{id}"),
    );
    let root = dir.join("runc-root");
    let start = Instant::now();
    let mut child = tokio::process::Command::new(runtime)
        .arg("--root")
        .arg(&root)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", runtime.display()))?;
    let mut out = child.stdout.take().ok_or("no stdout")?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 64];
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        while !String::from_utf8_lossy(&seen).contains("ready") {
            match out.read(&mut buf).await {
                Ok(0) | Err(_) => return Err("the container ended without printing".to_owned()),
                Ok(k) => seen.extend_from_slice(&buf[..k]),
            }
        }
        Ok(ms(start))
    })
    .await
    .map_err(|_| "runc run timed out".to_owned())??;
    let status = child.wait().await.map_err(|e| e.to_string())?;
    let exited = ms(start);
    let _ = std::fs::remove_dir_all(&bundle);
    if !status.success() {
        return Err(format!("runc run exited with {status}"));
    }
    let exec = exec_floor(runtime, &root, &bundle, &format!("{id}-exec")).await;
    let _ = std::fs::remove_dir_all(&bundle);
    Ok(vec![
        ("runc run: first output", first),
        ("runc run: exit", exited),
        ("runc exec true: exit", exec?),
    ])
}

/// `runc exec` of `true` in a running container (`sleep`), to its exit; the second of two
/// (the first warms up). The container is deleted after, whatever happened.
async fn exec_floor(runtime: &Path, root: &Path, bundle: &Path, id: &str) -> Result<f64, Failure> {
    berth_testkit::busybox_bundle(bundle, &["sleep", "1000"], &format!("/berth-bench/{id}"));
    let runc = |args: &[&str]| {
        let mut command = tokio::process::Command::new(runtime);
        command
            .arg("--root")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    };
    let bundle_arg = bundle.to_string_lossy();
    let ran = runc(&["run", "--detach", "--bundle", &bundle_arg, id])
        .status()
        .await;
    let timed = async {
        match ran {
            Ok(status) if status.success() => {}
            Ok(status) => return Err(format!("runc run --detach exited with {status}")),
            Err(e) => return Err(format!("{}: {e}", runtime.display())),
        }
        let mut took = 0.0;
        for _ in 0..2 {
            let start = Instant::now();
            let status = runc(&["exec", id, "true"]).status().await;
            took = ms(start);
            match status {
                Ok(status) if status.success() => {}
                other => return Err(format!("runc exec true: {other:?}")),
            }
        }
        Ok(took)
    };
    let result = tokio::time::timeout(Duration::from_secs(30), timed)
        .await
        .unwrap_or_else(|_| Err("runc exec timed out".to_owned()));
    let _ = runc(&["delete", "--force", id]).status().await;
    result
}
