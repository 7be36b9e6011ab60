//! Test images assembled from [`crate::layers`] and pushed with `oci-client`.

use std::io::Write;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::layers::{Layer, busybox_layer, random_layer, whiteout_layers};
use crate::registry::Registry;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// How layers are compressed, and which manifest flavour carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// OCI, gzip layers.
    Gzip,
    /// OCI, zstd layers.
    Zstd,
    /// OCI, uncompressed layers.
    Plain,
    /// Docker v2 schema 2, gzip layers.
    Docker,
}

/// An image pushed to a registry.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// `HOST/repo:tag`.
    pub reference: String,
    /// Digest of the manifest.
    pub manifest_digest: String,
    /// Digest of the config: the image ID.
    pub config_digest: String,
    /// Uncompressed layer digests.
    pub diff_ids: Vec<String>,
    /// Compressed layer blob digests.
    pub layer_digests: Vec<String>,
    /// Sum of the compressed layer sizes.
    pub total_layer_bytes: u64,
}

/// A multi-platform index pushed to a registry.
#[derive(Debug, Clone)]
pub struct PushedIndex {
    /// `HOST/repo:tag`.
    pub reference: String,
    /// Digest of the index.
    pub index_digest: String,
    /// Its linux/amd64 image.
    pub amd64: PushedImage,
}

/// The standard set pushed by [`push_all`].
#[derive(Debug, Clone)]
pub struct TestImages {
    /// `repo:latest`: OCI, gzip.
    pub busybox: PushedImage,
    /// `repo:zstd`: the same image with zstd layers.
    pub zstd: PushedImage,
    /// `repo:plain`: the same image with uncompressed layers.
    pub plain: PushedImage,
    /// `repo:docker`: Docker schema 2 media types.
    pub docker: PushedImage,
    /// `repo-layered:latest`: three layers with whiteouts, user app.
    pub layered: PushedImage,
    /// `repo-multi:latest`: an index of amd64 and arm64.
    pub multi: PushedIndex,
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

struct Blob {
    digest: String,
    bytes: Vec<u8>,
    media_type: &'static str,
}

/// An image ready to push: blobs and the manifest bytes.
struct Built {
    config: Blob,
    layers: Vec<Blob>,
    manifest: Vec<u8>,
    manifest_type: &'static str,
    diff_ids: Vec<String>,
}

fn compress(layer: &Layer, flavour: Flavour) -> Blob {
    let (bytes, media_type) = match flavour {
        Flavour::Gzip | Flavour::Docker => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&layer.tar).expect("gzip");
            let media = if flavour == Flavour::Docker {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            };
            (gz.finish().expect("gzip"), media)
        }
        Flavour::Zstd => (
            zstd::encode_all(layer.tar.as_slice(), 3).expect("zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        Flavour::Plain => (layer.tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
    };
    Blob {
        digest: digest(&bytes),
        bytes,
        media_type,
    }
}

fn build(layers: &[Layer], flavour: Flavour, architecture: &str, user: &str) -> Built {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = json!({
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
            "User": user,
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config_bytes = serde_json::to_vec(&config).expect("config JSON");
    let (manifest_type, config_type) = if flavour == Flavour::Docker {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    } else {
        (OCI_MANIFEST, OCI_CONFIG)
    };
    let config = Blob {
        digest: digest(&config_bytes),
        bytes: config_bytes,
        media_type: config_type,
    };
    let blobs: Vec<Blob> = layers.iter().map(|l| compress(l, flavour)).collect();
    let descriptor =
        |b: &Blob| json!({"mediaType": b.media_type, "digest": b.digest, "size": b.bytes.len()});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": descriptor(&config),
        "layers": blobs.iter().map(descriptor).collect::<Vec<_>>(),
    });
    Built {
        config,
        layers: blobs,
        manifest: serde_json::to_vec(&manifest).expect("manifest JSON"),
        manifest_type,
        diff_ids,
    }
}

/// A client for pushing to the test registry over plain HTTP.
struct Pusher {
    client: Client,
    host: String,
    auth: RegistryAuth,
}

impl Pusher {
    fn new(registry: &Registry) -> Pusher {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let auth = match registry.credentials() {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        };
        Pusher {
            client: Client::new(ClientConfig {
                protocol: ClientProtocol::Http,
                ..Default::default()
            }),
            host: registry.host(),
            auth,
        }
    }

    async fn push_blobs(&self, repo: &str, built: &Built) {
        let reference = Reference::with_tag(self.host.clone(), repo.to_owned(), "x".into());
        self.client
            .auth(&reference, &self.auth, RegistryOperation::Push)
            .await
            .expect("registry auth for push");
        for blob in std::iter::once(&built.config).chain(&built.layers) {
            self.client
                .push_blob(&reference, blob.bytes.clone(), &blob.digest)
                .await
                .unwrap_or_else(|e| panic!("push blob {}: {e}", blob.digest));
        }
    }

