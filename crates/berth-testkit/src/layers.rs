//! Layer tarballs built in memory: the base layer from the host's busybox, whiteout layers
//! and layers of pseudo-random data.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
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

/// The busybox applets linked in `/bin`.
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

/// The shared libraries `ldd` lists for a binary (the dynamic loader included), as absolute
/// paths. None for a static binary.
fn shared_libraries(binary: &str) -> Vec<String> {
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .expect("run ldd (Debian package libc-bin)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("not found"),
        "ldd {binary}: a library is missing:\n{stdout}"
    );
    stdout
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

/// Copies host paths into a layer as the host has them: every symlink met on the way (such as
/// Debian's `lib -> usr/lib` or `/lib64/ld-linux-x86-64.so.2 -> /lib/...`) becomes the same
/// symlink, directories and the regular file at the end are stored at their real paths.
struct HostCopy<'a> {
    tar: &'a mut tar::Builder<Vec<u8>>,
    done: std::collections::BTreeSet<PathBuf>,
}

impl HostCopy<'_> {
    fn copy(&mut self, path: &str) {
        use std::os::unix::fs::PermissionsExt;
        let mut resolved = PathBuf::from("/");
        let mut pending = VecDeque::new();
        push_front(&mut pending, Path::new(path));
        let mut links = 0;
        while let Some(step) = pending.pop_front() {
            let name = match step {
                Step::Root => {
                    resolved = PathBuf::from("/");
                    continue;
                }
                Step::Parent => {
                    resolved.pop();
                    continue;
                }
                Step::Name(name) => name,
            };
            let host = resolved.join(name);
            let rel = host
                .strip_prefix("/")
                .expect("an absolute path")
                .to_path_buf();
            let meta = std::fs::symlink_metadata(&host)
                .unwrap_or_else(|e| panic!("stat {}: {e}", host.display()));
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                links += 1;
                assert!(links < 40, "{path}: too many symlinks");
                let target = std::fs::read_link(&host)
                    .unwrap_or_else(|e| panic!("readlink {}: {e}", host.display()));
                if self.done.insert(rel.clone()) {
                    symlink(self.tar, &rel.to_string_lossy(), &target.to_string_lossy());
                }
                push_front(&mut pending, &target);
                continue;
            }
            if self.done.insert(rel.clone()) {
                let rel = rel.to_string_lossy();
                if meta.is_dir() {
                    dir(self.tar, &rel, mode);
                } else if meta.is_file() {
                    let data = std::fs::read(&host)
                        .unwrap_or_else(|e| panic!("read {}: {e}", host.display()));
                    file(self.tar, &rel, mode, &data);
                } else {
                    panic!("{}: neither file, directory nor symlink", host.display());
                }
            }
            resolved = host;
        }
    }
}

/// One step of path resolution.
enum Step {
    Root,
    Parent,
    Name(OsString),
}

/// Puts the components of `path` in front of `pending`, in order.
fn push_front(pending: &mut VecDeque<Step>, path: &Path) {
    let steps: Vec<Step> = path
        .components()
        .filter_map(|c| match c {
            Component::RootDir => Some(Step::Root),
            Component::ParentDir => Some(Step::Parent),
            Component::Normal(n) => Some(Step::Name(n.to_os_string())),
            Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for step in steps.into_iter().rev() {
        pending.push_front(step);
    }
}

/// The base layer, built once per process from the host:
///
/// - `/bin/busybox` and applet symlinks to it (`sh`, `sleep`, `echo`, `cat`, `ls`, `id`,
///   `true`, … see `APPLETS`);
/// - the shared libraries `ldd /bin/busybox` names, the dynamic loader included, laid out as
///   on the host: on Debian 12, real files under `usr/lib/x86_64-linux-gnu/`, symlinks `lib ->
///   usr/lib`, `lib64 -> usr/lib64` and `usr/lib64/ld-linux-x86-64.so.2 -> /lib/…` (absolute);
/// - directories `etc`, `tmp` (1777), `proc`, `sys`, `dev`, `root` (700), `home/app` (owned by
///   1000:1000), `var`;
/// - `/etc/passwd` (root 0, `app:x:1000:1000::/home/app:/bin/sh`) and `/etc/group` (`root:x:0:`,
///   `app:x:1000:`, `extra:x:3000:app`).
///
/// Entries are owned by root unless said otherwise, with a fixed mtime: the diff ID only
/// changes with the host's busybox and libraries.
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
            let mut libs = HostCopy {
                tar: &mut b,
                done: Default::default(),
            };
            for lib in shared_libraries(busybox) {
                libs.copy(&lib);
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
            let mut home = header("home/app", EntryType::Directory, 0o755, 0);
            home.set_uid(1000);
            home.set_gid(1000);
            home.set_cksum();
            b.append(&home, std::io::empty()).expect("append home/app");
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
