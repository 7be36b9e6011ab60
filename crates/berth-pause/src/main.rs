//! `berth-pause`: the infra process of a pod sandbox.
//!
//! It holds the pod's namespaces by existing. As PID 1 of a shared PID namespace it reaps
//! every orphan that is reparented to it, so no zombie accumulates; it also makes itself a
//! child subreaper so that it reaps orphans when it is not PID 1. It exits 0 on SIGTERM or
//! SIGINT. No allocation after start, no threads: signals are taken synchronously with
//! `sigwaitinfo`, so there is no handler to race with.

use std::process::ExitCode;

fn main() -> ExitCode {
    // SAFETY: plain libc calls on a sigset we own; no other thread exists.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT] {
            libc::sigaddset(&mut set, signal);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            eprintln!("berth-pause: cannot block signals");
            return ExitCode::FAILURE;
        }
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        loop {
            let signal = libc::sigwaitinfo(&set, std::ptr::null_mut());
            match signal {
                libc::SIGTERM | libc::SIGINT => return ExitCode::SUCCESS,
                libc::SIGCHLD => reap(),
                _ => {} // EINTR
            }
        }
    }
}

/// Reaps every child that has exited; SIGCHLD coalesces, so take all of them.
fn reap() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}
