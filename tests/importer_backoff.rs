//! The importer waits ever longer before retrying a stream whose passes keep failing on the
//! store (each pass would ask the registry about every tag again), holds no worker meanwhile,
//! and starts over from the shortest wait once a pass of the stream succeeds.
//!
//! The store here fails every read of one stream while `broken`; each pass reads its stream
//! first, so the failed reads of that key are the failed passes.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use imagelookup::importer::{self, ImporterConfig};
use imagelookup::live_index::IMAGESTREAMS_PREFIX;
use imagelookup::store::{
    self, object_key, EmbeddedOptions, EmbeddedStore, EventStream, ListOptions, ListPage, Object,
    Store,
};
use serde_json::{json, Value};
use tokio::time::Instant;

use common::eventually;

/// The first wait after a failed pass; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::from_millis(500);

/// One read of the store: its key, when, and whether it failed.
type Read = (String, Instant, bool);

/// An in-memory store whose reads of `broken_key` fail while `broken` is set, recording each
/// read of any stream; its lists fail while `lists_broken` is set, and its watches as they open
/// while `watches_broken` is, each failure recorded.
struct Flaky {
    inner: EmbeddedStore,
    broken_key: String,
    broken: AtomicBool,
    reads: Mutex<Vec<Read>>,
    lists_broken: AtomicBool,
    failed_lists: Mutex<Vec<Instant>>,
    watches_broken: AtomicBool,
    failed_watches: Mutex<Vec<Instant>>,
    watches_end: bool,
    /// While set, every compare-and-swap update of `broken_key` loses to another writer,
    /// which writes the stream just before it.
    contested: AtomicBool,
    /// When each contested update was tried.
    contested_updates: Mutex<Vec<Instant>>,
}

/// What else fails besides the reads of the broken stream.
#[derive(Clone, Copy, PartialEq)]
enum AlsoBroken {
    Nothing,
    Lists,
    Watches,
    /// Watches end as they open, as every watch does when the store shuts down.
    WatchesEnd,
}

impl Flaky {
    /// When `key` was read, the reads that failed or those that did not.
    fn reads_of(&self, key: &str, failed: bool) -> Vec<Instant> {
        let reads = self.reads.lock().unwrap();
        let matching = reads.iter().filter(|r| r.0 == key && r.2 == failed);
        matching.map(|r| r.1).collect()
    }

    /// Waits until `key` has been read `count` times, failing or not; returns those reads.
    async fn until_reads(&self, key: &str, failed: bool, count: usize) -> Vec<Instant> {
        eventually(&format!("{count} reads of {key}"), || async {
            let reads = self.reads_of(key, failed);
            (reads.len() >= count).then_some(reads)
        })
        .await
    }
}

#[async_trait]
impl Store for Flaky {
    fn current_revision(&self) -> u64 {
        self.inner.current_revision()
    }

    async fn get(&self, key: &str) -> store::Result<Object> {
        let failed = key == self.broken_key && self.broken.load(Ordering::SeqCst);
        let read = (key.to_string(), Instant::now(), failed);
        self.reads.lock().unwrap().push(read);
        if failed {
            return Err(store::Error::Unavailable(
                "etcdserver: request timed out".into(),
            ));
        }
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> store::Result<ListPage> {
        // Only the streams' feed is broken: the importer also follows registry push records.
        if self.lists_broken.load(Ordering::SeqCst) && prefix == IMAGESTREAMS_PREFIX {
            self.failed_lists.lock().unwrap().push(Instant::now());
            return Err(store::Error::Unavailable("etcdserver: no leader".into()));
        }
        self.inner.list(prefix, options).await
    }

    async fn create(&self, key: &str, value: Value) -> store::Result<Object> {
        self.inner.create(key, value).await
    }

    async fn update(
        &self,
        key: &str,
        value: Value,
        expected: Option<u64>,
    ) -> store::Result<Object> {
        let contested = key == self.broken_key && self.contested.load(Ordering::SeqCst);
        if contested && expected.is_some() {
            let tried = {
                let mut updates = self.contested_updates.lock().unwrap();
                updates.push(Instant::now());
                updates.len()
            };
            let mut theirs = (*self.inner.get(key).await?.value).clone();
            theirs["metadata"]["labels"] = json!({"contender": tried.to_string()});
            self.inner.update(key, theirs, None).await?;
        }
        self.inner.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<u64>) -> store::Result<Object> {
        self.inner.delete(key, expected).await
    }

    async fn watch(&self, prefix: &str, after: u64) -> store::Result<EventStream> {
        if self.watches_broken.load(Ordering::SeqCst) && prefix == IMAGESTREAMS_PREFIX {
            self.failed_watches.lock().unwrap().push(Instant::now());
            return Err(store::Error::Unavailable("etcdserver: no leader".into()));
        }
        if self.watches_end {
            return Ok(futures::StreamExt::boxed(futures::stream::empty()));
        }
        self.inner.watch(prefix, after).await
    }

    async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> store::Result<u64> {
        self.inner.wait_for_revision(revision, timeout).await
    }
}

/// An importer with one worker over a store where stream `fail/app` cannot be read (nor what
/// `also` names used); returns the store and that stream's key.
async fn flaky_importer(also: AlsoBroken) -> (Arc<Flaky>, String, tokio::task::JoinHandle<()>) {
    let store = flaky_store(also);
    let broken_key = store.broken_key.clone();
    store
        .create(&broken_key, stream("fail", "app"))
        .await
        .unwrap();
    let config = ImporterConfig {
        interval: Duration::from_secs(60),
        workers: 1,
        ..ImporterConfig::default()
    };
    let importer = importer::spawn(store.clone(), None, config);
    (store, broken_key, importer)
}

/// A store where stream `fail/app` cannot be read, nor what `also` names used.
fn flaky_store(also: AlsoBroken) -> Arc<Flaky> {
    common::setup();
    Arc::new(Flaky {
        inner: EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap(),
        broken_key: object_key("imagestreams", Some("fail"), "app"),
        broken: AtomicBool::new(true),
        reads: Mutex::default(),
        lists_broken: AtomicBool::new(also == AlsoBroken::Lists),
        failed_lists: Mutex::default(),
        watches_broken: AtomicBool::new(also == AlsoBroken::Watches),
        failed_watches: Mutex::default(),
        watches_end: also == AlsoBroken::WatchesEnd,
        contested: AtomicBool::new(false),
        contested_updates: Mutex::default(),
    })
}

fn stream(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
           "metadata": {"namespace": namespace, "name": name}, "spec": {}})
}

