//! The redb file: two tables, written once per batch, read through snapshots.
//!
//! - `objects`: key → (mod revision, JSON bytes). The bytes already carry the stamped
//!   `metadata.resourceVersion`; the revision is kept beside them so that opening a store
//!   reads keys and revisions without parsing a single document. (This has been the row
//!   format since the first version, so no migration is involved.)
//! - `meta`: `"revision"` → the store revision, written in the same transaction as the objects,
//!   so the counter never goes backwards even when the newest write was a delete; `"format"` →
//!   the layout of these tables ([`FORMAT_VERSION`]), so that a version of imagelookup that
//!   cannot read a file refuses it rather than misreading it (a rollback after an upgrade that
//!   changed the layout). Files written before the marker existed are format 1, and get it.
//!
//! A [`Snapshot`] is the `objects` table as of one committed transaction (a redb read
//! transaction): reads through it see exactly that commit, whatever is committed after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::{collections::BTreeMap, path::Path, sync::Arc};

use redb::{
    backends::{FileBackend, InMemoryBackend},
    Builder, Database, DatabaseError, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable,
    StorageError, TableDefinition,
};
use serde_json::Value;

use super::{history::Record, Error, EventKind, Object, RestoreError, Result};

const OBJECTS: TableDefinition<'static, &str, (u64, &[u8])> = TableDefinition::new("objects");
/// Frozen: every version opens it with this shape to read [`FORMAT`] before anything else, so
/// a later format keeps `meta` as `&str` to `u64` and puts what it adds in tables of its own.
const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");
const REVISION: &str = "revision";
const FORMAT: &str = "format";

/// The layout of the tables this version reads and writes: raised by a change to them that an
/// older version would misread, with a migration from every earlier format.
pub(crate) const FORMAT_VERSION: u64 = 1;

/// Every key's mod revision.
pub(crate) type Keys = BTreeMap<Box<str>, u64>;

/// Opens the database file at `path` with a page cache of at most `cache_bytes`, and loads it
/// (see [`load`]). The file (and its directory) is created only when it is absent: an existing
/// file that is empty, truncated, not a redb file or damaged is refused with [`corrupt`]'s
/// message, never started afresh, so a failed restore or a crash cannot silently serve an empty
/// store. Failures that are not about the file's content (permissions, a read-only volume,
/// another process's lock) are passed on as redb reported them.
pub(crate) fn open_file(path: &Path, cache_bytes: usize) -> Result<(Database, Loaded)> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        crate::dirs::create_dir_all(parent).map_err(Error::internal)?;
    }
    let mut builder = Builder::new();
    builder.set_cache_size(cache_bytes);
    let db = create_or_open(&builder, path).map_err(|error| {
        let damage = match &error {
            DatabaseError::Storage(storage) => damage(path, storage),
            _ => None,
        };
        damage.unwrap_or_else(|| Error::internal(error))
    })?;
    let opened = || -> Result<_, redb::Error> {
        let format = format_of(&db.begin_read()?)?;
        if let Some(format) = format.filter(|format| *format > FORMAT_VERSION) {
            return Ok(Err(format));
        }
        create_tables(&db)?;
        read_keys(&db).map(Ok)
    };
    let read = opened().map_err(|error| {
        let damage = match &error {
            redb::Error::Corrupted(message) => Some(corrupt(path, &format!("redb: {message}"))),
            redb::Error::Io(io) => damaged_io(path, io),
            _ => None,
        };
        damage.unwrap_or_else(|| Error::internal(error))
    })?;
    let read = read.map_err(|format| newer_format(path, format))?;
    Ok((db, checked(read)?))
}

/// The format a file records: `None` in a new file, or one written before the marker (format 1).
fn format_of(txn: &redb::ReadTransaction) -> Result<Option<u64>, redb::Error> {
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    Ok(meta.get(FORMAT)?.map(|guard| guard.value()))
}

/// The refusal of a store file in a format newer than [`FORMAT_VERSION`].
fn newer_format(path: &Path, format: u64) -> Error {
    Error::internal(super::error::NewerFormat {
        path: path.to_path_buf(),
        format,
        supported: FORMAT_VERSION,
    })
}

