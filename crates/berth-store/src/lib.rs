//! berth's metadata store.
//!
//! Owns: the durable truth about every sandbox, container and image berth knows of, in one
//! `redb` database under `root`, and the in-memory structures derived from it (the ID prefix
//! index and the name registry). Records are JSON inside a versioned envelope so that a
//! newer berth can read an older database and an older berth refuses a newer one instead of
//! misreading it.

mod db;
mod error;
mod index;
mod names;
mod records;

pub use db::{Record, Store, WriteBatch};
pub use error::{LookupError, NameError, StoreError};
pub use index::IdIndex;
pub use names::{NameRegistry, container_name, sandbox_name};
pub use records::{
    ContainerMetadata, ContainerRecord, ContainerSpecRecord, ContainerState, ImageRecord,
    MountRecord, PodMetadata, ResourcesRecord, SandboxNetwork, SandboxRecord, SandboxState,
    UserRecord,
};

#[cfg(test)]
mod tests;
