//! A container's bind mounts: the request's host paths resolved on the node (a missing one is
//! made, as the kubelet expects), their propagation checked against the node's mount that
//! holds them, and the form the record keeps. The spec's mount options are `spec`'s.

use std::path::{Path, PathBuf};

use berth_store::MountRecord;

use super::MountRequest;
use super::spec::BindMount;
use crate::host::{Host, ReadError};
use crate::request::Propagation;

/// Why a requested bind mount cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The missing host path could not be made.
    #[error("cannot create host path {}: {source}", path.display())]
    CreateHostPath {
        /// The host path asked for.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The host path does not resolve.
    #[error("host path {}: {source}", path.display())]
    HostPath {
        /// The host path asked for.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The node's mount table could not be read.
    #[error(transparent)]
    MountTable(#[from] ReadError),
    /// No mount of the node holds the host path.
    #[error("no mount holds {}", path.display())]
    NoMount {
        /// The resolved host path.
        path: PathBuf,
    },
    /// HostToContainer over a private mount: host mounts would never reach the container.
    #[error(
        "host path {} is on mount {} which is neither shared nor slave: HostToContainer propagation needs one",
        path.display(),
        point.display()
    )]
    NotReceiving {
        /// The resolved host path.
        path: PathBuf,
        /// The node's mount holding it.
        point: PathBuf,
    },
    /// Bidirectional over a mount that is not shared: container mounts would never reach
    /// the node.
    #[error(
        "host path {} is on mount {} which is not shared: Bidirectional propagation needs it",
        path.display(),
        point.display()
    )]
    NotShared {
        /// The resolved host path.
        path: PathBuf,
        /// The node's mount holding it.
        point: PathBuf,
    },
}

/// The request's bind mounts, host paths resolved through symlinks; a missing host path is
/// created as a directory, as the kubelet expects.
pub(super) fn bind_mounts(
    requests: &[MountRequest],
    host: &dyn Host,
) -> Result<Vec<BindMount>, MountError> {
    requests
        .iter()
        .map(|m| {
            let host_path = resolve(Path::new(&m.host_path))?;
            check_propagation(host, &host_path, m.propagation)?;
            Ok(BindMount {
                container_path: m.container_path.clone(),
                host_path,
                readonly: m.readonly,
                recursive_read_only: m.recursive_read_only,
                propagation: m.propagation,
            })
        })
        .collect()
}

/// The record of a mount as made; its propagation in the one text form.
pub(super) fn record(m: &BindMount) -> MountRecord {
    MountRecord {
        container_path: m.container_path.clone(),
        host_path: m.host_path.display().to_string(),
        readonly: m.readonly,
        recursive_read_only: m.recursive_read_only,
        propagation: m.propagation.to_string(),
    }
}

/// `host` with every symlink resolved, made as a directory first when missing.
fn resolve(host: &Path) -> Result<PathBuf, MountError> {
    let unresolved = |source| MountError::HostPath {
        path: host.to_owned(),
        source,
    };
    match host.canonicalize() {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(host).map_err(|source| MountError::CreateHostPath {
                path: host.to_owned(),
                source,
            })?;
            host.canonicalize().map_err(unresolved)
        }
        Err(e) => Err(unresolved(e)),
    }
}

