//! Small file-system helpers shared by the stores.

use std::path::Path;

use crate::ImageError;

/// Removes everything inside `dir`, keeping `dir`. Returns how many entries went.
pub fn empty_dir(dir: &Path) -> Result<usize, ImageError> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(ImageError::io(dir))? {
        let path = entry.map_err(ImageError::io(dir))?.path();
        remove_path(&path)?;
        removed += 1;
    }
    Ok(removed)
}

/// Removes a file or a whole tree; absent is fine.
pub fn remove_path(path: &Path) -> Result<(), ImageError> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ImageError::io(path)(e)),
        _ => Ok(()),
    }
}

/// Bytes (allocated blocks) and inodes used under `dir`, without crossing mount points.
pub fn usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let Ok(root) = std::fs::symlink_metadata(dir) else {
        return (0, 0);
    };
    let device = root.dev();
    let (mut bytes, mut inodes) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = std::collections::HashSet::new();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != device {
            continue;
        }
        // Hard links are counted once.
        if meta.nlink() > 1 && !meta.is_dir() && !seen.insert(meta.ino()) {
            continue;
        }
        bytes += meta.blocks() * 512;
        inodes += 1;
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    (bytes, inodes)
}
