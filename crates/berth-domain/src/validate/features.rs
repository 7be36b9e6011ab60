//! Checks of the optional CRI features a container asks for, as containerd 2.x makes them.
//!
//! Owns: the rules of recursive read-only mounts (`Mount.recursive_read_only`). The CRI says
//! such a mount must also be `readonly` and have Private propagation; and only a runtime
//! handler that declares the feature in `Status` can make one. Pure functions over the
//! request and what the handler's probe found; must not touch the file system or a runtime.
//! (SupplementalGroupsPolicy needs no check here: an unknown number is refused when the CRI
//! request is converted, and both policies work with every handler.)

use super::{InvalidField, Object};
use crate::request::{MountRequest, Propagation};

/// Why a recursive read-only mount is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureRefusal {
    /// The mount is not also `readonly`.
    #[error("a recursive read-only mount must also set readonly, and {mount} is read-write")]
    RroWritable {
        /// The mount asking for it.
        mount: WhichMount,
    },
    /// The mount's propagation is not Private.
    #[error(
        "a recursive read-only mount needs Private propagation, and {mount} asks for {propagation:?}"
    )]
    RroPropagation {
        /// The mount asking for it.
        mount: WhichMount,
        /// The propagation it asks for.
        propagation: Propagation,
    },
    /// The pod's runtime handler cannot make one.
    #[error(
        "runtime handler {handler:?} does not support recursive read-only mounts (it needs \
         `rro` in the runtime's `features` and Linux 5.12 or newer), asked for {mount}"
    )]
    RroUnsupported {
        /// The handler's name.
        handler: String,
        /// The first such mount asked for.
        mount: WhichMount,
    },
}

/// A mount, for messages: where it comes from and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhichMount {
    /// Its path on the node.
    pub host_path: String,
    /// Its path in the container.
    pub container_path: String,
}

impl From<&MountRequest> for WhichMount {
    fn from(m: &MountRequest) -> Self {
        Self {
            host_path: m.host_path.clone(),
            container_path: m.container_path.clone(),
        }
    }
}

impl std::fmt::Display for WhichMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the mount of {:?} at {:?}",
            self.host_path, self.container_path
        )
    }
}

/// Field of a mount's recursive read-only flag, for messages.
fn field(i: usize) -> String {
    format!("mounts[{i}].recursive_read_only")
}

/// Every recursive read-only mount is read-only and private, as the CRI requires.
pub fn mounts(c: &Object, mounts: &[MountRequest]) -> Result<(), InvalidField> {
    for (i, m) in mounts.iter().enumerate() {
        if !m.recursive_read_only {
            continue;
        }
        if !m.readonly {
            return Err(c.refuse(
                field(i),
                "true",
                FeatureRefusal::RroWritable { mount: m.into() },
            ));
        }
        if m.propagation != Propagation::Private {
            return Err(c.refuse(
                field(i),
                "true",
                FeatureRefusal::RroPropagation {
                    mount: m.into(),
                    propagation: m.propagation,
                },
            ));
        }
    }
    Ok(())
}

/// The pod's runtime handler can make the recursive read-only mounts asked for:
/// `supported` is what its probe found (the runtime lists `rro`, the kernel is 5.12 or newer).
pub fn recursive_read_only_supported(
    container: &str,
    mounts: &[MountRequest],
    handler: &str,
    supported: bool,
) -> Result<(), InvalidField> {
    if supported {
        return Ok(());
    }
    match mounts.iter().position(|m| m.recursive_read_only) {
        None => Ok(()),
        Some(i) => Err(Object::container(container).refuse(
            field(i),
            "true",
            FeatureRefusal::RroUnsupported {
                handler: handler.to_owned(),
                mount: (&mounts[i]).into(),
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(readonly: bool, rro: bool, propagation: Propagation) -> MountRequest {
        MountRequest {
            container_path: "/mnt".into(),
            host_path: "/srv/vol".into(),
            readonly,
            recursive_read_only: rro,
            propagation,
        }
    }

    #[test]
    fn rro_needs_readonly_and_private_propagation() {
        let c = Object::container("app");
        assert!(mounts(&c, &[mount(true, true, Propagation::Private)]).is_ok());
        assert!(mounts(&c, &[mount(false, false, Propagation::Bidirectional)]).is_ok());
        let e = mounts(
            &c,
            &[
                mount(true, false, Propagation::Private),
                mount(false, true, Propagation::Private),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("container \"app\"")
                && e.contains("mounts[1].recursive_read_only")
                && e.contains("readonly")
                && e.contains("/srv/vol"),
            "{e}"
        );
        for p in [Propagation::HostToContainer, Propagation::Bidirectional] {
            let e = mounts(&c, &[mount(true, true, p)]).unwrap_err().to_string();
            assert!(
                e.contains("Private propagation") && e.contains(&format!("{p:?}")),
                "{e}"
            );
        }
    }

    #[test]
    fn rro_needs_a_handler_that_has_it() {
        let rro = [mount(true, true, Propagation::Private)];
        assert!(recursive_read_only_supported("app", &rro, "runc", true).is_ok());
        let plain = [mount(true, false, Propagation::Private)];
        assert!(recursive_read_only_supported("app", &plain, "crun", false).is_ok());
        let e = recursive_read_only_supported("app", &rro, "crun", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("container \"app\"")
                && e.contains("mounts[0]")
                && e.contains("\"crun\" does not support recursive read-only mounts"),
            "{e}"
        );
    }
}
