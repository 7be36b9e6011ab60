//! Network namespaces pinned by a bind mount, so they outlive every process in them and can
//! be found again after a restart.

use std::io;
use std::path::Path;

use rustix::mount::{UnmountFlags, mount_bind, unmount};
use rustix::thread::UnshareFlags;

/// Creates a new network namespace and pins it at `path` (a file that must not exist; its
/// directory is created). The namespace is made on a short-lived thread of its own, so no
/// thread of the daemon ever changes namespace.
pub fn create_pinned(path: &Path) -> io::Result<()> {
    pin_file(path)?;
    let target = path.to_owned();
    let pinned = std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: NEWNET does not touch the file descriptor table; only this thread, which
        // exits right after, moves to the new namespace.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }?;
        mount_bind("/proc/thread-self/ns/net", &target)?;
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?;
    if let Err(e) = pinned {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Creates the empty file a namespace is bind-mounted onto (any kind of namespace), and its
/// directory; the file must not exist yet.
pub fn pin_file(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
}

/// Unpins and deletes a namespace pinned at `path`. Absent or already unmounted is fine: a
/// namespace that is already gone is not an error.
pub fn remove_pinned(path: &Path) -> io::Result<()> {
    match unmount(path, UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Runs `f` on a short-lived thread inside the network namespace pinned at `path` and
/// answers what it did; sockets it opens stay in that namespace. No other thread moves.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = std::fs::File::open(path)?;
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&ns),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// Whether `path` is a pinned namespace (a mounted nsfs file).
pub fn is_pinned(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as u64 == NSFS_MAGIC)
}

/// `NSFS_MAGIC` from linux/magic.h.
const NSFS_MAGIC: u64 = 0x6e73_6673;