/// A new database when no file is at `path` (`create_new`, so a file that appears meanwhile is
/// opened, never initialised over), else the existing one, which redb refuses when empty. A new
/// file is its owner's only: it holds the pull secrets kept here.
fn create_or_open(builder: &Builder, path: &Path) -> Result<Database, DatabaseError> {
    let created = owner_only_file(path);
    match created {
        Ok(file) => builder.create_with_backend(FileBackend::new(file)?),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => builder.open(path),
        Err(error) => Err(error.into()),
    }
}

/// The store file at `path` opened read-only (a backup: nothing is written to it), a snapshot
/// of its `objects` and its revision. The database is returned to keep it open while the
/// snapshot is read. A file whose content cannot be a store is refused with [`corrupt`]'s
/// error, one a newer version wrote with [`newer_format`]'s.
pub(crate) fn read_only(path: &Path) -> Result<(redb::ReadOnlyDatabase, Snapshot, u64)> {
    let opened = crate::panics::quietly(|| {
        Builder::new()
            .set_cache_size(COPY_CACHE_BYTES)
            .open_read_only(path)
    });
    // redb may panic on a damaged file rather than fail.
    let opened = opened.map_err(|panic| panicked(path, &*panic))?;
    let db = opened.map_err(|error| {
        let damage = match &error {
            DatabaseError::Storage(storage) => damage(path, storage),
            // A backup is closed cleanly once written: one that needs repair was cut short (or
            // copied while a `serve` had it open), and read-only it cannot be repaired anyway.
            DatabaseError::RepairAborted => Some(corrupt(
                path,
                "it was not closed cleanly: truncated, or copied while imagelookup serve had it \
                 open",
            )),
            _ => None,
        };
        damage.unwrap_or_else(|| Error::internal(error))
    })?;
    let read = || -> Result<Result<(Snapshot, u64), u64>, redb::Error> {
        let txn = db.begin_read()?;
        if let Some(format) = format_of(&txn)?.filter(|format| *format > FORMAT_VERSION) {
            return Ok(Err(format));
        }
        let revision = txn
            .open_table(META)?
            .get(REVISION)?
            .map_or(0, |guard| guard.value());
        Ok(Ok((Snapshot(txn.open_table(OBJECTS)?), revision)))
    };
    let read = crate::panics::quietly(read).map_err(|panic| panicked(path, &*panic))?;
    let read = read.map_err(|error| read_failure(path, error))?;
    let (snapshot, revision) = read.map_err(|format| newer_format(path, format))?;
    Ok((db, snapshot, revision))
}

/// Reads every row of the store file at `path` (see [`read_only`]), so that a damaged backup is
/// refused before a restore changes anything, and returns its revision. The file is untrusted
/// input: redb answers some damage (zeroed pages) with a panic (`unreachable!()` in its B-tree
/// cursor) rather than an error, so the reads are made under `catch_unwind` and a panic is
/// that damage.
pub(crate) fn check_backup(path: &Path) -> Result<u64> {
    let (_db, snapshot, revision) = read_only(path)?;
    let rows = || -> Result<(), redb::Error> {
        for row in snapshot.0.iter()? {
            let (key, value) = row?;
            // Slices of the pages read: the row is whole once both are there.
            let _ = (key.value().len(), value.value().1.len());
        }
        Ok(())
    };
    let read = crate::panics::quietly(rows).map_err(|panic| panicked(path, &*panic))?;
    read.map_err(|error| read_failure(path, error))?;
    Ok(revision)
}

/// The refusal of the file at `path` whose reading panicked inside redb (damage it does not
/// report as an error).
fn panicked(path: &Path, panic: &(dyn std::any::Any + Send)) -> Error {
    corrupt(path, &panic_damage(panic))
}

/// What a panic inside redb reading a file means: a damaged page, which redb meets with an
/// assertion (its own words, such as "internal error: entered unreachable code", follow).
pub(crate) fn panic_damage(panic: &(dyn std::any::Any + Send)) -> String {
    format!("redb met a damaged page: {}", crate::panics::message(panic))
}

