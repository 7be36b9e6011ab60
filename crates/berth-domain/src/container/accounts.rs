//! The image's account files, `/etc/passwd` and `/etc/group`, read inside a container's root
//! file system for resolving its user. A link in the image never leads out of the root.

use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// The texts of the image's `/etc/passwd` and `/etc/group`; empty when missing or unreadable
/// (the user then resolves by number only).
#[derive(Debug, Clone, Default)]
pub(super) struct Accounts {
    /// `/etc/passwd`.
    pub passwd: String,
    /// `/etc/group`.
    pub group: String,
}

impl Accounts {
    /// Reads both files inside `root`.
    pub fn read(root: &Path) -> Self {
        Self {
            passwd: read_in_root(root, "etc/passwd"),
            group: read_in_root(root, "etc/group"),
        }
    }
}

/// Reads a file of the image inside its root, never following a link out of it.
fn read_in_root(root: &Path, path: &str) -> String {
    let Ok(dir) = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()) else {
        return String::new();
    };
    let Ok(fd) = rustix::fs::openat2(
        &dir,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) else {
        return String::new();
    };
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_out_of_the_root_stays_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("passwd"), "evil:x:0:0::/:/bin/sh\n").unwrap();
        std::fs::write(root.join("etc/group"), "app:x:1000:\n").unwrap();
        std::os::unix::fs::symlink(outside.join("passwd"), root.join("etc/passwd")).unwrap();
        let accounts = Accounts::read(&root);
        assert_eq!(
            accounts.passwd, "",
            "the link resolves inside the root, to nothing"
        );
        assert_eq!(accounts.group, "app:x:1000:\n");
        assert_eq!(Accounts::read(&dir.path().join("none")).group, "");
    }
}
