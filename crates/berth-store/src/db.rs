//! The redb database: one table per record kind, plus a `meta` table of string settings.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

use crate::StoreError;

/// The schema this build writes. Bump it when a table changes meaning.
const SCHEMA: u32 = 1;
const SCHEMA_KEY: &str = "schema";
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// A kind of record kept in its own table, keyed by its ID.
pub trait Record: Serialize + DeserializeOwned {
    /// The table's name.
    const TABLE: &'static str;
    /// The record layout's version; readers accept this and older.
    const VERSION: u32;
    /// The record's key.
    fn id(&self) -> &str;
}

fn table<R: Record>() -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(R::TABLE)
}

#[derive(Serialize)]
struct EnvelopeOut<'a, R> {
    version: u32,
    record: &'a R,
}

#[derive(serde::Deserialize)]
struct EnvelopeIn {
    version: u32,
    record: serde_json::Value,
}

fn encode<R: Record>(record: &R) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&EnvelopeOut {
        version: R::VERSION,
        record,
    })
    .map_err(|e| StoreError::Corrupt {
        table: R::TABLE,
        id: record.id().to_owned(),
        reason: e.to_string(),
    })
}

fn decode<R: Record>(id: &str, bytes: &[u8]) -> Result<R, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        table: R::TABLE,
        id: id.to_owned(),
        reason: e.to_string(),
    };
    let envelope: EnvelopeIn = serde_json::from_slice(bytes).map_err(corrupt)?;
    if envelope.version > R::VERSION {
        return Err(StoreError::UnsupportedVersion {
            table: R::TABLE,
            id: id.to_owned(),
            found: envelope.version,
            supported: R::VERSION,
        });
    }
    serde_json::from_value(envelope.record).map_err(corrupt)
}

fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(e.into())
}

/// The metadata database. Every call is one transaction and blocks; async callers use
/// `spawn_blocking`.
pub struct Store {
    db: Database,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database at `path`, creating its directory. Refuses a database
    /// written by a newer schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(db)?;
        }
        let db = Database::create(path).map_err(db)?;
        let store = Self { db };
        match store.get_meta(SCHEMA_KEY)? {
            None => store.set_meta(SCHEMA_KEY, &SCHEMA.to_string())?,
            Some(found) => {
                let found: u32 = found.parse().map_err(|_| StoreError::Corrupt {
                    table: "meta",
                    id: SCHEMA_KEY.to_owned(),
                    reason: format!("{found:?} is not a number"),
                })?;
                if found > SCHEMA {
                    return Err(StoreError::UnsupportedSchema {
                        found,
                        supported: SCHEMA,
                    });
                }
            }
        }
        Ok(store)
    }

    /// Writes one record, replacing any with the same ID.
    pub fn put<R: Record>(&self, record: &R) -> Result<(), StoreError> {
        let mut batch = self.batch()?;
        batch.put(record)?;
        batch.commit()
    }

    /// Reads one record.
    pub fn get<R: Record>(&self, id: &str) -> Result<Option<R>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let table = match txn.open_table(table::<R>()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db(e)),
        };
        match table.get(id).map_err(db)? {
            Some(bytes) => decode(id, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Deletes one record; deleting what is absent is not an error. Returns whether it existed.
    pub fn delete<R: Record>(&self, id: &str) -> Result<bool, StoreError> {
        let mut batch = self.batch()?;
        let existed = batch.delete::<R>(id)?;
        batch.commit()?;
        Ok(existed)
    }

    /// Every record of a kind, in ID order.
    pub fn load_all<R: Record>(&self) -> Result<Vec<R>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let table = match txn.open_table(table::<R>()) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db(e)),
        };
        let mut out = Vec::with_capacity(table.len().map_err(db)? as usize);
        for entry in table.iter().map_err(db)? {
            let (key, value) = entry.map_err(db)?;
            out.push(decode(key.value(), value.value())?);
        }
        Ok(out)
    }

    /// A string setting from the `meta` table.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let table = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db(e)),
        };
        Ok(table.get(key).map_err(db)?.map(|v| v.value().to_owned()))
    }

    /// Sets a string setting in the `meta` table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db)?;
        txn.open_table(META)
            .map_err(db)?
            .insert(key, value)
            .map_err(db)?;
        txn.commit().map_err(db)
    }

    /// Starts an atomic batch: all its writes land together on `commit`, or none do.
    pub fn batch(&self) -> Result<WriteBatch, StoreError> {
        Ok(WriteBatch {
            txn: self.db.begin_write().map_err(db)?,
        })
    }
}

/// Several writes committed as one transaction. Dropping it without `commit` discards them.
pub struct WriteBatch {
    txn: redb::WriteTransaction,
}

impl WriteBatch {
    /// Adds a record write.
    pub fn put<R: Record>(&mut self, record: &R) -> Result<&mut Self, StoreError> {
        let bytes = encode(record)?;
        self.txn
            .open_table(table::<R>())
            .map_err(db)?
            .insert(record.id(), bytes.as_slice())
            .map_err(db)?;
        Ok(self)
    }

    /// Adds a record deletion; returns whether the record existed.
    pub fn delete<R: Record>(&mut self, id: &str) -> Result<bool, StoreError> {
        let removed = self
            .txn
            .open_table(table::<R>())
            .map_err(db)?
            .remove(id)
            .map_err(db)?
            .is_some();
        Ok(removed)
    }

    /// Commits every write durably.
    pub fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().map_err(db)
    }
}
