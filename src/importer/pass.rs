//! One import pass over one stream: read, plan, ask the registry, store images, apply the
//! outcomes, write back with compare-and-swap.

use std::collections::HashMap;
use std::time::Instant;

use futures::FutureExt;
use jiff::Timestamp;
use serde_json::Value;

use self::questions::{source_key, Answer, Pass, SourceKey};

use super::outcome::{self, Failure, Imported};
use super::plan::{self, Schedule, TagImport, Trigger};
use super::secrets::{self, ReadError};
use super::{credentials, image, registry, silent, Importer, MAX_ATTEMPTS};
use crate::api::ImageStream;
use crate::live_index;
use crate::metrics::ImportLabels;
use crate::reference::ImageRef;
use crate::store::{self, object_key};
use crate::strategy;

mod questions;
mod repository;

impl Importer {
    /// Runs one import pass over stream `namespace/name` now.
    ///
    /// Sources are asked concurrently; when some answer quickly and others hang, what is known
    /// is written after [`questions::EARLY_WRITE_AFTER`] and the pass goes on waiting for the rest, then
    /// re-reads and re-plans the stream (so every write is a compare-and-swap on a fresh read,
    /// and tags already written are no longer planned).
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<(), store::Error> {
        let key = format!("{namespace}/{name}");
        let store_key = object_key("imagestreams", Some(namespace), name);
        // First, as OpenShift imports the repository before the spec tags override it.
        self.sync_repository(&key, &store_key).await?;
        let mut pass = Pass::new();
        let mut conflicts = 0;
        while conflicts < MAX_ATTEMPTS {
            let object = match self.store.get(&store_key).await {
                Ok(object) => object,
                Err(store::Error::NotFound { .. }) => {
                    self.scheduler().forget(&key);
                    return Ok(());
                }
                Err(error) => return Err(error),
            };
            let Some(stream) = live_index::decode(&object.value) else {
                return Ok(());
            };
            let imports = self.plan(&key, &stream);
            if imports.is_empty() {
                self.reschedule(&key, &stream);
                return Ok(());
            }
            self.answer(&stream, &imports, &mut pass).await;
            let ready = pass.answered(&imports);
            let complete = ready.len() == imports.len();
            let now = Timestamp::now();
            let written = match self.apply(&stream, &ready, &pass.answers, now) {
                None => stream,
                Some(next) => {
                    let value = serde_json::to_value(&next).expect("streams serialise");
                    match self
                        .store
                        .update(&store_key, value, Some(object.revision))
                        .await
                    {
                        Ok(stored) => {
                            self.note_write(&stored);
                            next
                        }
                        Err(store::Error::Conflict { .. }) => {
                            conflicts += 1;
                            continue;
                        }
                        Err(store::Error::NotFound { .. }) => {
                            self.scheduler().forget(&key);
                            return Ok(());
                        }
                        Err(error) => return Err(error),
                    }
                }
            };
            pass.applied();
            match complete {
                true => {
                    self.record(&key, &ready, &pass.answers, now);
                    self.reschedule(&key, &written);
                    return Ok(());
                }
                false => self.record(&key, &ready, &pass.answers, now),
            }
        }
        tracing::warn!(stream = %key, "import gave up after repeated write conflicts");
        self.queue.add(&key);
        Ok(())
    }

    fn plan(&self, key: &str, stream: &ImageStream) -> Vec<TagImport> {
        let now = Timestamp::now();
        let last_imports = self.scheduler().last_imports(key, stream, now);
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

    fn reschedule(&self, key: &str, stream: &ImageStream) {
        let now = Timestamp::now();
        let mut scheduler = self.scheduler();
        let last_imports = scheduler.last_imports(key, stream, now);
        let schedule = Schedule {
            now,
            interval: self.config.interval,
            last_imports: &last_imports,
        };
        let plan = plan::plan(stream, &schedule);
        drop(scheduler);
        let repository = self.repository_plan(key, stream);
        // Only scheduled work is left to the ticker; generation changes arrive as watch events.
        let overdue = plan.imports.iter().any(|i| i.trigger == Trigger::Scheduled);
        let due = match overdue || repository.import.is_some() {
            true => Some(now),
            false => [plan.next_due, repository.next_due]
                .into_iter()
                .flatten()
                .min(),
        };
        self.scheduler().set_due(key, due);
    }

    /// Asks the registry about every source of `imports` this pass has not asked about yet,
    /// then waits for the answers (see [`Pass::wait`]).
    async fn answer<'a>(
        &'a self,
        stream: &ImageStream,
        imports: &[TagImport],
        pass: &mut Pass<'a>,
    ) {
        for import in imports {
            let key = source_key(import);
            if pass.answers.contains_key(&key) || !pass.asked.insert(key.clone()) {
                continue;
            }
            let read = match pass.secrets {
                Some(ref read) => read,
                None => pass
                    .secrets
                    .insert(self.pull_secrets(stream.namespace()).await),
            };
            // Unreadable secrets mean an anonymous import: public images still import.
            let (listed, unreadable) = match read {
                Ok(listed) => (listed.as_slice(), None),
                Err(error) => (&[][..], Some(error.to_string())),
            };
            let credential = credential(listed, &import.source);
            let question = self.ask(import.clone(), credential, unreadable);
            pass.ask(question.map(|answer| (key, answer)).boxed());
        }
        pass.wait(imports).await;
    }

