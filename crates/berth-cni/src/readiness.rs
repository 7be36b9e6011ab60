//! Is pod networking usable right now? Answers `Status`'s `NetworkReady` condition.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::conf::{ConfList, builtin_default, load_first};

/// The plugin run on each pod's `lo`, apart from the configured network.
pub const LOOPBACK_PLUGIN: &str = "loopback";

/// The verdict on pod networking.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkReadiness {
    /// The network list that pods will use, with every plugin binary found.
    Ready(ConfList),
    /// Pods cannot be networked; `message` says what is missing, naming files and dirs.
    NotReady {
        /// What is wrong, for the operator.
        message: String,
    },
}

/// Finds a plugin binary in the bin dirs, in order.
pub fn find_plugin(kind: &str, bin_dirs: &[PathBuf]) -> Option<PathBuf> {
    bin_dirs.iter().map(|d| d.join(kind)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Reads the conf dir (falling back to the built-in default) and checks that every plugin
/// the list chains, plus `loopback`, is installed.
pub fn check_readiness(conf_dir: &Path, bin_dirs: &[PathBuf]) -> NetworkReadiness {
    let list = match load_first(conf_dir) {
        Ok(Some(list)) => list,
        Ok(None) => builtin_default(),
        Err(e) => {
            return NetworkReadiness::NotReady {
                message: e.to_string(),
            };
        }
    };
    let missing: Vec<&str> = list
        .required_binaries()
        .into_iter()
        .chain([LOOPBACK_PLUGIN])
        .filter(|kind| find_plugin(kind, bin_dirs).is_none())
        .collect();
    if missing.is_empty() {
        return NetworkReadiness::Ready(list);
    }
    let dirs: Vec<String> = bin_dirs.iter().map(|d| d.display().to_string()).collect();
    NetworkReadiness::NotReady {
        message: format!(
            "CNI plugin(s) {} needed by network {:?} ({}) not found in {}",
            missing.join(", "),
            list.name,
            list.source,
            dirs.join(":")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_plugin(dir: &Path, name: &str) {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn missing_plugins_are_named() {
        let conf = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        fake_plugin(bin.path(), "bridge");
        let r = check_readiness(conf.path(), &[bin.path().to_owned()]);
        let NetworkReadiness::NotReady { message } = r else {
            panic!("should not be ready: {r:?}")
        };
        assert!(
            message.contains("host-local, portmap, loopback"),
            "{message}"
        );
        assert!(message.contains("built-in default"), "{message}");
    }

    #[test]
    fn all_plugins_present_is_ready_and_later_dirs_count() {
        let conf = tempfile::tempdir().unwrap();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fake_plugin(a.path(), "bridge");
        for p in ["portmap", "loopback", "host-local"] {
            fake_plugin(b.path(), p);
        }
        let r = check_readiness(conf.path(), &[a.path().to_owned(), b.path().to_owned()]);
        assert!(
            matches!(r, NetworkReadiness::Ready(ref l) if l.name == "berth"),
            "{r:?}"
        );
    }

    #[test]
    fn broken_config_is_not_ready() {
        let conf = tempfile::tempdir().unwrap();
        std::fs::write(conf.path().join("1.conflist"), "[]").unwrap();
        let r = check_readiness(conf.path(), &[]);
        assert!(
            matches!(r, NetworkReadiness::NotReady { ref message } if message.contains("1.conflist"))
        );
    }
}
