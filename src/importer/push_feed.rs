//! The leading importer's side of registry push notifications ([`super::push`]): list and
//! watch the push records, bring the following tags' imports forward, delete each record.

use std::sync::Arc;

use futures::StreamExt;

use super::push::record;
use super::{follow, Importer};
use crate::metrics::PushLabels;
use crate::store::{self, EventKind, Object};

impl Importer {
    /// Handles push records until the store shuts down, once the streams' first list has told
    /// which tags follow which source (before, every push would look unfollowed).
    pub(super) async fn follow_pushes(self: Arc<Self>) {
        let mut listed = self.listed.subscribe();
        if listed.wait_for(|listed| *listed).await.is_err() {
            return;
        }
        let prefix = record::prefix();
        follow("registry push watch", || async {
            let revision = self.list_pushes(&prefix).await?;
            self.watch_pushes(&prefix, revision).await
        })
        .await;
    }

    /// Handles the records waiting (received while no importer led, or before a restart).
    async fn list_pushes(&self, prefix: &str) -> store::Result<u64> {
        let mut waiting = Vec::new();
        let revision = store::for_each_page(self.store.as_ref(), prefix, |page| {
            waiting.extend(page.items);
        })
        .await?;
        for object in &waiting {
            self.handle_push(object).await;
        }
        Ok(revision)
    }

    async fn watch_pushes(&self, prefix: &str, revision: u64) -> store::Result<()> {
        let mut events = self.store.watch(prefix, revision).await?;
        while let Some(event) = events.next().await {
            let event = event?;
            match event.kind {
                EventKind::Added | EventKind::Modified => self.handle_push(&event.object).await,
                // The deletes are this importer's own (or a former leader's).
                EventKind::Deleted => {}
            }
        }
        Ok(())
    }

    /// Queues the streams whose scheduled tags follow the pushed source, those tags due now,
    /// then deletes the record, unless a newer push rewrote it meanwhile: its event follows.
    async fn handle_push(&self, object: &Object) {
        let source = record::source(&object.value).unwrap_or_default();
        let streams = self.followers().of(source);
        let result = match streams.is_empty() {
            true => "unfollowed",
            false => "followed",
        };
        // One statement: the counter's guard must not live across the delete's await.
        let pushes = &self.config.metrics.registry_pushes;
        pushes.get_or_create(&PushLabels { result }).inc();
        {
            let mut scheduler = self.scheduler();
            for (key, tags) in &streams {
                scheduler.push(key, tags.iter().map(String::as_str));
            }
        }
        for (key, _) in &streams {
            self.queue.add(key);
        }
        let digest = object.value["digest"].as_str().unwrap_or("");
        match streams.is_empty() {
            // A registry notifies every push; most are of tags no stream follows.
            true => tracing::debug!(source, digest, "registry push: no scheduled tag follows it"),
            false => {
                let names: Vec<&str> = streams.iter().map(|(key, _)| key.as_str()).collect();
                tracing::info!(
                    source,
                    digest,
                    streams = ?names,
                    "registry push: importing the scheduled tags that follow it now"
                );
            }
        }
        match self.store.delete(&object.key, Some(object.revision)).await {
            Ok(_) | Err(store::Error::NotFound { .. } | store::Error::Conflict { .. }) => {}
            // Handled again at the next list: at worst one more import.
            Err(error) => {
                tracing::warn!(%error, key = %object.key, "cannot delete a handled push record")
            }
        }
    }
}
