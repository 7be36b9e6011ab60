//! The monitor's `unsafe`: one safe function per Linux call that `std` does not offer (fork,
//! subreaping, pidfds, poll, waitpid/waitid, SCM_RIGHTS). Each is the call and its error
//! handling, nothing more; what to do with the answer belongs to the module that asks.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Gives all threads one malloc arena: glibc would give each its own, and with it pages that
/// a few small allocations keep resident, in every monitor on the node.
pub fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt before any allocation-heavy work; M_ARENA_MAX takes a count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Which side of a [`fork`] this is.
pub enum Forked {
    /// The original process.
    Parent,
    /// The new one.
    Child,
}

/// Forks the process.
///
/// # Safety
/// No other thread may exist: the child would inherit their locks held, and no threads.
pub unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller guarantees that this process has a single thread.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        _ => Ok(Forked::Parent),
    }
}

/// Starts a new session, detached from the caller's terminal and process group.
pub fn setsid() {
    // SAFETY: a plain syscall without arguments.
    unsafe { libc::setsid() };
}

/// Makes this process the child subreaper: orphans among its descendants (the container's
/// init once the runtime exits) become its children.
pub fn become_subreaper() {
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid out-array of two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh fds we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pidfd for `pid`, or `None` where the kernel has none (before 5.3).
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open syscall with a pid and no flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    // SAFETY: on success the syscall returned a fresh fd we now own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process behind `pidfd`: that process, never one that reused its PID.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: pidfd_send_signal with a live pidfd, no siginfo and no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Waits until one of `fds` is readable, at its end or in error, at most `timeout_ms`
/// milliseconds (-1: no limit); for each fd, whether it is.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: a valid array of pollfd structs of the given length.
    let n = unsafe {
        libc::poll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(polled.iter().map(|p| p.revents != 0).collect())
}

/// An inotify descriptor (non-blocking) that becomes readable whenever `file` is modified;
/// `None` where it cannot be watched.
pub fn watch_modifications(file: &std::path::Path) -> Option<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(file.as_os_str().as_bytes()).ok()?;
    // SAFETY: plain syscall; the fd is owned right after.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a valid inotify fd and a NUL-terminated path.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY) };
    (wd >= 0).then_some(fd)
}

/// Holds SIGCHLD pending in this thread and every thread it starts, for [`child_signals`] to
/// read. A child inherits the mask and `std` does not reset it: every command the monitor
/// runs goes through [`unblock_signals_in`].
pub fn block_child_signals() {
    let set = signal_set(&[libc::SIGCHLD]);
    // SAFETY: changes this thread's own mask from a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// The set of `signals` (async-signal-safe: usable between fork and exec).
fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is initialised by sigemptyset before any other use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Makes `command`'s process start with no signal blocked, whatever this thread blocks (see
/// [`block_child_signals`]): the runtime, and through it the container, must not inherit the
/// monitor's blocked SIGCHLD (runc resets its mask, crun passes it on to the init).
pub fn unblock_signals_in(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls only sigemptyset
    // and sigprocmask, both async-signal-safe, on a local set.
    unsafe {
        command.pre_exec(|| {
            let none = signal_set(&[]);
            if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A non-blocking descriptor that is readable while a SIGCHLD is pending (see
/// [`block_child_signals`]); [`drain_events`] consumes them.
pub fn child_signals() -> io::Result<OwnedFd> {
    let set = signal_set(&[libc::SIGCHLD]);
    // SAFETY: signalfd with a valid set returns a fresh descriptor we then own.
    match unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) } {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: as above.
        fd => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
    }
}

/// A non-blocking eventfd: readable once [`eventfd_add`] wrote to it, until drained.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd returns a fresh descriptor we then own.
    match unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) } {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: as above.
        fd => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
    }
}

/// Adds one to an eventfd's count (a full counter is readable already: nothing is lost).
pub fn eventfd_add(fd: BorrowedFd<'_>) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes the 8 bytes an eventfd takes from a live buffer.
    unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
}

/// Reads and drops whatever events are queued on a non-blocking descriptor.
pub fn drain_events(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 1024];
    // SAFETY: reading into a buffer of the given length; stops at EAGAIN or end.
    while unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Reaps `pid` if it has ended: its raw wait status then, `None` while it runs.
pub fn try_reap(pid: i32) -> io::Result<Option<i32>> {
    let mut status = 0;
    // SAFETY: waitpid on one child, without blocking.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some(status)),
    }
}

/// The PID of a child that has ended and is not reaped yet, left unreaped (`WNOWAIT`).
pub fn ended_child() -> Option<i32> {
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
    (rc == 0 && pid > 0).then_some(pid)
}

/// Whether a process `pid` exists (signal 0 checks without signalling).
pub fn exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Points this process's stdin, stdout and stderr at `to`.
pub fn redirect_stdio(to: BorrowedFd<'_>) {
    for fd in 0..3 {
        // SAFETY: dup2 of a live fd onto the standard fds.
        unsafe { libc::dup2(to.as_raw_fd(), fd) };
    }
}

/// Receives one message on `conn` and takes the one fd it carries (SCM_RIGHTS), close-on-exec.
pub fn receive_fd(conn: &UnixStream) -> io::Result<OwnedFd> {
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
    let n = unsafe { libc::recvmsg(conn.as_fd().as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
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
    Err(io::Error::other("the runtime's message carried no fd"))
}

/// Sets the size of the terminal whose master is `master`; the kernel tells the terminal's
/// foreground processes (SIGWINCH).
pub fn set_window_size(master: BorrowedFd<'_>, columns: u16, rows: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct, which lives across the call.
    match unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
