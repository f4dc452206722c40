//! Storage: the [`Store`] trait, its errors, the embedded (redb) backend and the etcd backend.
//!
//! The trait follows etcd's model, so that the embedded backend here and a later etcd backend
//! are interchangeable behind an `Arc<dyn Store>`: a flat, byte-ordered key space of JSON
//! documents, one revision counter for the whole store, compare-and-swap writes on an
//! object's mod revision, snapshot reads at a past revision, and watches that resume from a
//! revision.
//!
//! ```text
//! writers --mpsc--> commit thread --(one redb txn + fsync per batch)--> redb file
//!                        '--(events + snapshot of the commit)--> State (RwLock: key revisions,
//!                                                                 history, snapshot)
//!   get / list: under the lock, which documents and the snapshot; then read them unlocked
//!   watch: history only
//!   history: documents as the JSON bytes written, parsed trees only weakly cached
//! ```
//!
//! # Keys
//!
//! `<resource>/<namespace>/<name>` for namespaced kinds (`imagestreams/ns/demo`,
//! `secrets/ns/pull`) and `<resource>/<name>` for cluster-scoped ones (`images/sha256:…`); see
//! [`object_key`] and [`collection_prefix`]. Segments never contain `/`, so a prefix ending in
//! `/` selects exactly one collection. Keys order bytewise, as in etcd, so lists come back
//! ordered by namespace, then name.
//!
//! # Invariants
//!
//! - **One revision for the whole store.** Every successful write (create, update or delete of
//!   one key) takes a higher revision than any before it; a revision is never reused and never
//!   goes backwards, across restarts included. Failed writes take no revision. This is the
//!   Kubernetes `resourceVersion`. The embedded store starts at 0 and counts by one; etcd starts
//!   at 1 and may skip numbers (writes outside the key prefix move its revision too).
//! - **The store owns `metadata.resourceVersion`.** Every [`Object`] handed out carries its mod
//!   revision both in [`Object::revision`] and, as a decimal string, in the document's
//!   `metadata.resourceVersion`, whatever the caller wrote there. The embedded backend stamps
//!   it when writing (it assigns the revision before committing); an etcd backend stamps it on
//!   read, as the kube-apiserver's etcd3 store does. A DELETED event and the result of
//!   [`Store::delete`] carry the last state stamped with the *deletion* revision.
//! - **Acknowledged means durable and visible.** A write returns only after its transaction is
//!   on disk (fsync), and every read or watch started after it returns sees it. A batch of
//!   writes becomes visible at once: readers never see half a commit.
//! - **Cancelling a queued write does not cancel it.** Once a write is queued it is applied
//!   even if its caller stops waiting, as with an etcd request already sent.
//! - **Bounded history.** The backend keeps the last N revisions (the *window*). The newest
//!   revision that fell out of it is the *compacted* revision C. Snapshot lists and watches at
//!   a revision R ≥ C work; R < C fails with [`Error::Expired`] (HTTP 410).
//! - **Watches never skip.** A watch delivers every matching event with revision > R, in
//!   revision order, or ends with an error; it never silently drops events. A watcher that
//!   falls behind the window ends with [`Error::Expired`]; after an error the stream ends.

