//! The real `berth-monitor` binary with real runc and a busybox bundle. Needs root.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_monitor::{EXIT_FILE, Exit, Request, Response, SOCKET_FILE, Status};

const RUNC: &str = "/usr/sbin/runc";

struct Container {
    dir: tempfile::TempDir,
    id: String,
    /// The runtime the monitor runs: runc, or a wrapper around it.
    runtime: PathBuf,
}

impl Container {
    fn new(tag: &str, script: &str) -> Container {
        let dir = tempfile::tempdir().unwrap();
        let id = format!("berth-mon-{tag}-{}", std::process::id());
        berth_testkit::busybox_bundle(
            &dir.path().join("bundle"),
            &["/bin/sh", "-c", script],
            &format!("/{id}"),
        );
        Container {
            dir,
            id,
            runtime: RUNC.into(),
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("monitor")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("logs/0.log")
    }

    fn spawn_monitor(&self) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_berth-monitor"))
            .args(["--id", &self.id])
            .arg("--bundle")
            .arg(self.dir.path().join("bundle"))
            .arg("--runtime")
            .arg(&self.runtime)
            .arg("--runtime-root")
            .arg(self.dir.path().join("runc"))
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--log-path")
            .arg(self.log())
            .output()
            .unwrap()
    }

    /// Spawns the monitor, which must create the container: the init's PID.
    fn monitor_created(&self) -> i32 {
        let out = self.spawn_monitor();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    fn ask(&self, request: Request) -> Status {
        answer(self.send(request))
    }

    /// Sends `request` on a connection of its own; [`answer`] reads the answer. A `Wait` is
    /// sent before the container can exit: once it has, the monitor may be gone.
    fn send(&self, request: Request) -> (Request, BufReader<UnixStream>) {
        let mut conn = UnixStream::connect(self.state_dir().join(SOCKET_FILE)).unwrap();
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        conn.write_all(&line).unwrap();
        (request, BufReader::new(conn))
    }

    fn exit_file(&self) -> Exit {
        serde_json::from_slice(&std::fs::read(self.state_dir().join(EXIT_FILE)).unwrap()).unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(RUNC)
            .arg("--root")
            .arg(self.dir.path().join("runc"))
            .args(["delete", "--force", &self.id])
            .output();
    }
}

fn answer((request, mut conn): (Request, BufReader<UnixStream>)) -> Status {
    let mut answer = String::new();
    conn.read_line(&mut answer).unwrap();
    match serde_json::from_str(&answer).unwrap() {
        Response::Ok { status } => status,
        Response::Error { message } => panic!("{request:?}: {message}"),
    }
}

fn wait_gone(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(Instant::now() < deadline, "{} still exists", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn runs_logs_reaps_and_records_the_exit() {
    let c = Container::new("ok", "echo hello; echo oops >&2; exit 3");
    let pid = c.monitor_created();
    let status = c.ask(Request::Status);
    assert_eq!(
        status,
        Status {
            pid,
            started: false,
            exit: None
        }
    );
    // The monitor is detached: not our child, in its own session.
    let waiter = c.send(Request::Wait);
    let started = c.ask(Request::Start);
    assert!(started.started);
    let done = answer(waiter);
    let exit = done.exit.expect("exited");
    assert_eq!((exit.code, exit.signal), (3, None));
    assert_eq!(c.exit_file(), exit, "the exit file says the same, durably");
    wait_gone(&c.state_dir().join(SOCKET_FILE));
    let log = std::fs::read_to_string(c.log()).unwrap();
    assert!(log.lines().any(|l| l.ends_with(" stdout F hello")), "{log}");
    assert!(log.lines().any(|l| l.ends_with(" stderr F oops")), "{log}");
    assert!(log.starts_with("20"), "RFC 3339 timestamps: {log}");
}

#[test]
fn a_container_killed_from_outside_is_recorded_with_its_signal() {
    let c = Container::new("kill", "sleep 60");
    let pid = c.monitor_created();
    c.ask(Request::Start);
    std::thread::sleep(Duration::from_millis(200));
    let waiter = c.send(Request::Wait);
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let exit = answer(waiter).exit.unwrap();
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    assert_eq!(c.exit_file().code, 137);
}

#[test]
fn a_failed_create_is_reported_and_leaves_no_monitor() {
    let c = Container::new("bad", "true");
    // Break the bundle: the rootfs has no /bin/sh any more.
    std::fs::remove_file(c.dir.path().join("bundle/rootfs/bin/sh")).unwrap();
    let out = c.spawn_monitor();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("create") && err.contains(&c.id), "{err}");
    assert!(!c.state_dir().join(SOCKET_FILE).exists());
}

/// Once quiet, a monitor hands back the code pages its start-up mapped (see the binary's
/// `idle`), and keeps working: a later request and the exit are served as before. SIGCHLD,
/// which the monitor holds blocked to learn of ended children, is blocked neither in the
/// runtime's commands (a wrapper records their mask: runc would reset its own, crun passes
/// it on; busybox's sh keeps the mask it gets, dash would clear it) nor in the container.
#[test]
fn an_idle_monitor_hands_back_its_code_and_still_serves() {
    let mut c = Container::new("idle", "sleep 60");
    let masks = c.dir.path().join("masks");
    let wrapper = c.dir.path().join("runtime");
    berth_testkit::write_script(
        &wrapper,
        &format!(
            "#!/bin/busybox sh\ngrep SigBlk /proc/self/status >> {}\nexec {RUNC} \"$@\"\n",
            masks.display()
        ),
    );
    c.runtime = wrapper;
    let init = c.monitor_created();
    c.ask(Request::Start);
    let monitor = status_field(init, "PPid:").parse::<i32>().unwrap();
    assert_eq!(status_field(init, "SigBlk:"), "0000000000000000");
    let busy = code_kib(monitor);
    let deadline = Instant::now() + Duration::from_secs(10);
    while code_kib(monitor) * 4 > busy * 3 {
        assert!(
            Instant::now() < deadline,
            "the monitor still maps {} of {busy} KiB of its code",
            code_kib(monitor)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.ask(Request::Status).started);
    let waiter = c.send(Request::Wait);
    c.ask(Request::Signal {
        signal: libc::SIGKILL,
    });
    let exit = answer(waiter).exit.unwrap();
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    let masks = std::fs::read_to_string(&masks).unwrap();
    assert!(masks.lines().count() >= 2, "create and start ran: {masks}");
    assert!(
        masks.lines().all(|l| l == "SigBlk:\t0000000000000000"),
        "{masks}"
    );
}

/// A field of `/proc/<pid>/status`.
fn status_field(pid: i32, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} for {pid}"))
        .trim()
        .to_owned()
}

/// Resident KiB of `pid`'s executable mappings of files (its code and its libraries').
fn code_kib(pid: i32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut code = false;
    let mut total = 0;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            code = fields.get(1).is_some_and(|p| p.contains('x'))
                && fields.get(5).is_some_and(|f| f.starts_with('/'));
        } else if code && fields.first() == Some(&"Rss:") {
            total += fields[1].parse::<u64>().unwrap();
        }
    }
    total
}
