//! berth-monitor: one small process per container.
//!
//! It runs the OCI runtime's `create` with the container's stdout and stderr on pipes it
//! holds, writes them to the CRI log file, starts the container when asked, reaps it (it is
//! a child subreaper, so the container init becomes its child when the runtime exits), and
//! records the exit durably in an exit file (written, fsynced, renamed) before it answers
//! anyone about it. It outlives berthd: it detaches at start, and berthd talks to it over a
//! Unix socket with one JSON request and one JSON answer per line.
//!
//! Why per container (like CRI-O's conmon) rather than per pod (like containerd's shim):
//! a container's stdio, log file and exit are its own; one process each keeps a crash or a
//! hang from touching the pod's other containers, and each one stays tiny (no async
//! runtime, no allocation on the hot path beyond line buffers, no timer waking it while
//! idle, and its memory trimmed once quiet). Its threads: the main one, accepting on the
//! control and attach sockets; the reaper; one output copier per stream (two with pipes,
//! one with a terminal); one per open control connection, of which berthd keeps one per
//! container while it waits for the exit; and two per attacher (CRI `Attach`, see
//! [`attach`]). So five for a container without a terminal and nobody attached, four with
//! one, and four for a pod's infra process, which nobody waits on.
//!
//! This library holds what both sides share (the protocols, the exit record, where a
//! container's OOM kills are counted) and the CRI
//! log format the monitor writes. The process itself is the `berth-monitor` binary, split
//! by job (`src/bin/berth-monitor/`).

pub mod attach;
pub mod cgroup;
pub mod cri_log;
pub mod protocol;

pub use protocol::{Exit, Request, Response, Status};

/// The exit file's name inside the monitor's state directory.
pub const EXIT_FILE: &str = "exit.json";
/// The control socket's name inside the monitor's state directory.
pub const SOCKET_FILE: &str = "monitor.sock";
