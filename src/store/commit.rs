//! Group commit: one thread owns the database and turns every batch of queued writes into one
//! durable redb transaction.
//!
//! ```text
//! callers --Request(op, reply_tx)--> queue --(up to max_batch)--> plan --> serialize
//!                                                            --> persist (1 fsync)
//!                                                            --> open a snapshot of the commit
//!                                                            --> apply events + snapshot to State
//!                                                            --> publish revision
//!                                                            --> reply to each op
//! ```
//!
//! While one batch is being fsync'd the next one accumulates in the queue, so under load the
//! cost of an fsync is shared by every write that arrived during the previous one, and
//! durability does not cap throughput at one fsync per request. The thread is a plain OS
//! thread, not a tokio task: commits block on disk I/O, and it keeps the runtime's workers
//! free.
//!
//! Each written document is serialized once: those bytes go to the file and stay in the
//! history window (see [`super::history`]), which keeps no parsed tree.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use redb::Database;
use tokio::sync::{
    mpsc::{self, error::TryRecvError},
    oneshot, watch,
};

use super::{
    batch::{self, Base, Op},
    disk,
    doc::Doc,
    embedded::Shared,
    history::Record,
    recovery::Recovery,
    state::Reopened,
    Error, Event, EventKind, Object, Result,
};

/// How often the commit thread looks for writes while its file is closed after a failure (it
/// cannot block on the queue then: it also has to retry reopening the file).
const CLOSED_POLL: Duration = Duration::from_millis(20);

/// A queued write and where to send its outcome.
#[derive(Debug)]
pub(crate) struct Request {
    /// The write.
    pub(crate) op: Op,
    /// Receives the outcome once the batch holding the write is committed (or failed).
    pub(crate) reply_tx: oneshot::Sender<Result<Object>>,
}

/// How many transactions and writes the store has committed: `writes / commits` is the mean
/// batch size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// redb write transactions committed (each one fsync).
    pub commits: u64,
    /// Successful writes (creates, updates and deletes) they held.
    pub writes: u64,
}

/// The live counters behind [`CommitStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Counters {
    /// A consistent-enough copy for tests and metrics.
    pub(crate) fn snapshot(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    fn record(&self, writes: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes as u64, Ordering::Relaxed);
    }
}

/// The commit thread's resources.
pub(crate) struct Committer {
    /// Owned here alone: dropping the committer closes the file and releases its lock. `None`
    /// while the file is closed after an I/O failure (see [`super::recovery`]).
    pub(crate) db: Option<Database>,
    /// How the file is reopened after an I/O failure.
    pub(crate) recovery: Recovery,
    pub(crate) shared: Arc<Shared>,
    /// Publishes each new revision to watchers and `wait_for_revision`. Owned by this thread so
    /// that its end (the store shutting down) closes the channel and ends every watch.
    pub(crate) revision_tx: watch::Sender<u64>,
    /// The most writes one transaction holds.
    pub(crate) max_batch: usize,
    /// Set by a test to make the next batch panic, as a damaged page met by redb would.
    #[cfg(test)]
    pub(crate) panic_next: Arc<std::sync::atomic::AtomicBool>,
}

impl Committer {
    /// Commits batches until every sender of `queue_rx` is gone and the queue is drained.
    pub(crate) fn run(mut self, mut queue_rx: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while self.next_batch(&mut queue_rx, &mut batch) {
            self.commit_surviving_panics(std::mem::take(&mut batch));
        }
        // Watchers may keep the state alive; its snapshot must not keep the file open.
        self.shared.write().close();
    }

