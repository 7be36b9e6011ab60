//! A berthd this process starts and owns, on a work dir: its config, root and state under
//! the dir, its JSON log in `berthd.log` there, and the server-side time of each call read
//! back from that log (berthd logs one line per mutating call, with the call's `ms`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use berth_cri_client::CriClient;

use crate::stats::Samples;
use crate::target::Failure;

/// How long a starting berthd may take to answer (recovery of hundreds of containers
/// included).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running berthd, killed if dropped without [`Berthd::stop`].
pub struct Berthd {
    child: tokio::process::Child,
    log_path: PathBuf,
}

impl Berthd {
    /// Starts `binary` on `dir` with `config` (TOML) and connects once it is ready.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        config: &str,
    ) -> Result<(Berthd, CriClient), Failure> {
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, config)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        let log_path = dir.join("berthd.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let child = tokio::process::Command::new(binary)
            .arg("--config")
            .arg(&config_path)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .args(["--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "{}: {e} (build it with cargo build --release -p berthd)",
                    binary.display()
                )
            })?;
        let daemon = Berthd { child, log_path };
        let client = berth_cri_client::connect_ready(dir.join("state/berth.sock"), READY_WITHIN)
            .await
            .map_err(|e| format!("berthd: {e}; its log is {}", daemon.log_path.display()))?;
        Ok((daemon, client))
    }

    /// Its PID (0 once it has been reaped).
    pub fn pid(&self) -> i32 {
        self.child.id().map_or(0, |p| p as i32)
    }

    /// The JSON lines of its log so far.
    pub fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Stops it with SIGTERM (its containers keep running) and returns the server-side
    /// milliseconds of each of `rpcs`, in call order, from its one log line per call.
    pub async fn stop(mut self, rpcs: &[&str]) -> Result<Vec<Samples>, Failure> {
        let pid = rustix::process::Pid::from_raw(self.pid()).ok_or("berthd has already exited")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .map_err(|e| format!("kill -TERM {}: {e}", pid.as_raw_nonzero()))?;
        self.child
            .wait()
            .await
            .map_err(|e| format!("waiting for berthd: {e}"))?;
        let mut out = vec![Samples::default(); rpcs.len()];
        for line in self.log() {
            let (Some(ms), Some(rpc)) = (line["ms"].as_f64(), line["span"]["rpc"].as_str()) else {
                continue;
            };
            if let Some(slot) = rpcs.iter().position(|r| *r == rpc) {
                out[slot].0.push(ms);
            }
        }
        Ok(out)
    }
}
