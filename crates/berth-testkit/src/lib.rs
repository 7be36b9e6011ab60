//! Test fixtures shared by berth's integration tests and benchmarks.
//!
//! - [`Registry`]: Debian's `docker-registry` on a free loopback port with a temp storage
//!   dir, optionally behind htpasswd basic auth. Killed when dropped.
//! - [`images`]: small OCI images built from Debian's busybox (gzip, zstd, plain and Docker
//!   schema 2 variants, a multi-layer image with whiteouts, a multi-arch index, a ~50 MB image
//!   for benchmarks), pushed with `oci-client`.
//!
//! - [`TestNetwork`]: a CNI network of the test's own (bridge, /24, lease dir).
//! - [`busybox_bundle`]: an OCI bundle with a busybox rootfs.
//!
//! Nothing here reaches beyond loopback.

mod bundle;
pub mod images;
mod layers;
mod network;
mod registry;

pub use bundle::busybox_bundle;
pub use images::{PushedImage, PushedIndex, TestImages, push_all, push_all_with_auth, push_big};
pub use layers::{Layer, busybox_layer, random_layer, whiteout_layers};
pub use network::TestNetwork;
pub use registry::Registry;
