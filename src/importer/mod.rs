//! The tag importer: `status.tags` of `DockerImage` tags fills itself from OCI registries, the
//! way OpenShift's importer does (openshift-semantics §4.6, §4.9).
//!
//! ```text
//! store ──list+watch──▶ queue (ns/name, deduplicated) ──▶ workers (N)
//!   ▲                    ▲                                  │ plan (pure) → registry (I/O)
//!   │                    └── ticker: due scheduled streams ─┤ images/<digest> (create if absent)
//!   │                        (and pushed ones, see [`push`])│
//!   └──────── CAS update of the stream (retry on Conflict) ◀┘ apply outcomes (pure)
//! ```
//!
//! One pass over a stream: read it, [`plan::plan`] which tags need an import, fetch each
//! distinct source once (concurrently, a few at a time), store the Image objects,
//! [`outcome::apply_outcome`] each result, and write the stream back with the revision it was
//! read at. A Conflict re-reads and re-plans on the fresh object, reusing the registry answers
//! of the pass; so does a pass that wrote the answers it had while some source still hangs. Locks guard only in-memory
//! bookkeeping and are never held across an `.await`. Before the tags, a pass imports the
//! stream's `spec.dockerImageRepository` when it is due ([`repository`]), in one update of
//! the whole stream, since it adds spec tags and an annotation as well as status.
//!
//! **Changes.** The feed queues a stream for each change a pass has not planned from yet. A
//! pass that ends with nothing due now notes the revision it planned from (`planned`), so the
//! watch delivering that pass's own status write queues nothing, nor does an event at a lower
//! revision; one that arrives while the pass still runs is dropped as the pass ends
//! (`queue`). Any other writer's change is a revision of its own, above, and queues a pass.
//! A re-list queues only the streams listed at another revision than their last pass planned
//! from: above it (changed), or below a note older than the list (the store went back, an etcd
//! restored with its revisions bumped).
//!
//! **Several replicas.** [`run_while_leading`] imports only while this replica leads the
//! `importer` role ([`crate::store::lead`]): with a shared store (etcd) one replica imports
//! and the others wait to take over. Each term starts a fresh importer (list, then watch), so
//! a new leader catches up on everything. A pass cut short by a lost term may still write
//! once; the compare-and-swap keeps that correct (a losing writer re-plans and finds nothing
//! left to do), as it does for [`spawn`], which imports unconditionally.
//!
//! **Failures.** A pass that fails on the store is retried after a wait that doubles with each
//! consecutive failure of that stream, from 500 ms up to the import interval (`backoff`), and
//! starts again from the bottom once a pass of the stream succeeds or the stream is deleted;
//! the wait is a timer, not a worker, so other streams go on. The feed re-lists after a watch
//! error likewise, from 500 ms up to 30 s.

mod backoff;
pub mod credentials;
pub mod fit;
pub mod image;
pub mod manifest;
pub mod mirrors;
pub mod on_request;
pub mod outcome;
mod pass;
pub mod plan;
mod planned;
pub mod prune;
pub mod push;
mod push_feed;
mod queue;
pub mod registry;
pub mod registry_config;
pub mod repository;
mod schedule;
pub mod secrets;
mod silent;
pub mod tag_order;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use self::backoff::Backoff;
use self::planned::Planned;
use self::push::followers::{followed, Followers};
use self::push::outstanding::Outstanding;
use self::queue::WorkQueue;
use self::registry::RegistryClient;
use self::registry_config::{RegistryConfig, SharedRegistryConfig};
use self::schedule::{Scheduler, SchedulingClock};
use crate::live_index::{LiveIndex, IMAGESTREAMS_PREFIX};
use crate::metrics::ImporterMetrics;
use crate::store::lead::Candidate;
use crate::store::{self, EventKind, Store};
use crate::strategy;

