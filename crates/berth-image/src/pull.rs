//! Fetching an image from a registry into the content and layer stores.
//!
//! Endpoints are tried in order (the host's mirrors, then the host) until one resolves the
//! manifest; the blobs then come from that endpoint. Every blob is hashed as it streams and
//! renamed into the content store only when it matches; every layer is unpacked once per
//! chain ID and its uncompressed digest checked against the image config.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_config::RegistryConfig;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::content::ContentStore;
use crate::error::ImageErrorKind;
use crate::layers::{LayerStore, chain_ids};
use crate::unpack::Compression;
use crate::{ImageError, Leases};

/// Layers downloaded at once per pull.
const PARALLEL_LAYERS: usize = 3;
/// Progress lines per layer are at least this far apart.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// One place to fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]`.
    pub host: String,
    /// Plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// A mirror rather than the image's own registry.
    pub mirror: bool,
}

/// The endpoints for `registry`: its configured mirrors in order, then itself.
pub fn endpoints(registries: &BTreeMap<String, RegistryConfig>, registry: &str) -> Vec<Endpoint> {
    let config = registries.get(registry);
    let mut out: Vec<Endpoint> = config
        .map(|c| c.mirrors.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|url| {
            let (plain_http, rest) = match url.strip_prefix("http://") {
                Some(rest) => (true, rest),
                None => (false, url.strip_prefix("https://")?),
            };
            let host = rest.split('/').next().unwrap_or(rest).to_owned();
            Some(Endpoint {
                host,
                plain_http,
                mirror: true,
            })
        })
        .collect();
    out.push(Endpoint {
        host: if registry == "docker.io" {
            "index.docker.io".to_owned()
        } else {
            registry.to_owned()
        },
        plain_http: config.is_some_and(|c| c.insecure),
        mirror: false,
    });
    out
}

/// Makes ring rustls's process-wide crypto provider (idempotent). berth uses ring rather
/// than aws-lc: a smaller binary, a faster build, no C toolchain beyond `cc` for ring.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What a pull brought in.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The config digest: the image ID.
    pub id: String,
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// What the reference resolved to: the index digest for a multi-platform image, else the
    /// manifest digest. This is the digest in `repo_digests`.
    pub resolved_digest: String,
    /// Layer blob digests, base first.
    pub layers: Vec<String>,
    /// Chain IDs, base first.
    pub chain_ids: Vec<String>,
    /// Config plus compressed layer sizes.
    pub size: u64,
}

/// Everything a pull needs.
pub struct PullContext {
    /// `[registries]` of the config.
    pub registries: BTreeMap<String, RegistryConfig>,
    /// `image_pull_progress_timeout`.
    pub progress_timeout: Duration,
    /// Where manifests, configs and layer blobs are downloaded to, verified, by digest.
    pub content: ContentStore,
    /// Where the layers are unpacked, one directory per chain ID.
    pub layers: LayerStore,
}

fn kind_of(e: &OciDistributionError) -> ImageErrorKind {
    use OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
            ImageErrorKind::Unauthenticated
        }
        E::ImageManifestNotFoundError(_) => ImageErrorKind::NotFound,
        E::ServerError { code: 404, .. } => ImageErrorKind::NotFound,
        E::ServerError {
            code: 401 | 403, ..
        } => ImageErrorKind::Unauthenticated,
        E::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}", e.code))
                .collect();
            if codes
                .iter()
                .any(|c| c.contains("Unknown") && !c.contains("BlobUnknown"))
            {
                ImageErrorKind::NotFound
            } else if codes
                .iter()
                .any(|c| c.contains("Unauthorized") || c.contains("Denied"))
            {
                ImageErrorKind::Unauthenticated
            } else {
                ImageErrorKind::Unavailable
            }
        }
        E::RequestError(_) => ImageErrorKind::Unavailable,
        _ => ImageErrorKind::Internal,
    }
}

