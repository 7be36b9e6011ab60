//! Test fixtures shared by berth's integration tests and benchmarks.
//!
//! - [`Registry`]: Debian's `docker-registry` on a free loopback port with a temp storage
//!   dir, optionally behind htpasswd basic auth. Killed when dropped.
//! - [`images`]: small OCI images built from Debian's busybox (gzip, zstd, plain and Docker
//!   schema 2 variants, a multi-layer image with whiteouts, a multi-arch index, a ~50 MB image
//!   for benchmarks), pushed with `oci-client`.
//!
//! Nothing here reaches beyond loopback.

pub mod images;
mod layers;
mod registry;

pub use images::{PushedImage, PushedIndex, TestImages, push_all, push_all_with_auth, push_big};
pub use layers::{Layer, busybox_layer, random_layer, whiteout_layers};
pub use registry::Registry;
