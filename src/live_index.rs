//! The live index: the resolver's [`Index`], kept current by the store's watch.
//!
//! ```text
//! store ──list──▶ reset ─┐
//!       ──watch─▶ apply ─┼──▶ RwLock<IndexState> ◀── read guard ── admission (sync)
//! API write ──▶ apply ───┘      (never held across .await)
//! ```
//!
//! Two writers feed it: the watch task, and the API handlers, which apply their own writes
//! before answering so that a stream created through the API resolves in the very next
//! admission request. Both go through one ordering rule: an event older than what the index
//! already holds for that key is ignored, and a deletion leaves a tombstone until the watch has
//! caught up with it, so a late watch event can never resurrect a deleted stream.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use crate::api::ImageStream;
use crate::resolve::{CompactStream, Index, StreamLookup, TagCounts};
use crate::strategy;

mod feed;
mod platform_feed;
mod platforms;

pub use feed::run_feed;
pub use platform_feed::run_platform_feed;
pub use platforms::{architectures_of, Platforms};

/// The store collection holding ImageStreams.
pub const IMAGESTREAMS_PREFIX: &str = "imagestreams/";

/// A shared, live index of ImageStreams.
#[derive(Debug, Default)]
pub struct LiveIndex {
    /// A std lock, not a tokio one: it guards a few pointer swaps and is never held across an
    /// `.await`, so readers on the admission path never wait on I/O.
    state: RwLock<IndexState>,
    /// The registry host names the API serves streams with, or `None` to index each stream's
    /// stored `status.dockerImageRepository` as it is.
    served_with: Option<strategy::Config>,
    /// Whether the feed's list and watch are established (see [`run_feed`]).
    connected: std::sync::atomic::AtomicBool,
    /// Keys of the streams the feed's last list could not read (left out of the index, see
    /// [`run_feed`]), until an event for the key says what it holds now. Never read by
    /// admission: only the feed and the metrics tick take the lock.
    unreadable: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The index and its bookkeeping; readers see it as an [`Index`] through `Deref`.
///
/// Each indexed stream carries the revision it was written at ([`CompactStream::revision`]),
/// so live streams cost no bookkeeping of their own; only deletions do, until the watch has
/// passed them.
#[derive(Debug, Default)]
pub struct IndexState {
    index: Index,
    /// Deleted keys (`namespace/name`) and their deletion revision, until the watch passes it.
    tombstones: HashMap<String, u64>,
    /// The newest revision the index reflects completely (list or watch).
    synced_revision: u64,
    /// Whether the initial list has been loaded.
    ready: bool,
}

/// A read view of the index; hold it only for synchronous work.
pub type IndexGuard<'a> = RwLockReadGuard<'a, IndexState>;

impl std::ops::Deref for IndexState {
    type Target = Index;

    fn deref(&self) -> &Index {
        &self.index
    }
}

impl LiveIndex {
    /// An empty, not yet ready index of streams as they are stored.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// An empty, not yet ready index of streams as the API serves them under `config`: each
    /// stream's repository is recomputed from the registry host names, as every read does, so
    /// admission follows a change of `--registry-hostname` without a write to every stream.
    pub fn serving(config: strategy::Config) -> Arc<Self> {
        Arc::new(Self {
            served_with: Some(config),
            ..Self::default()
        })
    }

    /// The stream in the index's form (see [`LiveIndex::serving`]).
    pub fn compact(&self, stream: &ImageStream) -> CompactStream {
        match &self.served_with {
            None => CompactStream::from(stream),
            Some(config) => {
                let repository = strategy::served_repository(stream, config);
                CompactStream::with_repository(stream, &repository)
            }
        }
    }

