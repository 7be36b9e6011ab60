//! The store's typed errors.

/// The database failed, or holds something this berth cannot read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb reported an error (I/O, corruption it detected, locking).
    #[error("metadata database: {0}")]
    Db(#[from] redb::Error),
    /// A record could not be decoded.
    #[error("metadata record {table}/{id} is unreadable: {reason}")]
    Corrupt {
        /// The table it is in.
        table: &'static str,
        /// Its key.
        id: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// A record was written by a newer berth.
    #[error("metadata record {table}/{id} has version {found}; this berth reads up to {supported}")]
    UnsupportedVersion {
        /// The table it is in.
        table: &'static str,
        /// Its key.
        id: String,
        /// The record's version.
        found: u32,
        /// The newest version this build understands.
        supported: u32,
    },
    /// The database was written by a newer berth.
    #[error(
        "metadata database schema {found} is newer than this berth's {supported}; upgrade berth"
    )]
    UnsupportedSchema {
        /// The schema found on disk.
        found: u32,
        /// The schema this build writes.
        supported: u32,
    },
}

/// An ID or ID prefix did not name exactly one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Nothing matches.
    #[error("no object with ID or ID prefix {prefix:?}")]
    NotFound {
        /// What was asked for.
        prefix: String,
    },
    /// More than one object matches.
    #[error("ID prefix {prefix:?} is ambiguous: it matches {}", matches.join(", "))]
    Ambiguous {
        /// What was asked for.
        prefix: String,
        /// The IDs it matches (at most a handful are listed).
        matches: Vec<String>,
    },
    /// The empty string was given as an ID.
    #[error("an ID is required")]
    EmptyPrefix,
}

/// A name could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Another object holds the name.
    #[error("name {name:?} is reserved for {owner}")]
    Taken {
        /// The name.
        name: String,
        /// The ID that holds it.
        owner: String,
    },
}
