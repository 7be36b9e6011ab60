//! The namespaces of a pod without an infra process.
//!
//! Such a pod's network namespace is pinned as every pod's is (`berth_cni::netns`); its IPC
//! and UTS namespaces are made the same way: a short-lived thread of berthd unshares them,
//! sets the pod's hostname and its namespaced sysctls inside (the IPC ones, `kernel.shm*`,
//! `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`, in the new IPC namespace; the `net.*` ones
//! after joining the pod's netns), bind-mounts `/proc/thread-self/ns/{ipc,uts}` onto files
//! in the pod's directory, and exits. The pins keep the namespaces alive with no process in
//! them, across berthd's restarts; each container's spec joins them by path. Nothing else
//! moves: no thread of the daemon that serves calls ever changes namespace.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::mount_bind;
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// What to pin for a pod, and what to set inside.
#[derive(Debug, Clone)]
pub struct Pins {
    /// Pin of a new IPC namespace (none with the node's IPC).
    pub ipc: Option<PathBuf>,
    /// Pin of a new UTS namespace (none on the node's network, which keeps the node's
    /// hostname).
    pub uts: Option<PathBuf>,
    /// The pod's pinned network namespace, where `net.*` sysctls are set.
    pub netns: Option<PathBuf>,
    /// The hostname, set in the new UTS namespace.
    pub hostname: String,
    /// Namespaced sysctls, already validated against the pod's namespaces.
    pub sysctls: BTreeMap<String, String>,
}

/// Why pinning failed.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The kernel refused one of the request's sysctls (its value, or a name this kernel
    /// does not have): the request's fault.
    #[error("sysctl {key}={value}: the kernel refuses it: {source}")]
    Sysctl {
        key: String,
        value: String,
        #[source]
        source: io::Error,
    },
    /// The node could not make or pin the namespaces.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<rustix::io::Errno> for PinError {
    fn from(e: rustix::io::Errno) -> Self {
        Self::Io(e.into())
    }
}

impl Pins {
    /// Makes and pins the namespaces; on failure, nothing it made is left pinned.
    pub fn create(&self) -> Result<(), PinError> {
        let targets: Vec<&PathBuf> = self.ipc.iter().chain(&self.uts).collect();
        for target in &targets {
            berth_cni::netns::pin_file(target)?;
        }
        let pins = self.clone();
        let made = std::thread::spawn(move || pins.inside())
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked").into()));
        if made.is_err() {
            for target in targets {
                let _ = remove_pin(target);
            }
        }
        made
    }

    /// On the short-lived thread: unshare, set up, pin.
    fn inside(self) -> Result<(), PinError> {
        let mut flags = UnshareFlags::empty();
        if self.ipc.is_some() {
            flags |= UnshareFlags::NEWIPC;
        }
        if self.uts.is_some() {
            flags |= UnshareFlags::NEWUTS;
        }
        // SAFETY: NEWIPC and NEWUTS do not touch the file descriptor table or memory; only
        // this thread, which exits when done, moves to the new namespaces.
        unsafe { rustix::thread::unshare_unsafe(flags) }?;
        if self.uts.is_some() {
            rustix::system::sethostname(self.hostname.as_bytes())
                .map_err(|e| with_cause(e.into(), "set the hostname"))?;
        }
        let (net, other): (Vec<_>, Vec<_>) = self
            .sysctls
            .iter()
            .partition(|(key, _)| key.starts_with("net."));
        for (key, value) in other {
            write_sysctl(key, value)?;
        }
        if let Some(ipc) = &self.ipc {
            mount_bind("/proc/thread-self/ns/ipc", ipc)?;
        }
        if let Some(uts) = &self.uts {
            mount_bind("/proc/thread-self/ns/uts", uts)?;
        }
        if !net.is_empty() {
            let Some(netns) = &self.netns else {
                return Err(
                    io::Error::other("net.* sysctls need the pod's own network namespace").into(),
                );
            };
            let ns = std::fs::File::open(netns)?;
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(LinkNameSpaceType::Network),
            )?;
            for (key, value) in net {
                write_sysctl(key, value)?;
            }
        }
        Ok(())
    }
}

/// Whether a pod without infra still has its namespaces: every pin it made is still a
/// mounted namespace (a reboot, or someone's `umount`, takes them away; the pod is then
/// NOTREADY, as a pod whose infra died, and the kubelet makes it again).
pub fn alive(layout: &berth_config::StateLayout, pod: &berth_store::SandboxRecord) -> bool {
    let net = &pod.network;
    (net.netns.is_empty() || is_pinned(Path::new(&net.netns)))
        && (net.host_ipc || is_pinned(&layout.sandbox_ipcns(&pod.id)))
        && (net.host_network || is_pinned(&layout.sandbox_utsns(&pod.id)))
}

fn is_pinned(path: &Path) -> bool {
    berth_cni::netns::is_pinned(path)
}

/// Unpins the namespaces at `pins` (the pod's IPC and UTS pins); absent ones are fine.
pub fn remove(pins: &[PathBuf]) -> io::Result<()> {
    let mut first = None;
    for pin in pins {
        if let Err(e) = remove_pin(pin) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Unpins one namespace (any kind: an nsfs bind mount is unpinned the same way).
fn remove_pin(pin: &Path) -> io::Result<()> {
    berth_cni::netns::remove_pinned(pin)
        .map_err(|e| with_cause(e, &format!("unpin {}", pin.display())))
}

/// Writes sysctl `key` (dotted, or with slashes as runc also takes it) for the calling
/// thread's namespaces.
fn write_sysctl(key: &str, value: &str) -> Result<(), PinError> {
    std::fs::write(sysctl_path(key), value).map_err(|e| {
        let refused = matches!(
            e.raw_os_error(),
            Some(libc::EINVAL | libc::ERANGE | libc::ENOENT)
        );
        if refused {
            PinError::Sysctl {
                key: key.to_owned(),
                value: value.to_owned(),
                source: e,
            }
        } else {
            with_cause(e, &format!("set sysctl {key}={value}")).into()
        }
    })
}

/// `/proc/sys/…` of sysctl `key`: dots are separators, unless the key uses slashes (then a
/// dot may be part of a name, as in an interface `eth0.100`).
fn sysctl_path(key: &str) -> PathBuf {
    let relative = if key.contains('/') {
        key.to_owned()
    } else {
        key.replace('.', "/")
    };
    Path::new("/proc/sys").join(relative)
}

fn with_cause(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_become_proc_paths() {
        assert_eq!(
            sysctl_path("kernel.shm_rmid_forced"),
            Path::new("/proc/sys/kernel/shm_rmid_forced")
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/forwarding"),
            Path::new("/proc/sys/net/ipv4/conf/eth0.100/forwarding")
        );
    }
}
