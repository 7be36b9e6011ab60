//! Layer tarballs built in memory from the host's busybox.

use std::path::Path;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// An uncompressed layer and its diff ID.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The tar bytes.
    pub tar: Vec<u8>,
    /// `sha256:` of `tar`.
    pub diff_id: String,
}

impl Layer {
    fn from_builder(builder: tar::Builder<Vec<u8>>) -> Layer {
        let tar = builder.into_inner().expect("finish tar");
        let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
        Layer { tar, diff_id }
    }
}

/// Fixed mtime so that layers, and so image IDs, are reproducible.
const MTIME: u64 = 1_700_000_000;

const APPLETS: &[&str] = &[
    "sh", "ash", "sleep", "echo", "cat", "ls", "id", "true", "false", "env", "ps", "kill", "mkdir",
    "rm", "touch", "grep", "head", "tail", "wc", "hostname", "ip", "ping", "nc", "wget", "date",
    "stat", "mount", "chmod", "test", "[", "printf", "yes", "dd", "seq", "top", "uname",
];

fn header(path: &str, kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_path(path).expect("tar path");
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    h.set_cksum();
    h
}

fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
    b.append(
        &header(path, EntryType::Directory, mode, 0),
        std::io::empty(),
    )
    .expect("append dir");
}

fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
    b.append(
        &header(path, EntryType::Regular, mode, data.len() as u64),
        data,
    )
    .expect("append file");
}

fn symlink(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = header(path, EntryType::Symlink, 0o777, 0);
    h.set_link_name(target).expect("link name");
    h.set_cksum();
    b.append(&h, std::io::empty()).expect("append symlink");
}

/// The shared libraries `ldd` lists for a binary, as absolute paths.
fn shared_libraries(binary: &str) -> Vec<String> {
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| path.to_owned())
        })
        .collect()
}

/// The base layer: busybox with its libraries, applet links, `/etc/passwd` and
/// `/etc/group` (users root and app(1000), groups root, app(1000), extra(3000) with app).
/// Built once per process.
pub fn busybox_layer() -> Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let busybox = "/bin/busybox";
            assert!(
                Path::new(busybox).exists(),
                "{busybox} is missing: apt-get install busybox"
            );
            let mut b = tar::Builder::new(Vec::new());
            for (d, mode) in [
                ("bin", 0o755),
                ("etc", 0o755),
                ("tmp", 0o1777),
                ("proc", 0o555),
                ("sys", 0o555),
                ("dev", 0o755),
                ("root", 0o700),
                ("home", 0o755),
                ("var", 0o755),
            ] {
                dir(&mut b, d, mode);
            }
            let mut made = std::collections::BTreeSet::new();
            for lib in shared_libraries(busybox) {
                let rel = lib.trim_start_matches('/');
                let mut prefix = String::new();
                for part in Path::new(rel).parent().into_iter().flat_map(|p| p.iter()) {
                    prefix.push_str(&part.to_string_lossy());
                    if made.insert(prefix.clone()) {
                        dir(&mut b, &prefix, 0o755);
                    }
                    prefix.push('/');
                }
                let data = std::fs::read(&lib).unwrap_or_else(|e| panic!("read {lib}: {e}"));
                file(&mut b, rel, 0o755, &data);
            }
            let data = std::fs::read(busybox).expect("read busybox");
            file(&mut b, "bin/busybox", 0o755, &data);
            for applet in APPLETS {
                symlink(&mut b, &format!("bin/{applet}"), "busybox");
            }
            file(
                &mut b,
                "etc/passwd",
                0o644,
                b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
            );
            file(
                &mut b,
                "etc/group",
                0o644,
                b"root:x:0:\napp:x:1000:\nextra:x:3000:app\n",
            );
            dir(&mut b, "home/app", 0o755);
            Layer::from_builder(b)
        })
        .clone()
}

/// Two layers over the base: the first adds `/data/keep`, `/data/gone`, `/opaque/old`; the
/// second deletes `/data/gone` (whiteout), makes `/opaque` opaque and adds `/opaque/new`.
pub fn whiteout_layers() -> (Layer, Layer) {
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "data", 0o755);
    file(&mut b, "data/keep", 0o644, b"keep\n");
    file(&mut b, "data/gone", 0o644, b"gone\n");
    dir(&mut b, "opaque", 0o755);
    file(&mut b, "opaque/old", 0o644, b"old\n");
    let first = Layer::from_builder(b);
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "data", 0o755);
    file(&mut b, "data/.wh.gone", 0o644, b"");
    dir(&mut b, "opaque", 0o755);
    file(&mut b, "opaque/.wh..wh..opq", 0o644, b"");
    file(&mut b, "opaque/new", 0o644, b"new\n");
    (first, Layer::from_builder(b))
}

/// A layer of `files` files holding `bytes` incompressible pseudo-random bytes in all,
/// reproducible from `seed`.
pub fn random_layer(seed: u64, files: usize, bytes: usize) -> Layer {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "blob", 0o755);
    let per_file = bytes / files.max(1);
    for i in 0..files {
        let mut data = vec![0u8; per_file];
        for chunk in data.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        file(&mut b, &format!("blob/{seed}-{i}"), 0o644, &data);
    }
    Layer::from_builder(b)
}
