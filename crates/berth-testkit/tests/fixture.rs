//! The fixture itself: a registry starts, takes the images, serves them back, enforces auth
//! and dies with the test.

use std::path::Path;

use berth_testkit::{Registry, push_all};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    })
}

#[tokio::test]
async fn images_round_trip_through_the_registry() {
    let registry = Registry::start().await;
    let pid = registry.pid().unwrap();
    let images = push_all(&registry, "busybox").await;
    let c = client();
    for image in [
        &images.busybox,
        &images.zstd,
        &images.plain,
        &images.docker,
        &images.layered,
    ] {
        let r: Reference = image.reference.parse().unwrap();
        let (_, digest) = c
            .pull_manifest_raw(
                &r,
                &RegistryAuth::Anonymous,
                &[
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                ],
            )
            .await
            .unwrap();
        assert_eq!(digest, image.manifest_digest, "{}", image.reference);
    }
    assert_eq!(
        images.busybox.config_digest, images.zstd.config_digest,
        "same config"
    );
    let r: Reference = images.multi.reference.parse().unwrap();
    let (index, digest) = c
        .pull_manifest_raw(
            &r,
            &RegistryAuth::Anonymous,
            &["application/vnd.oci.image.index.v1+json"],
        )
        .await
        .unwrap();
    assert_eq!(digest, images.multi.index_digest);
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    assert!(
        registry
            .blob_path(&images.busybox.layer_digests[0])
            .exists()
    );
    drop(registry);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "registry process gone"
    );
}

#[tokio::test]
async fn an_auth_registry_refuses_anonymous_pulls() {
    let registry = Registry::start_with_basic_auth("alice", "s3cret").await;
    let images = push_all(&registry, "private").await;
    let r: Reference = images.busybox.reference.parse().unwrap();
    let types = ["application/vnd.oci.image.manifest.v1+json"];
    assert!(
        client()
            .pull_manifest_raw(&r, &RegistryAuth::Anonymous, &types)
            .await
            .is_err()
    );
    let auth = RegistryAuth::Basic("alice".into(), "s3cret".into());
    let (_, digest) = client().pull_manifest_raw(&r, &auth, &types).await.unwrap();
    assert_eq!(digest, images.busybox.manifest_digest);
}