impl PullContext {
    fn client(&self, endpoint: &Endpoint) -> Client {
        install_crypto_provider();
        let protocol = if endpoint.plain_http {
            ClientProtocol::HttpsExcept(vec![endpoint.host.clone()])
        } else {
            ClientProtocol::Https
        };
        Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(self.progress_timeout),
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        })
    }

    /// Pulls `reference`. `leases` records what this pull writes so a concurrent image
    /// removal never deletes it.
    pub async fn pull(
        &self,
        reference: &Reference,
        auth: &RegistryAuth,
        leases: &Leases,
    ) -> Result<Pulled, ImageError> {
        let name = reference.whole();
        let mut attempts = Vec::new();
        let mut last_kind = ImageErrorKind::Unavailable;
        for endpoint in endpoints(&self.registries, reference.registry()) {
            let client = self.client(&endpoint);
            let mut target = reference.clone();
            if endpoint.mirror {
                target.set_mirror_registry(endpoint.host.clone());
            }
            let resolved = tokio::time::timeout(
                self.progress_timeout,
                client.pull_image_manifest_and_list_digest(&target, auth),
            )
            .await;
            let (manifest, manifest_digest, list_digest) = match resolved {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::info!(image = %name, endpoint = %endpoint.host, error = %e, "endpoint failed; trying the next");
                    last_kind = kind_of(&e);
                    attempts.push(format!("{}: {e}", endpoint.host));
                    continue;
                }
                Err(_) => {
                    last_kind = ImageErrorKind::DeadlineExceeded;
                    attempts.push(format!(
                        "{}: no answer in {} s",
                        endpoint.host,
                        self.progress_timeout.as_secs()
                    ));
                    continue;
                }
            };
            tracing::info!(image = %name, endpoint = %endpoint.host, manifest = %manifest_digest, "resolved");
            let fetch = Fetch {
                ctx: self,
                client: &client,
                target: &target,
                name: &name,
                leases,
            };
            return fetch
                .image(
                    manifest.config,
                    manifest.layers,
                    manifest_digest,
                    list_digest,
                )
                .await;
        }
        Err(ImageError::Registry {
            reference: name,
            attempts,
            kind: last_kind,
        })
    }
}

/// One pull from one endpoint.
struct Fetch<'a> {
    ctx: &'a PullContext,
    client: &'a Client,
    target: &'a Reference,
    name: &'a str,
    leases: &'a Leases,
}