/// The error of a read from the file at `path` that failed: its content's refusal when the
/// content is at fault, else what redb said.
fn read_failure(path: &Path, error: redb::Error) -> Error {
    let damage = match &error {
        redb::Error::TableDoesNotExist(_) => Some(corrupt(path, "it is not an imagelookup store")),
        redb::Error::Corrupted(message) => Some(corrupt(path, &format!("redb: {message}"))),
        redb::Error::Io(io) => damaged_io(path, io),
        _ => None,
    };
    damage.unwrap_or_else(|| Error::internal(error))
}

/// The store file a restore replaces: its revision and owner, and the file itself held open
/// read-only until the restore is done, so that a `serve` starting meanwhile finds it locked
/// and stops rather than serving a file about to be replaced.
#[derive(Default)]
pub(crate) struct Replaced {
    /// Its revision; `None` without a file, or with one that cannot be read (a damaged file is
    /// replaced: that is what a restore is for).
    pub(crate) revision: Option<u64>,
    /// Its owner (user and group), whom the restored file is given to.
    pub(crate) owner: Option<(u32, u32)>,
    _held: Option<redb::ReadOnlyDatabase>,
}

/// Opens the store file at `path` that a restore replaces (see [`Replaced`]). Refuses when
/// another process has it open (its lock is held): a file replaced under a running `serve`
/// would go on being served from the old one, and its next writes lost. Read-only, so that
/// nothing repairs, nor panics over, the file.
pub(crate) fn hold_replaced(path: &Path) -> Result<Replaced, RestoreError> {
    let Some(owner) = owner_of(path) else {
        return Ok(Replaced::default());
    };
    let owner = Some(owner);
    let mut probed = crate::panics::quietly(|| redb::ReadOnlyDatabase::open(path));
    if let Ok(Err(DatabaseError::RepairAborted)) = probed {
        // Not closed cleanly (a crash, the usual reason to restore): repaired as `serve` would
        // repair it on opening, so that its revision is known; the restore then replaces it.
        let repaired = crate::panics::quietly(|| redb::Database::open(path).map(drop));
        if let Ok(Err(DatabaseError::DatabaseAlreadyOpen)) = repaired {
            return Err(open_elsewhere(path));
        }
        probed = crate::panics::quietly(|| redb::ReadOnlyDatabase::open(path));
    }
    match probed {
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(open_elsewhere(path)),
        Ok(Ok(db)) => Ok(Replaced {
            revision: revision_of(&db),
            owner,
            _held: Some(db),
        }),
        _ => Ok(Replaced {
            owner,
            ..Replaced::default()
        }),
    }
}

/// The refusal of a restore over the store file at `path` another process has open.
fn open_elsewhere(path: &Path) -> RestoreError {
    RestoreError::InUse(path.to_path_buf())
}

/// The owner (user, group) of the file or directory at `path`, if it can be read.
pub(crate) fn owner_of(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.uid(), metadata.gid()))
}

/// The revision a read-only store file records; `None` when it cannot be read.
fn revision_of(db: &redb::ReadOnlyDatabase) -> Option<u64> {
    let txn = db.begin_read().ok()?;
    let revision = txn.open_table(META).ok()?.get(REVISION).ok()?;
    Some(revision.map_or(0, |guard| guard.value()))
}

/// The refusal of the file at `path` when `error` says its content cannot be a store.
fn damage(path: &Path, error: &StorageError) -> Option<Error> {
    match error {
        StorageError::Corrupted(message) => Some(corrupt(path, &format!("redb: {message}"))),
        StorageError::Io(io) => damaged_io(path, io),
        _ => None,
    }
}

/// redb reports a read past the end of the file (truncated) as `UnexpectedEof`, and a file
/// without its magic number (not a redb file, or empty) as `InvalidData`; the OS reports
/// neither kind, so these are about the content, never the disk.
fn damaged_io(path: &Path, io: &std::io::Error) -> Option<Error> {
    let empty = || std::fs::metadata(path).is_ok_and(|file| file.len() == 0);
    let cause = match io.kind() {
        std::io::ErrorKind::UnexpectedEof => format!("it is truncated; redb: {io}"),
        std::io::ErrorKind::InvalidData if empty() => "it is empty".to_string(),
        std::io::ErrorKind::InvalidData => format!("redb: {io}"),
        _ => return None,
    };
    Some(corrupt(path, &cause))
}

