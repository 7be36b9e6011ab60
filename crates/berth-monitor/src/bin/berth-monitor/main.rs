//! The `berth-monitor` process. See the library docs for what it does and why.
//!
//! Usage: `berth-monitor --id ID --bundle DIR --runtime BIN --runtime-root DIR
//!         --state-dir DIR [--log-path FILE] [--tty true] [--stdin true [--stdin-once true]]
//!         [--systemd-cgroup true]`
//!
//! With `--tty true` the container gets a terminal: the runtime passes the pty's master over
//! a console socket in the state dir, and the monitor logs what the terminal prints as
//! `stdout` (a terminal has one output stream). With `--stdin true` the container takes
//! input from its attachers (`attach`); `--stdin-once true` closes it after the first.
//!
//! It forks at once: the first process waits until the container is created (or failed)
//! and exits 0 (or 1 with the runtime's error on stderr), so the caller learns the outcome
//! synchronously and never has to reap the long-lived monitor, which is detached (setsid) and
//! reparented to the node's init.
//!
//! This file owns the arguments, the fork and the wiring of the jobs, each in its module:
//! `runtime` (runtime commands), `console` (the terminal), `output` (the CRI log and the
//! attachers' copy), `reaper` (the exit, with `oom` for OOM kills), `control` (berthd's
//! requests), `attach` (CRI attachers), over the state in
//! `shared`; `sys` holds the `unsafe`.

mod attach;
mod console;
mod control;
mod idle;
mod oom;
mod output;
mod reaper;
mod runtime;
mod shared;
mod sys;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_oci::RuntimeCli;

use crate::attach::Attach;
use crate::console::ConsoleSocket;
use crate::output::Stream;
use crate::runtime::Runtime;
use crate::shared::Shared;

struct Args {
    id: String,
    bundle: PathBuf,
    runtime: PathBuf,
    runtime_root: PathBuf,
    state_dir: PathBuf,
    log_path: Option<PathBuf>,
    tty: bool,
    stdin: bool,
    stdin_once: bool,
    systemd_cgroup: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut map = std::collections::HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(key) = it.next() {
        let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
        map.insert(key, value);
    }
    let mut take = |k: &str| map.remove(k).ok_or_else(|| format!("{k} is required"));
    Ok(Args {
        id: take("--id")?,
        bundle: take("--bundle")?.into(),
        runtime: take("--runtime")?.into(),
        runtime_root: take("--runtime-root")?.into(),
        state_dir: take("--state-dir")?.into(),
        log_path: take("--log-path").ok().map(PathBuf::from),
        tty: take("--tty").is_ok_and(|v| v == "true"),
        stdin: take("--stdin").is_ok_and(|v| v == "true"),
        stdin_once: take("--stdin-once").is_ok_and(|v| v == "true"),
        systemd_cgroup: take("--systemd-cgroup").is_ok_and(|v| v == "true"),
    })
}