/// The default scheduled re-import interval: OpenShift's 15 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The shortest interval accepted; shorter ones are raised to it.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// How many times one pass re-reads a stream after a write Conflict.
const MAX_ATTEMPTS: usize = 5;
/// The first wait before listing again after the watch ended with an error, and before
/// retrying a stream whose pass failed on the store; each further consecutive failure doubles
/// it (client-go's controllers start at 5 ms; a pass asks registries, so it starts higher).
const RETRY_DELAY: Duration = Duration::from_millis(500);
/// The longest wait before listing again: a store that keeps failing is asked twice a minute,
/// and is followed again within 30 s of coming back.
const FEED_RETRY_CAP: Duration = Duration::from_secs(30);

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
    /// Where each source is pulled from (its mirrors, then its own registry) and the CAs
    /// trusted besides the system's; read afresh by every import.
    pub registries: SharedRegistryConfig,
    /// How many items of each status tag an import's write keeps, the newest (0: all).
    pub keep_tag_revisions: usize,
    /// When images no stream references are deleted (`None`: never).
    pub prune_images: Option<prune::PruneImages>,
    /// The stream rules status writes go through.
    pub strategy: Arc<strategy::Config>,
    /// Where a namespace's pull secrets are read.
    pub pull_secrets: secrets::PullSecrets,
    /// What the importer counts (`imagelookup_imports`, `imagelookup_importer_*`,
    /// `imagelookup_images_pruned_total`).
    pub metrics: ImporterMetrics,
    /// Registries that did not answer or limited their rate, remembered for a while; shared
    /// with the imports asked through the API (see [`on_request::OnRequest::with_silence`]).
    pub silent_registries: silent::SharedSilence,
}

impl Default for ImporterConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            workers: 4,
            scheduled_per_minute: 60,
            registry_timeout: Duration::from_secs(30),
            registries: RegistryConfig::default().fixed(),
            keep_tag_revisions: DEFAULT_KEEP_TAG_REVISIONS,
            prune_images: None,
            strategy: Arc::new(strategy::Config::default()),
            pull_secrets: secrets::PullSecrets::Store,
            metrics: ImporterMetrics::default(),
            silent_registries: silent::SharedSilence::default(),
        }
    }
}

/// The import controller.
///
/// Its state sits behind std mutexes, one per concern: each is taken for a few map operations
/// by the ticker, the workers or the push feed, never held across an `.await`, so a blocking
/// lock costs less than an async one and cannot stall a task that holds it.
pub struct Importer {
    store: Arc<dyn Store>,
    index: Option<Arc<LiveIndex>>,
    config: ImporterConfig,
    registry: RegistryClient,
    queue: Arc<WorkQueue>,
    /// When each stream is due next.
    scheduler: Mutex<Scheduler>,
    /// What the scheduler's times are read from (see [`SchedulingClock`]).
    clock: SchedulingClock,
    /// Consecutive failed passes per stream, for the wait before the next one.
    failures: Mutex<Backoff>,
    /// Consecutive repository imports per stream given up because every write lost to
    /// another writer's, for the wait before the next.
    repository_conflicts: Mutex<Backoff>,
    /// The revision of each stream its last settled pass planned from: changes up to it
    /// (this importer's own writes among them) queue no pass.
    planned: Mutex<Planned>,
    /// A cluster whose Secrets list did not answer, remembered for a while.
    secrets_outage: Mutex<secrets::Outage>,
    /// The tags a registry push brings forward, by source.
    followers: Mutex<Followers>,
    /// The push records handled and not yet deleted, with the passes they wait for.
    outstanding: Mutex<Outstanding>,
    /// Wakes the ticker when a push made streams due.
    wake_scheduler: tokio::sync::Notify,
    /// True once the first list of streams has filled `followers`: pushes wait for it.
    listed: tokio::sync::watch::Sender<bool>,
}

/// Aborts the tasks it holds when dropped, so aborting [`Importer::run`] stops its workers.
struct TaskGroup(Vec<tokio::task::JoinHandle<()>>);

