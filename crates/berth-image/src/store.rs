//! The image store: pull, look up, list, remove, account. It owns the image records in the
//! metadata store, the content store and the layer store, and keeps them consistent:
//! records are written only after every blob and layer they name is in place, and garbage
//! collection deletes only what no record names and no pull holds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_config::RegistryConfig;
use berth_store::{ImageRecord, Store};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use crate::catalog::{Catalog, Match};
use crate::content::ContentStore;
use crate::layers::LayerStore;
use crate::leases::LeaseTable;
use crate::pull::{PullContext, Pulled};
use crate::run_config::RunConfig;
use crate::{Credentials, ImageError, fsutil, reference};

type SharedPull = Shared<BoxFuture<'static, Result<ImageRecord, Arc<ImageError>>>>;

/// Settings of the image store.
#[derive(Debug, Clone)]
pub struct ImageStoreConfig {
    /// Where the store keeps content and layers (under berth's `root`).
    pub layout: berth_config::StateLayout,
    /// `[registries]`.
    pub registries: BTreeMap<String, RegistryConfig>,
    /// `image_pull_progress_timeout`.
    pub progress_timeout: Duration,
}

/// Usage of the image store's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes allocated.
    pub bytes: u64,
    /// Inodes used.
    pub inodes: u64,
}

/// An image and its config, for `ImageStatus` and `CreateContainer`.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    /// The record.
    pub record: ImageRecord,
    /// The image config JSON as stored (for verbose status).
    pub config: serde_json::Value,
    /// The config's execution defaults, parsed from `config`.
    pub run_config: RunConfig,
}

impl ImageDetails {
    /// The config's `User`, split into a numeric UID or a user name (group dropped).
    pub fn user(&self) -> (Option<i64>, String) {
        self.run_config.user_id()
    }
}

/// The image store.
pub struct ImageStore {
    db: Arc<Store>,
    pull: Arc<PullContext>,
    catalog: Mutex<Catalog>,
    /// Serialises record changes (pull commit, removal) with garbage collection.
    commit: tokio::sync::Mutex<()>,
    inflight: Mutex<HashMap<String, SharedPull>>,
    leases: LeaseTable,
    root: PathBuf,
}

impl ImageStore {
    /// Opens the stores, loads the records, and collects the garbage an earlier run left
    /// (partial blobs, half-unpacked layers, blobs and layers no record names). Blocking.
    pub fn open(config: ImageStoreConfig, db: Arc<Store>) -> Result<Self, ImageError> {
        let content = ContentStore::open(&config.layout)?;
        let layers = LayerStore::open(&config.layout)?;
        let records: Vec<ImageRecord> = db.load_all()?;
        let store = Self {
            db,
            pull: Arc::new(PullContext {
                registries: config.registries,
                progress_timeout: config.progress_timeout,
                content,
                layers,
            }),
            catalog: Mutex::new(Catalog::new(records)),
            commit: tokio::sync::Mutex::new(()),
            inflight: Mutex::new(HashMap::new()),
            leases: LeaseTable::default(),
            root: config.layout.root().to_owned(),
        };
        let partial = store.pull.content.clear_ingest()? + store.pull.layers.clear_tmp()?;
        let orphans = store.collect_garbage(None)?;
        tracing::info!(
            images = store.catalog().all().count(),
            partial,
            orphans,
            "image store opened"
        );
        Ok(store)
    }

