//! The redb file: two tables, loaded whole on open, written once per batch.
//!
//! - `objects`: key → (mod revision, JSON bytes). The bytes already carry the stamped
//!   `metadata.resourceVersion`; the revision is kept beside them so loading needs no parsing
//!   of metadata.
//! - `meta`: `"revision"` → the store revision, written in the same transaction as the objects,
//!   so the counter never goes backwards even when the newest write was a delete.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use redb::{
    backends::InMemoryBackend, Builder, Database, Durability, ReadableDatabase, ReadableTable,
    TableDefinition,
};
use serde_json::Value;

use super::{Error, Event, EventKind, Object, Result};

const OBJECTS: TableDefinition<'static, &str, (u64, &[u8])> = TableDefinition::new("objects");
const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");
const REVISION: &str = "revision";

/// Reads never touch the file (they are served from memory), so redb's page cache only
/// speeds up commits; the 1 GiB default would be wasted.
const CACHE_BYTES: usize = 16 << 20;

/// Opens (creating it and its directory if needed) the database file at `path`.
pub(crate) fn open_file(path: &Path) -> Result<Database> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(Error::internal)?;
    }
    let db = Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(Error::internal)?;
    create_tables(&db)?;
    Ok(db)
}

/// A database in memory: the same code path as a file, nothing survives the process.
pub(crate) fn open_memory() -> Result<Database> {
    let backend = InMemoryBackend::new();
    let db = Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create_with_backend(backend)
        .map_err(Error::internal)?;
    create_tables(&db)?;
    Ok(db)
}

/// Every object and the store revision.
pub(crate) fn load(db: &Database) -> Result<(BTreeMap<String, Object>, u64)> {
    let (rows, revision) = read_rows(db).map_err(Error::internal)?;
    let objects = rows
        .into_iter()
        .map(|(key, object_revision, bytes)| {
            decode(key, object_revision, &bytes).map(|o| (o.key.clone(), o))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    if let Some(newest) = objects
        .values()
        .map(|object| object.revision)
        .max()
        .filter(|&r| r > revision)
    {
        let message =
            format!("corrupt store: an object is at revision {newest}, the store at {revision}");
        return Err(Error::internal(message));
    }
    Ok((objects, revision))
}

/// Writes the events of one batch in one durable (fsync'd) transaction.
pub(crate) fn persist(db: &Database, events: &[Event]) -> Result<()> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let rows = events.iter().map(row).collect::<Result<Vec<_>>>()?;
    write_rows(db, &rows, last.revision()).map_err(Error::internal)
}

/// One key's new content: `None` deletes it.
type Row<'a> = (&'a str, u64, Option<Vec<u8>>);

fn row(event: &Event) -> Result<Row<'_>> {
    let object = &event.object;
    let bytes = match event.kind {
        EventKind::Deleted => None,
        EventKind::Added | EventKind::Modified => {
            Some(serde_json::to_vec(&*object.value).map_err(Error::internal)?)
        }
    };
    Ok((object.key.as_str(), object.revision, bytes))
}

fn write_rows(db: &Database, rows: &[Row<'_>], revision: u64) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut objects = txn.open_table(OBJECTS)?;
        for (key, object_revision, bytes) in rows {
            match bytes {
                Some(bytes) => drop(objects.insert(*key, (*object_revision, bytes.as_slice()))?),
                None => drop(objects.remove(*key)?),
            }
        }
        txn.open_table(META)?.insert(REVISION, revision)?;
    }
    txn.commit()?;
    Ok(())
}

fn create_tables(db: &Database) -> Result<()> {
    let create = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(OBJECTS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(())
    };
    create().map_err(Error::internal)
}

/// One row of `objects` as stored: key, mod revision, JSON bytes.
type RawRow = (String, u64, Vec<u8>);

/// The raw rows of `objects`, and the store revision.
fn read_rows(db: &Database) -> Result<(Vec<RawRow>, u64), redb::Error> {
    let txn = db.begin_read()?;
    let revision = txn
        .open_table(META)?
        .get(REVISION)?
        .map_or(0, |guard| guard.value());
    let mut rows = Vec::new();
    for entry in txn.open_table(OBJECTS)?.iter()? {
        let (key, value) = entry?;
        let (object_revision, bytes) = value.value();
        rows.push((key.value().to_string(), object_revision, bytes.to_vec()));
    }
    Ok((rows, revision))
}

fn decode(key: String, revision: u64, bytes: &[u8]) -> Result<Object> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| Error::internal(format!("corrupt store: {key} is not json: {error}")))?;
    Ok(Object {
        key,
        value: Arc::new(value),
        revision,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: EventKind, key: &str, revision: u64) -> Event {
        let value = json!({"metadata": {"name": key, "resourceVersion": revision.to_string()}});
        let object = Object {
            key: key.to_string(),
            value: Arc::new(value),
            revision,
        };
        Event {
            kind,
            object,
            prev: None,
        }
    }

    #[test]
    fn persisted_batches_load_back_with_the_store_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/store");
        {
            let db = open_file(&path).unwrap();
            persist(
                &db,
                &[
                    event(EventKind::Added, "a", 1),
                    event(EventKind::Added, "b", 2),
                ],
            )
            .unwrap();
            persist(
                &db,
                &[
                    event(EventKind::Modified, "a", 3),
                    event(EventKind::Deleted, "b", 4),
                ],
            )
            .unwrap();
        }
        let (objects, revision) = load(&open_file(&path).unwrap()).unwrap();
        assert_eq!(revision, 4);
        let got: Vec<_> = objects
            .values()
            .map(|o| {
                (
                    o.key.as_str(),
                    o.revision,
                    o.value["metadata"]["resourceVersion"].clone(),
                )
            })
            .collect();
        assert_eq!(got, [("a", 3, json!("3"))]);
    }

    #[test]
    fn a_fresh_database_is_empty_at_revision_zero() {
        let (objects, revision) = load(&open_memory().unwrap()).unwrap();
        assert_eq!((objects.len(), revision), (0, 0));
    }

    #[test]
    fn an_object_newer_than_the_store_revision_is_reported_as_corrupt() {
        let db = open_memory().unwrap();
        persist(&db, &[event(EventKind::Added, "a", 1)]).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert(REVISION, 0).unwrap();
        txn.commit().unwrap();
        let error = load(&db).unwrap_err();
        assert!(error.to_string().contains("corrupt store"), "{error}");
    }
}
