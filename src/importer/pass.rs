//! One import pass over one stream: read, plan, ask the registry, store images, apply the
//! outcomes, write back with compare-and-swap. The asking is in [`ask`], the applying in
//! [`apply`].

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use self::questions::{source_key, Answer, Pass, SourceKey};

use super::plan::{self, Schedule, TagImport, Trigger};
use super::{Importer, MAX_ATTEMPTS};
use crate::api::ImageStream;
use crate::live_index;
use crate::store::{self, object_key};

mod apply;
mod ask;
mod questions;
mod repository;

impl Importer {
    /// Runs one import pass over stream `namespace/name` now.
    ///
    /// Sources are asked concurrently; when some answer quickly and others hang, what is known
    /// is written after `questions::early_write_after` (a second, more for many tags) and the
    /// pass goes on waiting for the rest, then
    /// re-reads and re-plans the stream (so every write is a compare-and-swap on a fresh read,
    /// and tags already written are no longer planned).
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<(), store::Error> {
        let key = format!("{namespace}/{name}");
        let store_key = object_key("imagestreams", Some(namespace), name);
        // Taken before any registry is asked: a push noted during the pass keeps the stream
        // due for the next.
        let pushed = self.scheduler().take_pushed(&key);
        let mut tags: HashSet<String> = pushed.keys().cloned().collect();
        // A panic is caught here, not only by the worker: unwinding past this pass would drop
        // the pushed tags it took, and its retry would wait for the schedule instead.
        let synced = crate::panics::caught(
            "an import pass",
            self.sync_stream(&key, &store_key, &mut tags),
        )
        .await
        .unwrap_or_else(|panicked| Err(store::Error::internal(panicked)));
        match synced {
            Ok(()) => self.pushes_imported(&key, pushed).await,
            Err(_) => self.scheduler().restore_pushed(&key, pushed),
        }
        synced
    }

    /// [`Importer::sync`] of stream `key`, importing the `pushed` tags whatever their last
    /// import; those imported leave `pushed`.
    async fn sync_stream(
        &self,
        key: &str,
        store_key: &str,
        pushed: &mut HashSet<String>,
    ) -> Result<(), store::Error> {
        // Read before the stream: revisions read after the store went back are not noted.
        let epoch = self.store.revision_epoch();
        // First, as OpenShift imports the repository before the spec tags override it. The
        // stream it read (or wrote) is the tags' first state: one read per pass, not two.
        let mut known = self.sync_repository(key, store_key).await?;
        let mut pass = Pass::new();
        let mut conflicts = 0;
        let mut last_conflict = None;
        while conflicts < MAX_ATTEMPTS {
            let (object, stream) = match known.take() {
                Some(known) => known,
                None => match self.store.get(store_key).await {
                    Ok(object) => match live_index::decode(&object) {
                        Some(stream) => (object, stream),
                        None => return Ok(()),
                    },
                    Err(store::Error::NotFound { .. }) => {
                        self.forget_deleted(key).await;
                        return Ok(());
                    }
                    Err(error) => return Err(error),
                },
            };
            let imports = self.plan(key, &stream, pushed);
            if imports.is_empty() {
                self.reschedule(key, &stream, object.revision, epoch);
                return Ok(());
            }
            self.answer(&stream, &imports, &mut pass).await;
            let ready = pass.answered(&imports);
            let complete = ready.len() == imports.len();
            let now = Timestamp::now();
            let (written, revision) = match self.apply(&stream, &ready, &pass.answers, now) {
                None => (stream, object.revision),
                Some(mut next) => match self.write(store_key, &object, &mut next).await {
                    Ok(stored) => {
                        self.note_write(&stored);
                        (next, stored.revision)
                    }
                    Err(conflict @ store::Error::Conflict { .. }) => {
                        conflicts += 1;
                        last_conflict = Some(conflict);
                        continue;
                    }
                    Err(store::Error::NotFound { .. }) => {
                        self.forget_deleted(key).await;
                        return Ok(());
                    }
                    Err(error) => return Err(error),
                },
            };
            pass.applied();
            pushed.retain(|tag| !ready.iter().any(|import| import.tag == *tag));
            match complete {
                true => {
                    self.record(key, &ready, &pass.answers, self.clock.now());
                    self.reschedule(key, &written, revision, epoch);
                    return Ok(());
                }
                false => self.record(key, &ready, &pass.answers, self.clock.now()),
            }
        }
        // Failed like any pass, so the retry waits out the stream's backoff: a writer that
        // keeps winning must not make every pass ask the registries again at once.
        tracing::warn!(stream = %key, "import gave up after repeated write conflicts");
        Err(last_conflict.unwrap_or_else(|| store::Error::internal("no import attempt was made")))
    }

