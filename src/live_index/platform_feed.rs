//! The task that keeps [`Platforms`] current: list the `images` collection, then watch from
//! the list's revision; on any error, list again after a backoff (as the stream feed does).

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;

use super::feed::{next_delay, RETRY_FIRST};
use super::platforms::entry;
use super::Platforms;
use crate::importer::image::IMAGES;
use crate::store::{self, EventKind, Store};

/// Keeps `platforms` current from `store` until the store shuts down (its watch ends); each
/// list made again after a failure counts in `restarts`.
pub async fn run_platform_feed(
    store: Arc<dyn Store>,
    platforms: Arc<Platforms>,
    restarts: Counter,
) {
    let mut delay = RETRY_FIRST;
    loop {
        let mut progressed = false;
        let once = feed_once(store.as_ref(), &platforms, &mut progressed);
        let result = crate::panics::caught("the image platform feed", once).await;
        let Err(error) = result.unwrap_or_else(|panicked| Err(store::Error::internal(panicked)))
        else {
            return;
        };
        restarts.inc();
        delay = next_delay(delay, progressed);
        tracing::warn!(%error, retry_ms = delay.as_millis() as u64, "image platform watch ended; re-listing");
        tokio::time::sleep(delay).await;
    }
}

/// One list and the watch that follows it; `Ok` only when the watch ends because the store
/// shut down. `progressed` is set once the list has been loaded.
async fn feed_once(
    store: &dyn Store,
    platforms: &Platforms,
    progressed: &mut bool,
) -> store::Result<()> {
    let prefix = store::collection_prefix(IMAGES, None);
    // Page by page: only the small entries outlive a page, never the documents.
    let mut known = HashMap::new();
    let revision = store::for_each_readable_page(store, &prefix, |page| {
        store::report_unreadable("the image platform index", &page.unreadable);
        known.extend(page.items.iter().filter_map(|object| entry(&object.value)));
    })
    .await?;
    platforms.replace(known);
    *progressed = true;
    let mut events = store.watch(&prefix, revision).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        platforms.apply(&event.object.value, event.kind == EventKind::Deleted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::admission::{Architectures, PlatformLookup};
    use crate::store::{object_key, EmbeddedOptions, EmbeddedStore};

    const LISTED: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const WATCHED: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    async fn store_image(store: &dyn Store, digest: &str, architecture: &str) {
        let image = json!({"metadata": {"name": digest},
                           "dockerImageMetadata": {"Architecture": architecture}});
        let key = object_key(IMAGES, None, digest);
        store.create(&key, image).await.expect("stored");
    }

    /// Polls `platforms` for `digest` until it is known, for at most ten seconds.
    async fn known(platforms: &Platforms, digest: &str) -> Option<Architectures> {
        for _ in 0..1000 {
            if let Some(found) = platforms.architectures(digest) {
                return Some(found);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    #[tokio::test]
    async fn listed_and_then_watched_images_are_known_by_digest() {
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap());
        store_image(store.as_ref(), LISTED, "amd64").await;
        let platforms = Platforms::new();
        let feed = tokio::spawn(run_platform_feed(
            store.clone(),
            platforms.clone(),
            Counter::default(),
        ));
        assert_eq!(known(&platforms, LISTED).await, Architectures::of("amd64"));
        store_image(store.as_ref(), WATCHED, "arm64").await;
        assert_eq!(known(&platforms, WATCHED).await, Architectures::of("arm64"));
        assert_eq!(platforms.len(), 2);
        feed.abort();
    }
}