impl TaskGroup {
    /// Aborts the tasks and waits until each has ended: a task is only dropped at its next
    /// await, and one mid-poll may still set a gauge that whoever stopped it is about to clear.
    async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.0);
        tasks.iter().for_each(tokio::task::JoinHandle::abort);
        for task in tasks {
            let _ = task.await;
        }
    }
}

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

/// How many items each status tag keeps when an import is recorded, by default: what
/// OpenShift 4's image pruner keeps (`--keep-tag-revisions`).
pub const DEFAULT_KEEP_TAG_REVISIONS: usize = 3;

/// The role the importing replica holds.
pub const ROLE: &str = "importer";

/// Imports while this replica leads [`ROLE`] among those sharing `store`, campaigning again
/// after each lost term, until `stop` completes; then resigns, handing the role over at once.
/// `leader` is set to 1 while leading, else 0.
pub async fn run_while_leading(
    store: Arc<dyn Store>,
    index: Option<Arc<LiveIndex>>,
    config: ImporterConfig,
    candidate: Candidate,
    leader: Gauge,
    stop: impl std::future::Future<Output = ()>,
) {
    let elector = store.elector();
    tokio::pin!(stop);
    loop {
        let mut term = tokio::select! {
            term = elector.campaign(&candidate) => term,
            () = &mut stop => return,
        };
        tracing::info!(identity = %candidate.identity, "importer: leading");
        leader.set(1);
        let importer = Importer::new(store.clone(), index.clone(), config.clone());
        let (stop_run, run_stopped) = tokio::sync::oneshot::channel::<()>();
        let mut run = tokio::spawn(importer.run_until(async {
            let _ = run_stopped.await;
        }));
        let (lost, finished) = tokio::select! {
            end = term.ended() => (Some(end), false),
            // The store shut down: stop, as an importer without election does.
            _ = &mut run => (None, true),
            () = &mut stop => (None, false),
        };
        if !finished {
            // The run stops its workers and waits for them, so nothing of this term sets a
            // gauge after they are cleared below. A finished run's handle must not be polled
            // again.
            let _ = stop_run.send(());
            let _ = (&mut run).await;
        }
        leader.set(0);
        config.metrics.not_importing();
        let Some(end) = lost else {
            term.resign().await;
            tracing::info!("importer: no longer leading (resigned)");
            return;
        };
        tracing::warn!(
            "importer: no longer leading ({end}); the next term goes to whichever replica \
             campaigns first once the lease is free: if terms keep ending, check etcd's latency \
             or lengthen --leader-lease"
        );
    }
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
        let clock = SchedulingClock::start();
        let epoch = store.revision_epoch();
        Arc::new(Self {
            registry: RegistryClient::new(config.registry_timeout, config.registries.clone())
                .with_silence(config.silent_registries.clone(), true),
            scheduler: Mutex::new(Scheduler::new(config.scheduled_per_minute, clock.now())),
            clock,
            queue: Arc::new(WorkQueue::with_depth(config.metrics.queue_depth.clone())),
            // Capped at the interval: a stream whose pass keeps failing is then retried as
            // often as a failed tag is, and its registries see no more than a scheduled import.
            failures: Mutex::new(Backoff::new(RETRY_DELAY, config.interval)),
            repository_conflicts: Mutex::new(Backoff::new(RETRY_DELAY, config.interval)),
            planned: Mutex::new(Planned::new(epoch)),
            secrets_outage: Mutex::default(),
            followers: Mutex::default(),
            outstanding: Mutex::default(),
            wake_scheduler: tokio::sync::Notify::new(),
            listed: tokio::sync::watch::Sender::new(false),
            store,
            index,
            config,
        })
    }

    /// Runs the feed, the scheduler and the workers until the store shuts down.
    pub async fn run(self: Arc<Self>) {
        self.run_until(std::future::pending()).await;
    }

    /// Runs the feed, the scheduler and the workers until the store shuts down or `stop`
    /// completes; returns once every task it started has ended.
    pub async fn run_until(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let mut tasks: Vec<_> = (0..self.config.workers)
            .map(|_| {
                let this = self.clone();
                tokio::spawn(restarting("an import worker", move || this.clone().work()))
            })
            .collect();
        let this = self.clone();
        tasks.push(tokio::spawn(restarting(
            "the import scheduler",
            move || this.clone().tick(),
        )));
        let this = self.clone();
        tasks.push(tokio::spawn(restarting(
            "the registry push feed",
            move || this.clone().follow_pushes(),
        )));
        if let Some(prune) = self.config.prune_images {
            let this = self.clone();
            tasks.push(tokio::spawn(restarting("the image pruner", move || {
                this.clone().prune_images(prune)
            })));
        }
        let tasks = TaskGroup(tasks);
        tokio::select! {
            () = self.feed() => {}
            () = stop => {}
        }
        self.queue.close();
        tasks.stop().await;
    }

    async fn work(self: Arc<Self>) {
        while let Some(key) = self.queue.next().await {
            let started = tokio::time::Instant::now();
            let result = match key.split_once('/') {
                // A panic is retried after the backoff as a failed pass is, and the worker
                // lives on: a dead worker would also leave the stream marked as in process,
                // never to be queued again.
                Some((namespace, name)) => {
                    crate::panics::caught("an import pass", self.sync(namespace, name))
                        .await
                        .unwrap_or_else(|panicked| Err(store::Error::internal(panicked)))
                }
                None => Ok(()),
            };
            let took = started.elapsed().as_secs_f64();
            self.config.metrics.pass_duration.observe(took);
            let planned = self.planned().revision(&key);
            self.queue.done(&key, planned);
            match result {
                Ok(()) => self.failures().forget(&key),
                Err(error) => self.retry_later(&key, &error),
            }
        }
    }

    /// Queues a stream whose pass failed again after its backoff, saying when. Logged once
    /// per failure: the backoff bounds how often that is.
    fn retry_later(&self, key: &str, error: &store::Error) {
        self.config.metrics.pass_retries.inc();
        let wait = self.failures().failed(key);
        let retry_in = self.queue.add_after(key, wait);
        // Zero when a change to the stream queued it during the pass: that pass runs first.
        let message = match retry_in.is_zero() {
            true => "import pass failed; the stream changed meanwhile and is queued again",
            false => "import pass failed; retrying",
        };
        tracing::warn!(
            stream = %key,
            %error,
            retry_in_seconds = retry_in.as_secs_f64(),
            "{message}"
        );
    }

    async fn tick(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(schedule::tick_period(self.config.interval));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut warned: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = self.wake_scheduler.notified() => {}
            }
            let now = self.clock.now();
            let (due, (behind, waiting)) = {
                let mut scheduler = self.scheduler();
                (scheduler.take_due(now), scheduler.behind(now))
            };
            due.iter().for_each(|key| self.queue.add(key));
            let seconds = i64::try_from(behind.as_secs()).unwrap_or(i64::MAX);
            self.config.metrics.schedule_behind.set(seconds);
            // Once an interval at most: falling behind lasts.
            let quiet = warned.is_some_and(|at| at.elapsed() < self.config.interval);
            if behind >= self.config.interval && !quiet {
                warned = Some(tokio::time::Instant::now());
                tracing::warn!(
                    behind_seconds = seconds,
                    waiting,
                    per_minute = self.config.scheduled_per_minute,
                    "scheduled imports fall behind their interval: more streams are due than \
                     the budget starts; raise --scheduled-imports-per-minute or the interval"
                );
            }
        }
    }

    /// Lists the streams, then watches them, until the store shuts down; see [`follow`].
    async fn feed(&self) {
        let restarts = self.config.metrics.restarts_of("importer");
        follow("importer watch", restarts, || async {
            let revision = self.list().await?;
            self.watch(revision).await
        })
        .await;
    }

    /// Queues every stream changed since a pass last planned from it (all of them at the
    /// first list), except those waiting out a failure: a re-list (after each watch error) must
    /// not retry them sooner; notes what each follows. Returns the revision listed at.
    ///
    /// A stream unchanged since it was planned needs no pass: what it has due later (scheduled
    /// tags, retries, its repository) the scheduler holds already, and a pass's failure is
    /// retried by its timer.
    async fn list(&self) -> store::Result<u64> {
        let mut followers = Followers::default();
        // The scheduler's streams (few: most schedule nothing), each struck when listed; those
        // the scheduler gains meanwhile are not in it, so they stay.
        let mut unlisted = self.scheduler().stream_keys();
        let newest_planned = self.planned().start_list(self.store.revision_epoch());
        let revision =
            store::for_each_readable_page(self.store.as_ref(), IMAGESTREAMS_PREFIX, |page| {
                store::report_unreadable("the importer", &page.unreadable);
                let mut planned = self.planned();
                planned.snapshot_at(page.revision, newest_planned);
                for object in &page.items {
                    let key = stream_key(&object.key);
                    followers.update(key, followed(&object.value));
                    if !planned.listed(key, object.revision, page.revision) {
                        self.queue.add_unless_deferred(key, object.revision);
                    }
                    unlisted.remove(key);
                }
            })
            .await?;
        self.planned().end_list();
        // Replaced whole: streams deleted while the watch was down leave no entry behind, in
        // the followers nor in the scheduler (whose pushes for them are handled).
        *self.followers() = followers;
        let gone = self
            .scheduler()
            .retain_streams(|key| !unlisted.contains(key));
        for (key, pushed) in gone {
            self.pushes_imported(&key, pushed).await;
        }
        self.listed.send_replace(true);
        Ok(revision)
    }

    /// Queues each stream changed after `revision`, until the watch ends.
    async fn watch(&self, revision: u64) -> store::Result<()> {
        let mut events = self.store.watch(IMAGESTREAMS_PREFIX, revision).await?;
        while let Some(event) = events.next().await {
            let event = event?;
            let key = stream_key(&event.object.key);
            match event.kind {
                EventKind::Deleted => {
                    self.failures().forget(key);
                    self.followers().forget(key);
                    self.forget_deleted(key).await;
                }
                EventKind::Added | EventKind::Modified => {
                    self.followers().update(key, followed(&event.object.value));
                    // This importer's own writes come back here: a pass planned from them.
                    let revision = event.object.revision;
                    if !self.planned().covers(key, revision) {
                        self.queue.add_change(key, revision);
                    }
                }
            }
        }
        Ok(())
    }

    fn scheduler(&self) -> MutexGuard<'_, Scheduler> {
        lock(&self.scheduler)
    }

    fn failures(&self) -> MutexGuard<'_, Backoff> {
        lock(&self.failures)
    }

    fn repository_conflicts(&self) -> MutexGuard<'_, Backoff> {
        lock(&self.repository_conflicts)
    }

    fn planned(&self) -> MutexGuard<'_, Planned> {
        lock(&self.planned)
    }

    fn followers(&self) -> MutexGuard<'_, Followers> {
        lock(&self.followers)
    }

    fn outstanding(&self) -> MutexGuard<'_, Outstanding> {
        lock(&self.outstanding)
    }
}

