//! The task that keeps [`Platforms`] current: list the `images` collection, then watch from
//! the list's revision; on any error, list again after a backoff (as the stream feed does).

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;

use super::feed::{next_delay, RETRY_FIRST};
use super::platforms::entry;
use super::Platforms;
use crate::importer::image::IMAGES;
use crate::store::{self, EventKind, Store};

/// Keeps `platforms` current from `store` until the store shuts down (its watch ends).
pub async fn run_platform_feed(store: Arc<dyn Store>, platforms: Arc<Platforms>) {
    let mut delay = RETRY_FIRST;
    loop {
        let mut progressed = false;
        let Err(error) = feed_once(store.as_ref(), &platforms, &mut progressed).await else {
            return;
        };
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
    let revision = store::for_each_page(store, &prefix, |page| {
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
