//! Test fixtures: real stores on temporary files.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tempfile::TempDir;

use super::{
    EmbeddedOptions, EmbeddedStore, EventStream, ListOptions, ListPage, Object, Result, Store,
    WatchProgress,
};

/// A store on a fresh file with a history window of `history_limit` revisions; keep the
/// directory alive as long as the store.
pub(crate) fn file_store(history_limit: usize) -> (TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store =
        EmbeddedStore::open(dir.path().join("store"), options(history_limit)).expect("open store");
    (dir, store)
}

/// Reopens the store file in `dir` (after the previous store was dropped).
pub(crate) fn reopen(dir: &TempDir) -> EmbeddedStore {
    EmbeddedStore::open(dir.path().join("store"), options(100)).expect("reopen store")
}

fn options(history_limit: usize) -> EmbeddedOptions {
    EmbeddedOptions {
        history_limit,
        ..EmbeddedOptions::default()
    }
}

/// A store that pins no view, as etcd's ([`Store::pin`]): reads of a past revision go through
/// the history window, whatever the store underneath could do.
pub(crate) struct Unpinned(pub(crate) Arc<dyn Store>);

#[async_trait]
impl Store for Unpinned {
    fn current_revision(&self) -> u64 {
        self.0.current_revision()
    }

    async fn get(&self, key: &str) -> Result<Object> {
        self.0.get(key).await
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage> {
        self.0.list(prefix, options).await
    }

    async fn create(&self, key: &str, value: Value) -> Result<Object> {
        self.0.create(key, value).await
    }

    async fn update(&self, key: &str, value: Value, expected: Option<u64>) -> Result<Object> {
        self.0.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<u64>) -> Result<Object> {
        self.0.delete(key, expected).await
    }

    async fn watch(&self, prefix: &str, after_revision: u64) -> Result<EventStream> {
        self.0.watch(prefix, after_revision).await
    }

    async fn watch_with_progress(
        &self,
        prefix: &str,
        after_revision: u64,
    ) -> Result<(EventStream, WatchProgress)> {
        self.0.watch_with_progress(prefix, after_revision).await
    }

    async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> Result<u64> {
        self.0.wait_for_revision(revision, timeout).await
    }
}
