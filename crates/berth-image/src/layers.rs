//! Unpacked layers, one directory per chain ID: `<root>/layers/<chain hex>/fs`.
//!
//! A layer is unpacked into `<root>/layers/tmp/<random>/` and renamed into place only when
//! its diff ID has been checked, so a `layers/<chain>` directory is always complete. Two
//! pulls that race to unpack the same layer both succeed: the loser discards its copy.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::unpack::{Compression, unpack_layer};
use crate::{ImageError, fsutil};

/// Chain IDs from diff IDs: `chain(0) = diff(0)`, `chain(n) = sha256(chain(n-1) + " " + diff(n))`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{parent} {diff}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

/// The unpacked layers.
#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    tmp: PathBuf,
}

fn hex_of(chain_id: &str) -> &str {
    chain_id.strip_prefix("sha256:").unwrap_or(chain_id)
}

impl LayerStore {
    /// Opens the store where `layout` puts it, creating its directories.
    pub fn open(layout: &berth_config::StateLayout) -> Result<Self, ImageError> {
        let store = Self {
            dir: layout.layers(),
            tmp: layout.layers_tmp(),
        };
        std::fs::create_dir_all(&store.tmp).map_err(ImageError::io(&store.tmp))?;
        Ok(store)
    }

    /// The directory of a layer (its overlayfs lower dir).
    pub fn path(&self, chain_id: &str) -> PathBuf {
        self.dir.join(hex_of(chain_id)).join("fs")
    }

    /// Whether the layer is unpacked.
    pub fn has(&self, chain_id: &str) -> bool {
        self.path(chain_id).is_dir()
    }

    /// Unpacks `blob` as layer `chain_id`, checking that its uncompressed digest is
    /// `diff_id`. Blocking. Does nothing if the layer exists.
    pub fn unpack(
        &self,
        chain_id: &str,
        diff_id: &str,
        blob: &Path,
        compression: Compression,
        blob_digest: &str,
    ) -> Result<(), ImageError> {
        if self.has(chain_id) {
            return Ok(());
        }
        let staging = tempfile::Builder::new()
            .prefix("unpack-")
            .tempdir_in(&self.tmp)
            .map_err(ImageError::io(&self.tmp))?;
        let fs = staging.path().join("fs");
        std::fs::create_dir(&fs).map_err(ImageError::io(&fs))?;
        let file = std::fs::File::open(blob).map_err(ImageError::io(blob))?;
        let unpacked = unpack_layer(
            std::io::BufReader::with_capacity(1 << 16, file),
            compression,
            &fs,
        )
        .map_err(|source| ImageError::Unpack {
            digest: blob_digest.to_owned(),
            source,
        })?;
        if unpacked.diff_id != diff_id {
            return Err(ImageError::Corrupt {
                reference: String::new(),
                digest: blob_digest.to_owned(),
                reason: format!(
                    "uncompressed content hashes to {}, the image config says {diff_id}",
                    unpacked.diff_id
                ),
            });
        }
        std::fs::write(staging.path().join("size"), unpacked.size.to_string())
            .map_err(ImageError::io(staging.path()))?;
        let target = self.dir.join(hex_of(chain_id));
        let staged = staging.keep();
        match std::fs::rename(&staged, &target) {
            Ok(()) => Ok(()),
            // Another pull unpacked it first.
            Err(_) if self.has(chain_id) => fsutil::remove_path(&staged),
            Err(e) => {
                let _ = fsutil::remove_path(&staged);
                Err(ImageError::io(target)(e))
            }
        }
    }

    /// Removes a layer; absent is fine.
    pub fn remove(&self, chain_id: &str) -> Result<(), ImageError> {
        fsutil::remove_path(&self.dir.join(hex_of(chain_id)))
    }

    /// Every unpacked layer's chain ID.
    pub fn list(&self) -> Result<Vec<String>, ImageError> {
        let entries = std::fs::read_dir(&self.dir).map_err(ImageError::io(&self.dir))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name != "tmp")
            .map(|hex| format!("sha256:{hex}"))
            .collect())
    }

    /// Deletes half-unpacked layers (call when no pull is running: at start).
    pub fn clear_tmp(&self) -> Result<usize, ImageError> {
        fsutil::empty_dir(&self.tmp)
    }

    /// The directory holding everything, for usage accounting.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_image_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let expected = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{a} {b}").as_bytes()))
        );
        assert_eq!(ids[1], expected);
    }
}
