//! The control protocol: one JSON request per line, one JSON answer per line.

use serde::{Deserialize, Serialize};

/// What berthd asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The container's state now.
    Status,
    /// Run the runtime's `start`.
    Start,
    /// Block until the container has exited, then answer its status.
    Wait,
    /// Reopen the log file (after the kubelet rotated it).
    ReopenLog,
    /// Send `signal` to the container's init through its pidfd: it reaches that process or,
    /// once it has exited, nothing (never a process that reused its PID).
    Signal {
        /// The signal number.
        signal: i32,
    },
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// The exit code; 128 + signal when killed by a signal.
    pub code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// When it was reaped, ns since the epoch.
    pub at_ns: i64,
    /// The kernel's OOM killer killed a process of its cgroup, as the monitor read it the
    /// moment the init ended (before a systemd scope and its counters can go).
    #[serde(default)]
    pub oom_killed: bool,
}

/// Where the container is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The container init's PID.
    pub pid: i32,
    /// Whether `start` has run.
    pub started: bool,
    /// Set once it exited.
    pub exit: Option<Exit>,
}

/// The monitor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// Success, with the state after the request.
    Ok {
        /// The state.
        status: Status,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
}
