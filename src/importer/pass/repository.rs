//! A stream's `spec.dockerImageRepository` import: list the repository's tags, import the
//! first 50 (see [`crate::importer::repository`]), and write spec, status and annotations in
//! one compare-and-swap update of the whole stream, as OpenShift's ImageStreamImport does.

use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;

use super::questions::SOURCES_AT_ONCE;
use super::{Importer, MAX_ATTEMPTS};
use crate::api::ImageStream;
use crate::importer::credentials::Keyring;
use crate::importer::outcome::{sent_anonymously, Failure};
use crate::importer::plan::{retried_in, TagImport, Trigger};
use crate::importer::repository::{
    apply_repository, listing_failure, plan_repository, still_wanted, tag_source, tags_to_import,
    Listing, RepositoryImport, RepositoryPlan,
};
use crate::importer::tag_order::MAX_TAGS_PER_REPOSITORY;
use crate::live_index;
use crate::metrics::ImportLabels;
use crate::store::{self, Object};

impl Importer {
    /// Imports the repository of stream `key` (store key `store_key`) when it is due, and
    /// hands on the stream as it then stands, so that the tags' step does not read it again;
    /// `None` when that step must read it (gone, or after a write that lost every time).
    pub(super) async fn sync_repository(
        &self,
        key: &str,
        store_key: &str,
    ) -> Result<Option<(Object, ImageStream)>, store::Error> {
        let Some((mut object, mut stream)) = self.read(store_key).await? else {
            return Ok(None);
        };
        let Some(import) = self.repository_plan(key, &stream).import else {
            return Ok(Some((object, stream)));
        };
        let (listing, retry_in) = self.list_repository(&stream, &import).await;
        let now = self.clock.now();
        // A repository not asked because it was silent is due when the silence ends.
        let at = retry_in.map_or(now, |wait| retried_in(now, wait, self.config.interval));
        self.scheduler().record_repository_import(key, at);
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut next) = self.record_listing(&stream, &import, &listing) else {
                // Settled: nothing to record.
                self.repository_conflicts().forget(key);
                return Ok(Some((object, stream)));
            };
            match self.write(store_key, &object, &mut next).await {
                Ok(stored) => {
                    self.repository_conflicts().forget(key);
                    self.note_write(&stored);
                    // As stored (its revision stamped), not as sent.
                    let written = live_index::decode(&stored);
                    return Ok(written.map(|stream| (stored, stream)));
                }
                Err(store::Error::Conflict { .. }) => {}
                Err(store::Error::NotFound { .. }) => return Ok(None),
                Err(error) => return Err(error),
            }
            let Some(fresh) = self.read(store_key).await? else {
                return Ok(None);
            };
            (object, stream) = fresh;
            // Another writer may have changed the repository, or imported it already.
            if !still_wanted(&stream, &import) {
                self.repository_conflicts().forget(key);
                return Ok(Some((object, stream)));
            }
        }
        // Nothing was recorded, so the import is not counted as made: it is due again (a
        // failed import would otherwise wait a whole interval), after a wait that doubles
        // while the other writer keeps winning, for each try lists the registry again. The
        // pass goes on with the tags, which the other writer's change does not make any less
        // due.
        // Not before a silent registry's own retry time either.
        let backoff = self.repository_conflicts().failed(key);
        let wait = backoff.max(retry_in.unwrap_or_default());
        let until = self
            .clock
            .now()
            .saturating_add(wait)
            .unwrap_or(Timestamp::MAX);
        let repository = import.repository.exact();
        self.scheduler()
            .hold_repository_import(key, &repository, until);
        tracing::warn!(
            stream = %key,
            retry_in_seconds = wait.as_secs_f64(),
            "repository import gave up after repeated write conflicts"
        );
        Ok(None)
    }

    /// The stream at `store_key` with the object it was read from; `None` when it is gone or
    /// not a stream.
    async fn read(&self, store_key: &str) -> Result<Option<(Object, ImageStream)>, store::Error> {
        match self.store.get(store_key).await {
            Ok(object) => Ok(live_index::decode(&object).map(|stream| (object, stream))),
            Err(store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether the repository of stream `key` is due now, and when it is otherwise.
    pub(super) fn repository_plan(&self, key: &str, stream: &ImageStream) -> RepositoryPlan {
        let attempts = self.scheduler().repository_attempts(key);
        let mode = &self.config.strategy.default_import_mode;
        plan_repository(
            stream,
            mode,
            attempts,
            self.clock.now(),
            self.config.interval,
        )
    }

    /// `stream` with `listing` recorded, or `None` when that changes nothing. A result the
    /// stream rules refuse (a registry the allowed list leaves out) is recorded as the
    /// import's failure instead.
    fn record_listing(
        &self,
        stream: &ImageStream,
        import: &RepositoryImport,
        listing: &Listing,
    ) -> Option<ImageStream> {
        let now = Timestamp::now();
        let applied = self.with_rules(now, |ctx| apply_repository(stream, import, listing, ctx));
        let next = match applied {
            Ok(next) => next,
            Err(errors) => {
                let refused = Listing::Failed(Failure::invalid(&errors));
                let recorded =
                    self.with_rules(now, |ctx| apply_repository(stream, import, &refused, ctx));
                match recorded {
                    Ok(next) => next,
                    Err(errors) => {
                        tracing::warn!(stream = %stream.name(), ?errors, "cannot record the repository import");
                        return None;
                    }
                }
            }
        };
        (next != *stream).then_some(next)
    }

    /// Lists the repository and imports the tags it chooses, a few at a time; their images
    /// are stored as they arrive. A repository not asked, as it was silent, comes with when
    /// to ask again.
    async fn list_repository(
        &self,
        stream: &ImageStream,
        import: &RepositoryImport,
    ) -> (Listing, Option<Duration>) {
        let secrets = self.pull_secrets(stream.namespace()).await;
        let (listed, unreadable) = match &secrets {
            Ok(listed) => (listed.as_slice(), None),
            Err(error) => (&[][..], Some(error.to_string())),
        };
        let keyring = Keyring::from_secrets(listed);
        let listed = self
            .registry
            .list_tags(&import.repository, import.insecure, &keyring)
            .await;
        let tags = match listed {
            Ok(tags) => tags,
            Err(error) => {
                let repository = import.repository.exact();
                tracing::info!(%repository, %error, "repository import failed");
                let failure = listing_failure(&error, &import.repository);
                let failure = sent_anonymously(failure, unreadable.as_deref());
                self.config
                    .metrics
                    .count_import(ImportLabels::failed(failure.reason.as_str(), error.cause()));
                let retry_in = error.retry_in();
                return (Listing::Failed(failure), retry_in);
            }
        };
        let listed = tags.len();
        if listed > MAX_TAGS_PER_REPOSITORY {
            let repository = import.repository.exact();
            tracing::info!(%repository, listed, "importing the first {MAX_TAGS_PER_REPOSITORY} tags of the repository");
        }
        let chosen = tags_to_import(tags, stream, import);
        let asks = chosen.into_iter().map(|tag| {
            let tag_import = TagImport {
                source: tag_source(import, &tag),
                tag,
                insecure: import.insecure,
                mode: import.mode.clone(),
                generation: 0,
                trigger: Trigger::Generation,
            };
            let (keyring, unreadable) = (keyring.clone(), unreadable.clone());
            async move {
                let tag = tag_import.tag.clone();
                (tag, self.ask(tag_import, keyring, unreadable).await.outcome)
            }
        });
        let outcomes = futures::stream::iter(asks)
            .buffered(SOURCES_AT_ONCE)
            .collect()
            .await;
        (Listing::Listed { listed, outcomes }, None)
    }
}
