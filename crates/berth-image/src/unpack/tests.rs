use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::*;

/// Builds a tar from (path, type, mode, data, link) with uid 1000, gid 2000, mtime 1000000.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }

    /// Writes a header with a raw name (so `..` and absolute names can be written).
    fn raw(
        &mut self,
        name: &[u8],
        kind: EntryType,
        mode: u32,
        data: &[u8],
        link: Option<&[u8]>,
    ) -> &mut Self {
        let mut h = Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name);
            if let Some(link) = link {
                gnu.linkname[..link.len()].copy_from_slice(link);
            }
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(2000);
        h.set_mtime(1_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Regular, 0o644, data, None)
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name.as_bytes(), EntryType::Directory, 0o755, b"", None)
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name.as_bytes(),
            EntryType::Symlink,
            0o777,
            b"",
            Some(target.as_bytes()),
        )
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn unpack(tar: Vec<u8>) -> (tempfile::TempDir, Result<Unpacked, UnpackError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("layer")).unwrap();
    let result = unpack_layer(tar.as_slice(), Compression::None, &dir.path().join("layer"));
    (dir, result)
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[test]
fn files_dirs_links_and_devices_keep_their_metadata() {
    let mut t = Tar::new();
    t.dir("bin/")
        .raw(
            b"bin/tool",
            EntryType::Regular,
            0o4755,
            b"#!/bin/sh\n",
            None,
        )
        .symlink("bin/sh", "tool")
        .raw(b"bin/hard", EntryType::Link, 0, b"", Some(b"bin/tool"))
        .raw(b"dev/fifo", EntryType::Fifo, 0o600, b"", None)
        .raw(b"dev/null", EntryType::Char, 0o666, b"", None);
    let mut h = Header::new_ustar();
    h.set_path("etc/conf").unwrap();
    h.set_size(3);
    h.set_mode(0o640);
    h.set_cksum();
    t.0.append_pax_extensions([("SCHILY.xattr.user.foo", b"bar".as_slice())])
        .unwrap();
    t.0.append(&h, b"abc".as_slice()).unwrap();
    let (dir, result) = unpack(t.bytes());
    let unpacked = result.unwrap();
    let root = dir.path().join("layer");
    let tool = std::fs::metadata(root.join("bin/tool")).unwrap();
    assert_eq!(
        tool.permissions().mode() & 0o7777,
        0o4755,
        "setuid survives chown"
    );
    assert_eq!(
        (tool.uid(), tool.gid(), tool.mtime()),
        (1000, 2000, 1_000_000)
    );
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("tool")
    );
    assert_eq!(
        std::fs::metadata(root.join("bin/hard")).unwrap().ino(),
        tool.ino()
    );
    assert!(
        std::fs::metadata(root.join("dev/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert!(
        std::fs::symlink_metadata(root.join("dev/null"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(
        std::fs::metadata(root.join("bin")).unwrap().mtime(),
        1_000_000,
        "dir times last"
    );
    let mut value = [0u8; 8];
    let n = rustix::fs::getxattr(root.join("etc/conf"), "user.foo", &mut value).unwrap();
    assert_eq!(&value[..n], b"bar");
    assert_eq!(unpacked.size, 10 + 3);
}

#[test]
fn the_diff_id_hashes_the_uncompressed_stream_whatever_the_compression() {
    let mut t = Tar::new();
    t.file("a", b"hello").file("b/c", &[7u8; 100_000]);
    let tar = t.bytes();
    let expected = sha(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(tar.as_slice(), 3).unwrap();
    for (blob, compression) in [
        (tar.clone(), Compression::None),
        (gz, Compression::Gzip),
        (zst, Compression::Zstd),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let got = unpack_layer(blob.as_slice(), compression, dir.path()).unwrap();
        assert_eq!(got.diff_id, expected, "{compression:?}");
        assert_eq!(
            std::fs::read(dir.path().join("b/c")).unwrap().len(),
            100_000
        );
    }
}

#[test]
fn whiteouts_and_opaque_directories_take_overlayfs_form() {
    let mut t = Tar::new();
    t.file("data/.wh.gone", b"")
        .dir("opaque/")
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/new", b"n");
    let (dir, result) = unpack(t.bytes());
    result.unwrap();
    let root = dir.path().join("layer");
    let gone = std::fs::symlink_metadata(root.join("data/gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(!root.join("data/.wh.gone").exists());
    let mut value = [0u8; 4];
    let n =
        rustix::fs::getxattr(root.join("opaque"), "trusted.overlay.opaque", &mut value).unwrap();
    assert_eq!(&value[..n], b"y");
    assert!(!root.join("opaque/.wh..wh..opq").exists());
    assert!(root.join("opaque/new").exists());
}

#[test]
fn dot_dot_above_the_root_is_refused() {
    let mut t = Tar::new();
    t.raw(b"../escape", EntryType::Regular, 0o644, b"x", None);
    let (dir, result) = unpack(t.bytes());
    assert!(
        matches!(result, Err(UnpackError::UnsafePath { .. })),
        "{result:?}"
    );
    assert!(!dir.path().join("escape").exists());
}

#[test]
fn absolute_paths_land_inside_the_layer() {
    let mut t = Tar::new();
    t.raw(b"/abs/file", EntryType::Regular, 0o644, b"x", None);
    let (dir, result) = unpack(t.bytes());
    result.unwrap();
    assert!(dir.path().join("layer/abs/file").exists());
}

#[test]
fn planted_symlinks_never_lead_outside() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "original").unwrap();
    let mut t = Tar::new();
    t.symlink("up", "../../../../../..")
        .file("up/tmp/pwned2", b"x")
        .symlink("link", victim.to_str().unwrap())
        .file("link", b"overwritten");
    let (dir, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
    let root = dir.path().join("layer");
    // `up` resolved to the layer root, not the host's.
    assert!(root.join("tmp/pwned2").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("link")).unwrap(),
        "overwritten"
    );
    assert!(
        !std::fs::symlink_metadata(root.join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_hard_link_to_outside_the_layer_is_refused() {
    let mut t = Tar::new();
    t.raw(
        b"passwd",
        EntryType::Link,
        0,
        b"",
        Some(b"../../etc/passwd"),
    );
    let (_dir, result) = unpack(t.bytes());
    assert!(
        matches!(result, Err(UnpackError::UnsafePath { .. })),
        "{result:?}"
    );
    let mut t = Tar::new();
    t.raw(b"passwd", EntryType::Link, 0, b"", Some(b"/etc/passwd"));
    let (_dir, result) = unpack(t.bytes());
    assert!(
        result.is_err(),
        "the host's /etc/passwd is not in the layer"
    );
}

#[test]
fn a_file_replaces_a_directory_and_back() {
    let mut t = Tar::new();
    t.dir("x/")
        .file("x/inner", b"1")
        .file("x", b"now a file")
        .file("y", b"file")
        .dir("y/");
    let (dir, result) = unpack(t.bytes());
    result.unwrap();
    let root = dir.path().join("layer");
    assert_eq!(
        std::fs::read_to_string(root.join("x")).unwrap(),
        "now a file"
    );
    assert!(root.join("y").is_dir());
}

#[test]
fn media_types_map_to_compressions() {
    use Compression::*;
    for (m, c) in [
        ("application/vnd.oci.image.layer.v1.tar", None),
        ("application/vnd.oci.image.layer.v1.tar+gzip", Gzip),
        ("application/vnd.oci.image.layer.v1.tar+zstd", Zstd),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", Gzip),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            Gzip,
        ),
    ] {
        assert_eq!(Compression::from_media_type(m).unwrap(), c, "{m}");
    }
    assert!(Compression::from_media_type("application/json").is_err());
}

#[test]
fn a_symlink_to_an_absolute_directory_is_resolved_inside_the_layer() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_owned();
    // The directory exists inside the layer too: the write lands there.
    let mut t = Tar::new();
    t.dir(&format!("{}/", target.trim_start_matches('/')))
        .symlink("evil", &target)
        .file("evil/pwned", b"x");
    let (dir, result) = unpack(t.bytes());
    result.unwrap();
    assert!(
        !outside.path().join("pwned").exists(),
        "wrote through a symlink to outside"
    );
    let inside = dir
        .path()
        .join("layer")
        .join(target.trim_start_matches('/'))
        .join("pwned");
    assert!(inside.exists(), "{inside:?}");
    // It does not exist inside the layer: the entry is refused, nothing is written outside.
    let mut t = Tar::new();
    t.symlink("evil", &target).file("evil/pwned", b"x");
    let (_dir, result) = unpack(t.bytes());
    assert!(
        matches!(result, Err(UnpackError::UnsafePath { .. })),
        "{result:?}"
    );
    assert!(!outside.path().join("pwned").exists());
}
