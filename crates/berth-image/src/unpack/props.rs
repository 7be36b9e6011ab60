//! Property tests of the unpacker against hostile archives: whatever the entries say (`..`,
//! absolute names, symlink chains, whiteouts, hard links to anywhere, junk headers and PAX
//! records), nothing outside the layer directory changes and nothing panics.
//!
//! Each case unpacks into `<sandbox>/guard/layer` beside `<sandbox>/canary`, a directory the
//! archives aim at by absolute and by relative paths; afterwards everything in the sandbox
//! outside the layer must be as it was (names, types, sizes, modes, link counts, contents).
//! Like `tests.rs` they expect root (device nodes, ownership); without it the unpacks fail
//! earlier, and the properties still hold.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use proptest::prelude::*;
use tar::{EntryType, Header};

use super::*;

/// Stands for the canary directory's absolute path in generated names and link targets.
const CANARY: &str = "@CANARY@";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What one archive entry is.
#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink(String),
    Fifo,
}

/// One archive entry: its name (in the header or in a PAX `path` record), its kind and any
/// extra PAX records.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    pax_name: bool,
    kind: Kind,
    pax: Vec<(String, Vec<u8>)>,
}

/// `<tmp>/guard/layer` and `<tmp>/canary` with a file, a directory and a symlink in it.
struct Sandbox {
    tmp: tempfile::TempDir,
    layer: PathBuf,
    canary: PathBuf,
}

/// What a path outside the layer looks like: enough to see any write, removal or link.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    mode: u32,
    uid: u32,
    nlink: u64,
    size: u64,
    mtime: i64,
    content: Vec<u8>,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::Builder::new().prefix("u").tempdir().unwrap();
        let layer = tmp.path().join("guard/layer");
        let canary = tmp.path().join("canary");
        std::fs::create_dir_all(&layer).unwrap();
        std::fs::create_dir_all(canary.join("dir")).unwrap();
        std::fs::write(canary.join("file"), b"canary").unwrap();
        std::os::unix::fs::symlink("file", canary.join("link")).unwrap();
        Sandbox { tmp, layer, canary }
    }

    /// Every path of the sandbox except the layer's contents.
    fn snapshot(&self) -> BTreeMap<PathBuf, Seen> {
        let mut seen = BTreeMap::new();
        let mut todo = vec![self.tmp.path().to_owned()];
        while let Some(path) = todo.pop() {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            } else {
                Vec::new()
            };
            if meta.is_dir() && path != self.layer {
                for child in std::fs::read_dir(&path).unwrap() {
                    todo.push(child.unwrap().path());
                }
            }
            // The layer directory itself changes as it fills: only its mode counts.
            let inside = path == self.layer;
            let seen_here = Seen {
                mode: meta.mode(),
                uid: meta.uid(),
                nlink: if inside { 0 } else { meta.nlink() },
                size: if inside { 0 } else { meta.size() },
                mtime: if inside { 0 } else { meta.mtime() },
                content,
            };
            seen.insert(path, seen_here);
        }
        seen
    }

    /// Replaces the canary placeholder by the canary's absolute path.
    fn expand(&self, s: &str) -> Vec<u8> {
        s.replace(CANARY, self.canary.to_str().unwrap())
            .into_bytes()
    }

    /// Unpacks, then checks that nothing outside the layer changed and that the layer
    /// directory itself is still a directory.
    fn unpack_and_check(
        &self,
        blob: &[u8],
        compression: Compression,
    ) -> Result<Unpacked, UnpackError> {
        let before = self.snapshot();
        let result = unpack_layer(blob, compression, &self.layer);
        let after = self.snapshot();
        assert_eq!(
            before, after,
            "something outside the layer changed: {result:?}"
        );
        assert!(std::fs::symlink_metadata(&self.layer).unwrap().is_dir());
        result
    }
}

/// A raw GNU header (so `..` and absolute names can be written), as `tests.rs` builds them.
fn header(name: &[u8], kind: EntryType, size: u64, link: Option<&[u8]>) -> Header {
    let mut h = Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        let n = name.len().min(gnu.name.len());
        gnu.name[..n].copy_from_slice(&name[..n]);
        if let Some(link) = link {
            let n = link.len().min(gnu.linkname.len());
            gnu.linkname[..n].copy_from_slice(&link[..n]);
        }
    }
    h.set_entry_type(kind);
    h.set_mode(0o755);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_mtime(1_000_000);
    h.set_size(size);
    h
}

