//! Where berth keeps things on disk: every path under `root` (persistent: the metadata
//! store, image content, unpacked layers) and `state` (volatile, on tmpfs: the lock, the
//! socket, per-pod and per-container directories, monitor sockets, runtime state and logs,
//! the CNI result cache). Nothing else in berth joins paths under these two directories,
//! so this file is the complete map, and recovery can account for every entry it finds.
//!
//! ```text
//! <root>/meta.redb                      the metadata store
//! <root>/content/blobs/sha256/<hex>     image blobs           <root>/content/ingest/  partial downloads
//! <root>/layers/<chain>                 unpacked layers       <root>/layers/tmp/      half-unpacked
//! <state>/berth.lock  <state>/berth.sock
//! <state>/sandboxes/<id>/               netns, hostname, hosts, resolv.conf, shm/, bundle/
//! <state>/containers/<id>/              bundle/ (config.json, rootfs/), upper/, work/, exec-*.json
//! <state>/m/<id>/                       a monitor's socket and exit file (short: 108-byte socket paths)
//! <state>/runtime/<handler>/            the OCI runtime's own state (`--root`)
//! <state>/runtime-logs/<id>.<verb>.log  the OCI runtime's error log of one command
//! <state>/cni/results/                  CNI results cached for DEL
//! <state>/probe/<handler>/              scratch of the start-up runtime probe
//! ```

use std::path::{Path, PathBuf};

use crate::defaults;

/// The map of berth's directories, built once from the configuration's `root` and `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLayout {
    root: PathBuf,
    state: PathBuf,
}

/// The directories directly under `state` that hold one entry per sandbox or container ID.
pub const PER_OBJECT_DIRS: [&str; 3] = ["sandboxes", "containers", "m"];