/// The refusal of a store file whose content cannot be read as a store, saying what to do.
pub(crate) fn corrupt(path: &Path, cause: &str) -> Error {
    Error::internal(super::error::CorruptFile {
        path: path.to_path_buf(),
        cause: cause.to_string(),
    })
}

/// A database in memory: the same code path as a file, nothing survives the process.
pub(crate) fn open_memory(cache_bytes: usize) -> Result<Database> {
    let backend = InMemoryBackend::new();
    let db = Builder::new()
        .set_cache_size(cache_bytes)
        .create_with_backend(backend)
        .map_err(Error::internal)?;
    create_tables(&db).map_err(Error::internal)?;
    Ok(db)
}

/// What [`load`] reads: a snapshot, every key's mod revision, the store revision.
pub(crate) type Loaded = (Snapshot, Keys, u64);

/// The newest committed state: a snapshot of it, every key's mod revision and the store
/// revision, all read from one transaction. Documents are not read.
pub(crate) fn load(db: &Database) -> Result<Loaded> {
    checked(read_keys(db).map_err(Error::internal)?)
}

/// `loaded`, unless an object is newer than the store revision (which no commit writes).
fn checked(loaded: Loaded) -> Result<Loaded> {
    let (_, keys, revision) = &loaded;
    if let Some(newest) = keys.values().copied().max().filter(|r| r > revision) {
        let message =
            format!("corrupt store: an object is at revision {newest}, the store at {revision}");
        return Err(Error::internal(message));
    }
    Ok(loaded)
}

/// A snapshot of the newest committed transaction.
pub(crate) fn snapshot(db: &Database) -> Result<Snapshot> {
    let open =
        || -> Result<Snapshot, redb::Error> { Ok(Snapshot(db.begin_read()?.open_table(OBJECTS)?)) };
    open().map_err(Error::internal)
}

/// The page cache of a copy's file: writing one needs little, and redb's default (1 GiB) could
/// let a copy of a large store hold about its size in memory.
const COPY_CACHE_BYTES: usize = 16 << 20;

/// How many rows a copy writes between two looks at its `cancelled` flag.
const ROWS_BETWEEN_CHECKS: usize = 1024;

/// Writes `snapshot`, the `objects` table as of store revision `revision`, as a new store file
/// at `path` (one durable transaction, readable by its owner only: it may hold pull secrets),
/// through a file beside it that is renamed into place once complete and closed, so that
/// `path` never names a partial copy; a failed or cancelled copy removes its partial file. The
/// copy is a store `serve` opens as it is: the same tables, the same rows, the same revision.
/// Given to `owner` (user, group) before it is renamed into place, when that is another.
/// Blocking; stops with [`std::io::ErrorKind::Interrupted`] soon after `cancelled` is set.
pub(crate) fn write_copy(
    snapshot: &Snapshot,
    revision: u64,
    path: &Path,
    owner: Option<(u32, u32)>,
    cancelled: &AtomicBool,
) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    // A partial file left by a crash is not a store: redb would refuse to open it.
    match std::fs::remove_file(&partial) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let copied =
        copy_rows(snapshot, revision, &partial, cancelled).and_then(|()| give_to(&partial, owner));
    if let Err(error) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    if let Err(error) = std::fs::rename(&partial, path) {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    // The rename itself is durable once the directory is.
    match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Makes `owner` (user, group) the owner of the file at `path` if it is not: a store restored
/// by root must stay readable by the user `serve` runs as (the file is its owner's only).
fn give_to(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    if owner_of(path) == Some((uid, gid)) {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!(
                "cannot give it to user {uid} and group {gid}, the owners of the store it \
                 replaces ({error}): restore as that user, or as root"
            ),
        )
    })
}

