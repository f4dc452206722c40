//! The tag importer: `status.tags` of `DockerImage` tags fills itself from OCI registries, the
//! way OpenShift's importer does (openshift-semantics §4.6, §4.9).
//!
//! ```text
//! store ──list+watch──▶ queue (ns/name, deduplicated) ──▶ workers (N)
//!   ▲                    ▲                                  │ plan (pure) → registry (I/O)
//!   │                    └── ticker: due scheduled streams ─┤ images/<digest> (create if absent)
//!   └──────── CAS update of the stream (retry on Conflict) ◀┘ apply outcomes (pure)
//! ```
//!
//! One pass over a stream: read it, [`plan::plan`] which tags need an import, fetch each
//! distinct source once, store the Image objects, [`plan::apply_outcome`] each result, and
//! write the stream back with the revision it was read at. A Conflict re-reads and re-plans on
//! the fresh object, reusing the registry answers of the pass. Locks guard only in-memory
//! bookkeeping and are never held across an `.await`.
//!
//! **Several replicas.** Nothing elects a leader: with a shared store (etcd) every replica
//! imports every stream. The compare-and-swap keeps the result correct (a losing writer
//! re-plans and finds nothing left to do), but registry traffic is multiplied by the replicas.

pub mod credentials;
pub mod image;
pub mod manifest;
pub mod plan;
mod queue;
pub mod registry;
mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use serde_json::Value;

use self::plan::{Failure, ImportMode, Imported, Schedule, TagImport, Trigger};
use self::queue::WorkQueue;
use self::registry::RegistryClient;
use self::schedule::Scheduler;
use crate::api::ImageStream;
use crate::live_index::{self, LiveIndex, IMAGESTREAMS_PREFIX};
use crate::reference::ImageRef;
use crate::store::{self, collection_prefix, object_key, EventKind, ListOptions, Store};
use crate::strategy;

/// The default scheduled re-import interval: OpenShift's 15 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The shortest interval accepted; shorter ones are raised to it.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// How many times one pass re-reads a stream after a write Conflict.
const MAX_ATTEMPTS: usize = 5;
/// Pause before listing again after the watch ended with an error, and before retrying a
/// stream whose pass failed on the store.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Importer settings.
#[derive(Clone, Debug)]
pub struct ImporterConfig {
    /// How often `importPolicy.scheduled` tags are re-imported.
    pub interval: Duration,
    /// How many streams are imported at once.
    pub workers: usize,
    /// Scheduled stream imports allowed per minute (OpenShift: 60).
    pub scheduled_per_minute: u32,
    /// The limit on each registry call.
    pub registry_timeout: Duration,
    /// The stream rules status writes go through.
    pub strategy: Arc<strategy::Config>,
}

impl Default for ImporterConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            workers: 4,
            scheduled_per_minute: 60,
            registry_timeout: Duration::from_secs(30),
            strategy: Arc::new(strategy::Config::default()),
        }
    }
}

/// Tuple of what makes two imports the same registry question within one pass.
type SourceKey = (String, ImportMode, bool);

/// The import controller.
pub struct Importer {
    store: Arc<dyn Store>,
    index: Option<Arc<LiveIndex>>,
    config: ImporterConfig,
    registry: RegistryClient,
    queue: WorkQueue,
    scheduler: Mutex<Scheduler>,
}

/// Aborts the tasks it holds when dropped, so aborting [`Importer::run`] stops its workers.
struct TaskGroup(Vec<tokio::task::JoinHandle<()>>);

impl Drop for TaskGroup {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// Starts an importer over `store` on the current runtime. Writes are also applied to `index`
/// when given, so imported tags resolve before the index's own watch catches up.
pub fn spawn(
    store: Arc<dyn Store>,
    index: Option<Arc<LiveIndex>>,
    config: ImporterConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(Importer::new(store, index, config).run())
}

impl Importer {
    /// An importer; nothing runs until [`Importer::run`].
    pub fn new(
        store: Arc<dyn Store>,
        index: Option<Arc<LiveIndex>>,
        mut config: ImporterConfig,
    ) -> Arc<Self> {
        config.interval = config.interval.max(MIN_INTERVAL);
        config.workers = config.workers.max(1);
        Arc::new(Self {
            registry: RegistryClient::new(config.registry_timeout),
            scheduler: Mutex::new(Scheduler::new(
                config.scheduled_per_minute,
                Timestamp::now(),
            )),
            queue: WorkQueue::new(),
            store,
            index,
            config,
        })
    }

