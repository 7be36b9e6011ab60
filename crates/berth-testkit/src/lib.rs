//! Test fixtures shared by berth's integration tests and benchmarks.
//!
//! - [`Registry`]: Debian's `docker-registry` (distribution 2.8) on a free loopback port with
//!   a temp storage dir, optionally behind htpasswd basic auth. Killed when dropped, and by
//!   the kernel if the test process dies first.
//! - [`images`]: OCI images built in memory from the host's busybox (gzip, zstd, plain and
//!   Docker schema 2 variants, a multi-layer image with whiteouts, a multi-arch index, a
//!   ~50 MB image for benchmarks), with exact digests; pushed with `oci-client` or written
//!   as an OCI layout.
//! - [`layers`]: the layer tarballs themselves.
//! - [`TestNetwork`]: a CNI network of the test's own (bridge, /24, lease dir).
//! - [`busybox_bundle`]: an OCI bundle with a busybox rootfs.
//! - [`streaming`]: SPDY and WebSocket clients of the streaming server (exec, port-forward).
//! - [`write_script`]: a stand-in or wrapper for a binary (a runtime that fails, hangs or
//!   records how it was run).
//!
//! Nothing here reaches beyond loopback: the registry listens on 127.0.0.1 only, and
//! [`images::client`] ignores proxy settings and refuses any other host.

mod bundle;
pub mod images;
pub mod layers;
mod network;
mod registry;
pub mod streaming;

pub use bundle::busybox_bundle;
pub use images::{
    BuiltImage, BuiltIndex, Flavour, PushedImage, PushedIndex, TestImages, big_image, build_image,
    build_index, busybox_image, client, default_config, layered_image, multi_arch_index, push_all,
    push_all_with_auth, push_big, push_image, push_index,
};
pub use layers::{Layer, busybox_layer, random_layer, whiteout_layers};
pub use network::TestNetwork;
pub use registry::Registry;

/// Writes `text` (a script with its `#!` line) to `path`, executable by its owner and all.
pub fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("making {} executable: {e}", path.display()));
}
