//! Test images assembled from [`crate::layers`]: built in memory ([`BuiltImage`],
//! [`BuiltIndex`]), which needs no registry (e.g. to write an OCI layout), and pushed to a
//! [`Registry`] with `oci-client`.
//!
//! Everything is reproducible: the same layers give the same digests, so manifest and image
//! IDs are stable within a host (the base layer holds the host's busybox).

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::layers::{Layer, busybox_layer, random_layer, whiteout_layers};
use crate::registry::Registry;

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker v2 schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 schema 2 image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The `Accept` list for pulling any manifest or index these images use.
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST];

/// `created` of every config and history entry, for reproducible image IDs.
const CREATED: &str = "2023-11-14T22:13:20Z";

/// How layers are compressed, and which manifest flavour carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// OCI, gzip layers (`application/vnd.oci.image.layer.v1.tar+gzip`).
    Gzip,
    /// OCI, zstd layers (`application/vnd.oci.image.layer.v1.tar+zstd`).
    Zstd,
    /// OCI, uncompressed layers (`application/vnd.oci.image.layer.v1.tar`).
    Plain,
    /// Docker v2 schema 2, gzip layers (`application/vnd.docker.image.rootfs.diff.tar.gzip`).
    Docker,
}

impl Flavour {
    /// The layer media type.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Flavour::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Flavour::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Flavour::Plain => "application/vnd.oci.image.layer.v1.tar",
            Flavour::Docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        }
    }

    /// The manifest media type.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            Flavour::Docker => DOCKER_MANIFEST,
            _ => OCI_MANIFEST,
        }
    }

    /// The config media type.
    pub fn config_media_type(self) -> &'static str {
        match self {
            Flavour::Docker => DOCKER_CONFIG,
            _ => OCI_CONFIG,
        }
    }
}

/// A content-addressed blob.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Media type, as in the manifest descriptor.
    pub media_type: &'static str,
    /// `sha256:<hex>` of `bytes`.
    pub digest: String,
    /// The content: JSON for a config, the compressed tar for a layer.
    pub bytes: Vec<u8>,
}

impl Blob {
    fn new(media_type: &'static str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    /// Its descriptor: media type, digest and size.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// An image built in memory: config, compressed layers and the exact manifest bytes.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The config blob; its digest is the image ID.
    pub config: Blob,
    /// The layer blobs, bottom first.
    pub layers: Vec<Blob>,
    /// The uncompressed layer digests (`rootfs.diff_ids`).
    pub diff_ids: Vec<String>,
    /// The manifest JSON, byte for byte as pushed.
    pub manifest: Vec<u8>,
    /// The manifest media type.
    pub manifest_media_type: &'static str,
    /// `sha256:` of `manifest`.
    pub manifest_digest: String,
    /// `architecture` of the config.
    pub architecture: String,
}

impl BuiltImage {
    /// Config and layer blobs.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// The manifest's descriptor, with its platform (for an index or an OCI layout).
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.manifest_media_type,
            "digest": self.manifest_digest,
            "size": self.manifest.len(),
            "platform": {"architecture": self.architecture, "os": "linux"},
        })
    }

    /// Sum of the layer blob sizes.
    pub fn total_layer_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.bytes.len() as u64).sum()
    }

    /// Writes an OCI image layout at `dir` (`oci-layout`, `index.json`, `blobs/sha256/…`)
    /// holding this image, tagged `ref_name` (`org.opencontainers.image.ref.name`).
    pub fn write_oci_layout(&self, dir: &Path, ref_name: &str) -> std::io::Result<()> {
        let mut descriptor = self.descriptor();
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": ref_name});
        write_layout(
            dir,
            self.blobs()
                .map(|b| (&b.digest, b.bytes.as_slice()))
                .chain([(&self.manifest_digest, self.manifest.as_slice())]),
            descriptor,
        )
    }

    fn pushed(&self, reference: String) -> PushedImage {
        PushedImage {
            reference,
            manifest_digest: self.manifest_digest.clone(),
            config_digest: self.config.digest.clone(),
            diff_ids: self.diff_ids.clone(),
            layer_digests: self.layers.iter().map(|l| l.digest.clone()).collect(),
            total_layer_bytes: self.total_layer_bytes(),
        }
    }
}

/// A multi-platform index built in memory over its images.
#[derive(Debug, Clone)]
pub struct BuiltIndex {
    /// The images it lists, in order.
    pub images: Vec<BuiltImage>,
    /// The index JSON, byte for byte as pushed.
    pub index: Vec<u8>,
    /// `sha256:` of `index`.
    pub digest: String,
}

