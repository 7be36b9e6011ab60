//! The fixture itself: a registry starts, takes the images, serves them back byte for byte,
//! enforces auth and dies with the test (or with the test process).

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_testkit::images::{MANIFEST_TYPES, OCI_INDEX, sha256_digest};
use berth_testkit::{PushedImage, Registry, client, push_all, push_all_with_auth, push_big};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;

async fn blob(c: &Client, r: &Reference, digest: &str) -> Vec<u8> {
    let mut out = Vec::new();
    c.pull_blob(r, digest, &mut out)
        .await
        .unwrap_or_else(|e| panic!("pull {digest} from {r}: {e}"));
    assert_eq!(sha256_digest(&out), digest);
    out
}

fn decompress(media_type: &str, blob: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    if media_type.ends_with("gzip") {
        flate2::read::MultiGzDecoder::new(blob)
            .read_to_end(&mut tar)
            .unwrap();
    } else if media_type.ends_with("zstd") {
        tar = zstd::decode_all(blob).unwrap();
    } else {
        assert_eq!(media_type, "application/vnd.oci.image.layer.v1.tar");
        tar = blob.to_vec();
    }
    tar
}

fn tar_paths(tar: &[u8]) -> Vec<String> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Pulls `image` back by its reference and checks every digest and size it claims. Returns
/// the config and the uncompressed layers.
async fn check_image(
    c: &Client,
    auth: &RegistryAuth,
    image: &PushedImage,
    manifest_type: &str,
) -> (Value, Vec<Vec<u8>>) {
    let r: Reference = image.reference.parse().unwrap();
    let (raw, digest) = c.pull_manifest_raw(&r, auth, MANIFEST_TYPES).await.unwrap();
    assert_eq!(digest, image.manifest_digest, "{}", image.reference);
    assert_eq!(sha256_digest(&raw), image.manifest_digest);
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["mediaType"], manifest_type);
    assert_eq!(manifest["config"]["digest"], image.config_digest.as_str());
    let config_bytes = blob(c, &r, &image.config_digest).await;
    assert_eq!(manifest["config"]["size"], config_bytes.len());
    let config: Value = serde_json::from_slice(&config_bytes).unwrap();
    assert_eq!(config["os"], "linux");
    assert_eq!(config["rootfs"]["type"], "layers");
    let diff_ids: Vec<String> =
        serde_json::from_value(config["rootfs"]["diff_ids"].clone()).unwrap();
    assert_eq!(diff_ids, image.diff_ids);
    let descriptors = manifest["layers"].as_array().unwrap();
    assert_eq!(descriptors.len(), image.layer_digests.len());
    let mut total = 0;
    let mut tars = Vec::new();
    for ((d, digest), diff_id) in descriptors.iter().zip(&image.layer_digests).zip(&diff_ids) {
        assert_eq!(d["digest"], digest.as_str());
        let bytes = blob(c, &r, digest).await;
        assert_eq!(d["size"], bytes.len());
        total += bytes.len() as u64;
        let tar = decompress(d["mediaType"].as_str().unwrap(), &bytes);
        assert_eq!(&sha256_digest(&tar), diff_id, "diff ID of {digest}");
        tars.push(tar);
    }
    assert_eq!(total, image.total_layer_bytes);
    (config, tars)
}

#[tokio::test]
async fn images_round_trip_through_the_registry() {
    let registry = Registry::start().await;
    let pid = registry.pid().unwrap();
    let storage = registry.storage_dir().to_owned();
    let started = Instant::now();
    let images = push_all(&registry, "busybox").await;
    eprintln!("push_all: {:?}", started.elapsed());
    let c = client();
    let anon = RegistryAuth::Anonymous;

    let oci = "application/vnd.oci.image.manifest.v1+json";
    let docker = "application/vnd.docker.distribution.manifest.v2+json";
    let (config, tars) = check_image(&c, &anon, &images.busybox, oci).await;
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(tar_paths(&tars[0]).contains(&"bin/busybox".to_owned()));
    for (image, kind) in [
        (&images.zstd, oci),
        (&images.plain, oci),
        (&images.docker, docker),
    ] {
        check_image(&c, &anon, image, kind).await;
        // One image, several encodings: the same config, so the same image ID.
        assert_eq!(image.config_digest, images.busybox.config_digest);
        assert_eq!(image.diff_ids, images.busybox.diff_ids);
    }
    assert_ne!(images.zstd.layer_digests, images.busybox.layer_digests);
    assert_ne!(images.plain.layer_digests, images.busybox.layer_digests);
    assert_eq!(images.plain.diff_ids[0], images.plain.layer_digests[0]);

    let (config, tars) = check_image(&c, &anon, &images.layered, oci).await;
    assert_eq!(config["config"]["User"], "app");
    assert_eq!(tars.len(), 3);
    let top = tar_paths(&tars[2]);
    for path in ["data/.wh.gone", "opaque/.wh..wh..opq", "opaque/new"] {
        assert!(top.contains(&path.to_owned()), "{path} in {top:?}");
    }

    // The index: two platforms, amd64 being the plain busybox image.
    let r: Reference = images.multi.reference.parse().unwrap();
    let (raw, digest) = c
        .pull_manifest_raw(&r, &anon, MANIFEST_TYPES)
        .await
        .unwrap();
    assert_eq!(digest, images.multi.index_digest);
    let index: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let platforms: Vec<(&str, &str)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap(),
                m["digest"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(platforms.len(), 2);
    assert_eq!(
        platforms[0],
        ("amd64", images.busybox.manifest_digest.as_str())
    );
    assert_eq!(platforms[0].1, images.multi.amd64.manifest_digest);
    assert_eq!(platforms[1].0, "arm64");
    check_image(&c, &anon, &images.multi.amd64, oci).await;
    let arm64_ref: Reference = format!("{}/busybox-multi@{}", registry.host(), platforms[1].1)
        .parse()
        .unwrap();
    let (raw, _) = c
        .pull_manifest_raw(&arm64_ref, &anon, MANIFEST_TYPES)
        .await
        .unwrap();
    let arm64: Value = serde_json::from_slice(&raw).unwrap();
    let arm64_config = blob(&c, &arm64_ref, arm64["config"]["digest"].as_str().unwrap()).await;
    let arm64_config: Value = serde_json::from_slice(&arm64_config).unwrap();
    assert_eq!(arm64_config["architecture"], "arm64");

    // Blobs are where blob_path says, so tests can corrupt them.
    let layer = registry.blob_path(&images.busybox.layer_digests[0]);
    assert!(layer.starts_with(registry.storage_dir()));
    assert_eq!(
        sha256_digest(&std::fs::read(&layer).unwrap()),
        images.busybox.layer_digests[0]
    );

    drop(registry);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "registry process {pid} gone"
    );
    assert!(!storage.exists(), "storage removed");
}