use std::{num::NonZeroUsize, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::Value;

mod batch;
mod commit;
mod disk;
mod doc;
mod embedded;
mod error;
/// Error messages with their causes, each once (also the importer's registry errors).
pub(crate) use error::message_chain;
mod etcd;
#[cfg(test)]
pub(crate) mod fixtures;
mod history;
pub mod lead;
mod metered;
mod pages;
mod read;
mod recovery;
mod size;
mod spec;
mod state;
mod watch;

pub use commit::CommitStats;
pub use embedded::{CheckedBackup, EmbeddedOptions, EmbeddedStore};
pub use error::{CorruptFile, Error, NewerFormat, RestoreError, Unreadable};
pub use etcd::{Compactions, ConfigError, Endpoint, EtcdConfig, EtcdStore, DEFAULT_PREFIX};
pub use metered::MeteredStore;
pub use pages::{for_each_page, for_each_readable_page, report_unreadable, PAGE_SIZE};
pub use size::{check_write_size, MAX_OBJECT_BYTES};
pub use spec::{OpenError, SpecError, StoreSpec};

/// Results of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The stream a watch returns: events in revision order, ending after an error.
pub type EventStream = BoxStream<'static, Result<Event>>;

/// How far a watch stream has delivered: a revision up to which every event under its prefix
/// has been yielded, though none since may have matched. A quiet watch's BOOKMARKs carry it,
/// so a client resuming from one is not sent back to a revision compacted away since its last
/// event (kube-apiserver's watch cache bookmarks at its own revision for the same reason).
#[derive(Clone, Debug)]
pub struct WatchProgress(Arc<std::sync::atomic::AtomicU64>);

impl WatchProgress {
    /// Progress that starts at `revision` (the watch's start: nothing after it delivered).
    pub fn starting_at(revision: u64) -> Self {
        Self(Arc::new(std::sync::atomic::AtomicU64::new(revision)))
    }

    /// The revision every event up to which has been yielded.
    pub fn delivered_through(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records that every event up to `revision` has been yielded (never moves back).
    pub(crate) fn advance(&self, revision: u64) {
        self.0
            .fetch_max(revision, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A storage backend with etcd-like semantics; see the module documentation for the invariants
/// every implementation upholds.
///
/// The trait is object safe: the server holds an `Arc<dyn Store>`. Every method that may need
/// the network in an etcd backend is async; the embedded backend reads documents from its
/// file (a list page with many of them on the blocking pool).
#[async_trait]
pub trait Store: Send + Sync {
    /// The newest revision this store has committed (0 for an empty, never-written store).
    fn current_revision(&self) -> u64;

    /// How many times the store's revisions went back (etcd restored from a backup, or
    /// replaced): a revision names one write only within one epoch. Never for the embedded
    /// store, whose revisions only grow.
    fn revision_epoch(&self) -> u64 {
        0
    }

    /// The current state of `key`, or [`Error::NotFound`].
    async fn get(&self, key: &str) -> Result<Object>;

    /// One page of the objects whose keys start with `prefix`, in key order, read from one
    /// consistent snapshot.
    ///
    /// Errors: [`Error::Expired`] when [`ReadAt::Exact`] names a compacted revision,
    /// [`Error::TooLargeResourceVersion`] when it names a revision not yet written.
    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage>;

    /// Stores `value` under `key`, which must not exist ([`Error::AlreadyExists`]).
    ///
    /// `value` must be a JSON object; its `metadata.resourceVersion` is set to the new revision.
    /// Returns the stored object.
    async fn create(&self, key: &str, value: Value) -> Result<Object>;

    /// Replaces the value of an existing `key` ([`Error::NotFound`] otherwise).
    ///
    /// With `expected_revision`, the write happens only if the object's mod revision still is
    /// that revision, else [`Error::Conflict`]: the compare-and-swap a read-modify-write loop
    /// retries on. Every successful update is a new revision, even if the value is unchanged;
    /// callers that want no-op updates to keep their resourceVersion must skip the call.
    async fn update(
        &self,
        key: &str,
        value: Value,
        expected_revision: Option<u64>,
    ) -> Result<Object>;

    /// Deletes `key` ([`Error::NotFound`] if absent; [`Error::Conflict`] if
    /// `expected_revision` is given and differs from its mod revision).
    ///
    /// Returns the last state, stamped with the deletion revision: the object a DELETED event
    /// carries. Its [`Object::revision`] is the deletion revision.
    async fn delete(&self, key: &str, expected_revision: Option<u64>) -> Result<Object>;

    /// Watches the keys starting with `prefix` for changes with revision > `after_revision`.
    ///
    /// Fails with [`Error::Expired`] if `after_revision` is below the compacted revision. The
    /// embedded backend reports that at once; an etcd backend may only learn it from the
    /// stream, so callers must treat an `Err` as the first item the same way (for Kubernetes:
    /// HTTP 200, then an in-stream ERROR 410). A revision above the current one is allowed:
    /// only later events are delivered. The stream ends (`None`) when the store shuts down,
    /// and ends after yielding an error ([`Error::Expired`] for a watcher that fell behind the
    /// history window). Dropping the stream cancels the watch.
    async fn watch(&self, prefix: &str, after_revision: u64) -> Result<EventStream>;

    /// [`Store::watch`], and how far its stream has delivered. A backend that cannot tell
    /// reports the start for good (only delivered events then move a watch's bookmarks), as
    /// etcd's gateway does: a watch there hears nothing of revisions that did not match it.
    async fn watch_with_progress(
        &self,
        prefix: &str,
        after_revision: u64,
    ) -> Result<(EventStream, WatchProgress)> {
        let events = self.watch(prefix, after_revision).await?;
        Ok((events, WatchProgress::starting_at(after_revision)))
    }

    /// Waits until the store has reached `revision`, then returns the current revision.
    ///
    /// Fails with [`Error::TooLargeResourceVersion`] after `timeout`: the kube-apiserver's
    /// "Too large resource version" 504 for a `resourceVersion` the store has not reached.
    async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> Result<u64>;

    /// Elects one leader per role among the processes sharing this store. A store only one
    /// process can open leads at once ([`lead::Sole`]).
    fn elector(&self) -> Arc<dyn lead::Elector> {
        Arc::new(lead::Sole)
    }

    /// The store as of its newest commit, held for reading a collection a page at a time for
    /// as long as that takes; `None` where a past revision stays readable anyway until it is
    /// compacted (etcd), so [`ReadAt::Exact`] serves. The embedded store reads past revisions
    /// through its history window, which a flood of writes can move past a slow list.
    fn pin(&self) -> Option<Arc<dyn PinnedView>> {
        None
    }
}

/// A store as of one commit ([`Store::pin`]). Holding it keeps that commit's pages in the
/// embedded store's file, which cannot reuse them meanwhile: hold it for one read only.
pub trait PinnedView: Send + Sync + std::fmt::Debug {
    /// The revision of the commit it shows.
    fn revision(&self) -> u64;

    /// One page of the objects whose keys start with `prefix`, as [`Store::list`] reads it at
    /// [`PinnedView::revision`], after `start_after` and at most `limit` long. Blocking: a
    /// large page belongs on the blocking pool.
    fn page(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<ListPage>;
}

/// A stored JSON document and its mod revision.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// The full key, e.g. `imagestreams/ns/demo`.
    pub key: String,
    /// The document; `metadata.resourceVersion` equals `revision` as a decimal string.
    pub value: Arc<Value>,
    /// The revision of the last write to this key (for a deleted object: of the deletion).
    pub revision: u64,
}

/// What happened to a key, in watch-event terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The key was created.
    Added,
    /// The key was updated.
    Modified,
    /// The key was deleted.
    Deleted,
}

impl EventKind {
    /// The Kubernetes watch event type: `ADDED`, `MODIFIED` or `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch delivers it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The new state; for [`EventKind::Deleted`] the last state stamped with the deletion
    /// revision. `object.revision` is the event's revision.
    pub object: Object,
    /// The state before the change (`None` for [`EventKind::Added`]), like etcd's `prev_kv`.
    pub prev: Option<Object>,
}

impl Event {
    /// The revision of this change.
    pub fn revision(&self) -> u64 {
        self.object.revision
    }
}

/// Which snapshot a list reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadAt {
    /// The newest committed state.
    #[default]
    Current,
    /// The state exactly as of this revision (continue tokens, `resourceVersionMatch=Exact`).
    Exact(u64),
}

/// Options for [`Store::list`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// The snapshot to read.
    pub at: ReadAt,
    /// Return only keys strictly after this one (the last key of the previous page).
    pub start_after: Option<String>,
    /// The page size; `None` returns every matching object.
    pub limit: Option<NonZeroUsize>,
    /// Set an unreadable document ([`Error::Corrupt`]) aside in [`ListPage::unreadable`]
    /// instead of failing the page: for background readers, which one damaged object must not
    /// stop. Client lists fail, as kube-apiserver's do, naming the object.
    pub skip_unreadable: bool,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    /// The objects, in key order.
    pub items: Vec<Object>,
    /// The revision of the snapshot the page was read from (the list's `resourceVersion`).
    pub revision: u64,
    /// Whether more matching objects follow the last item in the same snapshot.
    pub more: bool,
    /// With [`ListOptions::skip_unreadable`], the page's unreadable documents, in key order.
    pub unreadable: Vec<Unreadable>,
}

/// The key of one object: `<resource>/<namespace>/<name>`, or `<resource>/<name>` when
/// `namespace` is `None` (cluster-scoped kinds).
///
/// The segments must be non-empty and free of `/`; the API layer's name validation ensures it.
pub fn object_key(resource: &str, namespace: Option<&str>, name: &str) -> String {
    debug_assert!(
        !name.is_empty() && !name.contains('/'),
        "bad object name {name:?}"
    );
    format!("{}{name}", collection_prefix(resource, namespace))
}

/// The prefix selecting one collection: `<resource>/<namespace>/`, or `<resource>/` for a
/// cluster-scoped kind or for every namespace at once.
pub fn collection_prefix(resource: &str, namespace: Option<&str>) -> String {
    debug_assert!(
        !resource.is_empty() && !resource.contains('/'),
        "bad resource {resource:?}"
    );
    match namespace {
        Some(namespace) => format!("{resource}/{namespace}/"),
        None => format!("{resource}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_namespace_between_resource_and_name() {
        let check = |resource, namespace, name, key: &str, prefix: &str| {
            assert_eq!(object_key(resource, namespace, name), key);
            assert_eq!(collection_prefix(resource, namespace), prefix);
            assert!(key.starts_with(prefix));
        };
        check(
            "imagestreams",
            Some("ns"),
            "demo",
            "imagestreams/ns/demo",
            "imagestreams/ns/",
        );
        check(
            "secrets",
            Some("ns"),
            "pull",
            "secrets/ns/pull",
            "secrets/ns/",
        );
        check("images", None, "sha256:abc", "images/sha256:abc", "images/");
    }

    #[test]
    fn namespace_prefix_does_not_match_a_longer_namespace() {
        let prefix = collection_prefix("imagestreams", Some("ns1"));
        assert!(!object_key("imagestreams", Some("ns10"), "a").starts_with(&prefix));
        assert!(object_key("imagestreams", Some("ns1"), "a").starts_with(&prefix));
    }

    #[test]
    fn event_kinds_use_watch_event_type_names() {
        let names: Vec<_> = [EventKind::Added, EventKind::Modified, EventKind::Deleted]
            .map(EventKind::as_str)
            .to_vec();
        assert_eq!(names, ["ADDED", "MODIFIED", "DELETED"]);
    }
}
