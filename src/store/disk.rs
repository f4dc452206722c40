//! The redb file: two tables, written once per batch, read through snapshots.
//!
//! - `objects`: key → (mod revision, JSON bytes). The bytes already carry the stamped
//!   `metadata.resourceVersion`; the revision is kept beside them so that opening a store
//!   reads keys and revisions without parsing a single document. (This has been the row
//!   format since the first version, so no migration is involved.)
//! - `meta`: `"revision"` → the store revision, written in the same transaction as the objects,
//!   so the counter never goes backwards even when the newest write was a delete.
//!
//! A [`Snapshot`] is the `objects` table as of one committed transaction (a redb read
//! transaction): reads through it see exactly that commit, whatever is committed after.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use redb::{
    backends::InMemoryBackend, Builder, Database, Durability, ReadOnlyTable, ReadableDatabase,
    ReadableTable, TableDefinition,
};
use serde_json::Value;

use super::{history::Record, Error, EventKind, Object, Result};

const OBJECTS: TableDefinition<'static, &str, (u64, &[u8])> = TableDefinition::new("objects");
const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");
const REVISION: &str = "revision";

/// Every key's mod revision.
pub(crate) type Keys = BTreeMap<Box<str>, u64>;

/// Opens (creating it and its directory if needed) the database file at `path`, with a page
/// cache of at most `cache_bytes`.
pub(crate) fn open_file(path: &Path, cache_bytes: usize) -> Result<Database> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(Error::internal)?;
    }
    let db = Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
        .map_err(Error::internal)?;
    create_tables(&db)?;
    Ok(db)
}

/// A database in memory: the same code path as a file, nothing survives the process.
pub(crate) fn open_memory(cache_bytes: usize) -> Result<Database> {
    let backend = InMemoryBackend::new();
    let db = Builder::new()
        .set_cache_size(cache_bytes)
        .create_with_backend(backend)
        .map_err(Error::internal)?;
    create_tables(&db)?;
    Ok(db)
}

/// What [`load`] reads: a snapshot, every key's mod revision, the store revision.
pub(crate) type Loaded = (Snapshot, Keys, u64);

/// The newest committed state: a snapshot of it, every key's mod revision and the store
/// revision, all read from one transaction. Documents are not read.
pub(crate) fn load(db: &Database) -> Result<Loaded> {
    let (snapshot, keys, revision) = read_keys(db).map_err(Error::internal)?;
    if let Some(newest) = keys.values().copied().max().filter(|&r| r > revision) {
        let message =
            format!("corrupt store: an object is at revision {newest}, the store at {revision}");
        return Err(Error::internal(message));
    }
    Ok((snapshot, keys, revision))
}

/// A snapshot of the newest committed transaction.
pub(crate) fn snapshot(db: &Database) -> Result<Snapshot> {
    let open =
        || -> Result<Snapshot, redb::Error> { Ok(Snapshot(db.begin_read()?.open_table(OBJECTS)?)) };
    open().map_err(Error::internal)
}

/// Writes the records of one batch in one durable (fsync'd) transaction: the JSON bytes the
/// history keeps are the very bytes written here.
pub(crate) fn persist(db: &Database, records: &[Record]) -> Result<()> {
    let Some(last) = records.last() else {
        return Ok(());
    };
    let rows: Vec<_> = records.iter().map(row).collect();
    write_rows(db, &rows, last.revision()).map_err(|error| failure(error, Access::Write))
}

/// What the store was doing with its file when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reading a document.
    Read,
    /// Committing a batch of writes.
    Write,
}

/// A failed redb call as a store error. A failure of the file's I/O (a full or failing disk)
/// is [`Error::Unavailable`], saying what to do: redb then refuses every later call on that
/// handle until the file is reopened, which the commit thread does (see `super::commit`).
/// Anything else (a corrupt page, a bug) is internal.
pub(crate) fn failure(error: impl Into<redb::Error>, access: Access) -> Error {
    let error = error.into();
    let io = match &error {
        redb::Error::Io(io) => io,
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
            return Error::Unavailable(REOPENING.to_string())
        }
        _ => return Error::internal(error),
    };
    let advice = match io.kind() {
        std::io::ErrorKind::StorageFull => "free space on the store's volume, then retry",
        std::io::ErrorKind::QuotaExceeded => "raise the store volume's quota, then retry",
        std::io::ErrorKind::FileTooLarge => {
            "raise imagelookup's file size limit (ulimit -f), then retry"
        }
        _ => "check the store's disk (the server log names the file), then retry",
    };
    Error::Unavailable(match access {
        Access::Write => format!(
            "the store could not write its file ({io}); nothing of this request was saved: {advice}"
        ),
        Access::Read => format!("the store could not read its file ({io}): {advice}"),
    })
}

/// What a read or write meets between a failure of the file and its reopening.
pub(crate) const REOPENING: &str =
    "the store is reopening its file after an i/o error (the server log says which): retry shortly";

