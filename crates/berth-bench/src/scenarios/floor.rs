//! Floor: the same busybox bundle run directly with the OCI runtime (`runc run`), printing
//! `ready`: the physical limit a CRI runtime's overhead is measured above.

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
    Ok(vec![
        ("runc run: first output", first),
        ("runc run: exit", exited),
    ])
}
