//! Stop signals: an image's `StopSignal` (`SIGQUIT`, `QUIT`, or a number) to a signal number.
//! An unparseable value is refused at create, never silently replaced by SIGTERM.

/// Signal names Linux knows, without the `SIG` prefix, with their numbers.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Why an image's `StopSignal` names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopSignalError {
    /// A number outside Linux's signals.
    #[error("stop signal {0} is out of range 1-64")]
    OutOfRange(String),
    /// `RTMIN+n` past `RTMAX`.
    #[error("stop signal {0} is out of range")]
    PastRealtimeMax(String),
    /// No signal has this name.
    #[error("unknown stop signal {0:?}")]
    Unknown(String),
}

/// The signal an image's `StopSignal` names; empty means SIGTERM.
pub fn parse_stop_signal(value: &str) -> Result<i32, StopSignalError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(libc::SIGTERM);
    }
    if let Ok(n) = value.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(StopSignalError::OutOfRange(value.to_owned()))
        };
    }
    let upper = value.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rt) = name.strip_prefix("RTMIN") {
        let offset = match rt {
            "" => 0,
            _ => rt
                .strip_prefix('+')
                .and_then(|n| n.parse::<i32>().ok())
                .ok_or_else(|| StopSignalError::Unknown(value.to_owned()))?,
        };
        let n = libc::SIGRTMIN() + offset;
        return if n <= libc::SIGRTMAX() {
            Ok(n)
        } else {
            Err(StopSignalError::PastRealtimeMax(value.to_owned()))
        };
    }
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| StopSignalError::Unknown(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_defaults_parse() {
        assert_eq!(parse_stop_signal(""), Ok(libc::SIGTERM));
        assert_eq!(parse_stop_signal("SIGQUIT"), Ok(libc::SIGQUIT));
        assert_eq!(parse_stop_signal("usr1"), Ok(libc::SIGUSR1));
        assert_eq!(parse_stop_signal("9"), Ok(9));
        assert_eq!(parse_stop_signal("SIGRTMIN+2"), Ok(libc::SIGRTMIN() + 2));
        for bad in ["SIGBOGUS", "0", "99", "RTMIN+x", "SIGRTMIN+99"] {
            assert!(parse_stop_signal(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_stop_signal(" 99 ").unwrap_err().to_string(),
            "stop signal 99 is out of range 1-64"
        );
        assert_eq!(
            parse_stop_signal("SIGBOGUS").unwrap_err().to_string(),
            "unknown stop signal \"SIGBOGUS\""
        );
    }
}
