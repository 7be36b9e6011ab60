//! The real `berth-pause` binary. Needs root (PID namespaces) and util-linux.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn() -> Child {
    Command::new(env!("CARGO_BIN_EXE_berth-pause"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth-pause did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn exits_zero_on_sigterm_and_sigint() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut child = spawn();
        std::thread::sleep(Duration::from_millis(100));
        assert!(child.try_wait().unwrap().is_none(), "it waits");
        unsafe { libc::kill(child.id() as i32, signal) };
        assert!(wait(&mut child).success(), "signal {signal}");
    }
}

/// Children of `pid` that are zombies.
fn zombie_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if fields.len() > 2 && fields[1].parse::<u32>() == Ok(pid) && fields[0] == "Z" {
            out.push(child);
        }
    }
    out
}

#[test]
fn reaps_orphans_as_pid_1_of_a_pid_namespace() {
    // `unshare --pid --fork` makes berth-pause PID 1 of a new PID namespace.
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_berth-pause"))
        .spawn()
        .expect("unshare (util-linux)");
    let deadline = Instant::now() + Duration::from_secs(5);
    let pause = loop {
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            break pid.parse::<u32>().unwrap();
        }
        assert!(Instant::now() < deadline, "pause did not start");
        std::thread::sleep(Duration::from_millis(10));
    };
    // A shell in the namespace leaves an orphan that exits at once: it becomes pause's.
    let status = Command::new("nsenter")
        .args([
            "-t",
            &pause.to_string(),
            "-p",
            "--",
            "sh",
            "-c",
            "sleep 0.2 & exit 0",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(800));
    assert!(zombie_children(pause).is_empty(), "orphans are reaped");
    unsafe { libc::kill(pause as i32, libc::SIGTERM) };
    assert!(wait(&mut unshare).success());
}
