//! berth's image store.
//!
//! Owns: pulling images from registries (through `oci-client`), the content-addressed blob
//! store, layers unpacked once per chain ID for overlayfs, and the image records in the
//! metadata store. The domain's image service is a thin layer over [`ImageStore`].

mod auth;
mod catalog;
mod content;
mod error;
mod fsutil;
mod layers;
mod leases;
mod pull;
pub mod reference;
pub mod rootfs;
mod run_config;
mod store;
pub mod unpack;

pub use auth::Credentials;
pub use error::{ImageError, ImageErrorKind};
pub use layers::chain_ids;
pub use leases::{LeaseTable, Leases};
pub use pull::{Endpoint, endpoints, install_crypto_provider};
pub use run_config::RunConfig;
pub use store::{ImageDetails, ImageStore, ImageStoreConfig, Usage};