/// The rows of `snapshot` and `revision` in a new database at `path`, committed and closed.
fn copy_rows(
    snapshot: &Snapshot,
    revision: u64,
    path: &Path,
    cancelled: &AtomicBool,
) -> std::io::Result<()> {
    let file = owner_only_file(path)?;
    let copy = || -> Result<(), redb::Error> {
        let db = Builder::new()
            .set_cache_size(COPY_CACHE_BYTES)
            .create_with_backend(FileBackend::new(file)?)?;
        let txn = db.begin_write()?;
        {
            let mut objects = txn.open_table(OBJECTS)?;
            for (count, row) in snapshot.0.iter()?.enumerate() {
                if count % ROWS_BETWEEN_CHECKS == 0 && cancelled.load(Ordering::Relaxed) {
                    let stopped = std::io::Error::from(std::io::ErrorKind::Interrupted);
                    return Err(redb::Error::Io(stopped));
                }
                let (key, value) = row?;
                objects.insert(key.value(), value.value())?;
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(REVISION, revision)?;
            // The rows are copied as they are: a file this version reads is in its format.
            meta.insert(FORMAT, FORMAT_VERSION)?;
        }
        // redb commits durably (fsync) by default; closing writes what a clean open expects,
        // and a failure there (a full disk) must not leave a file that needs repair.
        txn.commit()?;
        db.close()?;
        Ok(())
    };
    // A panic in redb (damaged pages of the snapshot's file, which a restore reads: it checks
    // them first, see `check_backup`) is a failed copy, whose partial file is then removed,
    // never a crash. Not caught quietly: a backup of the live store meeting damage there is
    // news the panic hook's log line and metric must carry.
    let copied =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(copy)).unwrap_or_else(|panic| {
            let message = panic_damage(&*panic);
            Err(redb::Error::Io(std::io::Error::other(message)))
        });
    copied.map_err(|error| match error {
        redb::Error::Io(io) => io,
        other => std::io::Error::other(other),
    })
}

/// A new file at `path` that only its owner may read and write.
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
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
    // Refused for want of room, a commit wrote nothing; any other failure (an fsync that
    // failed) may have left it on the disk, which recovery then serves.
    const UNSAVED: &str = "nothing of this request was saved";
    let (advice, saved) = match io.kind() {
        std::io::ErrorKind::StorageFull => {
            ("free space on the store's volume, then retry", UNSAVED)
        }
        std::io::ErrorKind::QuotaExceeded => {
            ("raise the store volume's quota, then retry", UNSAVED)
        }
        std::io::ErrorKind::FileTooLarge => (
            "raise imagelookup's file size limit (ulimit -f), then retry",
            UNSAVED,
        ),
        _ => (
            "check the store's disk (the server log names the file), then retry",
            "this request may or may not have been saved (read the object before writing it again)",
        ),
    };
    Error::Unavailable(match access {
        Access::Write => format!("the store could not write its file ({io}); {saved}: {advice}"),
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
    /// At most `limit` objects whose keys start with `prefix`, after `start_after` (when it is
    /// in the prefix), in key order, and whether more follow: a list page read from this
    /// snapshot alone, without the history window.
    pub(crate) fn page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Object>, bool)> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let start = match start_after {
            Some(after) if after >= prefix => Excluded(after),
            _ => Included(prefix),
        };
        let rows = self
            .0
            .range::<&str>((start, Unbounded))
            .map_err(|error| failure(error, Access::Read))?;
        let mut items = Vec::new();
        for row in rows {
            let (key, value) = row.map_err(|error| failure(error, Access::Read))?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            if items.len() == limit {
                return Ok((items, true));
            }
            let (revision, bytes) = value.value();
            items.push(decode(key, revision, bytes)?);
        }
        Ok((items, false))
    }

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

/// Creates the tables a new file lacks, and marks it (or one from before the marker, whose
/// layout is format 1) with [`FORMAT_VERSION`]; the caller has refused a newer format.
fn create_tables(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(OBJECTS)?;
    {
        let mut meta = txn.open_table(META)?;
        if meta.get(FORMAT)?.is_none() {
            meta.insert(FORMAT, FORMAT_VERSION)?;
        }
    }
    txn.commit()?;
    Ok(())
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
        .map_err(|error| Error::corrupt(key, revision, format_args!("not json: {error}")))?;
    Ok(Object {
        key: key.to_string(),
        value: Arc::new(value),
        revision,
    })
}

#[cfg(test)]
mod tests;