    async fn push_manifest(&self, reference: &Reference, body: Vec<u8>, media_type: &str) {
        self.client
            .push_manifest_raw(
                reference,
                body,
                http::HeaderValue::from_str(media_type).expect("media type"),
            )
            .await
            .unwrap_or_else(|e| panic!("push manifest {reference}: {e}"));
    }

    async fn push(&self, repo: &str, tag: &str, built: &Built) -> PushedImage {
        self.push_blobs(repo, built).await;
        let reference = Reference::with_tag(self.host.clone(), repo.to_owned(), tag.to_owned());
        self.push_manifest(&reference, built.manifest.clone(), built.manifest_type)
            .await;
        PushedImage {
            reference: format!("{}/{repo}:{tag}", self.host),
            manifest_digest: digest(&built.manifest),
            config_digest: built.config.digest.clone(),
            diff_ids: built.diff_ids.clone(),
            layer_digests: built.layers.iter().map(|l| l.digest.clone()).collect(),
            total_layer_bytes: built.layers.iter().map(|l| l.bytes.len() as u64).sum(),
        }
    }

    async fn push_index(&self, repo: &str, tag: &str, amd64: &Built, arm64: &Built) -> PushedIndex {
        let mut entries = Vec::new();
        let mut pushed_amd64 = None;
        for (built, arch) in [(amd64, "amd64"), (arm64, "arm64")] {
            self.push_blobs(repo, built).await;
            let manifest_digest = digest(&built.manifest);
            let by_digest =
                Reference::with_digest(self.host.clone(), repo.to_owned(), manifest_digest.clone());
            self.push_manifest(&by_digest, built.manifest.clone(), built.manifest_type)
                .await;
            entries.push(json!({
                "mediaType": built.manifest_type,
                "digest": manifest_digest,
                "size": built.manifest.len(),
                "platform": {"architecture": arch, "os": "linux"},
            }));
            if arch == "amd64" {
                pushed_amd64 = Some(PushedImage {
                    reference: format!("{}/{repo}@{manifest_digest}", self.host),
                    manifest_digest,
                    config_digest: built.config.digest.clone(),
                    diff_ids: built.diff_ids.clone(),
                    layer_digests: built.layers.iter().map(|l| l.digest.clone()).collect(),
                    total_layer_bytes: built.layers.iter().map(|l| l.bytes.len() as u64).sum(),
                });
            }
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
        }))
        .expect("index JSON");
        let reference = Reference::with_tag(self.host.clone(), repo.to_owned(), tag.to_owned());
        self.push_manifest(&reference, index.clone(), OCI_INDEX)
            .await;
        PushedIndex {
            reference: format!("{}/{repo}:{tag}", self.host),
            index_digest: digest(&index),
            amd64: pushed_amd64.expect("amd64 entry"),
        }
    }
}

/// Pushes the standard set under `repo` (and `repo-layered`, `repo-multi`). If the
/// registry requires auth, its credentials are used.
pub async fn push_all(registry: &Registry, repo: &str) -> TestImages {
    let pusher = Pusher::new(registry);
    let base = [busybox_layer()];
    let (first, second) = whiteout_layers();
    let layered = [busybox_layer(), first, second];
    let arm_only = [random_layer(7, 1, 1024)];
    TestImages {
        busybox: pusher
            .push(repo, "latest", &build(&base, Flavour::Gzip, "amd64", ""))
            .await,
        zstd: pusher
            .push(repo, "zstd", &build(&base, Flavour::Zstd, "amd64", ""))
            .await,
        plain: pusher
            .push(repo, "plain", &build(&base, Flavour::Plain, "amd64", ""))
            .await,
        docker: pusher
            .push(repo, "docker", &build(&base, Flavour::Docker, "amd64", ""))
            .await,
        layered: pusher
            .push(
                &format!("{repo}-layered"),
                "latest",
                &build(&layered, Flavour::Gzip, "amd64", "app"),
            )
            .await,
        multi: pusher
            .push_index(
                &format!("{repo}-multi"),
                "latest",
                &build(&base, Flavour::Gzip, "amd64", ""),
                &build(&arm_only, Flavour::Gzip, "arm64", ""),
            )
            .await,
    }
}

/// [`push_all`] to a registry started with [`Registry::start_with_basic_auth`]; the
/// credentials are checked against the registry's.
pub async fn push_all_with_auth(
    registry: &Registry,
    repo: &str,
    user: &str,
    password: &str,
) -> TestImages {
    assert_eq!(
        registry.credentials(),
        Some((user.to_owned(), password.to_owned())),
        "push with the registry's own credentials"
    );
    push_all(registry, repo).await
}

/// A ~50 MB image of four layers (busybox plus three of incompressible data), `repo:latest`.
pub async fn push_big(registry: &Registry, repo: &str) -> PushedImage {
    let layers = [
        busybox_layer(),
        random_layer(1, 8, 16 << 20),
        random_layer(2, 4, 16 << 20),
        random_layer(3, 16, 16 << 20),
    ];
    Pusher::new(registry)
        .push(repo, "latest", &build(&layers, Flavour::Gzip, "amd64", ""))
        .await
}
