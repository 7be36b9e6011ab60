//! The `berth-monitor` process. See the library docs for what it does and why.
//!
//! Usage: `berth-monitor --id ID --bundle DIR --runtime BIN --runtime-root DIR
//!         --state-dir DIR [--log-path FILE] [--tty true]`
//!
//! With `--tty true` the container gets a terminal: the runtime passes the pty's master over
//! a console socket in the state dir, and the monitor logs what the terminal prints as
//! `stdout` (a terminal has one output stream).
//!
//! It forks at once: the first process waits until the container is created (or failed)
//! and exits 0 (or 1 with the runtime's error on stderr), so the caller learns the outcome
//! synchronously and never has to reap the long-lived monitor, which is detached (setsid) and
//! reparented to the node's init.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_monitor::cri_log::LineSplitter;
use berth_monitor::{EXIT_FILE, Exit, Request, Response, SOCKET_FILE, Status};

/// How often the reaper checks that the container still exists, in case an exit
/// notification was lost.
const LIVENESS_INTERVAL_MS: i32 = 1000;
/// Read size of an output copier: a CRI log line splits at 16 KiB anyway, and a small buffer
/// keeps each monitor's memory small.
const READ_BUFFER: usize = 16 * 1024;
/// How long the output may keep draining after the container exited.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

struct Args {
    id: String,
    bundle: PathBuf,
    runtime: PathBuf,
    runtime_root: PathBuf,
    state_dir: PathBuf,
    log_path: Option<PathBuf>,
    tty: bool,
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
    })
}