    /// One registry question, its images stored when it succeeds.
    async fn ask(
        &self,
        import: TagImport,
        credential: credentials::Credential,
        unreadable: Option<String>,
    ) -> Answer {
        let fetched = self.fetch_unless_silent(&import, &credential).await;
        let answer = match fetched {
            Ok(fetched) => {
                self.store_images(&fetched.images).await;
                let imported = Imported {
                    digest: fetched.digest,
                };
                Answer {
                    outcome: Ok(imported),
                    advise_reimport: false,
                    retry_in: None,
                }
            }
            Err(error) => {
                // A registry-only source renders empty; its registry is what was written.
                let source = match import.source.exact() {
                    exact if exact.is_empty() => import.source.registry.clone(),
                    exact => exact,
                };
                tracing::info!(%source, %error, "import failed");
                let failure = error.failure(&import.source);
                let explained = outcome::sent_anonymously(failure.clone(), unreadable.as_deref());
                Answer {
                    // Whoever fixes the secrets' access must also import again.
                    advise_reimport: error.advises_a_fix() || explained != failure,
                    outcome: Err(explained),
                    retry_in: match error {
                        registry::ImportError::Silent { retry_in, .. } => Some(retry_in),
                        _ => None,
                    },
                }
            }
        };
        self.count(&answer.outcome);
        answer
    }

    /// Fetches `import`'s source, unless its registry or repository did not answer a moment
    /// ago; notes how it answered (see [`silent`]).
    async fn fetch_unless_silent(
        &self,
        import: &TagImport,
        credential: &credentials::Credential,
    ) -> Result<registry::Fetched, registry::ImportError> {
        let fetch = self.registry.fetch(
            &import.source,
            import.mode,
            import.insecure,
            credential,
            false,
        );
        self.unless_silent(&import.source, fetch).await
    }

    /// Runs `ask`, a registry call about `source`, unless its registry or repository did not
    /// answer a moment ago (then fails at once, saying when it is asked again); notes how it
    /// answered.
    pub(super) async fn unless_silent<T>(
        &self,
        source: &ImageRef,
        ask: impl std::future::Future<Output = Result<T, registry::ImportError>>,
    ) -> Result<T, registry::ImportError> {
        let silence = self.silent_registries().silence(source, Instant::now());
        if let Some(silent::Silence {
            what,
            ago,
            retry_in,
        }) = silence
        {
            return Err(registry::ImportError::Silent {
                what,
                ago,
                retry_in,
            });
        }
        let answered = ask.await;
        let heard = match &answered {
            Err(error) if error.is_unreachable_host() => silent::Heard::NoConnection,
            Err(error) if error.is_no_answer() => silent::Heard::NothingOnTheConnection,
            _ => silent::Heard::Answer,
        };
        self.silent_registries().note(source, heard, Instant::now());
        answered
    }

    fn silent_registries(&self) -> std::sync::MutexGuard<'_, silent::SilentRegistries> {
        self.silent_registries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count(&self, answer: &Result<Imported, Failure>) {
        let labels = match answer {
            Ok(_) => ImportLabels {
                result: "success",
                reason: String::new(),
            },
            Err(failure) => ImportLabels {
                result: "failure",
                reason: failure.reason.clone(),
            },
        };
        self.config.outcomes.get_or_create(&labels).inc();
    }

