//! The last step of start-up recovery: once the services have settled every record, the
//! files an interrupted operation left that no record names are removed. Everything under
//! `state` is accounted for through `StateLayout`; what it does not name is reported.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::context::Context;
use crate::task::blocking;

/// Removes the files a berthd killed mid-operation leaves that no record accounts for, once
/// every record is settled: every OCI runtime command log (each lives only while its command
/// runs, and no command of the dead daemon runs now), CNI result temp files (an ADD killed
/// between write and rename), and cached CNI results of pods no record names. Entries of
/// `state` the layout does not know are reported, not removed. Returns how many were removed.
pub(crate) async fn sweep(context: &Context) -> Result<usize, Error> {
    let layout = context.layout.clone();
    let known: HashSet<String> = {
        let indexes = context.indexes.lock().expect("indexes");
        indexes
            .sandboxes
            .iter()
            .chain(indexes.containers.iter())
            .map(str::to_owned)
            .collect()
    };
    blocking("sweeping leftover files", move || {
        let mut removed = 0;
        for path in entries(&layout.runtime_logs()) {
            removed += remove(&path);
        }
        for path in entries(&layout.cni_results()) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            let orphaned = name
                .split(['-', '.'])
                .find(|part| part.len() == 64 && part.bytes().all(|b| b.is_ascii_hexdigit()))
                .is_some_and(|id| !known.contains(id));
            if name.ends_with(".tmp") || orphaned {
                removed += remove(&path);
            }
        }
        for path in entries(layout.state()) {
            if !layout.is_known_state_entry(&path) {
                tracing::warn!(path = %path.display(), "an entry of the state directory berth does not know; left alone");
            }
        }
        Ok(removed)
    })
    .await
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|list| list.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn remove(path: &Path) -> usize {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a file an interrupted operation left");
            1
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover file");
            0
        }
    }
}
