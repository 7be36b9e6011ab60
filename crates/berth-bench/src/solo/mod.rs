//! Benchmarks of berth alone. Each starts a berthd of its own on a work dir (see
//! [`berthd`]), so it can read berthd's one log line per call for server-side times, find
//! its monitors, and restart it; the figures are printed as lines of text, not a table of
//! runtimes. Every median here is [`Samples::upper_median`], as these benchmarks have
//! always reported it.
//!
//! Owns: the berthd it starts, that berthd's work dir (a temp dir unless `--work` names
//! one), and for `sandbox` the CNI bridge it names. Leaves nothing running when it ends
//! normally; the `bench/*.sh` scripts clean up after a failure.

mod berthd;
mod containers;
mod pull;
mod recovery;
mod sandbox;

use std::path::{Path, PathBuf};

use berth_cri_client::{CriClient, cri};
use berth_testkit::{Flavour, Registry, build_image, busybox_layer, default_config, push_image};

use crate::stats::Samples;
use crate::target::{Failure, failed, image_spec};

/// A benchmark of berth alone.
#[derive(Debug, clap::Subcommand)]
pub enum Solo {
    /// Create/Start/Stop/RemoveContainer in one pod, timed server-side and client-side; then
    /// the monitor's memory per container and berthd's RSS with `rounds` containers running.
    Containers {
        #[command(flatten)]
        on: On,
        /// Containers made and removed one after another (and then left running).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Run/Stop/RemovePodSandbox on a CNI bridge, timed server-side and client-side; then the
    /// infra and monitor memory per pod and berthd's RSS with `pods` pods running.
    Sandbox {
        #[command(flatten)]
        on: On,
        /// Pods made and removed one after another (and then left running).
        #[arg(long, default_value_t = 20)]
        pods: usize,
        /// The CNI bridge the pods join, deleted at the end (default: `bbench` and a number
        /// from this process's PID).
        #[arg(long)]
        bridge: Option<String>,
    },
    /// A ~50 MB four-layer image pulled by berthd and copied by `skopeo copy` from a
    /// registry on loopback, and berthd's peak RSS over the pulls.
    Pull {
        #[command(flatten)]
        on: On,
        /// Pulls of each.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Restart-to-ready time of berthd with two running containers per pod, at each count
    /// of pods given (the pods of one step stay for the next).
    Recovery {
        #[command(flatten)]
        on: On,
        /// Pods running at each restart, in increasing order.
        #[arg(long = "pods", default_values_t = [25, 100])]
        pods: Vec<usize>,
    },
}

/// The berthd a benchmark starts, and where.
#[derive(Debug, clap::Args)]
pub struct On {
    /// The berthd binary; berth-monitor and berth-pause must be beside it.
    #[arg(long, default_value = "target/release/berthd")]
    berthd: PathBuf,
    /// berthd's work dir (config, log, root and state); keep it short, monitor sockets live
    /// under it. Default: a temp dir, removed at the end.
    #[arg(long)]
    work: Option<PathBuf>,
}

/// A work dir: the one asked for, or a temp dir removed when this is dropped.
struct Work {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl On {
    fn work(&self) -> Result<Work, Failure> {
        match &self.work {
            Some(path) => Ok(Work {
                path: path.clone(),
                _temp: None,
            }),
            None => {
                let temp = tempfile::tempdir().map_err(|e| format!("a temp dir: {e}"))?;
                Ok(Work {
                    path: temp.path().to_owned(),
                    _temp: Some(temp),
                })
            }
        }
    }
}

impl Work {
    fn path(&self) -> &Path {
        &self.path
    }
}

/// Runs one benchmark and prints its figures.
pub async fn run(bench: Solo) -> Result<(), Failure> {
    match bench {
        Solo::Containers { on, rounds } => containers::run(&on, rounds).await,
        Solo::Sandbox { on, pods, bridge } => {
            let bridge = bridge.unwrap_or_else(|| format!("bbench{}", std::process::id() % 1000));
            sandbox::run(&on, pods, &bridge).await
        }
        Solo::Pull { on, rounds } => pull::run(&on, rounds).await,
        Solo::Recovery { on, pods } => recovery::run(&on, &pods).await,
    }
}

/// A registry on loopback holding busybox as `busybox:bench`; returns it, the image
/// reference and the berthd config that lets berthd pull from it over plain HTTP.
async fn busybox_registry() -> (Registry, String, String) {
    let registry = Registry::start().await;
    let image = build_image(
        &[busybox_layer()],
        Flavour::Gzip,
        default_config("amd64", ""),
    );
    push_image(&registry, "busybox", "bench", &image).await;
    let reference = format!("{}/busybox:bench", registry.host());
    let config = insecure(&registry);
    (registry, reference, config)
}

/// The berthd config that lets berthd pull from `registry` over plain HTTP.
fn insecure(registry: &Registry) -> String {
    format!("[registries.\"{}\"]\ninsecure = true\n", registry.host())
}

/// A pod named `name` on the host's network (no CNI needed), its containers each in a PID
/// namespace of their own.
fn host_network_pod(name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.to_owned(),
            uid: format!("uid-{name}"),
            namespace: "bench".into(),
            attempt: 0,
        }),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Node as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Pulls `reference` through `client`.
async fn pull(client: &CriClient, reference: &str) -> Result<(), Failure> {
    client
        .clone()
        .image
        .pull_image(cri::PullImageRequest {
            image: Some(image_spec(reference)),
            ..Default::default()
        })
        .await
        .map_err(failed("PullImage"))
        .map(drop)
}

/// `median server / median client` of one call, as the per-call lines print it.
fn both(server: &Samples, client: &Samples) -> String {
    format!(
        "{:6.1} / {:6.1}",
        server.upper_median(),
        client.upper_median()
    )
}
