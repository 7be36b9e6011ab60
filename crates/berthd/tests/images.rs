//! The image service against a real `docker-registry` on loopback, with images the test kit
//! builds from Debian's busybox. Needs root and Debian's docker-registry and busybox.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_cri_client::{CriClient, cri};
use berth_testkit::{PushedImage, Registry};
use common::{Daemon, setup};
use tonic::Code;

fn spec(image: &str) -> Option<cri::ImageSpec> {
    Some(cri::ImageSpec {
        image: image.to_owned(),
        ..Default::default()
    })
}

async fn pull(client: &mut CriClient, image: &str) -> Result<String, tonic::Status> {
    pull_with(client, image, None).await
}

async fn pull_with(
    client: &mut CriClient,
    image: &str,
    auth: Option<cri::AuthConfig>,
) -> Result<String, tonic::Status> {
    client
        .image
        .pull_image(cri::PullImageRequest {
            image: spec(image),
            auth,
            sandbox_config: None,
        })
        .await
        .map(|r| r.into_inner().image_ref)
}

async fn status(client: &mut CriClient, image: &str) -> Option<cri::Image> {
    client
        .image
        .image_status(cri::ImageStatusRequest {
            image: spec(image),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner()
        .image
}

async fn list(client: &mut CriClient) -> Vec<cri::Image> {
    client
        .image
        .list_images(cri::ListImagesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .images
}

async fn remove(client: &mut CriClient, image: &str) {
    client
        .image
        .remove_image(cri::RemoveImageRequest { image: spec(image) })
        .await
        .unwrap();
}

/// Files and bytes under the image store, to check that removal gives everything back.
fn store_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in [
        "content/blobs/sha256",
        "content/ingest",
        "layers",
        "layers/tmp",
    ] {
        if let Ok(entries) = std::fs::read_dir(root.join(sub)) {
            for e in entries.flatten() {
                let name = e.file_name().into_string().unwrap();
                if name != "tmp" {
                    out.push(format!("{sub}/{name}"));
                }
            }
        }
    }
    out.sort();
    out
}

fn insecure(registry: &Registry) -> String {
    format!("[registries.\"{}\"]\ninsecure = true\n", registry.host())
}

#[tokio::test]
async fn pull_list_inspect_and_remove_images() {
    let registry = Registry::start().await;
    let images = berth_testkit::push_all(&registry, "busybox").await;
    let dir = setup(&insecure(&registry));
    let root = dir.path().join("root");
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    assert!(list(&mut client).await.is_empty());
    let empty = store_files(&root);

    // By tag: the answer is the image ID, the config digest.
    let busybox: &PushedImage = &images.busybox;
    let id = pull(&mut client, &busybox.reference).await.unwrap();
    assert_eq!(id, busybox.config_digest);
    let image = status(&mut client, &busybox.reference)
        .await
        .expect("pulled image");
    assert_eq!(image.id, id);
    assert_eq!(image.repo_tags, vec![busybox.reference.clone()]);
    let repo = busybox.reference.rsplit_once(':').unwrap().0;
    assert_eq!(
        image.repo_digests,
        vec![format!("{repo}@{}", busybox.manifest_digest)]
    );
    assert!(image.size > 0);
    // The same image by ID, ID prefix and digest.
    for name in [
        id.clone(),
        id.trim_start_matches("sha256:")[..12].to_owned(),
        format!("{repo}@{}", busybox.manifest_digest),
    ] {
        assert_eq!(
            status(&mut client, &name).await.map(|i| i.id),
            Some(id.clone()),
            "{name}"
        );
    }
    // Unknown: an empty answer, not an error.
    assert!(
        status(&mut client, "registry.invalid/none:1")
            .await
            .is_none()
    );
    let verbose = client
        .image
        .image_status(cri::ImageStatusRequest {
            image: spec(&id),
            verbose: true,
        })
        .await
        .unwrap()
        .into_inner();
    let info: serde_json::Value = serde_json::from_str(&verbose.info["info"]).unwrap();
    assert_eq!(
        info["imageSpec"]["rootfs"]["diff_ids"][0],
        busybox.diff_ids[0]
    );

    // By digest; zstd, uncompressed and Docker schema 2 variants; an index.
    let by_digest = format!("{repo}@{}", busybox.manifest_digest);
    assert_eq!(pull(&mut client, &by_digest).await.unwrap(), id);
    for variant in [&images.zstd, &images.plain, &images.docker] {
        let got = pull(&mut client, &variant.reference).await.unwrap();
        assert_eq!(got, variant.config_digest, "{}", variant.reference);
    }
    let got = pull(&mut client, &images.multi.reference).await.unwrap();
    assert_eq!(
        got, images.multi.amd64.config_digest,
        "the index resolves to amd64"
    );
    let multi = status(&mut client, &images.multi.reference).await.unwrap();
    let multi_repo = images.multi.reference.rsplit_once(':').unwrap().0;
    assert!(
        multi
            .repo_digests
            .contains(&format!("{multi_repo}@{}", images.multi.index_digest)),
        "{multi:?}"
    );

    // Whiteouts and opaque directories come out in overlayfs form.
    let layered = &images.layered;
    pull(&mut client, &layered.reference).await.unwrap();
    let chains = berth_image::chain_ids(&layered.diff_ids);
    let top = root
        .join("layers")
        .join(chains.last().unwrap().trim_start_matches("sha256:"))
        .join("fs");
    let gone = std::fs::symlink_metadata(top.join("data/gone")).unwrap();
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "whiteout"
    );
    let opaque = rustix::fs::lgetxattr(top.join("opaque"), "trusted.overlay.opaque", &mut [0u8; 8]);
    assert_eq!(opaque.unwrap(), 1, "opaque dir marked");
    assert!(top.join("opaque/new").exists());
    let layered_status = status(&mut client, &layered.reference).await.unwrap();
    assert!(
        layered_status.uid.map(|u| u.value) == Some(1000) || layered_status.username == "app",
        "{layered_status:?}"
    );

    // ImageFsInfo counts the store.
    let fs = client
        .image
        .image_fs_info(cri::ImageFsInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let used = fs.image_filesystems[0].used_bytes.as_ref().unwrap().value;
    assert!(used > busybox.total_layer_bytes, "{fs:?}");
    assert!(fs.image_filesystems[0].inodes_used.as_ref().unwrap().value > 10);

    // Removing one of two tags keeps the image.
    let tags = status(&mut client, &id).await.unwrap().repo_tags;
    assert!(
        tags.len() >= 2,
        "gzip, zstd and plain variants share the config: {tags:?}"
    );
    remove(&mut client, &images.zstd.reference).await;
    let after = status(&mut client, &id).await.unwrap();
    assert!(!after.repo_tags.contains(&images.zstd.reference));
    assert_eq!(after.repo_tags.len(), tags.len() - 1);

    // What `crictl rmi --prune` does: images no container uses are removed (twice: removal
    // is idempotent). The store is back to empty.
    let in_use: Vec<String> = client
        .runtime
        .list_containers(cri::ListContainersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .containers
        .into_iter()
        .map(|c| c.image_ref)
        .collect();
    assert!(in_use.is_empty(), "no container exists yet");
    for image in list(&mut client).await {
        remove(&mut client, &image.id).await;
        remove(&mut client, &image.id).await;
    }
    assert!(list(&mut client).await.is_empty());
    assert_eq!(store_files(&root), empty, "every blob and layer is gone");

    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn short_names_go_through_mirrors_in_order() {
    let registry = Registry::start().await;
    let images = berth_testkit::push_all(&registry, "library/busybox").await;
    // A dead mirror first: berth falls through to the next one.
    let config = format!(
        "[registries.\"docker.io\"]\nmirrors = [\"http://127.0.0.1:9\", \"http://{}\"]\n",
        registry.host()
    );
    let dir = setup(&config);
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    let id = pull(&mut client, "busybox").await.unwrap();
    assert_eq!(id, images.busybox.config_digest);
    let image = status(&mut client, "docker.io/library/busybox:latest")
        .await
        .unwrap();
    assert_eq!(image.repo_tags, vec!["docker.io/library/busybox:latest"]);
    assert_eq!(status(&mut client, "busybox").await.unwrap().id, id);
    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn basic_auth_is_required_and_a_wrong_password_is_refused() {
    let registry = Registry::start_with_basic_auth("alice", "s3cret").await;
    let images = berth_testkit::push_all_with_auth(&registry, "private", "alice", "s3cret").await;
    let dir = setup(&insecure(&registry));
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    let reference = &images.busybox.reference;

    let anonymous = pull(&mut client, reference).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let wrong = pull_with(
        &mut client,
        reference,
        Some(cri::AuthConfig {
            username: "alice".into(),
            password: "wrong".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");
    assert!(
        wrong.message().contains(&registry.host()),
        "{}",
        wrong.message()
    );

    let id = pull_with(
        &mut client,
        reference,
        Some(cri::AuthConfig {
            username: "alice".into(),
            password: "s3cret".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    assert_eq!(id, images.busybox.config_digest);
    remove(&mut client, &id).await;
    // The `auth` form: base64 of user:password.
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    let auth = cri::AuthConfig {
        auth: encoded,
        ..Default::default()
    };
    assert_eq!(
        pull_with(&mut client, reference, Some(auth)).await.unwrap(),
        id
    );
    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn a_corrupted_blob_fails_the_pull_and_leaves_nothing() {
    let registry = Registry::start().await;
    let images = berth_testkit::push_all(&registry, "busybox").await;
    let busybox = &images.busybox;
    // Flip bytes in the middle of the first layer as the registry stores it.
    let blob = registry.blob_path(&busybox.layer_digests[0]);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&blob, bytes).unwrap();

    let dir = setup(&insecure(&registry));
    let root = dir.path().join("root");
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    let before = store_files(&root);
    let err = pull(&mut client, &busybox.reference).await.unwrap_err();
    assert!(
        err.message().contains(&busybox.layer_digests[0]),
        "the error names the blob: {err:?}"
    );
    assert!(list(&mut client).await.is_empty());
    assert!(status(&mut client, &busybox.reference).await.is_none());
    let after: Vec<String> = store_files(&root)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    // Only the verified config blob may remain, and only until the next start collects it.
    assert!(
        after
            .iter()
            .all(|f| f.ends_with(busybox.config_digest.trim_start_matches("sha256:"))),
        "nothing but the config is left: {after:?}"
    );
    drop(client);
    assert!(daemon.terminate().await.success());
    // A restart collects what no image names.
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let _client = daemon.ready_client().await;
    assert_eq!(store_files(&root), before);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn concurrent_pulls_of_one_image_share_the_work() {
    let registry = Registry::start().await;
    let big = berth_testkit::push_big(&registry, "big").await;
    let dir = setup(&insecure(&registry));
    let mut daemon = Daemon::spawn(dir.path(), &["--log-level", "info"]);
    let client = daemon.ready_client().await;
    let pulls: Vec<_> = (0..4)
        .map(|_| {
            let mut client = client.clone();
            let reference = big.reference.clone();
            tokio::spawn(async move { pull(&mut client, &reference).await })
        })
        .collect();
    for p in pulls {
        assert_eq!(p.await.unwrap().unwrap(), big.config_digest);
    }
    let log = daemon.log();
    let resolved = log.lines().filter(|l| l.contains("resolved")).count();
    assert_eq!(resolved, 1, "one download for four callers:\n{log}");
    assert!(log.contains("joining a pull already under way"), "{log}");
    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn a_registry_that_never_answers_fails_after_the_progress_timeout() {
    // A listener that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = silent.local_addr().unwrap().to_string();
    let config =
        format!("image_pull_progress_timeout = \"2s\"\n[registries.\"{host}\"]\ninsecure = true\n");
    let dir = setup(&config);
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    let started = std::time::Instant::now();
    let err = pull(&mut client, &format!("{host}/stuck:1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(err.message().contains(&host), "{}", err.message());
    drop(silent);
    drop(client);
    assert!(daemon.terminate().await.success());
}

#[tokio::test]
async fn an_invalid_reference_is_invalid_argument() {
    let dir = setup("");
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut client = daemon.ready_client().await;
    for bad in ["UPPER/Case", "busybox@sha256:abc", ""] {
        let err = pull(&mut client, bad).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}: {err:?}");
    }
    drop(client);
    assert!(daemon.terminate().await.success());
}