/// The time between consecutive reads.
fn gaps(reads: &[Instant]) -> Vec<Duration> {
    reads.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Asserts that each gap is at least the wait its failure earned (never earlier: a timer does
/// not fire early), so the passes slow down instead of coming every half second.
fn check_doubling(gaps: &[Duration]) {
    for (failures, gap) in gaps.iter().enumerate() {
        let wait = FIRST_WAIT * 2u32.pow(failures as u32);
        assert!(
            *gap >= wait,
            "retry {failures} came after {gap:?}, before {wait:?}: {gaps:?}"
        );
    }
}

#[tokio::test]
async fn a_stream_failing_on_the_store_waits_twice_as_long_each_time_and_holds_no_worker() {
    let (store, broken_key, _importer) = flaky_importer(AlsoBroken::Nothing).await;
    store.until_reads(&broken_key, true, 2).await;
    // The only worker is free while the failing stream waits: another stream is imported now.
    let healthy_key = object_key("imagestreams", Some("ok"), "app");
    store
        .create(&healthy_key, stream("ok", "app"))
        .await
        .unwrap();

    let failing = store.until_reads(&broken_key, true, 4).await;
    check_doubling(&gaps(&failing));
    let healthy = store.reads_of(&healthy_key, false);
    assert!(
        healthy.first().is_some_and(|read| *read < failing[2]),
        "the healthy stream was read before the failing one's next retry"
    );
}

/// On a paused clock (time moves on only while every task waits, to the next timer due), so
/// that a wait is measured by what the importer asked for, not by how busy the machine is: the
/// wait after a failure is then exactly its backoff.
#[tokio::test(start_paused = true)]
async fn a_pass_that_succeeds_resets_the_wait_of_its_stream() {
    let (store, broken_key, _importer) = flaky_importer(AlsoBroken::Nothing).await;
    let failed = store.until_reads(&broken_key, true, 3).await;
    check_doubling(&gaps(&failed));
    store.broken.store(false, Ordering::SeqCst);
    // A pass that succeeds: it reads the stream once (its repository step hands the stream
    // on to its tags' step), and passes of one stream do not overlap.
    store.until_reads(&broken_key, false, 1).await;

    // Broken again, and changed: the change is imported at once and fails.
    store.broken.store(true, Ordering::SeqCst);
    let mut changed = stream("fail", "app");
    changed["metadata"]["labels"] = json!({"changed": "yes"});
    store.update(&broken_key, changed, None).await.unwrap();
    let failed = store.until_reads(&broken_key, true, 5).await;
    // The paused clock moved by timers only: the importer's backoff, or at most the 20 ms
    // polls of the test, never by the machine's load.
    let retry = failed[4] - failed[3];
    assert!(
        (FIRST_WAIT..FIRST_WAIT * 2).contains(&retry),
        "after a success the first retry waits {FIRST_WAIT:?} again, not 4 s: {retry:?}"
    );
}

#[tokio::test]
async fn a_failed_repository_import_that_loses_every_write_is_not_put_off_an_interval() {
    // Attempted and failed before: retried every interval, and once at start.
    let (store, key) = contested_repository(json!({
        "openshift.io/image.dockerRepositoryCheck": "2026-01-01T00:00:00Z",
        FAILURE: "earlier",
    }))
    .await;
    let config = ImporterConfig {
        interval: Duration::from_secs(3600),
        workers: 1,
        ..ImporterConfig::default()
    };
    let _importer = importer::spawn(store.clone(), None, config);

    // Five writes lost and the import given up; the other writer's change queues a pass,
    // which tries again rather than an interval (an hour) later.
    let attempts = || store.contested_updates.lock().unwrap().len();
    eventually("a second round of repository writes", || async {
        (attempts() > 5).then_some(())
    })
    .await;
    store.contested.store(false, Ordering::SeqCst);
    eventually("this import's failure recorded on the stream", || async {
        let stored = store.inner.get(&key).await.ok()?;
        let failure = stored.value["metadata"]["annotations"][FAILURE]
            .as_str()?
            .to_string();
        (failure != "earlier").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_repository_import_that_keeps_losing_its_writes_is_tried_ever_less_often() {
    // Never imported: due at every pass but for the hold after each round lost.
    let (store, _) = contested_repository(json!({})).await;
    // A short interval, so that the scheduler looks every second (its cap on the waits).
    let config = ImporterConfig {
        interval: Duration::from_secs(4),
        workers: 1,
        ..ImporterConfig::default()
    };
    let _importer = importer::spawn(store.clone(), None, config);

    // Each round lists the registry and loses five writes; the other writer's change queues a
    // pass at once, which must not list the registry again before the round's wait is over.
    let attempts = eventually("four rounds of repository writes", || async {
        let attempts = store.contested_updates.lock().unwrap().clone();
        (attempts.len() >= 20).then_some(attempts)
    })
    .await;
    let rounds: Vec<Instant> = attempts.iter().step_by(5).copied().take(4).collect();
    check_doubling(&gaps(&rounds));
}

/// A store whose every compare-and-swap update of stream `fail/app` loses to another writer,
/// the stream importing repository `127.0.0.1:1/org/app` (nothing listens there: each import
/// fails, and its failure is recorded all the same) with `annotations`; and the stream's key.
async fn contested_repository(annotations: Value) -> (Arc<Flaky>, String) {
    let store = flaky_store(AlsoBroken::Nothing);
    store.broken.store(false, Ordering::SeqCst);
    store.contested.store(true, Ordering::SeqCst);
    let key = store.broken_key.clone();
    let mut repository = stream("fail", "app");
    repository["spec"]["dockerImageRepository"] = json!("127.0.0.1:1/org/app");
    repository["metadata"]["annotations"] = annotations;
    store.create(&key, repository).await.unwrap();
    (store, key)
}

/// The annotation that records a failed repository import.
const FAILURE: &str = "imagelookup.io/repository-import-failure";

/// Waits for the fourth failure `failures` records, and checks the waits between them doubled.
async fn check_failures_slow_down(what: &str, failures: impl Fn() -> Vec<Instant>) {
    let recorded = eventually(&format!("four failed {what}"), || async {
        let recorded = failures();
        (recorded.len() >= 4).then_some(recorded)
    })
    .await;
    check_doubling(&gaps(&recorded));
}

#[tokio::test]
async fn a_store_that_keeps_refusing_the_list_is_asked_ever_less_often() {
    let (store, _, _importer) = flaky_importer(AlsoBroken::Lists).await;
    check_failures_slow_down("lists", || store.failed_lists.lock().unwrap().clone()).await;
}

#[tokio::test]
async fn a_watch_that_fails_as_it_opens_after_lists_that_succeed_is_asked_ever_less_often() {
    let (store, _, _importer) = flaky_importer(AlsoBroken::Watches).await;
    check_failures_slow_down("watches", || store.failed_watches.lock().unwrap().clone()).await;
}

#[tokio::test]
async fn a_leading_importer_whose_store_shuts_down_stops_importing() {
    let store = flaky_store(AlsoBroken::WatchesEnd);
    let candidate = imagelookup::store::lead::Candidate {
        role: importer::ROLE.to_string(),
        identity: "test".to_string(),
        lease: Duration::from_secs(15),
    };
    let leader = prometheus_client::metrics::gauge::Gauge::default();
    let stopped = importer::run_while_leading(
        store,
        None,
        ImporterConfig::default(),
        candidate,
        leader.clone(),
        std::future::pending(),
    );
    tokio::time::timeout(common::PATIENCE, stopped)
        .await
        .expect("the importer stops with its store");
    assert_eq!(leader.get(), 0, "no longer leading");
}
