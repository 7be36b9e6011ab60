//! The runtime's command line: runc's, which crun and the other OCI runtimes berth drives
//! share. Owns the global arguments, each subcommand with its flags, and reading back the
//! errors a runtime writes to its `--log`.
//!
//! Every caller builds its command lines here: berthd's async driver (`Runtime` and the
//! runtime probe, behind the default `driver` feature) and the per-container monitor, which
//! turns that feature off. So this module must stay on `std` (and `serde_json` for the log):
//! no tokio, no OCI spec types. It runs nothing; callers give the command its stdio and wait
//! for it as they need.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One runtime binary with its container state directory (`--root`): the start of every
/// command line.
#[derive(Debug, Clone)]
pub struct RuntimeCli {
    binary: PathBuf,
    root: PathBuf,
    systemd_cgroup: bool,
}

/// One runtime subcommand with its flags and the container it is about.
#[derive(Debug, Clone, Copy)]
pub enum Subcommand<'a> {
    /// `create --bundle B [--pid-file F] [--console-socket S] ID`.
    Create {
        /// The container.
        id: &'a str,
        /// The bundle directory (with `config.json`).
        bundle: &'a Path,
        /// Where the runtime writes the init's PID.
        pid_file: Option<&'a Path>,
        /// With a terminal: the socket the runtime passes the pty's master over.
        console_socket: Option<&'a Path>,
    },
    /// `start ID`.
    Start {
        /// The container.
        id: &'a str,
    },
    /// `state ID`: prints the state as JSON.
    State {
        /// The container.
        id: &'a str,
    },
    /// `kill [--all] ID SIGNAL`: the init, or with `all` every process of the container.
    Kill {
        /// The container.
        id: &'a str,
        /// The signal number.
        signal: i32,
        /// Signal every process of the container, not only its init.
        all: bool,
    },
    /// `delete [--force] ID`; `force` kills the container first if it still runs.
    Delete {
        /// The container.
        id: &'a str,
        /// Kill a running container instead of refusing.
        force: bool,
    },
    /// `exec --process P --pid-file F ID`: runs the process described in `process` (an OCI
    /// `process` object) in the container.
    Exec {
        /// The container.
        id: &'a str,
        /// The `process` JSON file.
        process: &'a Path,
        /// Where the runtime writes the new process's PID.
        pid_file: &'a Path,
    },
    /// `update --resources R ID`: applies an OCI `LinuxResources` JSON file.
    Update {
        /// The container.
        id: &'a str,
        /// The resources JSON file.
        resources: &'a Path,
    },
    /// `list --quiet`: prints the ID of every container under the root.
    List,
}

impl Subcommand<'_> {
    /// The subcommand's name, as the runtime spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Subcommand::Create { .. } => "create",
            Subcommand::Start { .. } => "start",
            Subcommand::State { .. } => "state",
            Subcommand::Kill { .. } => "kill",
            Subcommand::Delete { .. } => "delete",
            Subcommand::Exec { .. } => "exec",
            Subcommand::Update { .. } => "update",
            Subcommand::List => "list",
        }
    }

    /// The container the subcommand is about; `None` for `list`.
    pub fn id(&self) -> Option<&str> {
        match *self {
            Subcommand::Create { id, .. }
            | Subcommand::Start { id }
            | Subcommand::State { id }
            | Subcommand::Kill { id, .. }
            | Subcommand::Delete { id, .. }
            | Subcommand::Exec { id, .. }
            | Subcommand::Update { id, .. } => Some(id),
            Subcommand::List => None,
        }
    }

    /// Appends the subcommand, its flags and its operands to `command`.
    fn push_to(&self, command: &mut Command) {
        command.arg(self.name());
        match *self {
            Subcommand::Create {
                id,
                bundle,
                pid_file,
                console_socket,
            } => {
                command.arg("--bundle").arg(bundle);
                if let Some(pid_file) = pid_file {
                    command.arg("--pid-file").arg(pid_file);
                }
                if let Some(socket) = console_socket {
                    command.arg("--console-socket").arg(socket);
                }
                command.arg(id);
            }
            Subcommand::Start { id } | Subcommand::State { id } => {
                command.arg(id);
            }
            Subcommand::Kill { id, signal, all } => {
                if all {
                    command.arg("--all");
                }
                command.arg(id).arg(signal.to_string());
            }
            Subcommand::Delete { id, force } => {
                if force {
                    command.arg("--force");
                }
                command.arg(id);
            }
            Subcommand::Exec {
                id,
                process,
                pid_file,
            } => {
                command
                    .arg("--process")
                    .arg(process)
                    .arg("--pid-file")
                    .arg(pid_file)
                    .arg(id);
            }
            Subcommand::Update { id, resources } => {
                command.arg("--resources").arg(resources).arg(id);
            }
            Subcommand::List => {
                command.arg("--quiet");
            }
        }
    }
}

impl RuntimeCli {
    /// `binary` keeps its container state under `root`.
    pub fn new(binary: PathBuf, root: PathBuf) -> Self {
        Self {
            binary,
            root,
            systemd_cgroup: false,
        }
    }

    /// Drives the runtime's cgroups through systemd (`--systemd-cgroup`): cgroups paths are
    /// then `slice:prefix:name`, and the runtime asks systemd for a transient scope instead
    /// of making the cgroup itself. For the systemd cgroup driver; runc and crun both take it.
    pub fn systemd_cgroup(mut self, on: bool) -> Self {
        self.systemd_cgroup = on;
        self
    }