    /// The stream with every answer applied and the status rules run, or `None` when nothing
    /// changed.
    ///
    /// The write goes through [`strategy::prepare_for_import_status_update`], the status rules
    /// a client's `PUT …/status` meets, rather than a hand-made copy of what OpenShift's
    /// importer writes: the spec and generation stay protected, the repositories are
    /// recomputed, and new references meet the allowed-registries list (with the stream's
    /// own repositories allowed, as for OpenShift's imports). Tracking tags, which a `/status` write
    /// leaves alone, are updated by [`outcome::apply_outcome`] first, as OpenShift's import does.
    /// A reference the rules reject turns every import of the pass into a failure condition.
    fn apply(
        &self,
        stream: &ImageStream,
        imports: &[TagImport],
        answers: &HashMap<SourceKey, Answer>,
        now: Timestamp,
    ) -> Option<ImageStream> {
        let outcome =
            |import: &TagImport| answers[&source_key(import)].for_tag(stream, &import.tag);
        let mut next = stream.clone();
        let changed = imports.iter().fold(false, |changed, import| {
            outcome::apply_outcome(&mut next, import, &outcome(import), now) | changed
        });
        if !changed {
            return None;
        }
        let errors = match self.prepare(&mut next, stream, now) {
            Ok(()) => return Some(next),
            Err(errors) => errors,
        };
        let failure = Failure::invalid(&errors);
        let mut next = stream.clone();
        let changed = imports.iter().fold(false, |changed, import| {
            outcome::apply_outcome(&mut next, import, &Err(failure.clone()), now) | changed
        });
        (changed && self.prepare(&mut next, stream, now).is_ok()).then_some(next)
    }

    fn prepare(
        &self,
        next: &mut ImageStream,
        old: &ImageStream,
        now: Timestamp,
    ) -> Result<(), Vec<crate::field::FieldError>> {
        self.with_rules(now, |ctx| {
            strategy::prepare_for_import_status_update(next, old, ctx)
        })
    }

    /// Runs `rule` with the stream rules' context at `now`: the server's settings, no other
    /// streams, every cross-namespace access allowed (the importer writes as the server).
    fn with_rules<T>(&self, now: Timestamp, rule: impl FnOnce(&strategy::Context<'_>) -> T) -> T {
        let no_streams = crate::resolve::Index::default();
        let allow_all = |_: &str, _: &str| true;
        rule(&strategy::Context {
            config: &self.config.strategy,
            now,
            streams: &no_streams,
            authorize: &allow_all,
        })
    }

    /// The docker-config Secrets of `namespace`, in name order.
    async fn pull_secrets(&self, namespace: &str) -> Result<Vec<Value>, ReadError> {
        // A cluster that just did not answer is not asked again (and waited for) by every pass.
        if let Some(error) = self.secrets_outage().current(Instant::now()) {
            return Err(error);
        }
        let store = self.store.as_ref();
        let listed = self.config.pull_secrets.list(store, namespace).await;
        self.secrets_outage().record(&listed, Instant::now());
        if let Err(error) = &listed {
            tracing::warn!(%namespace, %error, "cannot list pull secrets; importing anonymously");
        }
        listed
    }

    fn secrets_outage(&self) -> std::sync::MutexGuard<'_, secrets::Outage> {
        self.secrets_outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores each image unless one of that name exists (images are content-addressed).
    async fn store_images(&self, images: &[image::ImageRecord]) {
        image::store_images(self.store.as_ref(), images).await;
    }

    fn note_write(&self, stored: &store::Object) {
        let (Some(index), Some(stream)) = (&self.index, live_index::decode(&stored.value)) else {
            return;
        };
        index.apply(&stream, stored.revision, false);
    }
}

/// The credential for `source` from the namespace's Secrets.
fn credential(secrets: &[Value], source: &ImageRef) -> credentials::Credential {
    credentials::credential_for_source(secrets, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_looked_up_with_docker_defaults() {
        use base64::Engine;
        let config =
            serde_json::json!({"auths": {"docker.io/library": {"username": "u", "password": "p"}}});
        let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
        let secret = serde_json::json!({"type": "kubernetes.io/dockerconfigjson",
                                        "data": {".dockerconfigjson": encoded}});
        let source = ImageRef::parse("mysql:8").unwrap();
        assert_eq!(
            credential(&[secret], &source),
            credentials::Credential::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
    }
}