impl Fetch<'_> {
    async fn image(
        &self,
        config: OciDescriptor,
        layers: Vec<OciDescriptor>,
        manifest_digest: String,
        list_digest: Option<String>,
    ) -> Result<Pulled, ImageError> {
        self.leases.add(&config.digest);
        self.blob(&config).await?;
        let config_bytes = self.ctx.content.read(&config.digest)?;
        let diff_ids = diff_ids(&config_bytes).map_err(|reason| ImageError::Unsupported {
            reference: self.name.to_owned(),
            reason,
        })?;
        if diff_ids.len() != layers.len() {
            return Err(ImageError::Unsupported {
                reference: self.name.to_owned(),
                reason: format!(
                    "the manifest has {} layers but the config lists {} diff IDs",
                    layers.len(),
                    diff_ids.len()
                ),
            });
        }
        let chains = chain_ids(&diff_ids);
        for (layer, chain) in layers.iter().zip(&chains) {
            self.leases.add(&layer.digest);
            self.leases.add(chain);
        }
        let jobs: Vec<_> = layers
            .iter()
            .zip(diff_ids.iter().zip(&chains))
            .map(|(layer, (diff, chain))| self.layer(layer, diff, chain).boxed())
            .collect();
        futures_util::stream::iter(jobs)
            .buffer_unordered(PARALLEL_LAYERS)
            .try_collect::<Vec<()>>()
            .await?;
        let size =
            config.size.max(0) as u64 + layers.iter().map(|l| l.size.max(0) as u64).sum::<u64>();
        Ok(Pulled {
            id: config.digest,
            resolved_digest: list_digest.unwrap_or_else(|| manifest_digest.clone()),
            manifest_digest,
            layers: layers.into_iter().map(|l| l.digest).collect(),
            chain_ids: chains,
            size,
        })
    }

    async fn layer(
        &self,
        layer: &OciDescriptor,
        diff_id: &str,
        chain: &str,
    ) -> Result<(), ImageError> {
        if self.ctx.layers.has(chain) {
            return Ok(());
        }
        let compression = Compression::from_media_type(&layer.media_type).map_err(|e| {
            ImageError::Unsupported {
                reference: self.name.to_owned(),
                reason: e.to_string(),
            }
        })?;
        self.blob(layer).await?;
        let layers = self.ctx.layers.clone();
        let blob = self.ctx.content.path(&layer.digest)?;
        let (chain, diff, digest) = (chain.to_owned(), diff_id.to_owned(), layer.digest.clone());
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            layers.unpack(&chain, &diff, &blob, compression, &digest)
        })
        .await
        .map_err(|e| ImageError::Task(e.to_string()))?
        .map_err(|e| self.named(e))?;
        tracing::debug!(image = %self.name, layer = %layer.digest, elapsed_ms = started.elapsed().as_millis() as u64, "layer unpacked");
        Ok(())
    }

    /// Downloads a blob unless present, failing if no byte arrives for the progress timeout.
    async fn blob(&self, descriptor: &OciDescriptor) -> Result<(), ImageError> {
        let digest = &descriptor.digest;
        if self.ctx.content.has(digest) {
            return Ok(());
        }
        let timeout = self.ctx.progress_timeout;
        let stalled = || ImageError::Stalled {
            reference: self.name.to_owned(),
            what: format!("blob {digest}"),
            seconds: timeout.as_secs(),
        };
        let registry_error = |e: String, kind| ImageError::Registry {
            reference: self.name.to_owned(),
            attempts: vec![format!(
                "{}: blob {digest}: {e}",
                self.target.resolve_registry()
            )],
            kind,
        };
        let mut stream = tokio::time::timeout(
            timeout,
            self.client.pull_blob_stream(self.target, descriptor),
        )
        .await
        .map_err(|_| stalled())?
        .map_err(|e| registry_error(e.to_string(), kind_of(&e)))?;
        let total = descriptor.size.max(0) as u64;
        let mut ingest = self.ctx.content.ingest(digest)?;
        let mut last_report = Instant::now();
        loop {
            let chunk = match tokio::time::timeout(timeout, stream.next()).await {
                Err(_) => return Err(stalled()),
                Ok(None) => break,
                Ok(Some(Err(e))) if e.to_string().contains("igest") => {
                    return Err(ImageError::Corrupt {
                        reference: self.name.to_owned(),
                        digest: digest.clone(),
                        reason: e.to_string(),
                    });
                }
                Ok(Some(Err(e))) => {
                    return Err(registry_error(e.to_string(), ImageErrorKind::Unavailable));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            ingest.write(&chunk).await?;
            if last_report.elapsed() >= PROGRESS_INTERVAL {
                last_report = Instant::now();
                tracing::info!(image = %self.name, blob = %digest, done = ingest.written(), total, "pulling");
            }
        }
        ingest.commit(Some(total)).await.map_err(|e| self.named(e))
    }

    /// Fills the reference into errors raised below the pull.
    fn named(&self, e: ImageError) -> ImageError {
        match e {
            ImageError::Corrupt {
                reference,
                digest,
                reason,
            } if reference.is_empty() => ImageError::Corrupt {
                reference: self.name.to_owned(),
                digest,
                reason,
            },
            e => e,
        }
    }
}

/// `rootfs.diff_ids` of an image config.
fn diff_ids(config: &[u8]) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("image config is not JSON: {e}"))?;
    let ids = value
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .ok_or("image config has no rootfs.diff_ids")?;
    ids.iter()
        .map(|v| {
            v.as_str()
                .filter(|s| crate::reference::check_digest(s).is_ok())
                .map(str::to_owned)
                .ok_or_else(|| format!("bad diff ID {v}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_then_the_host() {
        let mut registries = BTreeMap::new();
        registries.insert(
            "docker.io".to_owned(),
            RegistryConfig {
                mirrors: vec![
                    "http://127.0.0.1:5000".into(),
                    "https://mirror.example/v2".into(),
                ],
                insecure: false,
            },
        );
        registries.insert(
            "local:5000".to_owned(),
            RegistryConfig {
                mirrors: vec![],
                insecure: true,
            },
        );
        let eps = endpoints(&registries, "docker.io");
        assert_eq!(eps.len(), 3);
        assert_eq!(
            (eps[0].host.as_str(), eps[0].plain_http, eps[0].mirror),
            ("127.0.0.1:5000", true, true)
        );
        assert_eq!(
            (eps[1].host.as_str(), eps[1].plain_http),
            ("mirror.example", false)
        );
        assert_eq!(
            (eps[2].host.as_str(), eps[2].plain_http, eps[2].mirror),
            ("index.docker.io", false, false)
        );
        let eps = endpoints(&registries, "local:5000");
        assert_eq!(
            eps,
            vec![Endpoint {
                host: "local:5000".into(),
                plain_http: true,
                mirror: false
            }]
        );
    }
}
