//! The leading importer's side of registry push notifications ([`super::push`]): list and
//! watch the push records, bring the following tags' imports forward, delete each record.

use std::sync::Arc;

use futures::StreamExt;

use super::push::record::{self, RecordId};
use super::schedule::Pushed;
use super::{follow, Importer};
use crate::metrics::{ResultLabels, FOLLOWED, UNFOLLOWED};
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
        let restarts = self.config.metrics.restarts_of("pushes");
        follow("registry push watch", restarts, || async {
            let revision = self.list_pushes(&prefix).await?;
            self.watch_pushes(&prefix, revision).await
        })
        .await;
    }

    /// Handles the records waiting (received while no importer led, or before a restart).
    async fn list_pushes(&self, prefix: &str) -> store::Result<u64> {
        let mut waiting = Vec::new();
        let revision = store::for_each_readable_page(self.store.as_ref(), prefix, |page| {
            store::report_unreadable("the push notification feed", &page.unreadable);
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

    /// Brings forward the imports of the tags that follow the pushed source: their streams
    /// fall due now (within the scheduled imports' budget) and their passes import those tags;
    /// the record is deleted once every such pass is through ([`Importer::pushes_imported`]),
    /// at once when nothing follows the source.
    async fn handle_push(&self, object: &Object) {
        let source = record::source(&object.value).unwrap_or_default();
        let record: RecordId = (object.key.clone(), object.revision);
        let streams = self.followers().of(source);
        let result = match streams.is_empty() {
            true => UNFOLLOWED,
            false => FOLLOWED,
        };
        // One statement: the counter's guard must not live across an await.
        let pushes = &self.config.metrics.registry_pushes;
        pushes.get_or_create(&ResultLabels { result }).inc();
        let digest = object.value["digest"].as_str().unwrap_or("");
        if streams.is_empty() {
            // A registry notifies every push; most are of tags no stream follows.
            tracing::debug!(source, digest, "registry push: no tag follows it");
            self.delete_record(&record).await;
            return;
        }
        let pairs = streams
            .iter()
            .flat_map(|(key, tags)| tags.iter().map(|tag| (key.clone(), tag.clone())));
        self.outstanding().expect(&record, pairs);
        let now = self.clock.now();
        {
            let mut scheduler = self.scheduler();
            for (key, tags) in &streams {
                scheduler.push(key, tags, &record, now);
            }
        }
        self.wake_scheduler.notify_one();
        let names: Vec<&str> = streams.iter().map(|(key, _)| key.as_str()).collect();
        tracing::info!(
            source,
            digest,
            streams = ?names,
            "registry push: importing the tags that follow it now"
        );
    }

    /// Notes that a pass of stream `key` was through its `pushed` tags (imported them, or
    /// found them no longer to import), and deletes the push records nothing waits for now.
    pub(super) async fn pushes_imported(&self, key: &str, pushed: Pushed) {
        let done: Vec<RecordId> = {
            let mut outstanding = self.outstanding();
            pushed
                .iter()
                .flat_map(|(tag, records)| records.iter().map(move |record| (tag, record)))
                .filter_map(|(tag, record)| outstanding.handled(record, key, tag))
                .collect()
        };
        for record in &done {
            self.delete_record(record).await;
        }
    }

    /// Deletes a handled push record, unless a newer push rewrote it meanwhile (its event
    /// follows, and is handled in turn).
    async fn delete_record(&self, (key, revision): &RecordId) {
        match self.store.delete(key, Some(*revision)).await {
            Ok(_) | Err(store::Error::NotFound { .. } | store::Error::Conflict { .. }) => {}
            // Handled again at the next list: at worst one more import.
            Err(error) => tracing::warn!(%error, %key, "cannot delete a handled push record"),
        }
    }
}