    /// A read guard over the index; it dereferences to [`Index`]. The guard is not `Send`, so
    /// an axum handler that held it across an `.await` would not compile.
    pub fn read(&self) -> IndexGuard<'_> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the feed's list and watch are established right now; while it re-lists after
    /// an error, admission answers from the last state the index had.
    pub fn is_connected(&self) -> bool {
        self.connected.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_connected(&self, connected: bool) {
        self.connected
            .store(connected, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many stored streams the feed's last list could not read: left out of the index
    /// (admission finds no such stream), each logged with how to remove it.
    pub fn unreadable(&self) -> usize {
        self.unreadable_keys().len()
    }

    fn unreadable_keys(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.unreadable
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_unreadable(&self, keys: std::collections::HashSet<String>) {
        *self.unreadable_keys() = keys;
    }

    /// An event for `key` could not be read as a stream: it is unreadable now.
    fn unreadable_again(&self, key: &str) {
        self.unreadable_keys().insert(key.to_string());
    }

    /// An event for `key` was read: whatever it holds now (or its deletion), it is readable.
    fn readable_again(&self, key: &str) {
        let mut keys = self.unreadable_keys();
        if !keys.is_empty() {
            keys.remove(key);
        }
    }

    /// Whether the initial list has been loaded.
    pub fn is_ready(&self) -> bool {
        self.read().ready
    }

    /// Every indexed spec tag counted by state.
    pub fn tag_counts(&self) -> TagCounts {
        self.read().index.tag_counts()
    }

    /// Number of streams indexed.
    pub fn len(&self) -> usize {
        self.read().index.len()
    }

    /// Whether the index holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest revision the index reflects completely.
    pub fn synced_revision(&self) -> u64 {
        self.read().synced_revision
    }

    /// Replaces the whole index with a listed snapshot at `revision`; each stream is recorded
    /// at its own revision (its `resourceVersion`).
    ///
    /// Writes the API server applied after the snapshot was read (newer than `revision`, and
    /// their tombstones) are carried over: the watch will deliver them again, but until then a
    /// re-list must not undo them. The old index is freed after the lock is released.
    pub fn reset<S>(&self, streams: impl IntoIterator<Item = S>, revision: u64)
    where
        S: Into<CompactStream>,
    {
        let mut fresh = IndexState {
            index: streams.into_iter().map(Into::into).collect(),
            synced_revision: revision,
            ready: true,
            ..IndexState::default()
        };
        let previous = {
            let mut state = self.write();
            // A snapshot below what the index already followed means the store went back (etcd
            // restored from a backup or replaced): nothing held is newer than it, all is gone.
            if revision >= state.synced_revision {
                fresh.carry_newer_than(&state, revision);
            } else {
                tracing::warn!(
                    from = state.synced_revision,
                    to = revision,
                    "the store's revision went back: the admission index is rebuilt from it"
                );
            }
            std::mem::replace(&mut *state, fresh)
        };
        drop(previous);
    }

    /// Whether the index already reflects the stream `namespace/name` at `revision` (the API
    /// server applied its own write before answering, so its watch event brings nothing new).
    pub fn reflects(&self, namespace: &str, name: &str, revision: u64) -> bool {
        self.read().is_stale(namespace, name, revision)
    }

    /// Applies one change at `revision`: an upsert, or a deletion when `deleted`.
    /// Returns whether the index changed.
    pub fn apply(&self, stream: &ImageStream, revision: u64, deleted: bool) -> bool {
        let (namespace, name) = (stream.namespace(), stream.name());
        if self.read().is_stale(namespace, name, revision) {
            return false;
        }
        // Compacted and counted before taking the write lock, so admission readers wait only
        // for the swap.
        let compacted = (!deleted).then(|| {
            let compacted = Arc::new(self.compact(stream).with_revision(revision));
            let counts = TagCounts::of_stream(&compacted);
            (compacted, counts)
        });
        let mut state = self.write();
        if state.is_stale(namespace, name, revision) {
            return false;
        }
        match compacted {
            None => {
                state.tombstones.insert(key(namespace, name), revision);
                state.index.remove(namespace, name);
            }
            Some((compacted, counts)) => {
                if !state.tombstones.is_empty() {
                    state.tombstones.remove(&key(namespace, name));
                }
                state.index.upsert_counted(compacted, counts);
            }
        }
        true
    }

    /// Records that the watch has delivered everything up to `revision`.
    pub fn mark_synced(&self, revision: u64) {
        let mut state = self.write();
        state.synced_revision = state.synced_revision.max(revision);
        let synced = state.synced_revision;
        state
            .tombstones
            .retain(|_, deleted_at| *deleted_at > synced);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, IndexState> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl IndexState {
    /// Copies from `old` what is newer than a snapshot at `revision`: streams written after it
    /// (shared, not copied), and deletions after it (which also hide the snapshot's copy).
    fn carry_newer_than(&mut self, old: &IndexState, revision: u64) {
        let newer = old
            .index
            .iter_counted()
            .filter(|(stream, _)| stream.revision() > revision);
        for (stream, counts) in newer {
            self.index.upsert_counted(stream.clone(), counts);
        }
        for (key, &deleted_at) in old.tombstones.iter().filter(|(_, &at)| at > revision) {
            if let Some((namespace, name)) = key.split_once('/') {
                self.index.remove(namespace, name);
            }
            self.tombstones.insert(key.clone(), deleted_at);
        }
    }

    /// Whether the initial list has been loaded (see [`LiveIndex::is_ready`]), read under the
    /// guard the caller already holds.
    pub fn is_loaded(&self) -> bool {
        self.ready
    }

    fn is_stale(&self, namespace: &str, name: &str, revision: u64) -> bool {
        let held = self
            .index
            .stream(namespace, name)
            .map_or(0, CompactStream::revision);
        // Tombstones are few and short-lived: skip building the key when there are none.
        let buried = match self.tombstones.is_empty() {
            true => 0,
            false => self
                .tombstones
                .get(&key(namespace, name))
                .copied()
                .unwrap_or(0),
        };
        // Below the revision the feed has synced to, the index reflects the change or what
        // replaced it: a writer applying its own write late (its task polled again only after
        // the feed delivered a deletion that followed it, and dropped its tombstone) must not
        // bring the stream back.
        revision <= held || revision <= buried || revision < self.synced_revision
    }
}

/// Decodes a stored stream; valid JSON that is no ImageStream (a foreign write, a type error)
/// is `None`, logged with its key and what to do, never allowed to stop a reader (the feed
/// counts it as unreadable).
pub fn decode(object: &crate::store::Object) -> Option<ImageStream> {
    match <ImageStream as serde::Deserialize>::deserialize(&*object.value) {
        Ok(stream) => Some(stream),
        Err(error) => {
            tracing::error!(
                key = %object.key,
                %error,
                "the stored object {} is not an ImageStream this server can read; left out of \
                 the admission index (delete it with \
                 ?ignoreStoreReadErrorWithClusterBreakingPotential=true if it cannot be read \
                 through the API either, or write it again)",
                object.key
            );
            None
        }
    }
}

/// A tombstone's key: `namespace/name` (neither may contain `/`).
fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, revision: u64) -> ImageStream {
        let mut stream = ImageStream::new("ns", name);
        stream.metadata.resource_version = Some(revision.to_string());
        stream.metadata.annotations = Some([("big".to_string(), "x".repeat(1000))].into());
        stream
    }

    #[test]
    fn reset_loads_a_snapshot_and_marks_ready() {
        let index = LiveIndex::new();
        assert!(!index.is_ready());
        index.reset(vec![stream("a", 3), stream("b", 4)], 4);
        assert!(index.is_ready());
        assert_eq!(index.len(), 2);
        assert_eq!(index.synced_revision(), 4);
        let state = index.read();
        let a = state.stream("ns", "a").unwrap();
        assert_eq!((a.name(), a.revision()), ("a", 3), "at its resourceVersion");
    }

    #[test]
    fn a_snapshot_below_the_synced_revision_replaces_everything_held() {
        let index = LiveIndex::new();
        index.reset(vec![stream("a", 3), stream("b", 4)], 4);
        index.apply(&stream("c", 6), 6, false);
        index.mark_synced(6);
        // etcd restored from a backup taken at revision 2: only `a`, at an older revision.
        index.reset(vec![stream("a", 2)], 2);
        assert_eq!((index.len(), index.synced_revision()), (1, 2));
        let state = index.read();
        assert_eq!(state.stream("ns", "a").map(|a| a.revision()), Some(2));
        drop(state);
        // Writes after the restore count, though their revisions are below the old ones.
        assert!(index.apply(&stream("b", 3), 3, false));
        assert_eq!(index.len(), 2);
    }

    /// A stream stored while the registry was `old:5000`.
    fn stored_under_old_host(name: &str, revision: u64) -> ImageStream {
        let mut stream = stream(name, revision);
        stream.status = Some(crate::api::ImageStreamStatus {
            docker_image_repository: format!("old:5000/ns/{name}"),
            ..Default::default()
        });
        stream
    }

    #[test]
    fn a_serving_index_holds_the_repository_reads_show_not_the_stored_one() {
        let index = LiveIndex::serving(strategy::Config {
            internal_registry_hostname: "new:5000".into(),
            ..strategy::Config::default()
        });
        index.reset([index.compact(&stored_under_old_host("a", 3))], 3);
        index.apply(&stored_under_old_host("b", 4), 4, false);
        let state = index.read();
        assert_eq!(
            state.stream("ns", "a").unwrap().repository(),
            "new:5000/ns/a"
        );
        assert_eq!(
            state.stream("ns", "b").unwrap().repository(),
            "new:5000/ns/b"
        );
        drop(state);
        let without_host = LiveIndex::serving(strategy::Config::default());
        without_host.apply(&stored_under_old_host("c", 5), 5, false);
        assert_eq!(
            without_host.read().stream("ns", "c").unwrap().repository(),
            ""
        );
        let as_stored = LiveIndex::new();
        as_stored.apply(&stored_under_old_host("d", 6), 6, false);
        assert_eq!(
            as_stored.read().stream("ns", "d").unwrap().repository(),
            "old:5000/ns/d"
        );
    }

    #[test]
    fn an_older_event_never_overwrites_a_newer_state() {
        let index = LiveIndex::new();
        assert!(index.apply(&stream("a", 5), 5, false));
        assert!(!index.apply(&stream("a", 4), 4, false));
        assert!(
            !index.apply(&stream("a", 5), 5, false),
            "the watch echo of an applied write"
        );
        assert_eq!(index.read().stream("ns", "a").unwrap().revision(), 5);
    }

    #[test]
    fn the_index_reflects_what_it_holds_or_buried_at_or_before_that_revision() {
        let index = LiveIndex::new();
        index.apply(&stream("a", 5), 5, false);
        index.apply(&stream("b", 6), 6, true);
        let check = |name: &str, revision: u64, expected: bool| {
            assert_eq!(
                index.reflects("ns", name, revision),
                expected,
                "{name}@{revision}"
            );
        };
        check("a", 4, true);
        check("a", 5, true);
        check("a", 6, false);
        check("b", 6, true);
        check("b", 7, false);
        check("c", 1, false);
    }

    #[test]
    fn a_late_watch_event_cannot_resurrect_a_deleted_stream() {
        let index = LiveIndex::new();
        index.apply(&stream("a", 5), 5, false);
        index.apply(&stream("a", 6), 6, true);
        assert!(!index.apply(&stream("a", 5), 5, false));
        assert!(index.read().stream("ns", "a").is_none());
        index.mark_synced(6);
        assert!(
            index.apply(&stream("a", 7), 7, false),
            "a later re-create is applied"
        );
        assert!(index.read().stream("ns", "a").is_some());
    }

    #[test]
    fn a_writer_applying_its_write_after_the_feed_passed_a_later_deletion_changes_nothing() {
        let index = LiveIndex::new();
        // The feed delivers the write at 5 and the deletion at 6, and drops the tombstone once
        // synced past it; the writer that made revision 5 applies it only then.
        index.apply(&stream("a", 5), 5, false);
        index.apply(&stream("a", 6), 6, true);
        index.mark_synced(6);
        assert!(!index.apply(&stream("a", 5), 5, false));
        assert!(index.read().stream("ns", "a").is_none());
        assert!(index.reflects("ns", "a", 5));
        assert!(
            !index.reflects("ns", "a", 7),
            "a revision ahead of the feed"
        );
    }

    #[test]
    fn a_relist_keeps_writes_and_deletions_newer_than_its_snapshot() {
        let index = LiveIndex::new();
        index.reset(vec![stream("old", 2), stream("gone", 3)], 3);
        // The API applies its own writes while the feed is re-listing from revision 4.
        assert!(index.apply(&stream("new", 5), 5, false));
        assert!(index.apply(&stream("gone", 6), 6, true));
        index.reset(vec![stream("old", 2), stream("gone", 3)], 4);
        let state = index.read();
        assert!(
            state.stream("ns", "new").is_some(),
            "a write after the snapshot"
        );
        assert!(
            state.stream("ns", "gone").is_none(),
            "a deletion after the snapshot"
        );
        assert!(state.stream("ns", "old").is_some());
        drop(state);
        assert!(
            !index.apply(&stream("new", 5), 5, false),
            "the watch echo of the carried write is still recognised"
        );
        assert!(!index.apply(&stream("gone", 3), 3, false));
    }

    #[test]
    fn a_relist_drops_what_its_snapshot_already_covers() {
        let index = LiveIndex::new();
        index.apply(&stream("a", 5), 5, false);
        index.apply(&stream("b", 6), 6, true);
        index.reset(vec![stream("b", 7)], 7);
        let state = index.read();
        assert!(state.stream("ns", "a").is_none(), "deleted by revision 7");
        assert!(
            state.stream("ns", "b").is_some(),
            "re-created at revision 7"
        );
        assert_eq!(state.len(), 1);
    }
}