    /// Forgets stream `key`, found deleted, and the pushes that waited for it.
    pub(super) async fn forget_deleted(&self, key: &str) {
        self.planned().forget(key);
        self.repository_conflicts().forget(key);
        let pushed = self.scheduler().forget(key);
        self.pushes_imported(key, pushed).await;
    }

    /// The imports stream `key` needs now; `pushed` tags are due whatever their last import.
    fn plan(&self, key: &str, stream: &ImageStream, pushed: &HashSet<String>) -> Vec<TagImport> {
        let now = self.clock.now();
        let mut last_imports = self.scheduler().last_imports(key, stream, now);
        last_imports.retain(|tag, _| !pushed.contains(tag));
        let schedule = Schedule {
            now,
            interval: self.config.interval,
            last_imports: &last_imports,
        };
        plan::plan(stream, &schedule).imports
    }

    /// Records the imports a pass has written (at its end, or written early, so that a
    /// re-plan leaves scheduled ones out); the stream's next due time follows from them.
    ///
    /// A tag not asked because its registry was silent is recorded as if imported one
    /// interval before the silence ends, so its retry (due an interval after the last import)
    /// comes when the silence ends, not a whole interval later.
    fn record(
        &self,
        key: &str,
        imports: &[TagImport],
        answers: &HashMap<SourceKey, Answer>,
        now: Timestamp,
    ) {
        let interval = self.config.interval;
        let mut scheduler = self.scheduler();
        for import in imports {
            let retry_in = answers.get(&source_key(import)).and_then(|a| a.retry_in);
            let at = match retry_in {
                Some(wait) => plan::retried_in(now, wait, interval),
                None => now,
            };
            scheduler.record(key, [import.tag.as_str()], at);
        }
    }

    /// Sets when stream `key`, planned from `stream` at `revision` (read in the store's
    /// `epoch`), is due next. When nothing is due now, notes the revision as planned from, so
    /// that the watch delivering it (this pass's own write) or a re-list queues no pass;
    /// otherwise changes of the stream queue passes as they come, as before any was planned.
    fn reschedule(&self, key: &str, stream: &ImageStream, revision: u64, epoch: u64) {
        let now = self.clock.now();
        let mut scheduler = self.scheduler();
        let last_imports = scheduler.last_imports(key, stream, now);
        let schedule = Schedule {
            now,
            interval: self.config.interval,
            last_imports: &last_imports,
        };
        let plan = plan::plan(stream, &schedule);
        // Pushed during this pass: the next pass imports them.
        let pushed = scheduler.has_pushed(key);
        drop(scheduler);
        let repository = self.repository_plan(key, stream);
        // Only scheduled work is left to the ticker; generation changes arrive as watch events.
        let overdue = plan.imports.iter().any(|i| i.trigger == Trigger::Scheduled);
        // Nothing for a pass now: no tag (a generation this pass did not settle included), no
        // push, no repository.
        if plan.imports.is_empty() && !pushed && repository.import.is_none() {
            self.planned().note(key, revision, epoch);
        }
        let due = match overdue || pushed || repository.import.is_some() {
            true => Some(now),
            false => [plan.next_due, repository.next_due]
                .into_iter()
                .flatten()
                .min(),
        };
        self.scheduler().set_due(key, due);
    }
}