/// The archive of `entries`, placeholders expanded. Names and link targets longer than a
/// header holds go in PAX records.
fn build(sandbox: &Sandbox, entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let name = sandbox.expand(&e.name);
        let (kind, data, link) = match &e.kind {
            Kind::File(data) => (EntryType::Regular, data.clone(), None),
            Kind::Dir => (EntryType::Directory, Vec::new(), None),
            Kind::Symlink(t) => (EntryType::Symlink, Vec::new(), Some(sandbox.expand(t))),
            Kind::HardLink(t) => (EntryType::Link, Vec::new(), Some(sandbox.expand(t))),
            Kind::Fifo => (EntryType::Fifo, Vec::new(), None),
        };
        let mut pax: Vec<(String, Vec<u8>)> = e.pax.clone();
        if e.pax_name || name.len() > 100 {
            pax.push(("path".into(), name.clone()));
        }
        if let Some(link) = link.as_ref().filter(|l| l.len() > 100) {
            pax.push(("linkpath".into(), link.clone()));
        }
        if !pax.is_empty() {
            b.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        let header_name: &[u8] = if e.pax_name { b"placeholder" } else { &name };
        let mut h = header(header_name, kind, data.len() as u64, link.as_deref());
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A path component, hostile ones often.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop_oneof![Just("a"), Just("b"), Just("evil"), Just("dir")].prop_map(str::to_owned),
        3 => Just("..".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("".to_owned()),
        1 => Just(".wh.a".to_owned()),
        1 => Just(".wh.evil".to_owned()),
        1 => Just(".wh..wh..opq".to_owned()),
        1 => Just(".wh..wh.plnk".to_owned()),
        1 => Just(".wh..".to_owned()),
        1 => Just(".wh.".to_owned()),
        1 => Just("canary".to_owned()),
        1 => Just("file".to_owned()),
    ]
}

/// A path inside, above or beside the layer: relative with `..`, absolute, or through the
/// canary's absolute path.
fn path() -> impl Strategy<Value = String> {
    let relative = || prop::collection::vec(component(), 1..5).prop_map(|c| c.join("/"));
    prop_oneof![
        4 => relative(),
        1 => relative().prop_map(|p| format!("/{p}")),
        1 => (0usize..5, prop::option::of(prop_oneof![Just("file"), Just("dir"), Just("link")]))
            .prop_map(|(up, last)| {
                let mut p = "../".repeat(up) + "canary";
                if let Some(last) = last {
                    p = format!("{p}/{last}");
                }
                p
            }),
        1 => prop::option::of(prop_oneof![Just("file"), Just("dir"), Just("link"), Just("..")])
            .prop_map(|last| match last {
                Some(last) => format!("{CANARY}/{last}"),
                None => CANARY.to_owned(),
            }),
        1 => "\\PC{1,6}",
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Kind::File),
        2 => Just(Kind::Dir),
        3 => path().prop_map(Kind::Symlink),
        2 => path().prop_map(Kind::HardLink),
        1 => Just(Kind::Fifo),
    ]
}

/// PAX records an archive may carry: xattrs (overlayfs ones too), times good and bad.
fn pax_record() -> impl Strategy<Value = (String, Vec<u8>)> {
    prop_oneof![
        Just((
            "SCHILY.xattr.trusted.overlay.opaque".to_owned(),
            b"y".to_vec()
        )),
        Just((
            "SCHILY.xattr.trusted.overlay.redirect".to_owned(),
            b"/etc".to_vec()
        )),
        (
            "SCHILY\\.xattr\\.user\\.[a-z]{1,4}",
            prop::collection::vec(any::<u8>(), 0..8)
        ),
        (
            Just("mtime".to_owned()),
            "-?[0-9]{0,22}(\\.[0-9]{0,12})?|\\PC{0,4}".prop_map(String::into_bytes),
        ),
        (
            "uid|gid|size",
            "[0-9]{1,22}|[a-z ]{0,3}".prop_map(String::into_bytes),
        ),
    ]
}

fn any_entry() -> impl Strategy<Value = Entry> {
    (
        path(),
        prop::bool::weighted(0.15),
        kind(),
        prop::collection::vec(pax_record(), 0..2),
    )
        .prop_map(|(name, pax_name, kind, pax)| Entry {
            name,
            pax_name,
            kind,
            pax,
        })
}