/// The `objects` table as of one commit. Holding it keeps that commit's pages alive in the
/// file, so it is swapped for a newer one after every commit and dropped on close.
pub(crate) struct Snapshot(ReadOnlyTable<&'static str, (u64, &'static [u8])>);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Snapshot {
    /// The document of `key`, which the caller knows is at mod `revision` in this snapshot.
    ///
    /// A missing key or another revision means the caller paired this snapshot with the
    /// wrong state: an internal error, never a silently different document.
    pub(crate) fn object(&self, key: &str, revision: u64) -> Result<Object> {
        let row = self
            .0
            .get(key)
            .map_err(|error| failure(error, Access::Read))?;
        let found = row.as_ref().map(|guard| guard.value().0);
        match row {
            Some(guard) if found == Some(revision) => decode(key, revision, guard.value().1),
            _ => Err(Error::internal(format!(
                "store snapshot has {key} at {found:?}, expected {revision}"
            ))),
        }
    }
}

/// One key's new content: `None` deletes it.
type Row<'a> = (&'a str, u64, Option<&'a [u8]>);

fn row(record: &Record) -> Row<'_> {
    let object = &record.object;
    let bytes = match record.kind {
        EventKind::Deleted => None,
        EventKind::Added | EventKind::Modified => Some(object.doc.bytes()),
    };
    (object.key.as_str(), object.revision, bytes)
}

fn write_rows(db: &Database, rows: &[Row<'_>], revision: u64) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut objects = txn.open_table(OBJECTS)?;
        for (key, object_revision, bytes) in rows {
            match bytes {
                Some(bytes) => drop(objects.insert(*key, (*object_revision, *bytes))?),
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

/// A snapshot, the keys and mod revisions of `objects` (the row's JSON bytes are only
/// sliced, never copied or parsed), and the store revision.
fn read_keys(db: &Database) -> Result<(Snapshot, Keys, u64), redb::Error> {
    let txn = db.begin_read()?;
    let revision = txn
        .open_table(META)?
        .get(REVISION)?
        .map_or(0, |guard| guard.value());
    let objects = txn.open_table(OBJECTS)?;
    let mut keys = Keys::new();
    for entry in objects.iter()? {
        let (key, value) = entry?;
        keys.insert(key.value().into(), value.value().0);
    }
    Ok((Snapshot(objects), keys, revision))
}

fn decode(key: &str, revision: u64, bytes: &[u8]) -> Result<Object> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| Error::internal(format!("corrupt store: {key} is not json: {error}")))?;
    Ok(Object {
        key: key.to_string(),
        value: Arc::new(value),
        revision,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::Event;

    const CACHE: usize = 1 << 20;

    fn event(kind: EventKind, key: &str, revision: u64) -> Record {
        let value = json!({"metadata": {"name": key, "resourceVersion": revision.to_string()}});
        let object = Object {
            key: key.to_string(),
            value: Arc::new(value),
            revision,
        };
        let event = Event {
            kind,
            object,
            prev: None,
        };
        Record::of(&event, |_, _| None).unwrap()
    }

    #[test]
    fn persisted_batches_load_back_as_keys_and_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/store");
        {
            let db = open_file(&path, CACHE).unwrap();
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
        let (snapshot, keys, revision) = load(&open_file(&path, CACHE).unwrap()).unwrap();
        assert_eq!(revision, 4);
        assert_eq!(keys, Keys::from([("a".into(), 3)]));
        let a = snapshot.object("a", 3).unwrap();
        assert_eq!(a.value["metadata"]["resourceVersion"], json!("3"));
    }

    #[test]
    fn a_snapshot_keeps_reading_its_commit_after_later_ones() {
        let db = open_memory(CACHE).unwrap();
        persist(&db, &[event(EventKind::Added, "a", 1)]).unwrap();
        let before = snapshot(&db).unwrap();
        persist(&db, &[event(EventKind::Modified, "a", 2)]).unwrap();
        persist(&db, &[event(EventKind::Added, "b", 3)]).unwrap();
        let after = snapshot(&db).unwrap();
        let check = |snapshot: &Snapshot, key, revision, found: Result<u64, ()>| {
            let got = snapshot.object(key, revision).map(|o| o.revision);
            assert_eq!(got.map_err(drop), found, "{key} at {revision}");
        };
        check(&before, "a", 1, Ok(1));
        check(&before, "a", 2, Err(()));
        check(&before, "b", 3, Err(()));
        check(&after, "a", 2, Ok(2));
        check(&after, "a", 1, Err(()));
        check(&after, "b", 3, Ok(3));
    }

    #[test]
    fn a_fresh_database_is_empty_at_revision_zero() {
        let (_, keys, revision) = load(&open_memory(CACHE).unwrap()).unwrap();
        assert_eq!((keys.len(), revision), (0, 0));
    }

    #[test]
    fn an_object_newer_than_the_store_revision_is_reported_as_corrupt() {
        let db = open_memory(CACHE).unwrap();
        persist(&db, &[event(EventKind::Added, "a", 1)]).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert(REVISION, 0).unwrap();
        txn.commit().unwrap();
        let error = load(&db).unwrap_err();
        assert!(error.to_string().contains("corrupt store"), "{error}");
    }
}