#[tokio::test]
async fn an_auth_registry_refuses_anonymous_and_wrong_credentials() {
    let registry = Registry::start_with_basic_auth("alice", "s3cret").await;
    let images = push_all_with_auth(&registry, "private", "alice", "s3cret").await;
    let r: Reference = images.busybox.reference.parse().unwrap();
    for auth in [
        RegistryAuth::Anonymous,
        RegistryAuth::Basic("alice".into(), "wrong".into()),
    ] {
        let refused = client()
            .pull_manifest_raw(&r, &auth, MANIFEST_TYPES)
            .await
            .expect_err("pull without the right credentials");
        assert!(
            matches!(
                refused,
                OciDistributionError::UnauthorizedError { .. }
                    | OciDistributionError::AuthenticationFailure(_)
            ),
            "{refused:?}"
        );
    }
    check_image(
        &client(),
        &registry.auth(),
        &images.busybox,
        "application/vnd.oci.image.manifest.v1+json",
    )
    .await;
    let log = registry.log();
    eprintln!(
        "auth registry log, first lines:\n{}",
        log.lines().take(3).collect::<Vec<_>>().join("\n")
    );
}

#[tokio::test]
async fn registries_started_together_get_ports_of_their_own() {
    let (a, b, c) = tokio::join!(Registry::start(), Registry::start(), Registry::start());
    let mut hosts = vec![a.host(), b.host(), c.host()];
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 3);
    for registry in [&a, &b, &c] {
        assert!(registry.host().starts_with("127.0.0.1:"));
        let r: Reference = format!("{}/none:x", registry.host()).parse().unwrap();
        let missing = client()
            .pull_manifest_raw(&r, &RegistryAuth::Anonymous, MANIFEST_TYPES)
            .await
            .expect_err("an empty registry");
        assert!(
            format!("{missing:?}").contains("MANIFEST_UNKNOWN")
                || format!("{missing}").contains("unknown"),
            "{missing:?}"
        );
    }
}

#[tokio::test]
async fn the_big_image_is_about_50_mb_after_compression() {
    let registry = Registry::start().await;
    let started = Instant::now();
    let built = berth_testkit::big_image();
    eprintln!("big_image (first, builds): {:?}", started.elapsed());
    let started = Instant::now();
    let big = push_big(&registry, "big").await;
    eprintln!("push_big (image cached): {:?}", started.elapsed());
    assert_eq!(big.manifest_digest, built.manifest_digest);
    assert_eq!(big.layer_digests.len(), 4);
    assert!(
        (48 << 20..56 << 20).contains(&big.total_layer_bytes),
        "{} bytes",
        big.total_layer_bytes
    );
    for digest in &big.layer_digests {
        assert!(registry.blob_path(digest).exists());
    }
}

const HELPER: &str = "BERTH_TESTKIT_ABORT_HELPER";

/// Run as a child by [`the_registry_dies_with_the_test_process`]: starts a registry, prints
/// its PID and aborts, so that no destructor runs.
#[tokio::test]
async fn abort_helper() {
    if std::env::var_os(HELPER).is_none() {
        return;
    }
    let registry = Registry::start().await;
    println!("registry-pid={}", registry.pid().unwrap());
    std::process::abort();
}

#[test]
fn the_registry_dies_with_the_test_process() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "abort_helper", "--nocapture", "--test-threads=1"])
        .env(HELPER, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "the helper aborts");
    let pid = stdout
        .lines()
        .find_map(|l| l.split("registry-pid=").nth(1))
        .unwrap_or_else(|| panic!("no registry PID from the helper: {stdout}"));
    let proc = format!("/proc/{pid}");
    let deadline = Instant::now() + Duration::from_secs(5);
    // The registry was the helper's child; once it dies it is reparented to init (or a
    // subreaper) and reaped, so its /proc entry goes.
    while Path::new(&proc).exists() && Instant::now() < deadline {
        let cmdline = std::fs::read(format!("{proc}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains("docker-registry") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let cmdline = std::fs::read(format!("{proc}/cmdline")).unwrap_or_default();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("docker-registry"),
        "registry {pid} outlived the aborted test process"
    );
}