    /// Runs the feed, the scheduler and the workers until the store shuts down.
    pub async fn run(self: Arc<Self>) {
        let mut tasks: Vec<_> = (0..self.config.workers)
            .map(|_| tokio::spawn(self.clone().work()))
            .collect();
        tasks.push(tokio::spawn(self.clone().tick()));
        let _tasks = TaskGroup(tasks);
        self.feed().await;
        self.queue.close();
    }

    /// Streams waiting for an import pass (for a queue-depth gauge).
    pub fn queued(&self) -> usize {
        self.queue.waiting()
    }

    /// Runs one import pass over stream `namespace/name` now.
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<(), store::Error> {
        let key = format!("{namespace}/{name}");
        let store_key = object_key("imagestreams", Some(namespace), name);
        let mut answers = HashMap::new();
        for _ in 0..MAX_ATTEMPTS {
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
            self.answer(&stream, &imports, &mut answers).await;
            let now = Timestamp::now();
            let Some(next) = self.apply(&stream, &imports, &answers, now) else {
                self.finish(&key, &imports, &stream, now);
                return Ok(());
            };
            let value = serde_json::to_value(&next).expect("streams serialise");
            match self
                .store
                .update(&store_key, value, Some(object.revision))
                .await
            {
                Ok(stored) => {
                    self.note_write(&stored);
                    self.finish(&key, &imports, &next, now);
                    return Ok(());
                }
                Err(store::Error::Conflict { .. }) => continue,
                Err(store::Error::NotFound { .. }) => {
                    self.scheduler().forget(&key);
                    return Ok(());
                }
                Err(error) => return Err(error),
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

    /// Records the pass's imports and when the stream is next due.
    fn finish(&self, key: &str, imports: &[TagImport], stream: &ImageStream, now: Timestamp) {
        self.scheduler()
            .record(key, imports.iter().map(|i| i.tag.as_str()), now);
        self.reschedule(key, stream);
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
        // Only scheduled work is left to the ticker; generation changes arrive as watch events.
        let overdue = plan.imports.iter().any(|i| i.trigger == Trigger::Scheduled);
        let due = match overdue {
            true => Some(now),
            false => plan.next_due,
        };
        scheduler.set_due(key, due);
    }

    /// Asks the registry about every source not yet answered in this pass.
    async fn answer(
        &self,
        stream: &ImageStream,
        imports: &[TagImport],
        answers: &mut HashMap<SourceKey, Result<Imported, Failure>>,
    ) {
        let mut secrets: Option<Vec<Value>> = None;
        for import in imports {
            let key = source_key(import);
            if answers.contains_key(&key) {
                continue;
            }
            if secrets.is_none() {
                secrets = Some(self.pull_secrets(stream.namespace()).await);
            }
            let credential = credential(secrets.as_deref().unwrap_or_default(), &import.source);
            let fetched = self
                .registry
                .fetch(&import.source, import.mode, import.insecure, &credential)
                .await;
            let answer = match fetched {
                Ok(fetched) => {
                    self.store_images(&fetched.images).await;
                    Ok(Imported {
                        digest: fetched.digest,
                    })
                }
                Err(error) => {
                    tracing::info!(source = %import.source, %error, "import failed");
                    Err(error.failure(&import.source))
                }
            };
            answers.insert(key, answer);
        }
    }

    /// The stream with every answer applied and the status rules run, or `None` when nothing
    /// changed.
    ///
    /// The write goes through [`strategy::prepare_for_status_update`], exactly as a client's
    /// `PUT …/status` would, rather than a hand-made copy of what OpenShift's importer writes:
    /// the spec and generation stay protected, the repositories are recomputed, and new
    /// references meet the allowed-registries list. Tracking tags, which a `/status` write
    /// leaves alone, are updated by [`plan::apply_outcome`] first, as OpenShift's import does.
    /// A reference the rules reject turns every import of the pass into a failure condition.
    fn apply(
        &self,
        stream: &ImageStream,
        imports: &[TagImport],
        answers: &HashMap<SourceKey, Result<Imported, Failure>>,
        now: Timestamp,
    ) -> Option<ImageStream> {
        let outcome = |import: &TagImport| answers[&source_key(import)].clone();
        let mut next = stream.clone();
        let changed = imports.iter().fold(false, |changed, import| {
            plan::apply_outcome(&mut next, import, &outcome(import), now) | changed
        });
        if !changed {
            return None;
        }
        let errors = match self.prepare(&mut next, stream, now) {
            Ok(()) => return Some(next),
            Err(errors) => errors,
        };
        let failure = Failure {
            reason: "Invalid".to_string(),
            message: errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        };
        let mut next = stream.clone();
        let changed = imports.iter().fold(false, |changed, import| {
            plan::apply_outcome(&mut next, import, &Err(failure.clone()), now) | changed
        });
        (changed && self.prepare(&mut next, stream, now).is_ok()).then_some(next)
    }

    fn prepare(
        &self,
        next: &mut ImageStream,
        old: &ImageStream,
        now: Timestamp,
    ) -> Result<(), Vec<crate::field::FieldError>> {
        let no_streams = crate::resolve::Index::default();
        let allow_all = |_: &str, _: &str| true;
        let context = strategy::Context {
            config: &self.config.strategy,
            now,
            streams: &no_streams,
            authorize: &allow_all,
        };
        strategy::prepare_for_status_update(next, old, &context)
    }

    /// The docker-config Secrets of `namespace`, in name order.
    async fn pull_secrets(&self, namespace: &str) -> Vec<Value> {
        let prefix = collection_prefix("secrets", Some(namespace));
        match self.store.list(&prefix, &ListOptions::default()).await {
            Ok(page) => page.items.iter().map(|o| (*o.value).clone()).collect(),
            Err(error) => {
                tracing::warn!(%namespace, %error, "cannot list pull secrets; importing anonymously");
                Vec::new()
            }
        }
    }

    /// Stores each image unless one of that name exists (images are content-addressed).
    async fn store_images(&self, images: &[image::ImageRecord]) {
        for record in images {
            let key = object_key(image::IMAGES, None, &record.digest);
            let uid = uuid::Uuid::new_v4().to_string();
            let object = image::image_object(record, &uid, Timestamp::now());
            match self.store.create(&key, object).await {
                Ok(_) | Err(store::Error::AlreadyExists { .. }) => {}
                Err(error) => tracing::warn!(image = %record.digest, %error, "cannot store image"),
            }
        }
    }

    fn note_write(&self, stored: &store::Object) {
        let (Some(index), Some(stream)) = (&self.index, live_index::decode(&stored.value)) else {
            return;
        };
        index.apply(&stream, stored.revision, false);
    }

    async fn work(self: Arc<Self>) {
        while let Some(key) = self.queue.next().await {
            let result = match key.split_once('/') {
                Some((namespace, name)) => self.sync(namespace, name).await,
                None => Ok(()),
            };
            self.queue.done(&key);
            if let Err(error) = result {
                tracing::warn!(stream = %key, %error, "import pass failed; retrying");
                let importer = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(RETRY_DELAY).await;
                    importer.queue.add(&key);
                });
            }
        }
    }

    async fn tick(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(schedule::tick_period(self.config.interval));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let due = self.scheduler().take_due(Timestamp::now());
            due.iter().for_each(|key| self.queue.add(key));
        }
    }

