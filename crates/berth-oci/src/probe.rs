//! Proving that an OCI runtime can create a container on this host.
//!
//! `--version` is not enough: crun 1.8 answers it happily and then refuses every container
//! on a cgroup v1 "hybrid" host ("cgroups in hybrid mode not supported"). So the probe
//! creates (never starts) a throw-away container whose rootfs is an empty directory with the
//! host's `/usr` bound read-only, then deletes it. Everything lives under a scratch
//! directory with its own runtime `--root`, and is removed before returning.
//!
//! A runtime that works is then asked what it can do beyond that (`<runtime> features`,
//! the OCI runtime-spec's features document), together with what this kernel can do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use oci_spec::runtime::{LinuxBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec};
use tokio::process::Command;

use crate::cli::{RuntimeCli, Subcommand};

/// How long one runtime command of the probe may take. Generous: a handler that fails its
/// probe is unusable until berthd restarts, so a node that is only slow (under load, or a
/// VM without hardware virtualisation) must not lose its runtime to a start-up stall.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Oldest kernel with `mount_setattr(2)`, which `rro` needs (Linux 5.12).
const MOUNT_SETATTR_KERNEL: (u32, u32) = (5, 12);

/// What a working runtime can do on this host, beyond running a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeFeatures {
    /// Recursive read-only bind mounts: the runtime lists the `rro` mount option in
    /// `features` and the kernel has `mount_setattr` (the CRI's own recipe for runc-like
    /// runtimes, which containerd and CRI-O follow).
    pub recursive_read_only: bool,
}