/// Runs `list_and_watch` (list, then watch from the list's revision) until it ends without
/// an error (the store shut down). After an error (410 included) it lists again, after a wait
/// that doubles while the store keeps failing and starts over once a list and its watch have
/// served for [`FEED_RETRY_CAP`] (a watch that fails as soon as it opens, after lists that
/// succeed, backs off too). `what` names it in the log.
async fn follow<F, Fut>(what: &'static str, restarts: Counter, mut list_and_watch: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = store::Result<()>>,
{
    let mut waits = Waits::default();
    loop {
        let started = tokio::time::Instant::now();
        // A panic re-lists as a failed list or watch does (the next list starts afresh).
        let followed = crate::panics::caught(what, list_and_watch()).await;
        let Err(error) = followed.unwrap_or_else(|panicked| Err(store::Error::internal(panicked)))
        else {
            return;
        };
        restarts.inc();
        let wait = waits.after(started.elapsed());
        tracing::warn!(
            %error,
            retry_in_seconds = wait.as_secs_f64(),
            "{what} ended; re-listing"
        );
        tokio::time::sleep(wait).await;
    }
}

/// The waits of a loop that starts something again after it failed: doubling from
/// [`RETRY_DELAY`] to [`FEED_RETRY_CAP`] while it keeps failing, from the start again after a
/// run as long as the cap.
#[derive(Debug, Default)]
struct Waits {
    failures: u32,
}

impl Waits {
    /// The wait after a failed run that lasted `ran`.
    fn after(&mut self, ran: Duration) -> Duration {
        if ran >= FEED_RETRY_CAP {
            self.failures = 0;
        }
        self.failures += 1;
        backoff::delay(RETRY_DELAY, FEED_RETRY_CAP, self.failures)
    }
}

/// Runs the task `start` makes until it returns; started again when it panicked, so that one
/// bug does not leave the importer without a worker or a scheduler while its leader gauge says
/// it imports. The wait doubles from [`RETRY_DELAY`] to [`FEED_RETRY_CAP`] while it keeps
/// panicking (a bug met at every start would otherwise log twice a second), and starts over
/// after a run as long as the cap.
async fn restarting<F, Fut>(what: &'static str, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut waits = Waits::default();
    loop {
        let started = tokio::time::Instant::now();
        let Err(panicked) = crate::panics::caught(what, start()).await else {
            return;
        };
        let wait = waits.after(started.elapsed());
        tracing::warn!(%panicked, retry_in_seconds = wait.as_secs_f64(), "importer task restarting");
        tokio::time::sleep(wait).await;
    }
}

/// `mutex`'s guard, also after a panic while it was held: the importer's bookkeeping stays
/// usable (a worst case is one import too many or too few, healed by the next pass).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `ns/name` from a store key `imagestreams/ns/name`.
fn stream_key(store_key: &str) -> &str {
    store_key
        .strip_prefix(IMAGESTREAMS_PREFIX)
        .unwrap_or(store_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopped_task_group_returns_once_every_task_has_ended() {
        /// Counts its drop: the task holding it has ended.
        struct Ended(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Ended {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let ended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks = (0..3)
            .map(|_| {
                let guard = Ended(ended.clone());
                tokio::spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        // Each task starts and waits (this runtime has one thread).
        tokio::task::yield_now().await;
        TaskGroup(tasks).stop().await;
        assert_eq!(ended.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    #[test]
    fn stream_keys_drop_the_collection() {
        assert_eq!(stream_key("imagestreams/ns/app"), "ns/app");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_started_again_and_one_that_returns_is_not() {
        let starts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = starts.clone();
        restarting("a test task", move || {
            let start = counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                if start < 2 {
                    panic!("a bug, start {start}");
                }
            }
        })
        .await;
        assert_eq!(starts.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_keeps_panicking_is_started_again_ever_more_slowly() {
        let starts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = starts.clone();
        let forever = restarting("a test task", move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { panic!("a bug met at every start") }
        });
        let ran = tokio::time::timeout(Duration::from_secs(10), forever).await;
        assert!(ran.is_err(), "it never returns");
        // 0, 0.5, 1.5, 3.5 and 7.5 s: doubling waits, not twenty starts at 0.5 s apart.
        assert_eq!(starts.load(std::sync::atomic::Ordering::Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_that_panics_lists_again() {
        let rounds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = rounds.clone();
        let restarts = Counter::default();
        follow("a test feed", restarts.clone(), move || {
            let round = counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                assert!(round > 0, "a bug in the first list");
                Ok(())
            }
        })
        .await;
        assert_eq!(rounds.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(restarts.get(), 1, "the panicked round counts as a restart");
    }
}
