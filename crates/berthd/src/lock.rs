//! One berthd per state directory: an exclusive `flock` on `<state>/berth.lock`, held for the
//! daemon's life. The kernel drops it when the process dies, so a crash never leaves a stale
//! lock behind, unlike a PID file or a check for the socket.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rustix::fs::{FlockOperation, flock};

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the lock without waiting, and writes our PID into the file for operators.
    pub fn acquire(layout: &berth_config::StateLayout) -> anyhow::Result<Self> {
        let path = layout.lock_file();
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if e == rustix::io::Errno::WOULDBLOCK {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                bail!(
                    "another berthd (pid {}) holds {}: one berthd per state directory",
                    holder.trim(),
                    path.display()
                );
            }
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
