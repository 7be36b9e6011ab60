//! Container root file systems: an overlayfs of an image's unpacked layers (read-only, lower)
//! under a per-container writable upper directory.

use std::path::{Path, PathBuf};

use crate::ImageError;

/// Mounts an overlay at `target`: `lowers` are the image's layer directories, base first;
/// `upper` and `work` are the container's (created if missing, on one file system).
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    for dir in [upper, work, target] {
        std::fs::create_dir_all(dir).map_err(ImageError::io(dir))?;
    }
    if lowers.is_empty() {
        return Err(ImageError::Io {
            path: target.to_owned(),
            source: std::io::Error::other("an overlay needs at least one lower layer"),
        });
    }
    // overlayfs wants the topmost lower first.
    let lowerdir = lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let options = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    let options = std::ffi::CString::new(options).map_err(|e| ImageError::Io {
        path: target.to_owned(),
        source: std::io::Error::other(e),
    })?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(options.as_c_str()),
    )
    .map_err(|e| ImageError::Io {
        path: target.to_owned(),
        source: e.into(),
    })
}

/// Unmounts a container root file system; not mounted is fine.
pub fn unmount(target: &Path) -> Result<(), ImageError> {
    match rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(ImageError::Io {
            path: target.to_owned(),
            source: e.into(),
        }),
    }
}
