//! The embedded backend: a redb file holds the documents; memory holds only what planning and
//! listing need.
//!
//! [`State`] keeps each key's mod revision (no document), the store revision, the history
//! window (recent events with their documents as JSON bytes) and a redb snapshot of the file at the current
//! revision. A get or a list page takes, under the read lock, the revision it reports, which
//! documents it returns and that snapshot; it releases the lock and then reads the documents:
//! from the history window when the last write is recent, otherwise from the snapshot (a
//! B-tree lookup and a JSON parse). Writes go through the commit thread ([`super::commit`]),
//! which batches them into one fsync'd transaction and only then applies them to the state,
//! together with a snapshot of that commit. On open, only keys and revisions are loaded; the
//! history window starts empty, so after a restart watches and snapshot lists can only start
//! at the revision the store reopened at or later (older ones get 410 and re-list).
//!
//! Memory: per key its name and revision; per retained event one or two documents as JSON
//! bytes (the `prev` is shared with the earlier event when that is in the window too), never
//! a parsed tree: a tree handed out is shared by everyone reading that event and freed when
//! the last of them drops it (see [`super::history`]); plus redb's page cache, bounded by
//! [`EmbeddedOptions::cache_bytes`].

use std::{
    path::{Path, PathBuf},
    sync::atomic::AtomicBool,
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
    thread,
    time::Duration,
};

use async_trait::async_trait;
use redb::Database;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    batch::Op,
    commit::{CommitStats, Committer, Counters, Request},
    disk::{self, Snapshot},
    history::Retention,
    recovery::Recovery,
    size,
    state::State,
    Error, EventStream, ListOptions, ListPage, Object, PinnedView, RestoreError, Result, Store,
    WatchProgress,
};

/// Tuning for [`EmbeddedStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// How many recent revisions to keep for watch resumption and snapshot lists. Each one
    /// holds its document's JSON bytes in memory (and the previous state's, when that is not
    /// itself in the window).
    pub history_limit: usize,
    /// The most document bytes those revisions may hold (previous states counted too): past
    /// it the oldest are dropped, down to the 100 newest whatever their size, so streams of
    /// 50 KB do not make the history 10,000 × 50 KB.
    pub history_bytes: usize,
    /// The most writes committed in one transaction.
    pub max_batch: usize,
    /// How many writes may wait for the commit thread before writers wait to queue.
    pub queue_capacity: usize,
    /// The most memory redb's page cache may use.
    pub cache_bytes: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            history_limit: 10_000,
            // 10,000 updates of 2.4 KB streams count 48 MB (each with its previous state), so
            // the event limit binds for streams of the usual size.
            history_bytes: 64 << 20,
            max_batch: 256,
            queue_capacity: 1024,
            // Enough for every branch page of a 100,000-stream store (about 4 MiB of keys) and
            // thousands of hot leaves, at ~170 bytes per stream; redb's 1 GiB default would let
            // the cache alone outgrow the memory target of 2 KiB per stream. A miss is a read
            // from the OS page cache, not necessarily from the device (`make bench`: creates,
            // gets and lists ran the same at 16 MiB, 32 MiB and 1 GiB).
            cache_bytes: 16 << 20,
        }
    }
}

/// The redb-backed [`Store`]: durable, group-committing, reads from consistent snapshots.
#[derive(Debug)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    /// Writers queue operations here for the commit thread. Bounded, so a flood of writers
    /// waits to queue instead of growing memory. `None` only while dropping: closing the queue
    /// is what tells the commit thread to finish.
    queue_tx: Option<mpsc::Sender<Request>>,
    /// Joined on drop, so the file is closed and its lock released when the store is gone.
    committer: Option<thread::JoinHandle<()>>,
    /// See `Committer::panic_next`.
    #[cfg(test)]
    panic_next: Arc<std::sync::atomic::AtomicBool>,
}

/// What the store handle, the commit thread and the watchers share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// A std (not tokio) lock: it is only ever held for in-memory work (planning a get or one
    /// page, one history scan, applying one batch), never while reading the file nor across
    /// an `.await`, so it cannot stall the runtime and needs no async lock.
    state: RwLock<State<Arc<Snapshot>>>,
    /// The newest committed revision; see [`Committer::revision_tx`].
    pub(crate) revision_rx: watch::Receiver<u64>,
    /// Commit statistics.
    pub(crate) counters: Counters,
}

impl Shared {
    /// Locks the state for reading. A panic elsewhere while it was held leaves a state that is
    /// still whole (batches are applied by plain map operations), so poisoning is ignored.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State<Arc<Snapshot>>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the state for the commit thread's apply.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State<Arc<Snapshot>>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A backup [`EmbeddedStore::check_backup`] has read whole: what
/// [`EmbeddedStore::restore_checked`] restores.
#[derive(Clone, Debug)]
pub struct CheckedBackup {
    path: PathBuf,
    revision: u64,
}

impl CheckedBackup {
    /// The backup file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store revision it records.
    pub fn revision(&self) -> u64 {
        self.revision
    }
}

impl EmbeddedStore {
    /// Opens the store at `path`, creating the file (and its directory) if needed, and loads
    /// every key and its revision (not the documents) into memory. Blocking: call it before
    /// serving, or in `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let path = path.as_ref();
        let (db, loaded) = open_loaded(path, options.cache_bytes)?;
        let recovery = Recovery::new(Some((path.to_path_buf(), options.cache_bytes)));
        Self::start(db, loaded, recovery, options)
    }