fn main() {
    // One malloc arena for all threads: glibc would give each thread its own, and with it
    // pages that a few small allocations keep resident, in every monitor on the node.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt before any allocation-heavy work; M_ARENA_MAX takes a count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-monitor: {e}");
            std::process::exit(2);
        }
    };
    let (ready_r, ready_w) = pipe().unwrap_or_else(|e| fail(&format!("pipe: {e}")));
    // SAFETY: no thread exists yet, so fork is safe.
    match unsafe { libc::fork() } {
        -1 => fail("fork failed"),
        0 => {
            drop(ready_r);
            // SAFETY: plain syscalls in the child.
            unsafe { libc::setsid() };
            if let Err(e) = run(args, File::from(ready_w)) {
                fail(&e);
            }
        }
        _ => {
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

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid out-array of two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh fds we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Runs `command` to its end while reading (and dropping) whatever arrives on `fds`, the
/// container's output pipes. Before `start` only the runtime writes there (its diagnostics,
/// which its `--log` file has too); the container's own output begins after `start`, when the
/// copiers own the pipes.
fn run_draining(command: &mut Command, fds: &[i32]) -> std::io::Result<std::process::ExitStatus> {
    if fds.is_empty() {
        return command.status();
    }
    let (wake_r, wake_w) = pipe()?;
    std::thread::scope(|scope| {
        scope.spawn(|| drain_until_woken(fds, wake_r.as_raw_fd()));
        let status = command.status();
        let _ = (&File::from(wake_w)).write_all(b"x");
        status
    })
}

/// Reads `fds` as data arrives, dropping it, until `wake` is readable; a pipe at its end is
/// left out of the wait.
fn drain_until_woken(fds: &[i32], wake: i32) {
    let mut open: Vec<i32> = fds.to_vec();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let mut polled: Vec<libc::pollfd> = std::iter::once(wake)
            .chain(open.iter().copied())
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: a valid array of pollfd structs of the given length.
        let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if polled[0].revents != 0 {
            return;
        }
        for p in &polled[1..] {
            if p.revents == 0 {
                continue;
            }
            // SAFETY: reading into a buffer we own, of the length given.
            let read = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if read <= 0 {
                open.retain(|fd| *fd != p.fd);
            }
        }
    }
}

/// Accepts the runtime's connection on the console socket and takes the one fd it sends
/// (SCM_RIGHTS), waiting at most a few seconds.
fn receive_fd(listener: &UnixListener) -> std::io::Result<OwnedFd> {
    listener.set_nonblocking(true)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() > deadline {
                    return Err(std::io::Error::other("the runtime sent no terminal"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    };
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one control message carrying one fd, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: a valid socket and a msghdr whose buffers are live.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>());
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Err(std::io::Error::other("the runtime's message carried no fd"))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

struct Inner {
    status: Status,
    log: Option<File>,
    /// Output streams that reached their end.
    drained: usize,
    /// Output streams there are (2 with pipes, 1 with a terminal).
    streams: usize,
}

struct Shared {
    args: Args,
    inner: Mutex<Inner>,
    changed: Condvar,
    /// Held while a runtime command runs, so the orphan sweep never reaps its process.
    runtime_busy: Mutex<()>,
    /// The init's pidfd (-1 until known, or when pidfds are not available).
    pidfd: std::sync::atomic::AtomicI32,
}

impl Shared {
    fn status(&self) -> Status {
        self.inner.lock().expect("state").status.clone()
    }

    fn runtime(&self, op: &str, extra: &[&str]) -> Result<(), String> {
        let _busy = self.runtime_busy.lock().expect("runtime lock");
        let log = self.args.state_dir.join(format!("runtime-{op}.log"));
        let status = Command::new(&self.args.runtime)
            .arg("--root")
            .arg(&self.args.runtime_root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", op])
            .args(extra)
            .arg(&self.args.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.args.runtime.display()))?;
        if status.success() {
            return Ok(());
        }
        Err(format!(
            "{} {op} {} failed ({status}): {}",
            self.args.runtime.display(),
            self.args.id,
            log_errors(&log)
        ))
    }
}

impl Shared {
    /// SIGKILL to every process left in the container's cgroup after its init exited.
    /// Signals the init through its pidfd; an init that already exited is not an error.
    fn signal(&self, signal: i32) -> Result<(), String> {
        let pidfd = self.pidfd.load(std::sync::atomic::Ordering::Acquire);
        if pidfd < 0 {
            return Err("the container's pidfd is not available".into());
        }
        // SAFETY: pidfd_send_signal with a pidfd we own, no siginfo and no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd,
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match rc {
            0 => Ok(()),
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) => Ok(()),
            _ => Err(format!(
                "signal {signal}: {}",
                std::io::Error::last_os_error()
            )),
        }
    }

    fn kill_rest(&self) {
        let _busy = self.runtime_busy.lock().expect("runtime lock");
        let a = &self.args;
        let _ = Command::new(&a.runtime)
            .arg("--root")
            .arg(&a.runtime_root)
            .args(["kill", "--all"])
            .arg(&a.id)
            .arg("KILL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn log_errors(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let msgs: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(str::to_owned))
        .collect();
    if msgs.is_empty() {
        text.trim().to_owned()
    } else {
        msgs.join("; ")
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::options().create(true).append(true).open(path)
}

fn run(args: Args, mut ready: File) -> Result<(), String> {
    // Until the container is created, failures are reported through `ready` by `main`.
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    std::fs::create_dir_all(&args.state_dir)
        .map_err(|e| format!("{}: {e}", args.state_dir.display()))?;
    let log = match &args.log_path {
        Some(p) => Some(open_log(p).map_err(|e| format!("log {}: {e}", p.display()))?),
        None => None,
    };
    let pid_file = args.state_dir.join("pid");
    let streams = if args.tty { 1 } else { 2 };
    let console = if args.tty {
        let path = args.state_dir.join("console.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Some((path, listener))
    } else {
        None
    };
    let shared = Arc::new(Shared {
        args,
        inner: Mutex::new(Inner {
            status: Status {
                pid: 0,
                started: false,
                exit: None,
            },
            log,
            drained: 0,
            streams,
        }),
        changed: Condvar::new(),
        runtime_busy: Mutex::new(()),
        pidfd: std::sync::atomic::AtomicI32::new(-1),
    });
    // Without a terminal the container init inherits the pipes' write ends as its stdout and
    // stderr (std clears CLOEXEC on the fds it installs as a child's stdio).
    let mut outputs = Vec::new();
    let created = {
        let a = &shared.args;
        let log = a.state_dir.join("runtime-create.log");
        let mut command = Command::new(&a.runtime);
        command
            .arg("--root")
            .arg(&a.runtime_root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "create", "--bundle"])
            .arg(&a.bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .stdin(Stdio::null());
        match &console {
            Some((path, _)) => {
                command
                    .arg("--console-socket")
                    .arg(path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
            None => {
                let (out_r, out_w) = pipe().map_err(|e| e.to_string())?;
                let (err_r, err_w) = pipe().map_err(|e| e.to_string())?;
                outputs.push((out_r, "stdout"));
                outputs.push((err_r, "stderr"));
                command
                    .stdout(Stdio::from(out_w))
                    .stderr(Stdio::from(err_w));
            }
        }
        command.arg(&a.id);
        // The runtime writes its own errors to the container's stderr pipe: read the pipes
        // while it runs, or an error longer than a pipe's buffer blocks it (and us) forever.
        let fds: Vec<i32> = outputs.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
        run_draining(&mut command, &fds)
            .map_err(|e| format!("cannot run {}: {e}", a.runtime.display()))
            .and_then(|s| {
                if s.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} create {} failed ({s}): {}",
                        a.runtime.display(),
                        a.id,
                        log_errors(&log)
                    ))
                }
            })
    };
    // With a terminal, the runtime has sent the pty master over the console socket.
    let created = created.and_then(|()| match &console {
        Some((path, listener)) => {
            let master = receive_fd(listener).map_err(|e| format!("console socket: {e}"));
            let _ = std::fs::remove_file(path);
            master.map(|fd| outputs.push((fd, "stdout")))
        }
        None => Ok(()),
    });
    if let Err(e) = created {
        let _ = shared.runtime("delete", &["--force"]);
        let _ = write!(ready, "{e}");
        std::process::exit(1);
    }
    match serve_created(&shared, &pid_file, &mut ready, outputs) {
        Ok(()) => Ok(()),
        Err(e) => {
            // Created but unusable: never leave the container behind, and say why.
            let _ = shared.runtime("delete", &["--force"]);
            let _ = write!(ready, "{e}");
            std::process::exit(1);
        }
    }
}

/// Watches, logs and serves a created container; returns only on a setup failure.
fn serve_created(
    shared: &Arc<Shared>,
    pid_file: &Path,
    ready: &mut File,
    outputs: Vec<(OwnedFd, &'static str)>,
) -> Result<(), String> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or("the runtime wrote no pid file")?;
    shared.inner.lock().expect("state").status.pid = pid;
    // Opened before anyone can ask for a signal: the reaper polls it and `Signal` uses it.
    // SAFETY: pidfd_open syscall with a pid and no flags.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    shared
        .pidfd
        .store(pidfd, std::sync::atomic::Ordering::Release);

    for (fd, stream) in outputs {
        let shared = shared.clone();
        std::thread::spawn(move || copy_output(File::from(fd), stream, &shared));
    }
    {
        let shared = shared.clone();
        std::thread::spawn(move || reap(pid, &shared));
    }
    let socket = shared.args.state_dir.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    let _ = write!(ready, "ok {pid}");
    // Close the caller's end for good: it reads until end of file.
    let null = File::open("/dev/null").map_err(|e| e.to_string())?;
    let _ = std::mem::replace(ready, null);
    redirect_stdio_to_null();
    for conn in listener.incoming().flatten() {
        let shared = shared.clone();
        std::thread::spawn(move || serve(conn, &shared));
    }
    Ok(())
}

/// The monitor has no terminal and no caller any more: nothing may write to their stdio.
fn redirect_stdio_to_null() {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard fds.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// Copies one output stream of the container into the CRI log.
fn copy_output(mut from: File, stream: &'static str, shared: &Shared) {
    struct LogWriter<'a>(&'a Shared);
    impl Write for LogWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut inner = self.0.inner.lock().expect("state");
            match inner.log.as_mut() {
                Some(f) => f.write(buf),
                None => Ok(buf.len()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut splitter = LineSplitter::new(stream);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let _ = splitter.feed(&buf[..n], &mut LogWriter(shared));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = splitter.finish(&mut LogWriter(shared));
    let mut inner = shared.inner.lock().expect("state");
    inner.drained += 1;
    shared.changed.notify_all();
}

/// Waits for the container init with a pidfd, backed by a liveness check; records the exit
/// durably; then, once the output is drained, ends the monitor.
fn reap(pid: i32, shared: &Shared) {
    let pidfd = shared.pidfd.load(std::sync::atomic::Ordering::Acquire);
    let exit = loop {
        if pidfd >= 0 {
            let mut fds = libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut fds, 1, LIVENESS_INTERVAL_MS) };
        } else {
            std::thread::sleep(Duration::from_millis(LIVENESS_INTERVAL_MS as u64));
        }
        let mut status = 0;
        // SAFETY: waitpid on our (subreaped) child.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if got == pid {
            break decode(status);
        }
        // Belt and braces: if the process is gone and we could not reap it, say so.
        // SAFETY: signal 0 only checks existence.
        if got < 0 && unsafe { libc::kill(pid, 0) } != 0 {
            break Exit {
                code: 255,
                signal: None,
                at_ns: now_ns(),
            };
        }
        sweep_orphans(shared);
    };
    // Let the output drain (bounded) so that whoever learns of the exit finds the whole log
    // written. Processes the init left behind (it shared a PID namespace, so the kernel did
    // not kill them) may hold the pipes open: like containerd's shim, kill what is left of the
    // container then.
    let mut inner = shared.inner.lock().expect("state");
    let deadline = std::time::Instant::now() + DRAIN_LIMIT;
    let mut killed_rest = false;
    while inner.drained < inner.streams && std::time::Instant::now() < deadline {
        let (next, timeout) = shared
            .changed
            .wait_timeout(inner, Duration::from_millis(20))
            .expect("state");
        inner = next;
        if timeout.timed_out() && !killed_rest && inner.drained < inner.streams {
            killed_rest = true;
            drop(inner);
            shared.kill_rest();
            inner = shared.inner.lock().expect("state");
        }
    }
    if let Some(log) = inner.log.as_mut() {
        let _ = log.sync_data();
    }
    // The exit is durable before anyone is told of it.
    if let Err(e) = write_exit(&shared.args.state_dir, &exit) {
        // Without the file a restarted berthd would not know the exit; it is still served
        // live to waiters below.
        let _ = e;
    }
    inner.status.exit = Some(exit);
    shared.changed.notify_all();
    drop(inner);
    sweep_orphans(shared);
    // The socket goes first: a caller waits for it to know the monitor is done (nothing is
    // written after this). Then let the answers to waiters leave, and go.
    let _ = std::fs::remove_file(shared.args.state_dir.join(SOCKET_FILE));
    std::thread::sleep(Duration::from_millis(10));
    std::process::exit(0);
}

/// Reaps processes orphaned to us (the container's own children), never a runtime command
/// and never the container's init: its status belongs to the reaper, so each zombie is
/// looked at first (`WNOWAIT`) and only reaped when it is someone else.
fn sweep_orphans(shared: &Shared) {
    let Ok(_busy) = shared.runtime_busy.try_lock() else {
        return;
    };
    let init = shared.inner.lock().expect("state").status.pid;
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: non-blocking peek at any exited child; nothing is reaped.
        let rc = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is set by waitid for an exited child (0 when none).
        let pid = unsafe { info.si_pid() };
        if rc != 0 || pid <= 0 || pid == init {
            return;
        }
        let mut status = 0;
        // SAFETY: reaps exactly the orphan just seen.
        unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    }
}

fn decode(status: i32) -> Exit {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        Exit {
            code: 128 + signal,
            signal: Some(signal),
            at_ns: now_ns(),
        }
    } else {
        Exit {
            code: libc::WEXITSTATUS(status),
            signal: None,
            at_ns: now_ns(),
        }
    }
}

/// Writes the exit record: temp file, fsync, rename, fsync of the directory.
fn write_exit(dir: &Path, exit: &Exit) -> std::io::Result<()> {
    let tmp = dir.join(format!("{EXIT_FILE}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(exit)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(EXIT_FILE))?;
    File::open(dir)?.sync_all()
}

fn serve(conn: UnixStream, shared: &Shared) {
    let Ok(reader_conn) = conn.try_clone() else {
        return;
    };
    let mut writer = conn;
    for line in BufReader::new(reader_conn).lines() {
        let Ok(line) = line else { return };
        let response = match serde_json::from_str::<Request>(&line) {
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
            Ok(request) => handle(request, shared),
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_default();
        out.push(b'\n');
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

fn handle(request: Request, shared: &Shared) -> Response {
    let result = match request {
        Request::Status => Ok(()),
        Request::Start => {
            let status = shared.status();
            if status.started || status.exit.is_some() {
                Ok(())
            } else {
                shared.runtime("start", &[]).map(|()| {
                    shared.inner.lock().expect("state").status.started = true;
                })
            }
        }
        Request::Wait => {
            let mut inner = shared.inner.lock().expect("state");
            while inner.status.exit.is_none() {
                inner = shared.changed.wait(inner).expect("state");
            }
            Ok(())
        }
        Request::Signal { signal } => shared.signal(signal),
        Request::ReopenLog => match &shared.args.log_path {
            None => Ok(()),
            Some(path) => open_log(path)
                .map(|f| shared.inner.lock().expect("state").log = Some(f))
                .map_err(|e| format!("reopen {}: {e}", path.display())),
        },
    };
    match result {
        Ok(()) => Response::Ok {
            status: shared.status(),
        },
        Err(message) => Response::Error { message },
    }
}