impl BuiltIndex {
    /// The image for `architecture` (linux).
    pub fn image(&self, architecture: &str) -> Option<&BuiltImage> {
        self.images.iter().find(|i| i.architecture == architecture)
    }

    /// Writes an OCI image layout at `dir` whose `index.json` points at this index, tagged
    /// `ref_name`.
    pub fn write_oci_layout(&self, dir: &Path, ref_name: &str) -> std::io::Result<()> {
        let descriptor = json!({
            "mediaType": OCI_INDEX,
            "digest": self.digest,
            "size": self.index.len(),
            "annotations": {"org.opencontainers.image.ref.name": ref_name},
        });
        let blobs = self.images.iter().flat_map(|i| {
            i.blobs()
                .map(|b| (&b.digest, b.bytes.as_slice()))
                .chain([(&i.manifest_digest, i.manifest.as_slice())])
        });
        write_layout(
            dir,
            blobs.chain([(&self.digest, self.index.as_slice())]),
            descriptor,
        )
    }
}

fn write_layout<'a>(
    dir: &Path,
    blobs: impl Iterator<Item = (&'a String, &'a [u8])>,
    descriptor: Value,
) -> std::io::Result<()> {
    let blob_dir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir)?;
    for (digest, bytes) in blobs {
        let hex = digest.trim_start_matches("sha256:");
        std::fs::write(blob_dir.join(hex), bytes)?;
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]});
    std::fs::write(dir.join("index.json"), index.to_string())
}

/// An image pushed to a registry.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// `HOST/repo:tag` (`HOST/repo@digest` for an image only reachable through an index).
    pub reference: String,
    /// Digest of the manifest.
    pub manifest_digest: String,
    /// Digest of the config: the image ID.
    pub config_digest: String,
    /// Uncompressed layer digests, bottom first.
    pub diff_ids: Vec<String>,
    /// Layer blob digests (compressed, as in the manifest), bottom first.
    pub layer_digests: Vec<String>,
    /// Sum of the layer blob sizes.
    pub total_layer_bytes: u64,
}

/// A multi-platform index pushed to a registry.
#[derive(Debug, Clone)]
pub struct PushedIndex {
    /// `HOST/repo:tag`.
    pub reference: String,
    /// Digest of the index.
    pub index_digest: String,
    /// Its linux/amd64 image (the same manifest as [`TestImages::busybox`]).
    pub amd64: PushedImage,
}

/// The standard set pushed by [`push_all`].
#[derive(Debug, Clone)]
pub struct TestImages {
    /// `repo:latest`: OCI, gzip.
    pub busybox: PushedImage,
    /// `repo:zstd`: the same image with zstd layers (same config and image ID).
    pub zstd: PushedImage,
    /// `repo:plain`: the same image with uncompressed layers (same image ID).
    pub plain: PushedImage,
    /// `repo:docker`: Docker schema 2 media types. The config bytes are the same, so the
    /// image ID is too; the gzip layer blobs are the same as `busybox`'s.
    pub docker: PushedImage,
    /// `repo-layered:latest`: three layers with a whiteout and an opaque dir, user `app`.
    pub layered: PushedImage,
    /// `repo-multi:latest`: an index of linux/amd64 ([`busybox_image`]) and linux/arm64.
    pub multi: PushedIndex,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Compresses a layer for `flavour`.
pub fn compress(layer: &Layer, flavour: Flavour) -> Blob {
    let bytes = match flavour {
        Flavour::Gzip | Flavour::Docker => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&layer.tar).expect("gzip a layer in memory");
            gz.finish().expect("gzip a layer in memory")
        }
        Flavour::Zstd => zstd::encode_all(layer.tar.as_slice(), 3).expect("zstd a layer in memory"),
        Flavour::Plain => layer.tar.clone(),
    };
    Blob::new(flavour.layer_media_type(), bytes)
}

/// The image config used by the standard images: `Cmd ["sh"]`, `Env PATH`, `WorkingDir /`,
/// `User user`, `os linux`. [`build_image`] adds `rootfs` and `history`.
pub fn default_config(architecture: &str, user: &str) -> Value {
    json!({
        "created": CREATED,
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
            "User": user,
        },
    })
}

