//! A [`Store`] decorator that counts every operation and its result in the metrics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{
    lead::Elector, EventStream, ListOptions, ListPage, Object, PinnedView, Result, Store,
    WatchProgress,
};
use crate::metrics::Metrics;

/// Counts `imagelookup_store_operations_total{operation, result}` around another store.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn count<T>(&self, operation: &str, result: Result<T>) -> Result<T> {
        counted(&self.metrics, operation, result)
    }
}

/// Counts `result` of `operation` in `metrics`, and hands it on.
fn counted<T>(metrics: &Metrics, operation: &str, result: Result<T>) -> Result<T> {
    let label = match &result {
        Ok(_) => "ok",
        Err(error) => error.reason(),
    };
    metrics.store.count(operation, label);
    result
}

#[async_trait]
impl Store for MeteredStore {
    fn current_revision(&self) -> u64 {
        self.inner.current_revision()
    }

    fn revision_epoch(&self) -> u64 {
        self.inner.revision_epoch()
    }

    async fn get(&self, key: &str) -> Result<Object> {
        self.count("get", self.inner.get(key).await)
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage> {
        self.count("list", self.inner.list(prefix, options).await)
    }

    async fn create(&self, key: &str, value: Value) -> Result<Object> {
        self.count("create", self.inner.create(key, value).await)
    }

    async fn update(
        &self,
        key: &str,
        value: Value,
        expected_revision: Option<u64>,
    ) -> Result<Object> {
        self.count(
            "update",
            self.inner.update(key, value, expected_revision).await,
        )
    }

    async fn delete(&self, key: &str, expected_revision: Option<u64>) -> Result<Object> {
        self.count("delete", self.inner.delete(key, expected_revision).await)
    }

    async fn watch(&self, prefix: &str, after_revision: u64) -> Result<EventStream> {
        self.count("watch", self.inner.watch(prefix, after_revision).await)
    }

    async fn watch_with_progress(
        &self,
        prefix: &str,
        after_revision: u64,
    ) -> Result<(EventStream, WatchProgress)> {
        let watched = self.inner.watch_with_progress(prefix, after_revision).await;
        self.count("watch", watched)
    }

    fn elector(&self) -> Arc<dyn Elector> {
        self.inner.elector()
    }

    fn pin(&self) -> Option<Arc<dyn PinnedView>> {
        let inner = self.inner.pin()?;
        let metrics = self.metrics.clone();
        Some(Arc::new(MeteredPin { inner, metrics }))
    }

    async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> Result<u64> {
        self.count(
            "wait_for_revision",
            self.inner.wait_for_revision(revision, timeout).await,
        )
    }
}

/// A pinned view whose pages count as the lists they are.
#[derive(Debug)]
struct MeteredPin {
    inner: Arc<dyn PinnedView>,
    metrics: Arc<Metrics>,
}

impl PinnedView for MeteredPin {
    fn revision(&self) -> u64 {
        self.inner.revision()
    }

    fn page(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<ListPage> {
        counted(
            &self.metrics,
            "list",
            self.inner.page(prefix, start_after, limit),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EmbeddedOptions, EmbeddedStore};

    #[tokio::test]
    async fn every_operation_is_counted_with_its_result() {
        let metrics = Arc::new(Metrics::new());
        let inner: Arc<dyn Store> =
            Arc::new(EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap());
        let store = MeteredStore::new(inner, metrics.clone());
        store
            .create("imagestreams/ns/a", serde_json::json!({"metadata": {}}))
            .await
            .unwrap();
        assert!(store
            .create("imagestreams/ns/a", serde_json::json!({"metadata": {}}))
            .await
            .is_err());
        assert!(store.get("imagestreams/ns/missing").await.is_err());
        // A page of a pinned view is the list it stands for.
        let page = store.pin().expect("a pin").page("imagestreams/", None, 10);
        assert_eq!(page.unwrap().items.len(), 1);
        let text = metrics.encode(crate::metrics::Exposition::OpenMetrics);
        for line in [
            "imagelookup_store_operations_total{operation=\"create\",result=\"ok\"} 1",
            "imagelookup_store_operations_total{operation=\"create\",result=\"AlreadyExists\"} 1",
            "imagelookup_store_operations_total{operation=\"get\",result=\"NotFound\"} 1",
            "imagelookup_store_operations_total{operation=\"list\",result=\"ok\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
