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
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::ImageStream;
use crate::resolve::Index;
use crate::store::{self, EventKind, ListOptions, Store};

/// The store collection holding ImageStreams.
pub const IMAGESTREAMS_PREFIX: &str = "imagestreams/";

/// A shared, live index of ImageStreams.
#[derive(Debug, Default)]
pub struct LiveIndex {
    /// A std lock, not a tokio one: it guards a few pointer swaps and is never held across an
    /// `.await`, so readers on the admission path never wait on I/O.
    state: RwLock<IndexState>,
}

/// The index and its bookkeeping; readers see it as an [`Index`] through `Deref`.
#[derive(Debug, Default)]
pub struct IndexState {
    index: Index,
    /// Revision of each indexed stream, by `namespace/name`.
    revisions: HashMap<String, u64>,
    /// Deleted keys and their deletion revision, until the watch passes it.
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
    /// An empty, not yet ready index.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A read guard over the index; it dereferences to [`Index`].
    pub fn read(&self) -> IndexGuard<'_> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the initial list has been loaded.
    pub fn is_ready(&self) -> bool {
        self.read().ready
    }

    /// Number of streams indexed.
    pub fn len(&self) -> usize {
        self.read().index.len()
    }

    /// Whether the index holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest revision the index is known to reflect.
    pub fn synced_revision(&self) -> u64 {
        self.read().synced_revision
    }

    /// Replaces the whole index with a listed snapshot at `revision`.
    pub fn reset(&self, streams: Vec<ImageStream>, revision: u64) {
        let mut fresh = IndexState {
            synced_revision: revision,
            ready: true,
            ..IndexState::default()
        };
        for stream in streams {
            let key = stream_key(&stream);
            fresh.revisions.insert(key, resource_version(&stream));
            fresh.index.upsert(Arc::new(compact(stream)));
        }
        *self.write() = fresh;
    }

    /// Applies one change at `revision`: an upsert, or a deletion when `deleted`.
    /// Returns whether the index changed.
    pub fn apply(&self, stream: &ImageStream, revision: u64, deleted: bool) -> bool {
        let key = stream_key(stream);
        let mut state = self.write();
        if state.is_stale(&key, revision) {
            return false;
        }
        if deleted {
            state.revisions.remove(&key);
            state.tombstones.insert(key, revision);
            state.index.remove(stream.namespace(), stream.name());
        } else {
            state.tombstones.remove(&key);
            state.revisions.insert(key, revision);
            state.index.upsert(Arc::new(compact(stream.clone())));
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
    fn is_stale(&self, key: &str, revision: u64) -> bool {
        let held = self.revisions.get(key).copied().unwrap_or(0);
        let buried = self.tombstones.get(key).copied().unwrap_or(0);
        revision <= held || revision <= buried
    }
}

/// Keeps `index` current from `store` until the store shuts down: list, then watch from the
/// list's revision; on a 410 (history expired or watcher too slow) list again.
pub async fn run_feed(store: Arc<dyn Store>, index: Arc<LiveIndex>) {
    loop {
        match feed_once(store.as_ref(), &index).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, "imagestream index watch ended; re-listing");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn feed_once(store: &dyn Store, index: &LiveIndex) -> store::Result<()> {
    let page = store
        .list(IMAGESTREAMS_PREFIX, &ListOptions::default())
        .await?;
    let streams = page
        .items
        .iter()
        .filter_map(|object| decode(&object.value))
        .collect();
    index.reset(streams, page.revision);
    let mut events = store.watch(IMAGESTREAMS_PREFIX, page.revision).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        if let Some(stream) = decode(&event.object.value) {
            index.apply(&stream, event.revision(), event.kind == EventKind::Deleted);
        }
        index.mark_synced(event.revision());
    }
    Ok(())
}

/// Decodes a stored document; a document that is not an ImageStream is skipped (and logged),
/// never allowed to stop the feed.
pub fn decode(value: &serde_json::Value) -> Option<ImageStream> {
    match <ImageStream as serde::Deserialize>::deserialize(value) {
        Ok(stream) => Some(stream),
        Err(error) => {
            tracing::error!(%error, "stored imagestream does not decode; left out of the index");
            None
        }
    }
}

/// Keeps only what resolution reads, so 100,000 streams fit in a few hundred MiB at most:
/// metadata shrinks to namespace, name and resourceVersion; spec tags lose annotations.
fn compact(mut stream: ImageStream) -> ImageStream {
    stream.metadata = ObjectMeta {
        name: stream.metadata.name.take(),
        namespace: stream.metadata.namespace.take(),
        resource_version: stream.metadata.resource_version.take(),
        ..ObjectMeta::default()
    };
    for tag in &mut stream.spec.tags {
        tag.annotations = None;
    }
    if let Some(status) = &mut stream.status {
        for tag in &mut status.tags {
            tag.conditions.clear();
        }
    }
    stream
}

fn stream_key(stream: &ImageStream) -> String {
    format!("{}/{}", stream.namespace(), stream.name())
}

fn resource_version(stream: &ImageStream) -> u64 {
    stream
        .metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::StreamLookup;

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
        assert!(
            index
                .read()
                .stream("ns", "a")
                .unwrap()
                .metadata
                .annotations
                .is_none(),
            "compacted"
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
        assert_eq!(
            index
                .read()
                .stream("ns", "a")
                .unwrap()
                .metadata
                .resource_version
                .as_deref(),
            Some("5")
        );
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
}