/// Asks `binary features` what it supports. A runtime without the subcommand (crun 1.8),
/// one that fails or prints something unreadable supports nothing beyond the basics.
pub async fn probe_features(binary: &Path) -> RuntimeFeatures {
    let mount_options = match features_output(binary).await {
        Ok(json) => match mount_options(&json) {
            Ok(options) => options,
            Err(e) => {
                tracing::warn!(binary = %binary.display(), error = %e, "unreadable `features` output; assuming no optional features");
                Vec::new()
            }
        },
        Err(e) => {
            tracing::info!(binary = %binary.display(), reason = %e, "runtime reports no features; assuming no optional features");
            Vec::new()
        }
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rro_option = mount_options.iter().any(|o| o == "rro");
    let rro_kernel = kernel_at_least(&kernel, MOUNT_SETATTR_KERNEL);
    if rro_option && !rro_kernel {
        tracing::warn!(binary = %binary.display(), kernel = %kernel.trim(), "runtime supports recursive read-only mounts but the kernel (< 5.12) does not");
    }
    RuntimeFeatures {
        recursive_read_only: rro_option && rro_kernel,
    }
}

/// The stdout of `binary features`, or why there is none.
async fn features_output(binary: &Path) -> Result<String, String> {
    // `features` starts no container, so its pipes close when it exits.
    let child = Command::new(binary)
        .arg("features")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(STEP_TIMEOUT, child)
        .await
        .map_err(|_| format!("`features` did not finish within {STEP_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`features` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("`features` printed non-UTF-8: {e}"))
}

/// The `mountOptions` of an OCI features document (absent: none).
fn mount_options(json: &str) -> Result<Vec<String>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Features {
        #[serde(rename = "mountOptions", default)]
        mount_options: Vec<String>,
    }
    Ok(serde_json::from_str::<Features>(json)?.mount_options)
}

/// Whether a kernel release (`6.1.0-18-amd64`, `5.12.0`) is at least `major.minor`; an
/// unreadable one is not.
fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Creates and deletes a container with `binary` under `scratch` (which must not exist
/// yet, or may be left from a crashed probe; it is removed in all cases), through the cgroup
/// driver berth will use: with `systemd_cgroup`, the runtime must reach systemd (crun and
/// runc need its D-Bus), which a probe through cgroupfs would not find out.
pub async fn probe_runtime(
    binary: &Path,
    scratch: &Path,
    systemd_cgroup: bool,
) -> Result<(), ProbeError> {
    let _ = std::fs::remove_dir_all(scratch);
    let result = run_probe(binary, scratch, systemd_cgroup).await;
    if let Err(e) = std::fs::remove_dir_all(scratch) {
        tracing::warn!(dir = %scratch.display(), error = %e, "cannot remove runtime probe directory");
    }
    result
}

async fn run_probe(binary: &Path, scratch: &Path, systemd_cgroup: bool) -> Result<(), ProbeError> {
    let bundle = scratch.join("bundle");
    let state_root = scratch.join("root");
    write_bundle(&bundle, systemd_cgroup)?;
    std::fs::create_dir_all(&state_root).map_err(|source| ProbeError::Bundle {
        dir: state_root.clone(),
        source,
    })?;
    let id = format!("berth-probe-{}", std::process::id());
    let cli = RuntimeCli::new(binary.to_owned(), state_root).systemd_cgroup(systemd_cgroup);
    let create = Subcommand::Create {
        id: &id,
        bundle: &bundle,
        pid_file: None,
        console_socket: None,
    };
    let created = run(&cli, &create, scratch).await;
    // Delete even when create failed: a half-created container must not linger.
    let delete = Subcommand::Delete {
        id: &id,
        force: true,
    };
    let deleted = run(&cli, &delete, scratch).await;
    created?;
    deleted
}

fn write_bundle(bundle: &Path, systemd_cgroup: bool) -> Result<(), ProbeError> {
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
    let cgroups_path = if systemd_cgroup {
        // slice:prefix:name, the scope berth-probe-<pid>.scope in system.slice.
        format!("system.slice:berth:probe-{}", std::process::id())
    } else {
        format!("/berth-probe-{}", std::process::id())
    };
    linux.set_cgroups_path(Some(cgroups_path.into()));
    spec.set_linux(Some(linux));
    spec.save(bundle.join("config.json"))?;
    Ok(())
}

/// Runs one step of the probe to its end or its deadline.
async fn run(
    cli: &RuntimeCli,
    subcommand: &Subcommand<'_>,
    scratch: &Path,
) -> Result<(), ProbeError> {
    let (binary, step) = (cli.binary(), subcommand.name());
    // The container's init inherits the runtime's stdio and outlives `create`, so a pipe
    // would never reach EOF: stderr goes to a file that is read once the command exits.
    let stderr_path = scratch.join(format!("{step}.stderr"));
    let stderr = std::fs::File::create(&stderr_path).map_err(|source| ProbeError::Bundle {
        dir: scratch.to_owned(),
        source,
    })?;
    let mut child = Command::from(cli.command(subcommand, None))
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
        write_bundle(dir.path(), false).unwrap();
        let spec = Spec::load(dir.path().join("config.json")).unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().args().as_ref().unwrap(),
            &["/bin/true"]
        );
        assert!(dir.path().join("rootfs/bin").is_symlink());
    }

    #[test]
    fn mount_options_come_from_the_features_document() {
        let json = r#"{"ociVersionMin":"1.0.0","mountOptions":["bind","rbind","ro","rro"]}"#;
        assert_eq!(mount_options(json).unwrap(), ["bind", "rbind", "ro", "rro"]);
        assert!(
            mount_options(r#"{"ociVersionMin":"1.0.0"}"#)
                .unwrap()
                .is_empty()
        );
        assert!(mount_options("crun: unknown command features").is_err());
    }

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(kernel_at_least("6.18.44-fc-v1252\n", (5, 12)));
        assert!(kernel_at_least("5.12.0", (5, 12)));
        assert!(!kernel_at_least("5.11.22-generic", (5, 12)));
        assert!(!kernel_at_least("4.19.0-26-amd64", (5, 12)));
        assert!(!kernel_at_least("", (5, 12)));
        assert!(!kernel_at_least("garbage", (5, 12)));
    }

    #[tokio::test]
    async fn missing_binary_has_no_features() {
        let f = probe_features(Path::new("/nonexistent/runc")).await;
        assert_eq!(f, RuntimeFeatures::default());
    }

    #[tokio::test]
    async fn missing_binary_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = probe_runtime(Path::new("/nonexistent/runc"), &dir.path().join("p"), false)
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Spawn { .. }), "{e}");
        assert!(!dir.path().join("p").exists());
    }
}