    /// List, then watch from the list's revision; on an error (410 included) list again.
    async fn feed(&self) {
        loop {
            match self.feed_once().await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "importer watch ended; re-listing");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    }

    async fn feed_once(&self) -> store::Result<()> {
        let page = self
            .store
            .list(IMAGESTREAMS_PREFIX, &ListOptions::default())
            .await?;
        for object in &page.items {
            self.queue.add(stream_key(&object.key));
        }
        let mut events = self.store.watch(IMAGESTREAMS_PREFIX, page.revision).await?;
        while let Some(event) = events.next().await {
            let event = event?;
            let key = stream_key(&event.object.key);
            match event.kind {
                EventKind::Deleted => self.scheduler().forget(key),
                EventKind::Added | EventKind::Modified => self.queue.add(key),
            }
        }
        Ok(())
    }

    fn scheduler(&self) -> MutexGuard<'_, Scheduler> {
        self.scheduler
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `ns/name` from a store key `imagestreams/ns/name`.
fn stream_key(store_key: &str) -> &str {
    store_key
        .strip_prefix(IMAGESTREAMS_PREFIX)
        .unwrap_or(store_key)
}

fn source_key(import: &TagImport) -> SourceKey {
    (import.source.exact(), import.mode, import.insecure)
}

/// The credential for `source` from the namespace's Secrets.
fn credential(secrets: &[Value], source: &ImageRef) -> credentials::Credential {
    let full = source.docker_client_defaults();
    credentials::credential_for(secrets, &full.registry, &registry::repository(&full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_drop_the_collection() {
        assert_eq!(stream_key("imagestreams/ns/app"), "ns/app");
    }

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
