//! Proving that an OCI runtime can create a container on this host.
//!
//! `--version` is not enough: crun 1.8 answers it happily and then refuses every container
//! on a cgroup v1 "hybrid" host ("cgroups in hybrid mode not supported"). So the probe
//! creates (never starts) a throw-away container whose rootfs is an empty directory with the
//! host's `/usr` bound read-only, then deletes it. Everything lives under a scratch
//! directory with its own runtime `--root`, and is removed before returning.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use oci_spec::runtime::{LinuxBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec};
use tokio::process::Command;

/// How long one runtime command of the probe may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a runtime failed its probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Preparing the scratch bundle failed.
    #[error("cannot prepare probe bundle in {dir}: {source}")]
    Bundle {
        /// The scratch directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The spec could not be built or written.
    #[error("cannot write probe config.json: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    /// The runtime could not be run at all.
    #[error("cannot run {binary}: {source}")]
    Spawn {
        /// The runtime.
        binary: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The runtime ran and refused.
    #[error("{binary} {step} failed ({status}): {stderr}")]
    Refused {
        /// The runtime.
        binary: PathBuf,
        /// The command (`create`, `delete`).
        step: &'static str,
        /// Exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// The runtime hung.
    #[error("{binary} {step} did not finish within {STEP_TIMEOUT:?}")]
    Timeout {
        /// The runtime.
        binary: PathBuf,
        /// The command.
        step: &'static str,
    },
}

/// Creates and deletes a container with `binary` under `scratch` (which must not exist
/// yet, or may be left from a crashed probe; it is removed in all cases).
pub async fn probe_runtime(binary: &Path, scratch: &Path) -> Result<(), ProbeError> {
    let _ = std::fs::remove_dir_all(scratch);
    let result = run_probe(binary, scratch).await;
    if let Err(e) = std::fs::remove_dir_all(scratch) {
        tracing::warn!(dir = %scratch.display(), error = %e, "cannot remove runtime probe directory");
    }
    result
}

async fn run_probe(binary: &Path, scratch: &Path) -> Result<(), ProbeError> {
    let bundle = scratch.join("bundle");
    let state_root = scratch.join("root");
    write_bundle(&bundle)?;
    std::fs::create_dir_all(&state_root).map_err(|source| ProbeError::Bundle {
        dir: state_root.clone(),
        source,
    })?;
    let id = format!("berth-probe-{}", std::process::id());
    let root_arg = state_root.as_os_str();
    let created = run(
        binary,
        "create",
        scratch,
        &[
            "--root".as_ref(),
            root_arg,
            "create".as_ref(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
            id.as_ref(),
        ],
    )
    .await;
    // Delete even when create failed: a half-created container must not linger.
    let deleted = run(
        binary,
        "delete",
        scratch,
        &[
            "--root".as_ref(),
            root_arg,
            "delete".as_ref(),
            "--force".as_ref(),
            id.as_ref(),
        ],
    )
    .await;
    created?;
    deleted
}

fn write_bundle(bundle: &Path) -> Result<(), ProbeError> {
    let rootfs = bundle.join("rootfs");
    let io = |source| ProbeError::Bundle {
        dir: bundle.to_owned(),
        source,
    };
    std::fs::create_dir_all(rootfs.join("usr")).map_err(io)?;
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, rootfs.join(link)).map_err(io)?;
    }
    let mut spec = Spec::default();
    spec.set_hostname(Some("berth-probe".into()));
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(true)
            .build()?,
    ));
    spec.set_process(Some(
        ProcessBuilder::default()
            .args(vec!["/bin/true".to_owned()])
            .cwd("/")
            .build()?,
    ));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        MountBuilder::default()
            .destination("/usr")
            .typ("bind")
            .source("/usr")
            .options(vec!["rbind".into(), "ro".into()])
            .build()?,
    );
    spec.set_mounts(Some(mounts));
    let linux = spec.linux().clone().unwrap_or_else(|| {
        LinuxBuilder::default()
            .build()
            .expect("empty linux section")
    });
    let mut linux = linux;
    linux.set_cgroups_path(Some(format!("/berth-probe-{}", std::process::id()).into()));
    spec.set_linux(Some(linux));
    spec.save(bundle.join("config.json"))?;
    Ok(())
}

async fn run(
    binary: &Path,
    step: &'static str,
    scratch: &Path,
    args: &[&std::ffi::OsStr],
) -> Result<(), ProbeError> {
    // The container's init inherits the runtime's stdio and outlives `create`, so a pipe
    // would never reach EOF: stderr goes to a file that is read once the command exits.
    let stderr_path = scratch.join(format!("{step}.stderr"));
    let stderr = std::fs::File::create(&stderr_path).map_err(|source| ProbeError::Bundle {
        dir: scratch.to_owned(),
        source,
    })?;
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ProbeError::Spawn {
            binary: binary.to_owned(),
            source,
        })?;
    let status = tokio::time::timeout(STEP_TIMEOUT, child.wait())
        .await
        .map_err(|_| ProbeError::Timeout {
            binary: binary.to_owned(),
            step,
        })?
        .map_err(|source| ProbeError::Spawn {
            binary: binary.to_owned(),
            source,
        })?;
    if status.success() {
        return Ok(());
    }
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    Err(ProbeError::Refused {
        binary: binary.to_owned(),
        step,
        status,
        stderr: stderr.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_is_a_valid_spec() {
        let dir = tempfile::tempdir().unwrap();
        write_bundle(dir.path()).unwrap();
        let spec = Spec::load(dir.path().join("config.json")).unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().args().as_ref().unwrap(),
            &["/bin/true"]
        );
        assert!(dir.path().join("rootfs/bin").is_symlink());
    }

    #[tokio::test]
    async fn missing_binary_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = probe_runtime(Path::new("/nonexistent/runc"), &dir.path().join("p"))
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Spawn { .. }), "{e}");
        assert!(!dir.path().join("p").exists());
    }
}