    /// A store on redb's in-memory backend: the same code, nothing survives the process.
    pub fn in_memory(options: EmbeddedOptions) -> Result<Self> {
        let db = disk::open_memory(options.cache_bytes)?;
        let loaded = disk::load(&db)?;
        Self::start(db, loaded, Recovery::new(None), options)
    }

    /// Writes a copy of the store as of its newest commit to a new store file at `path` and
    /// returns that commit's revision: an online backup, made from one snapshot while writes
    /// go on (they do not wait for it; the file keeps the snapshot's pages until it is done).
    /// Blocking: call it in `spawn_blocking`. It stops, removing its partial file, soon after
    /// `cancelled` is set.
    pub fn back_up_to(&self, path: &Path, cancelled: &AtomicBool) -> Result<u64> {
        let Some((snapshot, revision)) = self.shared.read().current() else {
            return Err(Error::Unavailable(
                "the store has no open snapshot (closed, or reopening its file after an i/o \
                 error): nothing to back up now"
                    .to_string(),
            ));
        };
        disk::write_copy(&snapshot, revision, path, None, cancelled).map_err(|error| {
            Error::internal(format!(
                "cannot write the backup {}: {error}",
                path.display()
            ))
        })?;
        Ok(revision)
    }

    /// Checks that the backup at `from` can be restored, reading every row of it: a damaged
    /// backup is refused before anything is changed, rather than part-way through a restore.
    /// Blocking; it reads the whole file.
    pub fn check_backup(from: &Path) -> Result<CheckedBackup, RestoreError> {
        match std::fs::metadata(from) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(RestoreError::Missing(from.to_path_buf()))
            }
            Ok(meta) if !meta.is_file() => return Err(RestoreError::NotAFile(from.to_path_buf())),
            // Another failure (permissions) is for the open below to say.
            _ => {}
        }
        let revision =
            disk::check_backup(from).map_err(|error| RestoreError::unreadable(from, &error))?;
        Ok(CheckedBackup {
            path: from.to_path_buf(),
            revision,
        })
    }

    /// Checks the backup at `from` ([`Self::check_backup`]) and restores it as the store file
    /// `to` ([`Self::restore_checked`]). Blocking.
    pub fn restore_file(from: &Path, to: &Path, bump: u64) -> Result<(u64, u64), RestoreError> {
        Self::restore_checked(&Self::check_backup(from)?, to, bump)
    }

    /// Restores `backup` as the store file `to`, its revision moved on by `bump` past the
    /// backup's, or past the replaced store's when that is higher, so that the revisions
    /// written after the restore are new ones: clients that saw revisions past the backup's
    /// then list again instead of resuming from a revision that would name another write
    /// (etcd's `snapshot restore --bump-revision`). Refused while another process has `to` open
    /// (a running `serve`), which is held open until the restore is done, so that a `serve`
    /// starting meanwhile stops; the restored file is given to the replaced one's owner
    /// (without one, the directory's). A failure leaves `to` as it was and no partial file.
    /// Returns the backup's revision and the restored store's. Blocking.
    pub fn restore_checked(
        backup: &CheckedBackup,
        to: &Path,
        bump: u64,
    ) -> Result<(u64, u64), RestoreError> {
        let from = backup.path.as_path();
        let replaced = disk::hold_replaced(to)?;
        let (_db, snapshot, revision) =
            disk::read_only(from).map_err(|error| RestoreError::unreadable(from, &error))?;
        // Past the replaced store too: after a first restore, an older backup restored over
        // it must not go back below the revisions the first one has handed out since.
        let base = revision.max(replaced.revision.unwrap_or(0));
        let restored = base
            .checked_add(bump)
            .ok_or(RestoreError::Overflow { base, bump })?;
        let never = AtomicBool::new(false);
        // Without a store to replace, the data directory's owner, whom `serve` runs as.
        let owner = replaced.owner.or_else(|| disk::owner_of(to.parent()?));
        disk::write_copy(&snapshot, restored, to, owner, &never).map_err(|source| {
            RestoreError::Write {
                path: to.to_path_buf(),
                source,
            }
        })?;
        drop(replaced);
        Ok((revision, restored))
    }

    /// How many transactions and writes have been committed since open.
    pub fn stats(&self) -> CommitStats {
        self.shared.counters.snapshot()
    }

    fn start(
        db: Database,
        loaded: disk::Loaded,
        recovery: Recovery,
        options: EmbeddedOptions,
    ) -> Result<Self> {
        let (snapshot, keys, revision) = loaded;
        let (revision_tx, revision_rx) = watch::channel(revision);
        let retention = Retention {
            events: options.history_limit,
            bytes: options.history_bytes,
        };
        let state = State::new(keys, revision, retention, Arc::new(snapshot));
        let state = RwLock::new(state);
        let shared = Arc::new(Shared {
            state,
            revision_rx,
            counters: Counters::default(),
        });
        let (queue_tx, queue_rx) = mpsc::channel(options.queue_capacity.max(1));
        let committer = Committer {
            db: Some(db),
            recovery,
            shared: shared.clone(),
            revision_tx,
            max_batch: options.max_batch.max(1),
            #[cfg(test)]
            panic_next: Arc::default(),
        };
        #[cfg(test)]
        let panic_next = committer.panic_next.clone();
        let handle = thread::Builder::new()
            .name("store-commit".to_string())
            .spawn(move || committer.run(queue_rx))
            .map_err(Error::internal)?;
        Ok(Self {
            shared,
            queue_tx: Some(queue_tx),
            committer: Some(handle),
            #[cfg(test)]
            panic_next,
        })
    }

    async fn submit(&self, op: Op) -> Result<Object> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let queue_tx = self.queue_tx.as_ref().ok_or_else(closed)?;
        queue_tx
            .send(Request { op, reply_tx })
            .await
            .map_err(|_| closed())?;
        reply_rx.await.map_err(|_| closed())?
    }

    /// Makes the commit thread's next batch panic.
    #[cfg(test)]
    pub(crate) fn panic_next_commit(&self) {
        self.panic_next
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Opens the store file at `path`, creating it only when absent (see [`disk::open_file`]), and
/// loads its keys and revisions.
pub(crate) fn open_loaded(path: &Path, cache_bytes: usize) -> Result<(Database, disk::Loaded)> {
    // redb answers some damage (zeroed or overwritten pages) with a panic, not an error;
    // at open that is a corrupt file, and start-up should say so and what to do.
    let opened = crate::panics::quietly(|| disk::open_file(path, cache_bytes));
    opened.unwrap_or_else(|panic| Err(corrupt(path, panic.as_ref())))
}

/// The error for a store file whose reading panicked inside redb.
fn corrupt(path: &Path, panic: &(dyn std::any::Any + Send)) -> Error {
    disk::corrupt(path, &disk::panic_damage(panic))
}

fn closed() -> Error {
    Error::internal("store is closed")
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        drop(self.queue_tx.take());
        if let Some(Err(panic)) = self.committer.take().map(thread::JoinHandle::join) {
            tracing::error!(?panic, "store commit thread panicked");
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn current_revision(&self) -> u64 {
        self.shared.read().revision()
    }

    async fn get(&self, key: &str) -> Result<Object> {
        self.shared.get(key)
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage> {
        self.shared.list(prefix, options).await
    }

    async fn create(&self, key: &str, value: Value) -> Result<Object> {
        // Here, on the caller's task, not on the one commit thread every writer waits for.
        size::check_size(key, &value)?;
        self.submit(Op::Create {
            key: key.to_string(),
            value,
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Value,
        expected_revision: Option<u64>,
    ) -> Result<Object> {
        size::allow_if_not_growing(self, key, &value, size::check_size(key, &value)).await?;
        self.submit(Op::Update {
            key: key.to_string(),
            value,
            expected: expected_revision,
        })
        .await
    }

    async fn delete(&self, key: &str, expected_revision: Option<u64>) -> Result<Object> {
        self.submit(Op::Delete {
            key: key.to_string(),
            expected: expected_revision,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after_revision: u64) -> Result<EventStream> {
        let (events, _) = super::watch::start(self.shared.clone(), prefix, after_revision)?;
        Ok(events)
    }

    fn pin(&self) -> Option<Arc<dyn PinnedView>> {
        let (snapshot, revision) = self.shared.read().current()?;
        Some(Arc::new(Pinned { snapshot, revision }))
    }

    async fn watch_with_progress(
        &self,
        prefix: &str,
        after_revision: u64,
    ) -> Result<(EventStream, WatchProgress)> {
        super::watch::start(self.shared.clone(), prefix, after_revision)
    }

    async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> Result<u64> {
        let mut revision_rx = self.shared.revision_rx.clone();
        let reached = revision_rx.wait_for(|current| *current >= revision);
        let reached = tokio::time::timeout(timeout, reached)
            .await
            .map(|r| r.map(|current| *current));
        match reached {
            Ok(Ok(current)) => Ok(current),
            Ok(Err(_)) => Err(closed()),
            Err(_elapsed) => Err(Error::TooLargeResourceVersion {
                requested: revision,
                current: self.current_revision(),
            }),
        }
    }
}

/// The embedded store as of one commit: the file's snapshot of it.
#[derive(Debug)]
struct Pinned {
    snapshot: Arc<Snapshot>,
    revision: u64,
}

impl PinnedView for Pinned {
    fn revision(&self) -> u64 {
        self.revision
    }

    fn page(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<ListPage> {
        let (items, more) = self.snapshot.page(prefix, start_after, limit)?;
        Ok(ListPage {
            items,
            revision: self.revision,
            more,
            unreadable: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