impl StateLayout {
    /// The layout under these two directories.
    pub fn new(root: impl Into<PathBuf>, state: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            state: state.into(),
        }
    }

    /// The persistent directory itself (the image file system the kubelet measures).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The volatile directory itself.
    pub fn state(&self) -> &Path {
        &self.state
    }

    /// The metadata store.
    pub fn db(&self) -> PathBuf {
        self.root.join(defaults::DB_NAME)
    }

    /// Complete image blobs, named by their sha256 hex digest.
    pub fn content_blobs(&self) -> PathBuf {
        self.root.join("content/blobs/sha256")
    }

    /// Downloads in progress (partial blobs).
    pub fn content_ingest(&self) -> PathBuf {
        self.root.join("content/ingest")
    }

    /// Unpacked layers, one directory per chain ID.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// Layers being unpacked, renamed into `layers()` when complete.
    pub fn layers_tmp(&self) -> PathBuf {
        self.root.join("layers/tmp")
    }

    /// The `flock` that keeps one berthd per state directory.
    pub fn lock_file(&self) -> PathBuf {
        self.state.join(defaults::LOCK_NAME)
    }

    /// The CRI socket when the configuration does not name one.
    pub fn default_socket(&self) -> PathBuf {
        self.state.join(defaults::SOCKET_NAME)
    }

    /// All sandbox directories.
    pub fn sandboxes(&self) -> PathBuf {
        self.state.join("sandboxes")
    }

    /// One sandbox's directory.
    pub fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.sandboxes().join(id)
    }

    /// A file the sandbox's containers mount (`hostname`, `hosts`, `resolv.conf`).
    pub fn sandbox_file(&self, id: &str, name: PodFile) -> PathBuf {
        self.sandbox_dir(id).join(name.file_name())
    }

    /// The pin of the sandbox's network namespace.
    pub fn sandbox_netns(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("netns")
    }

    /// The pin of the sandbox's IPC namespace, in a pod without an infra process.
    pub fn sandbox_ipcns(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("ipcns")
    }

    /// The pin of the sandbox's UTS namespace (its hostname), in a pod without an infra
    /// process.
    pub fn sandbox_utsns(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("utsns")
    }

    /// The sandbox's `/dev/shm` tmpfs.
    pub fn sandbox_shm(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("shm")
    }

    /// The infra process's OCI bundle.
    pub fn sandbox_bundle(&self, id: &str) -> PathBuf {
        self.sandbox_dir(id).join("bundle")
    }

    /// The infra's empty root file system.
    pub fn sandbox_rootfs(&self, id: &str) -> PathBuf {
        self.sandbox_bundle(id).join("rootfs")
    }

    /// The infra's OCI spec.
    pub fn sandbox_spec(&self, id: &str) -> PathBuf {
        self.sandbox_bundle(id).join("config.json")
    }

    /// All container directories.
    pub fn containers(&self) -> PathBuf {
        self.state.join("containers")
    }

    /// One container's directory.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    /// The container's OCI bundle.
    pub fn container_bundle(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("bundle")
    }

    /// The container's root file system (an overlay mount).
    pub fn container_rootfs(&self, id: &str) -> PathBuf {
        self.container_bundle(id).join("rootfs")
    }

    /// The container's OCI spec.
    pub fn container_spec(&self, id: &str) -> PathBuf {
        self.container_bundle(id).join("config.json")
    }

    /// The overlay's writable layer.
    pub fn container_upper(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("upper")
    }

    /// The overlay's work directory.
    pub fn container_work(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("work")
    }

    /// The resources file handed to the runtime's `update` (UpdateContainerResources).
    pub fn container_update(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("update.json")
    }

    /// The process spec of one ExecSync (`tag` tells concurrent execs apart).
    pub fn exec_process(&self, id: &str, tag: &str) -> PathBuf {
        self.container_dir(id).join(format!("exec-{tag}.json"))
    }

    /// The PID file of one ExecSync.
    pub fn exec_pid(&self, id: &str, tag: &str) -> PathBuf {
        self.container_dir(id).join(format!("exec-{tag}.pid"))
    }

    /// The OCI runtime's error log of one ExecSync.
    pub fn exec_log(&self, id: &str, tag: &str) -> PathBuf {
        self.runtime_logs().join(format!("{id}.exec-{tag}.log"))
    }

    /// All monitor directories.
    pub fn monitors(&self) -> PathBuf {
        self.state.join("m")
    }

    /// The monitor directory of a sandbox's infra or of a container.
    pub fn monitor_dir(&self, id: &str) -> PathBuf {
        self.monitors().join(id)
    }

    /// The state directory (`--root`) of an OCI runtime handler.
    pub fn runtime_root(&self, handler: &str) -> PathBuf {
        self.state.join("runtime").join(handler)
    }

    /// The OCI runtimes' per-command error logs.
    pub fn runtime_logs(&self) -> PathBuf {
        self.state.join("runtime-logs")
    }

    /// The CNI result cache.
    pub fn cni_results(&self) -> PathBuf {
        self.state.join("cni/results")
    }

    /// Scratch of the start-up probes.
    pub fn probes(&self) -> PathBuf {
        self.state.join("probe")
    }

    /// Whether `path`, an entry directly under `state`, is one this layout names (the socket
    /// may be configured elsewhere, and other files are not berth's).
    pub fn is_known_state_entry(&self, path: &Path) -> bool {
        [
            self.lock_file(),
            self.default_socket(),
            self.sandboxes(),
            self.containers(),
            self.monitors(),
            self.state.join("runtime"),
            self.runtime_logs(),
            self.state.join("cni"),
            self.probes(),
        ]
        .iter()
        .any(|known| known == path)
    }

    /// Scratch of one handler's start-up probe.
    pub fn probe_dir(&self, handler: &str) -> PathBuf {
        self.probes().join(handler)
    }
}

/// The files berth writes for a pod and bind-mounts into its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodFile {
    /// `/etc/hostname`.
    Hostname,
    /// `/etc/hosts`.
    Hosts,
    /// `/etc/resolv.conf`.
    ResolvConf,
}

impl PodFile {
    /// The name in the sandbox directory (and in the container's `/etc`).
    pub fn file_name(self) -> &'static str {
        match self {
            PodFile::Hostname => "hostname",
            PodFile::Hosts => "hosts",
            PodFile::ResolvConf => "resolv.conf",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_object_paths_sit_under_their_parent() {
        let l = StateLayout::new("/var/lib/berth", "/run/berth");
        assert_eq!(l.db(), Path::new("/var/lib/berth/meta.redb"));
        assert_eq!(
            l.container_rootfs("c1"),
            Path::new("/run/berth/containers/c1/bundle/rootfs")
        );
        assert_eq!(l.monitor_dir("c1"), Path::new("/run/berth/m/c1"));
        assert_eq!(
            l.sandbox_file("p1", PodFile::ResolvConf),
            Path::new("/run/berth/sandboxes/p1/resolv.conf")
        );
        for dir in PER_OBJECT_DIRS {
            assert!(l.state().join(dir).starts_with(l.state()));
        }
        assert!(l.sandbox_dir("p").starts_with(l.sandboxes()));
        assert!(l.container_dir("c").starts_with(l.containers()));
        assert!(l.monitor_dir("c").starts_with(l.monitors()));
    }
}