/// Builds an image of `layers` (bottom first) in `flavour`. `config` is the image config
/// (see [`default_config`]); its `rootfs` is set from the layers, and `history` too unless
/// given. Its `architecture` defaults to amd64 and `os` to linux.
pub fn build_image(layers: &[Layer], flavour: Flavour, mut config: Value) -> BuiltImage {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let object = config
        .as_object_mut()
        .expect("an image config is a JSON object");
    object
        .entry("architecture")
        .or_insert_with(|| json!("amd64"));
    object.entry("os").or_insert_with(|| json!("linux"));
    object.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    object.entry("history").or_insert_with(|| {
        layers
            .iter()
            .enumerate()
            .map(|(i, _)| json!({"created": CREATED, "created_by": format!("berth-testkit layer {i}")}))
            .collect()
    });
    let architecture = object["architecture"]
        .as_str()
        .expect("architecture is a string")
        .to_owned();
    let config = Blob::new(
        flavour.config_media_type(),
        serde_json::to_vec(&config).expect("serialize the image config"),
    );
    let blobs = parallel(layers.iter().map(|l| move || compress(l, flavour)));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": flavour.manifest_media_type(),
        "config": config.descriptor(),
        "layers": blobs.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    }))
    .expect("serialize the manifest");
    BuiltImage {
        config,
        layers: blobs,
        diff_ids,
        manifest_digest: sha256_digest(&manifest),
        manifest,
        manifest_media_type: flavour.manifest_media_type(),
        architecture,
    }
}

/// Builds an OCI index over `images` (each listed with its `architecture`, os linux).
pub fn build_index(images: Vec<BuiltImage>) -> BuiltIndex {
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": images.iter().map(BuiltImage::descriptor).collect::<Vec<_>>(),
    }))
    .expect("serialize the index");
    BuiltIndex {
        images,
        digest: sha256_digest(&index),
        index,
    }
}

/// (a–d) The busybox image: one layer ([`busybox_layer`]), `Cmd ["sh"]`, amd64.
pub fn busybox_image(flavour: Flavour) -> BuiltImage {
    build_image(&[busybox_layer()], flavour, default_config("amd64", ""))
}

/// (e) Three gzip layers: busybox, then [`whiteout_layers`]; `User app` (uid 1000).
pub fn layered_image() -> BuiltImage {
    let (first, second) = whiteout_layers();
    build_image(
        &[busybox_layer(), first, second],
        Flavour::Gzip,
        default_config("amd64", "app"),
    )
}

/// (f) An index of [`busybox_image`] (gzip) for linux/amd64 and a small image of its own
/// (one 1 KiB layer, not runnable) for linux/arm64.
pub fn multi_arch_index() -> BuiltIndex {
    let arm64 = build_image(
        &[random_layer(7, 1, 1024)],
        Flavour::Gzip,
        default_config("arm64", ""),
    );
    build_index(vec![busybox_image(Flavour::Gzip), arm64])
}

/// (g) About 50 MB in four gzip layers: busybox, then three of 16 MiB of incompressible
/// pseudo-random data each. Built once per process (several seconds in a debug build).
pub fn big_image() -> BuiltImage {
    static BIG: OnceLock<BuiltImage> = OnceLock::new();
    BIG.get_or_init(|| {
        let mut layers = vec![busybox_layer()];
        layers.extend(parallel([
            || random_layer(1, 8, 16 << 20),
            || random_layer(2, 4, 16 << 20),
            || random_layer(3, 16, 16 << 20),
        ]));
        build_image(&layers, Flavour::Gzip, default_config("amd64", ""))
    })
    .clone()
}

/// Runs `jobs` on threads of their own; their results in order.
fn parallel<T: Send>(jobs: impl IntoIterator<Item = impl FnOnce() -> T + Send>) -> Vec<T> {
    std::thread::scope(|scope| {
        let running: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
        running
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// An `oci-client` client for test registries: plain HTTP, and never through a proxy (the
/// environment's `HTTP_PROXY`/`HTTPS_PROXY` are ignored; any host outside loopback is sent to
/// the closed port 127.0.0.1:9, so it fails instead of leaving the machine).
pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nowhere = Some("http://127.0.0.1:9".to_owned());
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        http_proxy: nowhere.clone(),
        https_proxy: nowhere,
        no_proxy: Some("127.0.0.0/8,::1".to_owned()),
        ..Default::default()
    })
}

/// Pushes `image` as `repo:tag`: blobs the registry lacks, then the manifest bytes as built.
pub async fn push_image(
    registry: &Registry,
    repo: &str,
    tag: &str,
    image: &BuiltImage,
) -> PushedImage {
    let pusher = Pusher::new(registry).await;
    pusher.image(repo, tag, image).await
}

/// Pushes `index` as `repo:tag`: its images by digest, then the index.
pub async fn push_index(
    registry: &Registry,
    repo: &str,
    tag: &str,
    index: &BuiltIndex,
) -> PushedIndex {
    let pusher = Pusher::new(registry).await;
    pusher.index(repo, tag, index).await
}