    fn catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
        self.catalog.lock().expect("image catalog")
    }

    /// Pulls `name`. Concurrent pulls of the same reference share one download; if every
    /// caller gives up, the pull stops and its partial files are deleted.
    pub async fn pull(
        self: &Arc<Self>,
        name: &str,
        credentials: &Credentials,
    ) -> Result<ImageRecord, Arc<ImageError>> {
        let parsed = reference::parse(name).map_err(Arc::new)?;
        let auth = credentials.registry_auth(name).map_err(Arc::new)?;
        let key = parsed.whole();
        let shared = {
            let mut inflight = self.inflight.lock().expect("inflight pulls");
            match inflight.get(&key) {
                Some(shared) => {
                    tracing::info!(image = %key, "joining a pull already under way");
                    shared.clone()
                }
                None => {
                    let this = self.clone();
                    let what = key.clone();
                    let fut = async move {
                        let leases = this.leases.lease();
                        let pulled = this.pull.pull(&parsed, &auth, &leases).await?;
                        this.commit_pull(&parsed, pulled).await
                    };
                    // A panic inside the registry client (it unwraps header values it builds
                    // from a registry's answers) must fail this pull, not poison the shared
                    // future for every later pull of the reference, nor reach the daemon.
                    let fut = std::panic::AssertUnwindSafe(fut)
                        .catch_unwind()
                        .map(move |r| {
                            r.unwrap_or_else(|panic| {
                                let reason = panic
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_default();
                                tracing::error!(image = %what, reason, "the image pull panicked");
                                Err(ImageError::Task(format!(
                                    "pulling {what}: the registry client panicked: {reason}"
                                )))
                            })
                            .map_err(Arc::new)
                        })
                        .boxed()
                        .shared();
                    inflight.insert(key.clone(), fut.clone());
                    fut
                }
            }
        };
        let result = shared.clone().await;
        let mut inflight = self.inflight.lock().expect("inflight pulls");
        if inflight.get(&key).is_some_and(|s| s.ptr_eq(&shared)) {
            inflight.remove(&key);
        }
        result
    }

    /// Records a pulled image: the tag moves to it from any other image, its repo digest is
    /// added.
    async fn commit_pull(
        &self,
        reference: &oci_client::Reference,
        pulled: Pulled,
    ) -> Result<ImageRecord, ImageError> {
        let _guard = self.commit.lock().await;
        let tag = reference::tag_name(reference);
        let digest = reference::digest_name(reference, &pulled.resolved_digest);
        let mut changed = Vec::new();
        let mut record = self
            .catalog()
            .get(&pulled.id)
            .cloned()
            .unwrap_or(ImageRecord {
                id: pulled.id.clone(),
                repo_tags: Vec::new(),
                repo_digests: Vec::new(),
                size: pulled.size,
                pinned: false,
                manifest_digest: pulled.manifest_digest.clone(),
                layers: pulled.layers.clone(),
                chain_ids: pulled.chain_ids.clone(),
            });
        if let Some(tag) = &tag {
            for other in self.catalog().all() {
                if other.id != record.id && other.repo_tags.contains(tag) {
                    let mut other = other.clone();
                    other.repo_tags.retain(|t| t != tag);
                    tracing::info!(image_id = %other.id, tag = %tag, "tag moved to a newer image");
                    changed.push(other);
                }
            }
            if !record.repo_tags.contains(tag) {
                record.repo_tags.push(tag.clone());
            }
        }
        if !record.repo_digests.contains(&digest) {
            record.repo_digests.push(digest);
        }
        // The same image (config) can arrive through other manifests, e.g. with zstd instead
        // of gzip layers: the record names every blob so removal deletes them all.
        for layer in &pulled.layers {
            if !record.layers.contains(layer) {
                record.layers.push(layer.clone());
            }
        }
        changed.push(record.clone());
        let db = self.db.clone();
        let to_write = changed.clone();
        tokio::task::spawn_blocking(move || {
            let mut batch = db.batch()?;
            for r in &to_write {
                batch.put(r)?;
            }
            batch.commit()
        })
        .await
        .map_err(|e| ImageError::Task(e.to_string()))??;
        let mut catalog = self.catalog();
        for r in changed {
            catalog.put(r);
        }
        tracing::info!(image_id = %record.id, tags = ?record.repo_tags, "image pulled");
        Ok(record)
    }

    /// Finds an image by ID, ID prefix, tag or digest.
    pub fn find(&self, name: &str) -> Result<Option<ImageRecord>, ImageError> {
        let catalog = self.catalog();
        match catalog.find(name) {
            Ok(found) => Ok(found.and_then(|m| catalog.get(m.id()).cloned())),
            Err(matches) => Err(ImageError::Ambiguous {
                name: name.to_owned(),
                matches,
            }),
        }
    }

    /// An image with its config, or `None`.
    pub fn details(&self, name: &str) -> Result<Option<ImageDetails>, ImageError> {
        let Some(record) = self.find(name)? else {
            return Ok(None);
        };
        let bytes = self.pull.content.read(&record.id)?;
        let config = serde_json::from_slice(&bytes).map_err(|e| ImageError::Corrupt {
            reference: name.to_owned(),
            digest: record.id.clone(),
            reason: format!("image config is not JSON: {e}"),
        })?;
        let run_config = RunConfig::of_image_config(&config);
        Ok(Some(ImageDetails {
            record,
            config,
            run_config,
        }))
    }

    /// Every image, sorted by first tag then ID for a stable listing.
    pub fn list(&self) -> Vec<ImageRecord> {
        let mut all: Vec<ImageRecord> = self.catalog().all().cloned().collect();
        all.sort_by(|a, b| (a.repo_tags.first(), &a.id).cmp(&(b.repo_tags.first(), &b.id)));
        all
    }

    /// Removes `name`. By tag, an image with other tags only loses that tag. Unknown names
    /// succeed (removal is idempotent). Blobs and layers no other image uses are deleted.
    pub async fn remove(&self, name: &str) -> Result<(), ImageError> {
        let _guard = self.commit.lock().await;
        let found = {
            let catalog = self.catalog();
            match catalog.find(name) {
                Ok(Some(m)) => catalog.get(m.id()).cloned().map(|r| (m, r)),
                Ok(None) => None,
                Err(matches) => {
                    return Err(ImageError::Ambiguous {
                        name: name.to_owned(),
                        matches,
                    });
                }
            }
        };
        let Some((how, mut record)) = found else {
            tracing::info!(image = %name, "image already absent");
            return Ok(());
        };
        let untag_only = match &how {
            Match::Tag(_, tag) if record.repo_tags.len() > 1 => {
                record.repo_tags.retain(|t| t != tag);
                true
            }
            _ => false,
        };
        let db = self.db.clone();
        let id = record.id.clone();
        if untag_only {
            let updated = record.clone();
            tokio::task::spawn_blocking(move || db.put(&updated))
                .await
                .map_err(|e| ImageError::Task(e.to_string()))??;
            tracing::info!(image_id = %id, image = %name, "tag removed; the image keeps its other tags");
            self.catalog().put(record);
            return Ok(());
        }
        tokio::task::spawn_blocking(move || db.delete::<ImageRecord>(&id))
            .await
            .map_err(|e| ImageError::Task(e.to_string()))??;
        self.catalog().remove(&record.id);
        let removed = self.collect_garbage(Some(&record))?;
        tracing::info!(image_id = %record.id, image = %name, blobs_and_layers = removed, "image removed");
        Ok(())
    }

    /// Deletes blobs and layers that no record names and no pull holds: those of `removed`
    /// when given, else everything on disk (at start). Returns how many went.
    fn collect_garbage(&self, removed: Option<&ImageRecord>) -> Result<usize, ImageError> {
        let (mut blobs, mut chains) = (HashSet::new(), HashSet::new());
        for image in self.catalog().all() {
            blobs.insert(image.id.clone());
            blobs.extend(image.layers.iter().cloned());
            chains.extend(image.chain_ids.iter().cloned());
        }
        let (blob_candidates, chain_candidates) = match removed {
            Some(r) => {
                let mut b = r.layers.clone();
                b.push(r.id.clone());
                (b, r.chain_ids.clone())
            }
            None => (self.pull.content.list()?, self.pull.layers.list()?),
        };
        let mut removed_count = 0;
        for blob in blob_candidates {
            if !blobs.contains(&blob) && !self.leases.contains(&blob) {
                self.pull.content.remove(&blob)?;
                removed_count += 1;
            }
        }
        for chain in chain_candidates {
            if !chains.contains(&chain) && !self.leases.contains(&chain) {
                self.pull.layers.remove(&chain)?;
                removed_count += 1;
            }
        }
        Ok(removed_count)
    }

    /// Deletes those of `chains` that no image names and nothing leases: the layers of a
    /// container that outlived its image's removal go when the container goes.
    pub async fn collect_layers(&self, chains: &[String]) -> Result<usize, ImageError> {
        let _guard = self.commit.lock().await;
        let used: HashSet<String> = self
            .catalog()
            .all()
            .flat_map(|i| i.chain_ids.iter().cloned())
            .collect();
        let mut removed = 0;
        for chain in chains {
            if !used.contains(chain) && !self.leases.contains(chain) && self.pull.layers.has(chain)
            {
                self.pull.layers.remove(chain)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A new lease: what it names is kept from garbage collection until it is dropped
    /// (pulls lease what they write; containers lease their image's layers).
    pub fn lease(&self) -> crate::Leases {
        self.leases.lease()
    }

    /// The directory of an unpacked layer (an overlayfs lower dir).
    pub fn layer_path(&self, chain_id: &str) -> PathBuf {
        self.pull.layers.path(chain_id)
    }

    /// Where the image store lives: reported as the image file system's mount point.
    pub fn mountpoint(&self) -> PathBuf {
        self.root.clone()
    }

    /// Bytes and inodes used by blobs and layers. Blocking: walks the trees.
    pub fn usage(&self) -> Usage {
        let (b1, i1) = fsutil::usage(self.pull.content.dir());
        let (b2, i2) = fsutil::usage(self.pull.layers.dir());
        Usage {
            bytes: b1 + b2,
            inodes: i1 + i2,
        }
    }
}
