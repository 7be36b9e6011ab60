//! A real `berthd` child process for integration tests.

#![allow(dead_code)]

pub mod cni;
pub mod node;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use berth_cri_client::{CriClient, cri};

pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A berthd child process, killed on drop if a test fails midway.
pub struct Daemon {
    child: Option<Child>,
    pub socket: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    pub fn spawn(dir: &Path, extra_args: &[&str]) -> Daemon {
        Self::spawn_env(dir, extra_args, &[])
    }

    /// Like `spawn`, with extra environment variables.
    pub fn spawn_env(dir: &Path, extra_args: &[&str], env: &[(&str, &Path)]) -> Daemon {
        with_suite_config(&dir.join("config.toml"));
        let stderr = dir.join(format!("berthd-{}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--config")
            .arg(dir.join("config.toml"))
            .args(extra_args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn berthd");
        Daemon {
            child: Some(child),
            socket: dir.join("state/berth.sock"),
            stderr,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Connects once the socket answers and recovery is done (Version stops being Unavailable).
    /// A client once berthd has finished its start-up recovery (Version and Status answer
    /// before that; everything else is Unavailable).
    pub async fn ready_client(&mut self) -> CriClient {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("berthd exited early with {status}:\n{}", self.log());
            }
            if let Ok(client) =
                berth_cri_client::connect_ready(&self.socket, Duration::from_millis(200)).await
            {
                return client;
            }
            assert!(
                Instant::now() < deadline,
                "berthd not ready in time:\n{}",
                self.log()
            );
        }
    }

    pub fn signal(&self, signal: i32) {
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
    }

    /// Waits asynchronously: the test's own client must keep answering the server's
    /// HTTP/2 GOAWAY ping while berthd drains, or the drain waits for the grace period.
    pub async fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berthd did not exit in time:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait().await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const SUITE_CONFIG_BEGIN: &str = "# BERTH_TEST_CONFIG\n";
const SUITE_CONFIG_END: &str = "# END BERTH_TEST_CONFIG\n";

/// Puts the top-level keys of `$BERTH_TEST_CONFIG` (for example `default_runtime = "runc"`,
/// `cgroup_driver = "cgroupfs"`) at the head of a test daemon's config file, so that the
/// whole suite can run under another runtime or cgroup driver (scripts/node-vm does). A block
/// put there before is replaced; a missing file stays missing.
fn with_suite_config(config: &Path) {
    let Ok(keys) = std::env::var("BERTH_TEST_CONFIG") else {
        return;
    };
    let Ok(mut text) = std::fs::read_to_string(config) else {
        return;
    };
    if let (Some(begin), Some(end)) = (text.find(SUITE_CONFIG_BEGIN), text.find(SUITE_CONFIG_END)) {
        text.replace_range(begin..end + SUITE_CONFIG_END.len(), "");
    }
    let keys = keys.replace("\\n", "\n");
    std::fs::write(
        config,
        format!("{SUITE_CONFIG_BEGIN}{keys}\n{SUITE_CONFIG_END}{text}"),
    )
    .unwrap();
}

/// A temp dir whose CNI conf and bin dirs are empty, so NetworkReady is predictably false.
pub fn setup(extra_config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cni-conf")).unwrap();
    std::fs::create_dir(dir.path().join("cni-bin")).unwrap();
    let config = format!(
        "{extra_config}\n[network]\nconf_dir = \"{0}/cni-conf\"\nbin_dirs = [\"{0}/cni-bin\"]\n",
        dir.path().display()
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    dir
}

/// Kills and unmounts whatever a test under `dir` left running: runc containers under its
/// state, processes naming its path (monitors, pause), mounts under it. For the Drop of a
/// test's guard, so one failure does not leak into the node or the next test.
pub fn clean_leftovers(dir: &Path) {
    for (handler, binary) in [("runc", "/usr/sbin/runc"), ("crun", "/usr/bin/crun")] {
        let root = dir.join("state/runtime").join(handler);
        if !root.exists() {
            continue;
        }
        let Ok(out) = Command::new(binary)
            .arg("--root")
            .arg(&root)
            .args(["list", "-q"])
            .output()
        else {
            continue;
        };
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            // Either cgroup driver: --systemd-cgroup lets the runtime stop a scope too.
            for systemd in [false, true] {
                let mut delete = Command::new(binary);
                delete.arg("--root").arg(&root);
                if systemd {
                    delete.arg("--systemd-cgroup");
                }
                let _ = delete.args(["delete", "--force", id]).output();
            }
        }
    }
    let _ = Command::new("pkill").arg("-9").arg("-f").arg(dir).status();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = rustix::mount::unmount(t, rustix::mount::UnmountFlags::DETACH);
    }
}

/// The IDs runc holds under a test's state dir.
pub fn runc_ids(state: &Path) -> Vec<String> {
    let out = Command::new("/usr/sbin/runc")
        .arg("--root")
        .arg(state.join("runtime/runc"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Every pod the runtime lists (no filter).
pub async fn list_pods(client: &mut CriClient) -> Vec<cri::PodSandbox> {
    client
        .runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest::default())
        .await
        .unwrap()
        .into_inner()
        .items
}

/// Every container the runtime lists (no filter).
pub async fn list_containers(client: &mut CriClient) -> Vec<cri::Container> {
    client
        .runtime
        .list_containers(cri::ListContainersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .containers
}