/// Pushes the standard set: [`busybox_image`] as `repo:latest`, `repo:zstd`, `repo:plain`,
/// `repo:docker`; [`layered_image`] as `repo-layered:latest`; [`multi_arch_index`] as
/// `repo-multi:latest`. With the registry's credentials if it has any.
pub async fn push_all(registry: &Registry, repo: &str) -> TestImages {
    let pusher = Pusher::new(registry).await;
    let layered_repo = format!("{repo}-layered");
    let multi_repo = format!("{repo}-multi");
    TestImages {
        busybox: pusher
            .image(repo, "latest", &busybox_image(Flavour::Gzip))
            .await,
        zstd: pusher
            .image(repo, "zstd", &busybox_image(Flavour::Zstd))
            .await,
        plain: pusher
            .image(repo, "plain", &busybox_image(Flavour::Plain))
            .await,
        docker: pusher
            .image(repo, "docker", &busybox_image(Flavour::Docker))
            .await,
        layered: pusher
            .image(&layered_repo, "latest", &layered_image())
            .await,
        multi: pusher
            .index(&multi_repo, "latest", &multi_arch_index())
            .await,
    }
}

/// [`push_all`] to a registry started with [`Registry::start_with_basic_auth`]; asserts that
/// `user`/`password` are the registry's.
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

/// Pushes [`big_image`] (about 50 MB) as `repo:latest`.
pub async fn push_big(registry: &Registry, repo: &str) -> PushedImage {
    push_image(registry, repo, "latest", &big_image()).await
}

/// A client authenticated for pushing to one registry.
struct Pusher {
    client: Client,
    host: String,
}

impl Pusher {
    async fn new(registry: &Registry) -> Pusher {
        let client = client();
        // Basic auth is per registry: one call stores it for every repository.
        let any = Reference::with_tag(registry.host(), "any".into(), "any".into());
        client
            .auth(&any, &registry.auth(), RegistryOperation::Push)
            .await
            .unwrap_or_else(|e| panic!("auth to {} for push: {e}", registry.host()));
        Pusher {
            client,
            host: registry.host(),
        }
    }

    async fn blobs(&self, repo: &str, image: &BuiltImage) {
        let reference = Reference::with_tag(self.host.clone(), repo.to_owned(), "any".into());
        for blob in image.blobs() {
            let present = self
                .client
                .blob_exists(&reference, &blob.digest)
                .await
                .unwrap_or_else(|e| panic!("HEAD blob {} in {repo}: {e}", blob.digest));
            if !present {
                self.client
                    .push_blob(&reference, blob.bytes.clone(), &blob.digest)
                    .await
                    .unwrap_or_else(|e| panic!("push blob {} to {repo}: {e}", blob.digest));
            }
        }
    }

    async fn manifest(&self, reference: &Reference, body: &[u8], media_type: &str) {
        self.client
            .push_manifest_raw(
                reference,
                body.to_vec(),
                http::HeaderValue::from_str(media_type).expect("a media type is a header value"),
            )
            .await
            .unwrap_or_else(|e| panic!("push manifest {reference}: {e}"));
    }

    async fn image(&self, repo: &str, tag: &str, image: &BuiltImage) -> PushedImage {
        self.blobs(repo, image).await;
        let reference = Reference::with_tag(self.host.clone(), repo.to_owned(), tag.to_owned());
        self.manifest(&reference, &image.manifest, image.manifest_media_type)
            .await;
        image.pushed(format!("{}/{repo}:{tag}", self.host))
    }

    async fn index(&self, repo: &str, tag: &str, index: &BuiltIndex) -> PushedIndex {
        for image in &index.images {
            self.blobs(repo, image).await;
            let by_digest = Reference::with_digest(
                self.host.clone(),
                repo.to_owned(),
                image.manifest_digest.clone(),
            );
            self.manifest(&by_digest, &image.manifest, image.manifest_media_type)
                .await;
        }
        let reference = Reference::with_tag(self.host.clone(), repo.to_owned(), tag.to_owned());
        self.manifest(&reference, &index.index, OCI_INDEX).await;
        let amd64 = index
            .image("amd64")
            .expect("the test index has an amd64 image");
        PushedIndex {
            reference: format!("{}/{repo}:{tag}", self.host),
            index_digest: index.digest.clone(),
            amd64: amd64.pushed(format!("{}/{repo}@{}", self.host, amd64.manifest_digest)),
        }
    }
}