    /// The runtime binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The command line of `subcommand`, after the global `--root` and, with `log`, the
    /// runtime's errors as JSON lines in that file (`--log F --log-format json`, read back by
    /// [`read_log_errors`]). Its stdio is the caller's to set; a tokio caller wraps it with
    /// `tokio::process::Command::from`.
    pub fn command(&self, subcommand: &Subcommand<'_>, log: Option<&Path>) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--root").arg(&self.root);
        if self.systemd_cgroup {
            command.arg("--systemd-cgroup");
        }
        if let Some(log) = log {
            command.arg("--log").arg(log).args(["--log-format", "json"]);
        }
        subcommand.push_to(&mut command);
        command
    }
}

/// The `msg` of every error-level line of a runtime's JSON log, joined by `; `; the whole
/// text (trimmed) when no line is one, empty when the file cannot be read.
pub fn read_log_errors(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let messages: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| {
            matches!(
                v.get("level").and_then(|l| l.as_str()),
                Some("error" | "fatal")
            )
        })
        .filter_map(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_owned))
        .collect();
    if messages.is_empty() {
        text.trim().to_owned()
    } else {
        messages.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systemd_driver_adds_its_global_flag_before_the_subcommand() {
        let cli = RuntimeCli::new("/usr/bin/crun".into(), "/run/r".into()).systemd_cgroup(true);
        let command = cli.command(&Subcommand::Start { id: "c1" }, None);
        let args: Vec<_> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            ["--root", "/run/r", "--systemd-cgroup", "start", "c1"]
        );
        let plain = RuntimeCli::new("/usr/bin/crun".into(), "/run/r".into());
        let command = plain.command(&Subcommand::Start { id: "c1" }, None);
        assert!(!command.get_args().any(|a| a == "--systemd-cgroup"));
    }

    fn line(cli: &RuntimeCli, subcommand: Subcommand<'_>, log: Option<&Path>) -> Vec<String> {
        let command = cli.command(&subcommand, log);
        assert_eq!(command.get_program(), "/usr/bin/runc");
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn command_lines_are_runcs() {
        let cli = RuntimeCli::new("/usr/bin/runc".into(), "/run/r".into());
        let log = Some(Path::new("/l"));
        let global = ["--root", "/run/r", "--log", "/l", "--log-format", "json"];
        let cases: [(Subcommand<'_>, Option<&Path>, &[&str]); 10] = [
            (
                Subcommand::Create {
                    id: "c",
                    bundle: Path::new("/b"),
                    pid_file: Some(Path::new("/p")),
                    console_socket: Some(Path::new("/s")),
                },
                log,
                &[
                    "create",
                    "--bundle",
                    "/b",
                    "--pid-file",
                    "/p",
                    "--console-socket",
                    "/s",
                    "c",
                ],
            ),
            (
                Subcommand::Create {
                    id: "c",
                    bundle: Path::new("/b"),
                    pid_file: None,
                    console_socket: None,
                },
                None,
                &["create", "--bundle", "/b", "c"],
            ),
            (Subcommand::Start { id: "c" }, log, &["start", "c"]),
            (Subcommand::State { id: "c" }, log, &["state", "c"]),
            (
                Subcommand::Kill {
                    id: "c",
                    signal: 9,
                    all: true,
                },
                None,
                &["kill", "--all", "c", "9"],
            ),
            (
                Subcommand::Kill {
                    id: "c",
                    signal: 15,
                    all: false,
                },
                log,
                &["kill", "c", "15"],
            ),
            (
                Subcommand::Delete {
                    id: "c",
                    force: true,
                },
                log,
                &["delete", "--force", "c"],
            ),
            (
                Subcommand::Exec {
                    id: "c",
                    process: Path::new("/x.json"),
                    pid_file: Path::new("/p"),
                },
                log,
                &["exec", "--process", "/x.json", "--pid-file", "/p", "c"],
            ),
            (
                Subcommand::Update {
                    id: "c",
                    resources: Path::new("/r.json"),
                },
                log,
                &["update", "--resources", "/r.json", "c"],
            ),
            (Subcommand::List, log, &["list", "--quiet"]),
        ];
        for (subcommand, log, want) in cases {
            let global: &[&str] = if log.is_some() { &global } else { &global[..2] };
            let want: Vec<&str> = global.iter().chain(want).copied().collect();
            assert_eq!(line(&cli, subcommand, log), want, "{subcommand:?}");
        }
    }

    #[test]
    fn subcommands_name_their_container() {
        assert_eq!(Subcommand::Start { id: "c" }.id(), Some("c"));
        assert_eq!(Subcommand::List.id(), None);
        assert_eq!(Subcommand::List.name(), "list");
    }

    #[test]
    fn log_errors_are_the_error_messages_or_the_whole_text() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(
            &log,
            concat!(
                r#"{"level":"warning","msg":"ignored"}"#,
                "\n",
                r#"{"level":"error","msg":"first"}"#,
                "\n",
                r#"{"level":"fatal","msg":"second"}"#,
                "\n"
            ),
        )
        .unwrap();
        assert_eq!(read_log_errors(&log), "first; second");
        std::fs::write(&log, "  not json\n").unwrap();
        assert_eq!(read_log_errors(&log), "not json");
        assert_eq!(read_log_errors(&dir.path().join("missing")), "");
    }
}