fn main() {
    sys::one_malloc_arena();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-monitor: {e}");
            std::process::exit(2);
        }
    };
    let (ready_r, ready_w) = sys::pipe().unwrap_or_else(|e| fail(&format!("pipe: {e}")));
    // SAFETY: no thread exists yet.
    match unsafe { sys::fork() } {
        Err(e) => fail(&format!("fork failed: {e}")),
        Ok(sys::Forked::Child) => {
            drop(ready_r);
            sys::setsid();
            if let Err(e) = run(args, File::from(ready_w)) {
                fail(&e);
            }
        }
        Ok(sys::Forked::Parent) => {
            drop(ready_w);
            let mut answer = String::new();
            let _ = File::from(ready_r).read_to_string(&mut answer);
            match answer.strip_prefix("ok ") {
                Some(pid) => {
                    println!("{}", pid.trim());
                    std::process::exit(0)
                }
                None if answer.is_empty() => fail("the monitor died before reporting"),
                None => fail(answer.trim()),
            }
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("berth-monitor: {message}");
    std::process::exit(1)
}

/// The monitor proper: creates the container, then watches, logs and serves it until the
/// reaper ends the process. Until the container is created, a failure returned here is
/// reported by `main`; after, through `ready`.
fn run(args: Args, mut ready: File) -> Result<(), String> {
    sys::become_subreaper();
    // Before any thread: the reaper learns of ended children from a signalfd.
    sys::block_child_signals();
    let state_dir = args.state_dir;
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let log = match &args.log_path {
        Some(p) => Some(output::open_log(p).map_err(|e| format!("log {}: {e}", p.display()))?),
        None => None,
    };
    let console = args
        .tty
        .then(|| ConsoleSocket::bind(&state_dir))
        .transpose()?;
    let cli = RuntimeCli::new(args.runtime, args.runtime_root).systemd_cgroup(args.systemd_cgroup);
    let runtime = Runtime::new(cli, args.id, state_dir.clone());
    let pid_file = state_dir.join("pid");
    let created = runtime
        .create(
            &args.bundle,
            &pid_file,
            console.as_ref().map(|c| c.path()),
            args.stdin,
        )
        .and_then(|(mut streams, input)| {
            // With a terminal, the runtime has sent the pty master over the console socket:
            // the container's output, its input and its size.
            let mut terminal = None;
            if let Some(console) = console {
                let master = console.receive_terminal()?;
                terminal = Some(master.file.try_clone().map_err(|e| e.to_string())?);
                streams.push(master);
            }
            let input = match (input, &terminal) {
                (None, Some(terminal)) if args.stdin => {
                    Some(terminal.try_clone().map_err(|e| e.to_string())?)
                }
                (input, _) => input,
            };
            Ok((streams, input, terminal))
        });
    let (streams, input, terminal) = match created {
        Ok(created) => created,
        Err(e) => abandon(&runtime, &mut ready, &e),
    };
    let attach = Attach::new(input, args.stdin_once, terminal);
    let pid = match read_pid(&pid_file) {
        Ok(pid) => pid,
        Err(e) => abandon(&runtime, &mut ready, &e),
    };
    let shared = Arc::new(Shared::new(
        runtime,
        state_dir,
        args.log_path,
        log,
        pid,
        streams.len(),
        attach,
    ));
    if let Err(e) = serve_created(&shared, &mut ready, streams) {
        abandon(&shared.runtime, &mut ready, &e);
    }
    Ok(())
}

/// Gives up on a created (or half-created) container: never leave it behind, and say why.
fn abandon(runtime: &Runtime, ready: &mut File, error: &str) -> ! {
    let _ = runtime.delete_force();
    let _ = write!(ready, "{error}");
    std::process::exit(1);
}

/// The init's PID, which the runtime wrote to `pid_file`.
fn read_pid(pid_file: &Path) -> Result<i32, String> {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| "the runtime wrote no pid file".to_owned())
}

/// Starts the copiers and the reaper, tells the caller the container is there, and serves
/// the control socket; returns only on a setup failure.
fn serve_created(
    shared: &Arc<Shared>,
    ready: &mut File,
    streams: Vec<Stream>,
) -> Result<(), String> {
    output::spawn_copiers(streams, shared);
    reaper::spawn(shared);
    let listener = control::bind(&shared.state_dir)?;
    let attachers = attach::bind(&shared.state_dir)?;
    let _ = write!(ready, "ok {}", shared.pid);
    // Close the caller's end for good: it reads until end of file.
    let null = File::open("/dev/null").map_err(|e| e.to_string())?;
    let _ = std::mem::replace(ready, null);
    redirect_stdio_to_null();
    control::serve(listener, attachers, shared);
    Ok(())
}

/// The monitor has no terminal and no caller any more: nothing may write to their stdio.
fn redirect_stdio_to_null() {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        sys::redirect_stdio(null.as_fd());
    }
}