/// Propagation into the container needs the node's mount to propagate: shared or slave for
/// `rslave`, shared for `rshared` (as containerd checks). Otherwise the request would
/// silently get a private mount.
fn check_propagation(
    host: &dyn Host,
    path: &Path,
    propagation: Propagation,
) -> Result<(), MountError> {
    if propagation == Propagation::Private {
        return Ok(());
    }
    let mount = host.mount_of(path)?.ok_or_else(|| MountError::NoMount {
        path: path.to_owned(),
    })?;
    let (path, point) = (path.to_owned(), mount.point);
    match propagation {
        Propagation::HostToContainer if !(mount.shared || mount.slave) => {
            Err(MountError::NotReceiving { path, point })
        }
        Propagation::Bidirectional if !mount.shared => Err(MountError::NotShared { path, point }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;

    fn request(host_path: &Path, propagation: Propagation) -> MountRequest {
        MountRequest {
            container_path: "/data".into(),
            host_path: host_path.display().to_string(),
            propagation,
            ..Default::default()
        }
    }

    /// A node whose root mount is private and whose temporary directory's mount is as given.
    fn node(tmp: &Path, shared: bool, slave: bool) -> FakeHost {
        FakeHost::default()
            .mount("/", false, false)
            .mount(tmp.to_str().unwrap(), shared, slave)
    }

    #[test]
    fn rshared_over_a_private_host_mount_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().canonicalize().unwrap();
        let private = node(&tmp, false, false);
        let err = bind_mounts(&[request(&tmp, Propagation::Bidirectional)], &private).unwrap_err();
        assert!(matches!(&err, MountError::NotShared { point, .. } if *point == tmp));
        assert!(err.to_string().contains("not shared"), "{err}");
        // A slave mount is not enough either: the container's mounts would not reach the node.
        let slave = node(&tmp, false, true);
        assert!(matches!(
            bind_mounts(&[request(&tmp, Propagation::Bidirectional)], &slave),
            Err(MountError::NotShared { .. })
        ));
        let shared = node(&tmp, true, false);
        let mounts = bind_mounts(&[request(&tmp, Propagation::Bidirectional)], &shared).unwrap();
        assert_eq!(mounts[0].host_path, tmp);
    }

    #[test]
    fn rslave_needs_a_shared_or_slave_host_mount() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().canonicalize().unwrap();
        let wanted = [request(&tmp, Propagation::HostToContainer)];
        assert!(matches!(
            bind_mounts(&wanted, &node(&tmp, false, false)),
            Err(MountError::NotReceiving { .. })
        ));
        assert!(bind_mounts(&wanted, &node(&tmp, false, true)).is_ok());
        assert!(bind_mounts(&wanted, &node(&tmp, true, false)).is_ok());
        // Private asks nothing of the node, not even a mount table.
        let nothing = FakeHost::default();
        assert!(bind_mounts(&[request(&tmp, Propagation::Private)], &nothing).is_ok());
        assert!(matches!(
            bind_mounts(&wanted, &nothing),
            Err(MountError::NoMount { .. })
        ));
    }

    #[test]
    fn host_paths_resolve_through_links_and_missing_ones_are_made() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().canonicalize().unwrap();
        std::fs::create_dir(tmp.join("real")).unwrap();
        std::os::unix::fs::symlink(tmp.join("real"), tmp.join("link")).unwrap();
        let host = FakeHost::default();
        let mounts = bind_mounts(
            &[
                request(&tmp.join("link"), Propagation::Private),
                request(&tmp.join("new/deeper"), Propagation::Private),
            ],
            &host,
        )
        .unwrap();
        assert_eq!(mounts[0].host_path, tmp.join("real"));
        assert!(tmp.join("new/deeper").is_dir());
        let file = tmp.join("file");
        std::fs::write(&file, "").unwrap();
        let err =
            bind_mounts(&[request(&file.join("below"), Propagation::Private)], &host).unwrap_err();
        assert!(matches!(err, MountError::HostPath { .. }), "{err}");
        assert!(err.to_string().starts_with("host path "), "{err}");
    }

    #[test]
    fn the_record_keeps_the_spec_form_of_propagation() {
        let m = BindMount {
            container_path: "/data".into(),
            host_path: "/srv/data".into(),
            readonly: true,
            recursive_read_only: false,
            propagation: Propagation::HostToContainer,
        };
        let r = record(&m);
        assert_eq!(
            (r.host_path.as_str(), r.propagation.as_str()),
            ("/srv/data", "rslave")
        );
        assert_eq!(r.propagation.parse(), Ok(m.propagation));
    }
}