    /// Commits `batch` and answers its callers. A panic (redb meets some damage in a page with
    /// one) fails the batch's writes, saying so, instead of ending the thread and with it every
    /// later write; the file is then closed and reopened as after an I/O failure, which aborts
    /// a transaction cut short and compares the state with the file again.
    fn commit_surviving_panics(&mut self, batch: Vec<Request>) {
        let (ops, reply_txs): (Vec<Op>, Vec<_>) =
            batch.into_iter().map(|r| (r.op, r.reply_tx)).unzip();
        let count = ops.len();
        let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            #[cfg(test)]
            if self.panic_next.swap(false, Ordering::Relaxed) {
                panic!("injected by a test");
            }
            self.commit(ops)
        }));
        let (results, failure) = match committed {
            Ok(committed) => committed,
            Err(panic) => {
                let failure = panicked(panic.as_ref());
                (fail_all(count, &failure, false), Some(failure))
            }
        };
        for (reply_tx, result) in reply_txs.into_iter().zip(results) {
            // A caller that stopped waiting does not undo its write; nobody is left to tell.
            let _ = reply_tx.send(result);
        }
        if let Some(failure @ Error::Unavailable(_)) = failure {
            self.close_after(failure);
        }
    }

    /// Waits for the next writes; false once every sender is gone and the queue is drained.
    /// While the file is closed it polls instead, retrying to reopen the file in between (so
    /// that reads recover even when no write comes) and before committing writes that came.
    fn next_batch(
        &mut self,
        queue_rx: &mut mpsc::Receiver<Request>,
        batch: &mut Vec<Request>,
    ) -> bool {
        loop {
            if self.db.is_some() {
                return queue_rx.blocking_recv_many(batch, self.max_batch) > 0;
            }
            let mut senders_gone = false;
            while batch.len() < self.max_batch {
                match queue_rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        senders_gone = true;
                        break;
                    }
                }
            }
            self.try_reopen(!batch.is_empty());
            if !batch.is_empty() || senders_gone {
                return !batch.is_empty();
            }
            thread::sleep(CLOSED_POLL);
        }
    }

    /// Each op's outcome, and the failure of the batch's transaction, if it failed.
    fn commit(&mut self, ops: Vec<Op>) -> (Vec<Result<Object>>, Option<Error>) {
        let revision = self.shared.read().revision();
        let plan = batch::plan(&Committed(&self.shared), revision, ops);
        // While the file is closed after a failure the batch is refused without a commit.
        let attempted = self.db.is_some();
        let persisted = self.records(&plan.events).and_then(|records| {
            self.persist(&records)?;
            Ok(records)
        });
        match persisted {
            Ok(records) => {
                self.publish(records);
                (plan.results, None)
            }
            Err(error) => {
                // An unavailable file is logged, with its path, as it is closed (`close_after`).
                let logged = attempted && !matches!(error, Error::Unavailable(_));
                (fail_all(plan.results.len(), &error, logged), Some(error))
            }
        }
    }

    /// Writes the records in one durable transaction, or refuses them while the file is closed.
    fn persist(&self, records: &[Record]) -> Result<()> {
        match &self.db {
            _ if records.is_empty() => Ok(()),
            Some(db) => disk::persist(db, records),
            None => Err(self.recovery.failure()),
        }
    }

    /// The file failed: close it (redb refuses every later call on this handle) and reopen it.
    /// Snapshots of the closed file fail from now on, until the reopened file's replaces them.
    fn close_after(&mut self, failure: Error) {
        if self.db.take().is_some() {
            self.recovery.closed(failure, Instant::now());
        }
        self.try_reopen(false);
    }

    /// Reopens the file if an attempt is due, and serves it if it holds the state served.
    fn try_reopen(&mut self, writes_waiting: bool) {
        let attempt = self.recovery.attempt(Instant::now(), writes_waiting);
        let Some(Ok((db, (snapshot, keys, revision)))) = attempt else {
            return;
        };
        let outcome = self
            .shared
            .write()
            .reopened(keys, revision, Arc::new(snapshot));
        match outcome {
            Reopened::Same => tracing::info!(revision, "store file reopened"),
            Reopened::Ahead { revisions } => {
                tracing::warn!(
                    revision,
                    revisions,
                    "store file reopened holding writes that were answered as failed; watchers \
                     behind it get 410 and re-list"
                );
                self.revision_tx.send_replace(revision);
            }
            Reopened::Disagrees { file, served } => {
                let failure = Error::Unavailable(format!(
                    "the store file is at revision {file}, not the {served} this server has \
                     answered from: it was changed outside imagelookup; put the right file \
                     back, or restart imagelookup to serve what the file holds"
                ));
                return self.recovery.refused(failure);
            }
        }
        self.db = Some(db);
        self.recovery.reopened();
    }

    /// The planned events with their documents serialized, outside the write lock. A `prev`
    /// written earlier in the batch or still in the history window shares that document
    /// rather than being serialized again.
    fn records(&self, events: &[Event]) -> Result<Vec<Record>> {
        let state = self.shared.read();
        let first = events.first().map_or(0, Event::revision);
        let mut records: Vec<Record> = Vec::with_capacity(events.len());
        for event in events {
            let in_batch = |key: &str, revision: u64| -> Option<Arc<Doc>> {
                let index = usize::try_from(revision.checked_sub(first)?).ok()?;
                let record = records.get(index)?;
                let written = record.kind != EventKind::Deleted && record.object.key == key;
                written.then(|| record.object.doc.clone())
            };
            let known =
                |key: &str, revision| in_batch(key, revision).or_else(|| state.doc(key, revision));
            let record = Record::of(event, known)?;
            records.push(record);
        }
        Ok(records)
    }

    /// Makes committed records visible: state first, then the revision, so anyone woken by the
    /// new revision finds the events in the state.
    fn publish(&mut self, records: Vec<Record>) {
        let Some(last) = records.last().map(Record::revision) else {
            return;
        };
        let count = records.len();
        let snapshot = match &self.db {
            Some(db) => disk::snapshot(db).map(Arc::new),
            None => Err(self.recovery.failure()),
        };
        if let Err(error) = &snapshot {
            tracing::error!(%error, "store snapshot failed: older documents unreadable until the next commit");
        }
        self.shared.write().apply(records, snapshot.ok());
        self.revision_tx.send_replace(last);
        self.shared.counters.record(count);
        self.recovery.committed();
    }
}

/// The committed state, as the commit thread (its only writer) sees it between commits:
/// revisions from memory, documents from the history window or the current snapshot.
struct Committed<'a>(&'a Shared);

impl Base for Committed<'_> {
    fn mod_revision(&self, key: &str) -> Option<u64> {
        self.0.read().mod_revision(key)
    }

    fn object(&self, key: &str) -> Result<Object> {
        self.0.get(key)
    }
}

/// The failure of a batch whose commit panicked with `panic`.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Error {
    let what = crate::panics::message(panic);
    Error::Unavailable(format!(
        "the store failed while committing ({what}); this request may or may not have been \
         saved (read before writing again); its file may be damaged, and is being reopened"
    ))
}

/// Every op of a batch answered with the one failure of the whole batch (its transaction
/// failed or panicked, or was not tried: the file is closed). `log` says whether the failure is
/// logged here rather than where the file is closed.
fn fail_all(count: usize, error: &Error, log: bool) -> Vec<Result<Object>> {
    if log {
        tracing::error!(%error, ops = count, "store commit failed");
    }
    vec![Err(error.clone()); count]
}

#[cfg(test)]
mod tests;
