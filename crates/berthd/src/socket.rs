//! The CRI socket: created fresh (a stale one from a crash is replaced), mode 0660, owned
//! by root, and removed on shutdown.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::net::UnixListener;

/// Permission bits of the socket: root and the socket's group may connect.
const SOCKET_MODE: u32 = 0o660;

/// A bound socket that removes its file when dropped.
#[derive(Debug)]
pub struct CriSocket {
    path: PathBuf,
}

impl CriSocket {
    /// Binds `path`. Call only with the state lock held: then any socket file there is stale.
    pub fn bind(path: &Path) -> anyhow::Result<(Self, UnixListener)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                tracing::info!(socket = %path.display(), "replacing a stale socket");
                std::fs::remove_file(path)
                    .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
            }
            Ok(_) => bail!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot bind CRI socket {}", path.display()))?;
        let socket = Self {
            path: path.to_owned(),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
            .with_context(|| format!("cannot chmod {}", path.display()))?;
        std::os::unix::fs::chown(path, Some(0), Some(0))
            .with_context(|| format!("cannot chown {} to root", path.display()))?;
        Ok((socket, listener))
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CriSocket {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(socket = %self.path.display(), error = %e, "cannot remove socket");
        }
    }
}
