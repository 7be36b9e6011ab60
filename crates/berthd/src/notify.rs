//! systemd's readiness protocol (`sd_notify`): one datagram to `$NOTIFY_SOCKET`. Written here
//! rather than taken from a crate: it is one `sendto`, and berthd needs nothing else of
//! libsystemd. Without the variable (not under systemd, or `Type=` other than `notify`),
//! nothing is sent.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `READY=1`) to the service manager, if one listens. Failures are
/// logged, never fatal: the daemon works the same without a manager.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|socket| {
        let bytes = path.as_encoded_bytes();
        // A leading '@' names a socket in the abstract namespace.
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)
        } else {
            socket.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(e) = sent {
        tracing::warn!(state, socket = ?path, error = %e, "cannot notify the service manager");
    }
}