proptest! {
    #![proptest_config(config(128))]

    /// Hostile entries never change anything outside the layer, and never panic.
    #[test]
    fn hostile_entries_stay_in_the_layer(entries in prop::collection::vec(any_entry(), 1..10)) {
        let sandbox = Sandbox::new();
        let blob = build(&sandbox, &entries);
        let _ = sandbox.unpack_and_check(&blob, Compression::None);
    }

    /// Byte garbage, raw or as the body of a compressed stream, is an error (or an empty
    /// archive when it starts with a zero block), never a panic.
    #[test]
    fn garbage_streams_are_errors(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            // Garbage after a valid-looking magic number, to get past the first check.
            prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| [&[0x1f, 0x8b, 8, 0][..], &b].concat()),
            prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| [&[0x28, 0xb5, 0x2f, 0xfd][..], &b].concat()),
        ],
        compression in prop_oneof![Just(Compression::None), Just(Compression::Gzip), Just(Compression::Zstd)],
    ) {
        let sandbox = Sandbox::new();
        let result = sandbox.unpack_and_check(&bytes, compression);
        if compression == Compression::None && result.is_ok() {
            let first = &bytes[..bytes.len().min(512)];
            prop_assert!(first.iter().all(|b| *b == 0), "garbage unpacked: {result:?}");
        }
    }

    /// A header whose fields are all junk but whose checksum is right reaches the field
    /// parsers (mode, owner, size, times, device numbers, type): an answer, never a panic.
    #[test]
    fn junk_headers_with_good_checksums_are_handled(
        raw in prop::collection::vec(any::<u8>(), 512),
        name in path(),
        data in prop::collection::vec(any::<u8>(), 0..1536),
        keep_magic in any::<bool>(),
    ) {
        let sandbox = Sandbox::new();
        let mut block = [0u8; 512];
        block.copy_from_slice(&raw);
        let mut h = Header::from_byte_slice(&block).clone();
        if keep_magic {
            h.as_mut_bytes()[257..265].copy_from_slice(b"ustar  \0");
        }
        let name = sandbox.expand(&name);
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        let n = name.len().min(field.len());
        field[..n].copy_from_slice(&name[..n]);
        h.set_cksum();
        let mut blob = h.as_bytes().to_vec();
        blob.extend_from_slice(&data);
        blob.resize(blob.len().div_ceil(512) * 512 + 1024, 0);
        let _ = sandbox.unpack_and_check(&blob, Compression::None);
    }
}

fn entry(name: &str, kind: Kind) -> Entry {
    Entry {
        name: name.to_owned(),
        pax_name: false,
        kind,
        pax: Vec::new(),
    }
}

/// The chains the properties aim at, spelt out, each in its own layer: symlinks out of the
/// layer (absolute and climbing) and chains of them, with a file, a whiteout, an opaque
/// marker, a FIFO and hard links written through them.
#[test]
fn symlink_chains_to_the_canary_stay_inside() {
    let through = |link: Kind, then: &str, kind: Kind| {
        vec![
            entry("up", Kind::Symlink("../../canary".into())),
            entry("abs", Kind::Symlink(CANARY.into())),
            entry("chain", link),
            entry(then, kind),
        ]
    };
    let chains = [
        Kind::Symlink("up".into()),
        Kind::Symlink("abs".into()),
        Kind::Symlink("up/../abs".into()),
        Kind::Symlink("../../../canary/dir".into()),
    ];
    for link in chains {
        for (then, kind) in [
            ("chain/file", Kind::File(b"pwned".to_vec())),
            ("chain/.wh.file", Kind::File(Vec::new())),
            ("chain/.wh.dir", Kind::File(Vec::new())),
            ("chain/.wh..wh..opq", Kind::File(Vec::new())),
            ("chain/dir/x", Kind::Fifo),
            ("chain/link", Kind::Dir),
            ("chain/new", Kind::HardLink("chain/file".into())),
        ] {
            let sandbox = Sandbox::new();
            let blob = build(&sandbox, &through(link.clone(), then, kind));
            let _ = sandbox.unpack_and_check(&blob, Compression::None);
        }
    }
    // A symlink climbing out resolves to the layer root: the write lands there.
    let sandbox = Sandbox::new();
    let blob = build(
        &sandbox,
        &[
            entry("up", Kind::Symlink("../../..".into())),
            entry("up/file", Kind::File(b"in".to_vec())),
        ],
    );
    sandbox.unpack_and_check(&blob, Compression::None).unwrap();
    assert_eq!(std::fs::read(sandbox.layer.join("file")).unwrap(), b"in");
    // Hard links to the canary's file, by absolute and climbing paths, are refused.
    for target in [format!("{CANARY}/file"), "../../canary/file".to_owned()] {
        let sandbox = Sandbox::new();
        let blob = build(&sandbox, &[entry("hard", Kind::HardLink(target.clone()))]);
        let result = sandbox.unpack_and_check(&blob, Compression::None);
        assert!(
            matches!(result, Err(UnpackError::UnsafePath { .. })),
            "{target}: {result:?}"
        );
    }
}
