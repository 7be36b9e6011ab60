//! Unpacker tests: they run as root (device nodes, ownership, `trusted.*` xattrs).
//!
//! Each test unpacks into `<tempdir>/guard/layer` and checks that `guard` and the tempdir hold
//! nothing else afterwards, so a write that escapes the layer by one or two levels is caught.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::*;

const UID: u64 = 1000;
const GID: u64 = 2000;
const MTIME: u64 = 1_000_000;

/// Builds a tar. Entries get uid 1000, gid 2000 and mtime 1000000 unless said otherwise.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }

    /// A GNU header with a raw name and link name (so `..` and absolute names can be
    /// written), not yet checksummed.
    fn header(name: &[u8], kind: EntryType, mode: u32, size: usize, link: Option<&[u8]>) -> Header {
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
        h.set_uid(UID);
        h.set_gid(GID);
        h.set_mtime(MTIME);
        h.set_size(size as u64);
        h
    }

    fn append(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn raw(
        &mut self,
        name: &[u8],
        kind: EntryType,
        mode: u32,
        data: &[u8],
        link: Option<&[u8]>,
    ) -> &mut Self {
        self.append(Self::header(name, kind, mode, data.len(), link), data)
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

    fn hard_link(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name.as_bytes(),
            EntryType::Link,
            0o644,
            b"",
            Some(target.as_bytes()),
        )
    }

    fn device(
        &mut self,
        name: &str,
        kind: EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = Self::header(name.as_bytes(), kind, mode, 0, None);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.append(h, b"")
    }

    /// PAX records for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.0
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// `<tempdir>/guard/layer`, an empty layer directory with nothing else around it.
struct Fixture {
    tmp: tempfile::TempDir,
    layer: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let layer = tmp.path().join("guard/layer");
        std::fs::create_dir_all(&layer).unwrap();
        Fixture { tmp, layer }
    }

    fn unpack(&self, tar: &[u8]) -> Result<Unpacked, UnpackError> {
        unpack_layer(tar, Compression::None, &self.layer)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.layer.join(rel)
    }

    /// Nothing was written next to the layer or next to its parent.
    fn assert_contained(&self) {
        let names = |dir: &Path| -> Vec<String> {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(self.tmp.path()), ["guard"]);
        assert_eq!(names(&self.tmp.path().join("guard")), ["layer"]);
    }
}

