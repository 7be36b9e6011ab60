//! The layers and images, without a registry: what the base layer holds, that busybox runs
//! from it, reproducible digests, incompressible random layers, OCI layouts.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_image::unpack::{Compression, unpack_layer};
use berth_testkit::images::sha256_digest;
use berth_testkit::{
    Flavour, busybox_image, busybox_layer, layered_image, multi_arch_index, random_layer,
    whiteout_layers,
};

/// path -> (kind, mode, uid, link target)
fn entries(tar: &[u8]) -> BTreeMap<String, (tar::EntryType, u32, u64, String)> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                (
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// Where `path` leads inside the layer, following its symlinks.
fn resolve(e: &BTreeMap<String, (tar::EntryType, u32, u64, String)>, path: &str) -> String {
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        resolved.push(part);
        let here = resolved.join("/");
        if let Some((tar::EntryType::Symlink, _, _, target)) = e.get(&here) {
            hops += 1;
            assert!(hops < 40, "symlink loop at {here}");
            resolved.pop();
            if target.starts_with('/') {
                resolved.clear();
            }
            pending.extend(target.split('/').rev().map(str::to_owned));
        }
    }
    resolved.join("/")
}

#[test]
fn the_base_layer_has_busybox_its_libraries_and_users() {
    let layer = busybox_layer();
    assert_eq!(layer.diff_id, sha256_digest(&layer.tar));
    let e = entries(&layer.tar);
    assert_eq!(e["bin/busybox"].0, tar::EntryType::Regular);
    for applet in ["sh", "sleep", "echo", "cat", "ls", "id", "true"] {
        let (kind, _, _, target) = &e[&format!("bin/{applet}")];
        assert_eq!(
            (kind, target.as_str()),
            (&tar::EntryType::Symlink, "busybox")
        );
    }
    for dir in ["etc", "tmp", "proc", "sys", "dev", "root"] {
        assert_eq!(e[dir].0, tar::EntryType::Directory, "{dir}");
    }
    assert_eq!(e["tmp"].1, 0o1777);
    assert_eq!(e["home/app"].2, 1000);
    // Every name ldd gives (the loader too) resolves in the layer, through the same symlinks
    // as on the host, to a regular file with the host file's content.
    let out = std::process::Command::new("ldd")
        .arg("/bin/busybox")
        .output()
        .unwrap();
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(str::to_owned)
        .collect();
    assert!(names.iter().any(|n| n.contains("ld-linux")), "{names:?}");
    for name in &names {
        let real = resolve(&e, name);
        assert_eq!(e[&real].0, tar::EntryType::Regular, "{name} -> {real}");
        let host = std::fs::canonicalize(name).unwrap();
        assert_eq!(Path::new("/").join(&real), host, "{name}");
    }
    let mut archive = tar::Archive::new(layer.tar.as_slice());
    let mut etc = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path.starts_with("etc/") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            etc.insert(path, text);
        }
    }
    assert!(etc["etc/passwd"].contains("root:x:0:0:"));
    assert!(etc["etc/passwd"].contains("app:x:1000:1000::/home/app:/bin/sh"));
    for group in ["root:x:0:", "app:x:1000:", "extra:x:3000:app"] {
        assert!(etc["etc/group"].lines().any(|l| l == group), "{group}");
    }
}

#[test]
fn busybox_runs_from_the_unpacked_base_layer() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: chroot needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    unpack_layer(busybox_layer().tar.as_slice(), Compression::None, &rootfs).unwrap();
    assert_eq!(
        std::fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    let out = std::process::Command::new("/usr/sbin/chroot")
        .arg(&rootfs)
        .args([
            "/bin/sh",
            "-c",
            "echo hello; id -G app; ls /data 2>&1 || true",
        ])
        .env_clear()
        .env("PATH", "/bin")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.starts_with("hello\n1000 3000\n"), "{stdout}");
}

#[test]
fn images_are_reproducible_and_digests_match_their_bytes() {
    for flavour in [
        Flavour::Gzip,
        Flavour::Zstd,
        Flavour::Plain,
        Flavour::Docker,
    ] {
        let a = busybox_image(flavour);
        let b = busybox_image(flavour);
        assert_eq!(a.manifest_digest, b.manifest_digest, "{flavour:?}");
        assert_eq!(a.manifest_digest, sha256_digest(&a.manifest));
        for blob in a.blobs() {
            assert_eq!(blob.digest, sha256_digest(&blob.bytes));
        }
        let manifest: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(manifest["mediaType"], flavour.manifest_media_type());
        assert_eq!(manifest["config"]["mediaType"], flavour.config_media_type());
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            flavour.layer_media_type()
        );
    }
    let (one, two) = whiteout_layers();
    let (again, _) = whiteout_layers();
    assert_eq!(one.diff_id, again.diff_id);
    assert_ne!(one.diff_id, two.diff_id);
    assert_eq!(layered_image().diff_ids.len(), 3);
}

#[test]
fn random_layers_do_not_compress() {
    let layer = random_layer(42, 2, 1 << 20);
    let gzip = berth_testkit::images::compress(&layer, Flavour::Gzip);
    assert!(
        gzip.bytes.len() as f64 > 0.99 * (1 << 20) as f64,
        "{}",
        gzip.bytes.len()
    );
    assert_eq!(random_layer(42, 2, 1 << 20).diff_id, layer.diff_id);
    assert_ne!(random_layer(43, 2, 1 << 20).diff_id, layer.diff_id);
}

fn check_layout(dir: &Path) -> serde_json::Value {
    assert_eq!(
        std::fs::read_to_string(dir.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    for blob in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let blob = blob.unwrap();
        let name = blob.file_name().into_string().unwrap();
        assert_eq!(
            sha256_digest(&std::fs::read(blob.path()).unwrap()),
            format!("sha256:{name}")
        );
    }
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

#[test]
fn images_and_indexes_write_oci_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let image = layered_image();
    image.write_oci_layout(dir.path(), "layered").unwrap();
    let index = check_layout(dir.path());
    let top = &index["manifests"][0];
    assert_eq!(top["digest"], image.manifest_digest.as_str());
    assert_eq!(
        top["annotations"]["org.opencontainers.image.ref.name"],
        "layered"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        5
    );

    let dir = tempfile::tempdir().unwrap();
    let multi = multi_arch_index();
    multi.write_oci_layout(dir.path(), "multi").unwrap();
    let index = check_layout(dir.path());
    assert_eq!(index["manifests"][0]["digest"], multi.digest.as_str());
    let nested: serde_json::Value = serde_json::from_slice(&multi.index).unwrap();
    let arches: Vec<&str> = nested["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for m in nested["manifests"].as_array().unwrap() {
        let hex = m["digest"].as_str().unwrap().trim_start_matches("sha256:");
        assert!(dir.path().join("blobs/sha256").join(hex).exists());
    }
}