fn unpack(tar: Vec<u8>) -> (Fixture, Result<Unpacked, UnpackError>) {
    let fixture = Fixture::new();
    let result = fixture.unpack(&tar);
    fixture.assert_contained();
    (fixture, result)
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn lstat(path: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(path).unwrap()
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut value = [0u8; 64];
    let n = rustix::fs::lgetxattr(path, name, &mut value).ok()?;
    Some(value[..n].to_vec())
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
        .raw(b"bin/group", EntryType::Regular, 0o2711, b"g", None)
        .symlink("bin/sh", "tool")
        .hard_link("bin/hard", "bin/tool")
        .raw(b"tmp/", EntryType::Directory, 0o1777, b"", None)
        .raw(b"dev/fifo", EntryType::Fifo, 0o620, b"", None)
        .device("dev/null", EntryType::Char, 0o666, 1, 3)
        .device("dev/loop0", EntryType::Block, 0o660, 7, 0)
        .pax(&[("SCHILY.xattr.user.foo", b"bar")])
        .raw(b"etc/conf", EntryType::Regular, 0o640, b"abc", None)
        .pax(&[("mtime", b"1700000000.25")])
        .file("etc/precise", b"");
    let (fx, result) = unpack(t.bytes());
    let unpacked = result.unwrap();

    let tool = lstat(&fx.path("bin/tool"));
    assert_eq!(tool.mode() & 0o7777, 0o4755, "setuid survives chown");
    assert_eq!((tool.uid(), tool.gid()), (UID as u32, GID as u32));
    assert_eq!(tool.mtime(), MTIME as i64);
    assert_eq!(std::fs::read(fx.path("bin/tool")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(lstat(&fx.path("bin/group")).mode() & 0o7777, 0o2711);

    let sh = lstat(&fx.path("bin/sh"));
    assert!(sh.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(fx.path("bin/sh")).unwrap(),
        Path::new("tool")
    );
    assert_eq!((sh.uid(), sh.gid(), sh.mtime()), (1000, 2000, MTIME as i64));

    let hard = lstat(&fx.path("bin/hard"));
    assert_eq!(hard.ino(), tool.ino());
    assert_eq!(hard.nlink(), 2);

    let tmp = lstat(&fx.path("tmp"));
    assert!(tmp.is_dir());
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    assert_eq!(
        lstat(&fx.path("bin")).mtime(),
        MTIME as i64,
        "dir times set last"
    );
    assert_eq!(lstat(&fx.path("bin")).mode() & 0o7777, 0o755);

    let fifo = lstat(&fx.path("dev/fifo"));
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o620);
    assert_eq!(
        (fifo.uid(), fifo.gid(), fifo.mtime()),
        (1000, 2000, MTIME as i64)
    );
    let null = lstat(&fx.path("dev/null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    assert_eq!(null.uid(), 1000);
    let loop0 = lstat(&fx.path("dev/loop0"));
    assert!(loop0.file_type().is_block_device());
    assert_eq!(loop0.rdev(), rustix::fs::makedev(7, 0));
    // An implicit parent: 0755, ours.
    let dev = lstat(&fx.path("dev"));
    assert_eq!((dev.mode() & 0o7777, dev.uid()), (0o755, 0));

    assert_eq!(
        xattr(&fx.path("etc/conf"), "user.foo").as_deref(),
        Some(&b"bar"[..])
    );
    assert_eq!(lstat(&fx.path("etc/conf")).mode() & 0o7777, 0o640);
    let precise = lstat(&fx.path("etc/precise"));
    assert_eq!(
        (precise.mtime(), precise.mtime_nsec()),
        (1_700_000_000, 250_000_000)
    );

    assert_eq!(unpacked.size, 10 + 1 + 3);
}

#[test]
fn long_names_and_pax_owners_are_honoured() {
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    let mut t = Tar::new();
    let mut h = Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o600);
    t.0.append_data(&mut h, &long, b"long".as_slice()).unwrap();
    // A uid too large for the octal field travels as a PAX record.
    t.pax(&[("uid", b"3000000"), ("gid", b"3000001")])
        .file("big-ids", b"");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(std::fs::read(fx.path(&long)).unwrap(), b"long");
    let big = lstat(&fx.path("big-ids"));
    assert_eq!((big.uid(), big.gid()), (3_000_000, 3_000_001));
}

#[test]
fn the_diff_id_hashes_the_uncompressed_stream_whatever_the_compression() {
    let mut t = Tar::new();
    t.file("a", b"hello").file("b/c", &[7u8; 300_000]);
    let mut tar = t.bytes();
    // Like GNU tar, pad to a 10 KiB record: the padding is part of the digest.
    tar.resize(tar.len().div_ceil(10240) * 10240 + 10240, 0);
    let expected = sha(&tar);
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    // Two gzip members, as pigz and some registries write.
    let mut gz = gzip(&tar[..5000]);
    gz.extend(gzip(&tar[5000..]));
    let zst = zstd::encode_all(tar.as_slice(), 3).unwrap();
    for (blob, compression) in [
        (tar.clone(), Compression::None),
        (gz, Compression::Gzip),
        (zst, Compression::Zstd),
    ] {
        let fx = Fixture::new();
        let got = unpack_layer(blob.as_slice(), compression, &fx.layer).unwrap();
        assert_eq!(got.diff_id, expected, "{compression:?}");
        assert_eq!(got.size, 5 + 300_000, "{compression:?}");
        assert_eq!(std::fs::read(fx.path("b/c")).unwrap(), vec![7u8; 300_000]);
        fx.assert_contained();
    }
}

#[test]
fn a_corrupt_or_truncated_stream_is_an_archive_error() {
    let mut t = Tar::new();
    t.file("big", &[1u8; 100_000]);
    let tar = t.bytes();
    let (_fx, result) = unpack(tar[..50_000].to_vec());
    assert!(matches!(result, Err(UnpackError::Tar { .. })), "{result:?}");
    let fx = Fixture::new();
    let result = unpack_layer(&b"not gzip at all"[..], Compression::Gzip, &fx.layer);
    assert!(matches!(result, Err(UnpackError::Tar { .. })), "{result:?}");
}

#[test]
fn whiteouts_and_opaque_directories_take_overlayfs_form() {
    let mut t = Tar::new();
    t.file("data/.wh.gone", b"")
        .file("data/replaced", b"x")
        .file("data/.wh.replaced", b"")
        .dir("data/tree/")
        .file("data/tree/inner", b"x")
        .file("data/.wh.tree", b"")
        .dir("opaque/")
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/new", b"n")
        .file("implicit/.wh..wh..opq", b"")
        .file(".wh..wh.plnk", b"")
        .file("other/.wh..wh.aufs", b"");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    for hidden in ["data/gone", "data/replaced", "data/tree"] {
        let meta = lstat(&fx.path(hidden));
        assert!(meta.file_type().is_char_device(), "{hidden}");
        assert_eq!(meta.rdev(), 0, "{hidden}");
    }
    assert!(!fx.path("data/.wh.gone").exists());
    for opaque in ["opaque", "implicit"] {
        assert_eq!(
            xattr(&fx.path(opaque), "trusted.overlay.opaque").as_deref(),
            Some(&b"y"[..]),
            "{opaque}"
        );
    }
    assert!(!fx.path("opaque/.wh..wh..opq").exists());
    assert!(fx.path("opaque/new").exists());
    assert!(!fx.path(".wh..wh.plnk").exists());
    assert!(!fx.path("other/.wh..wh.aufs").exists());
}

#[test]
fn whiteouts_of_dot_and_dot_dot_are_refused() {
    for name in [&b".wh..."[..], b"sub/.wh..", b".wh.", b"sub/.wh..."] {
        let shown = String::from_utf8_lossy(name);
        let fx = Fixture::new();
        std::fs::write(fx.tmp.path().join("guard/sentinel"), "keep").unwrap();
        let mut t = Tar::new();
        t.file("sub/keep", b"k")
            .raw(name, EntryType::Regular, 0o644, b"", None);
        let result = fx.unpack(&t.bytes());
        assert!(
            matches!(result, Err(UnpackError::UnsafePath { .. })),
            "{shown}: {result:?}"
        );
        assert!(fx.tmp.path().join("guard/sentinel").exists(), "{shown}");
        assert!(fx.path("sub/keep").exists(), "{shown}");
    }
}

#[test]
fn dot_dot_above_the_root_is_refused() {
    for name in [&b"../escape"[..], b"a/../../escape", b"/../escape"] {
        let mut t = Tar::new();
        t.raw(name, EntryType::Regular, 0o644, b"x", None);
        let (_fx, result) = unpack(t.bytes()); // and nothing next to the layer
        assert!(
            matches!(result, Err(UnpackError::UnsafePath { .. })),
            "{result:?}"
        );
    }
}

#[test]
fn absolute_and_dotted_paths_land_inside_the_layer() {
    let mut t = Tar::new();
    t.raw(b"/abs/file", EntryType::Regular, 0o644, b"x", None)
        .raw(b"./dot/./file", EntryType::Regular, 0o644, b"y", None)
        .raw(b"in/../back", EntryType::Regular, 0o644, b"z", None)
        .raw(b"./", EntryType::Directory, 0o700, b"", None);
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(std::fs::read(fx.path("abs/file")).unwrap(), b"x");
    assert_eq!(std::fs::read(fx.path("dot/file")).unwrap(), b"y");
    assert_eq!(std::fs::read(fx.path("back")).unwrap(), b"z");
    // The root entry leaves the layer directory alone.
    assert_eq!(lstat(&fx.layer).mode() & 0o7777, 0o755);
}

#[test]
fn a_symlink_to_an_outside_directory_is_resolved_inside_the_layer() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_owned();
    let inner = target.trim_start_matches('/');
    // The directory exists inside the layer too: the write lands there.
    let mut t = Tar::new();
    t.dir(&format!("{inner}/"))
        .symlink("evil", &target)
        .file("evil/pwned", b"x");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(fx.path(inner).join("pwned").exists());
    // It does not: the entry is refused, nothing is written outside.
    let mut t = Tar::new();
    t.symlink("evil", &target).file("evil/pwned", b"x");
    let (_fx, result) = unpack(t.bytes());
    assert!(
        matches!(result, Err(UnpackError::UnsafePath { .. })),
        "{result:?}"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn a_symlink_climbing_out_resolves_to_the_layer_root() {
    let fx = Fixture::new();
    // What `up/<name>` would be if `up -> ../../..` were followed from the layer.
    let name = format!(
        "{}-escaped",
        fx.tmp.path().file_name().unwrap().to_string_lossy()
    );
    let escaped = fx.tmp.path().parent().unwrap().join(&name);
    let mut t = Tar::new();
    t.symlink("up", "../../..")
        .file(&format!("up/{name}"), b"x")
        .symlink("deep/up", "../../../../../..")
        .file("deep/up/tmp/x", b"y");
    fx.unpack(&t.bytes()).unwrap();
    fx.assert_contained();
    assert!(!escaped.exists());
    assert_eq!(std::fs::read(fx.path(&name)).unwrap(), b"x");
    assert_eq!(std::fs::read(fx.path("tmp/x")).unwrap(), b"y");
}

#[test]
fn final_symlinks_are_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "original").unwrap();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let victim_dir = outside.path().to_str().unwrap();
    let mut t = Tar::new();
    // A file over a symlink to an outside file.
    t.symlink("link", victim.to_str().unwrap())
        .file("link", b"overwritten")
        // A directory over a symlink to an outside directory.
        .symlink("dirlink", victim_dir)
        .raw(b"dirlink/", EntryType::Directory, 0o777, b"", None)
        // A device node, a symlink and a hard link over symlinks.
        .symlink("node", victim.to_str().unwrap())
        .raw(b"node", EntryType::Fifo, 0o600, b"", None)
        .symlink("sym", victim.to_str().unwrap())
        .symlink("sym", "elsewhere")
        .symlink("hard", victim.to_str().unwrap())
        .hard_link("hard", "link")
        // A whiteout over a symlink.
        .symlink("wh", victim.to_str().unwrap())
        .file(".wh.wh", b"");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "original");
    let victim_meta = lstat(&victim);
    assert_eq!((victim_meta.uid(), victim_meta.mode() & 0o7777), (0, 0o644));
    let outside_meta = lstat(outside.path());
    assert_eq!(
        (outside_meta.uid(), outside_meta.mode() & 0o7777),
        (0, 0o700)
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);

    assert!(lstat(&fx.path("link")).is_file());
    assert_eq!(std::fs::read(fx.path("link")).unwrap(), b"overwritten");
    assert!(lstat(&fx.path("dirlink")).is_dir());
    assert!(lstat(&fx.path("node")).file_type().is_fifo());
    assert_eq!(
        std::fs::read_link(fx.path("sym")).unwrap(),
        Path::new("elsewhere")
    );
    assert_eq!(lstat(&fx.path("hard")).ino(), lstat(&fx.path("link")).ino());
    assert!(lstat(&fx.path("wh")).file_type().is_char_device());
}

#[test]
fn hard_links_must_point_inside_the_layer() {
    for target in ["../../etc/passwd", "/etc/passwd", "missing", "evil/passwd"] {
        let mut t = Tar::new();
        t.symlink("evil", "/etc").hard_link("passwd", target);
        let (fx, result) = unpack(t.bytes());
        assert!(
            matches!(result, Err(UnpackError::UnsafePath { .. })),
            "{target}: {result:?}"
        );
        assert!(!fx.path("passwd").exists(), "{target}");
    }
    // A hard link to a symlink links the symlink, not what it points at.
    let mut t = Tar::new();
    t.symlink("s", "/etc/passwd").hard_link("h", "s");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    let h = lstat(&fx.path("h"));
    assert!(h.file_type().is_symlink());
    assert_eq!(h.ino(), lstat(&fx.path("s")).ino());
    // A link to itself, or listed twice, is harmless.
    let mut t = Tar::new();
    t.file("f", b"x")
        .hard_link("f", "f")
        .hard_link("g", "f")
        .hard_link("g", "f");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(std::fs::read(fx.path("f")).unwrap(), b"x");
    assert_eq!(lstat(&fx.path("g")).nlink(), 2);
}

#[test]
fn entries_replace_what_is_there() {
    let mut t = Tar::new();
    t.dir("x/")
        .dir("x/sub/")
        .file("x/sub/inner", b"1")
        .symlink("x/link", "/etc")
        .file("x", b"now a file")
        .file("y", b"file")
        .dir("y/")
        .dir("z/")
        .file("z/kept", b"k")
        .raw(b"z/", EntryType::Directory, 0o700, b"", None)
        .file("f", b"old")
        .file("f", b"new");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(std::fs::read(fx.path("x")).unwrap(), b"now a file");
    assert!(lstat(&fx.path("y")).is_dir());
    let z = lstat(&fx.path("z"));
    assert_eq!(
        z.mode() & 0o7777,
        0o700,
        "a directory over a directory updates it"
    );
    assert!(fx.path("z/kept").exists(), "and keeps its content");
    assert_eq!(std::fs::read(fx.path("f")).unwrap(), b"new");
    assert_eq!(lstat(&fx.path("f")).nlink(), 1);
}

#[test]
fn overlayfs_xattrs_from_the_archive_are_dropped() {
    let mut t = Tar::new();
    t.pax(&[
        ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ("SCHILY.xattr.trusted.other", b"kept"),
    ])
    .dir("d/");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    let d = fx.path("d");
    assert_eq!(xattr(&d, "trusted.overlay.redirect"), None);
    assert_eq!(xattr(&d, "trusted.overlay.opaque"), None);
    assert_eq!(xattr(&d, "trusted.other").as_deref(), Some(&b"kept"[..]));
}

#[test]
fn legacy_directories_and_global_headers_are_understood() {
    let mut t = Tar::new();
    let mut h = Tar::header(b"old/", EntryType::Regular, 0o750, 0, None);
    h.as_old_mut().linkflag = [0];
    t.append(h, b"");
    t.raw(
        b"pax_global_header",
        EntryType::XGlobalHeader,
        0o644,
        b"9 a=bcd\n",
        None,
    )
    .file("old/f", b"x");
    let (fx, result) = unpack(t.bytes());
    result.unwrap();
    assert_eq!(lstat(&fx.path("old")).mode() & 0o7777, 0o750);
    assert!(!fx.path("pax_global_header").exists());
}

#[test]
fn unknown_entry_types_are_refused() {
    let mut t = Tar::new();
    t.raw(b"volume", EntryType::new(b'V'), 0o644, b"", None);
    let (_fx, result) = unpack(t.bytes());
    assert!(
        matches!(&result, Err(UnpackError::UnsupportedEntry { entry, .. }) if entry == "volume"),
        "{result:?}"
    );
}

#[test]
fn errors_name_the_entry() {
    let mut t = Tar::new();
    t.raw(b"../escape", EntryType::Regular, 0o644, b"x", None);
    let (_fx, result) = unpack(t.bytes());
    let message = result.unwrap_err().to_string();
    assert!(message.contains("../escape"), "{message}");
}

#[test]
fn media_types_map_to_compressions() {
    use Compression::*;
    for (m, c) in [
        ("application/vnd.oci.image.layer.v1.tar", None),
        ("application/vnd.oci.image.layer.v1.tar+gzip", Gzip),
        ("application/vnd.oci.image.layer.v1.tar+zstd", Zstd),
        ("application/vnd.docker.image.rootfs.diff.tar", None),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", Gzip),
        (
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            Gzip,
        ),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            None,
        ),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            Gzip,
        ),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
            Zstd,
        ),
    ] {
        assert_eq!(Compression::from_media_type(m).unwrap(), c, "{m}");
    }
    for m in [
        "application/json",
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.oci.image.layer.v1.tar+bzip2",
        "",
    ] {
        assert!(
            matches!(
                Compression::from_media_type(m),
                Err(UnpackError::UnsupportedMediaType(ref got)) if got == m
            ),
            "{m}"
        );
    }
}
