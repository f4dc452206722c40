//! The importer's feed queues a pass for a stream only when the stream holds something its last
//! pass did not plan from: its own writes (import results) and a re-list of streams unchanged
//! since do not cost a pass each, while users' writes, changes made while the watch was down
//! and repository imports go on as before.
//!
//! The store here counts every read of each stream; a pass reads its stream once (its
//! repository step hands it on to its tags' step; a write that conflicts reads it again), so
//! the reads of a key count its passes. Its sources are on a port that takes no connection,
//! so each import fails at once and writes a condition.
//!
//! With one worker the queue hands streams out in the order they were queued, so once a
//! stream created later has been read by a pass, every pass queued before it has run: that,
//! not a sleep, is how a test knows no further pass is coming.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use imagelookup::api::ImageStream;
use imagelookup::importer::{self, ImporterConfig};
use imagelookup::live_index::IMAGESTREAMS_PREFIX;
use imagelookup::store::{
    self, object_key, EmbeddedOptions, EmbeddedStore, EventStream, ListOptions, ListPage, Object,
    Store,
};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use common::eventually;

/// A source on a port nothing listens on: its import fails at once.
const UNREACHABLE: &str = "127.0.0.1:1/team/app";

/// An in-memory store that counts the reads of each key and the lists of streams, and whose
/// stream watches can be ended with an error (410, as after a compaction) and their lists held.
struct Counting {
    inner: EmbeddedStore,
    reads: Mutex<HashMap<String, usize>>,
    lists: AtomicUsize,
    /// Each change ends the stream watches open then.
    breaks: watch::Sender<u32>,
    /// While set, a list of streams waits for a permit of `list_gate`.
    hold_lists: AtomicBool,
    list_gate: Semaphore,
}

#[async_trait]
impl Store for Counting {
    fn current_revision(&self) -> u64 {
        self.inner.current_revision()
    }

    async fn get(&self, key: &str) -> store::Result<Object> {
        *self
            .reads
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default() += 1;
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str, options: &ListOptions) -> store::Result<ListPage> {
        if prefix == IMAGESTREAMS_PREFIX {
            self.lists.fetch_add(1, Ordering::SeqCst);
            if self.hold_lists.load(Ordering::SeqCst) {
                self.list_gate.acquire().await.unwrap().forget();
            }
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
        self.inner.update(key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<u64>) -> store::Result<Object> {
        self.inner.delete(key, expected).await
    }

    async fn watch(&self, prefix: &str, after: u64) -> store::Result<EventStream> {
        let events = self.inner.watch(prefix, after).await?;
        if prefix != IMAGESTREAMS_PREFIX {
            return Ok(events);
        }
        let mut breaks = self.breaks.subscribe();
        let broken = async move {
            let _ = breaks.changed().await;
        };
        let expired = store::Error::Expired {
            requested: after,
            compacted: after,
        };
        let ended = futures::stream::once(async move { Err(expired) });
        Ok(events.take_until(broken).chain(ended).boxed())
    }

    async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> store::Result<u64> {
        self.inner.wait_for_revision(revision, timeout).await
    }
}

struct Fixture {
    store: Arc<Counting>,
    _importer: tokio::task::JoinHandle<()>,
}

/// An importer with one worker over a fresh counting store.
fn fixture() -> Fixture {
    common::setup();
    let store = Arc::new(Counting {
        inner: EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap(),
        reads: Mutex::default(),
        lists: AtomicUsize::new(0),
        breaks: watch::Sender::new(0),
        hold_lists: AtomicBool::new(false),
        list_gate: Semaphore::new(0),
    });
    let config = ImporterConfig {
        workers: 1,
        registry_timeout: Duration::from_secs(5),
        ..ImporterConfig::default()
    };
    let importer = importer::spawn(store.clone(), None, config);
    Fixture {
        store,
        _importer: importer,
    }
}

fn key(name: &str) -> String {
    object_key("imagestreams", Some("ns"), name)
}

/// A DockerImage spec tag `name` at generation 1 from `from`.
fn tag(name: &str, from: &str) -> Value {
    json!({"name": name, "generation": 1, "from": {"kind": "DockerImage", "name": from}})
}

/// A stream as the API creates it (generation 1) with `spec`.
fn stream(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
           "metadata": {"namespace": "ns", "name": name, "generation": 1}, "spec": spec})
}

impl Fixture {
    fn reads(&self, name: &str) -> usize {
        let reads = self.store.reads.lock().unwrap();
        reads.get(&key(name)).copied().unwrap_or(0)
    }

    async fn create(&self, name: &str, spec: Value) {
        self.store
            .create(&key(name), stream(name, spec))
            .await
            .unwrap();
    }

    async fn stream(&self, name: &str) -> ImageStream {
        let object = self.store.inner.get(&key(name)).await.unwrap();
        serde_json::from_value((*object.value).clone()).unwrap()
    }

    /// Waits until tag `tag` of stream `name` carries the condition of a failed import.
    async fn until_failed(&self, name: &str, tag: &str) {
        eventually(&format!("the import of {name}:{tag} failing"), || async {
            let stream = self.stream(name).await;
            let conditions = &stream.status_tag(tag)?.conditions;
            conditions.iter().any(|c| c.status == "False").then_some(())
        })
        .await;
    }

    /// Waits until every pass queued so far has run: a stream `name` created now is queued
    /// after them, and the only worker reaches it once they are done.
    async fn until_passes_queued_so_far_ran(&self, name: &str) {
        self.create(name, json!({})).await;
        eventually(&format!("a pass over {name}"), || async {
            (self.reads(name) >= 1).then_some(())
        })
        .await;
    }

    /// Creates stream `name` with a tag `v1` of an unreachable registry, and waits until its
    /// import has failed (and the failure is written).
    async fn create_failing(&self, name: &str) {
        let v1 = tag("v1", &format!("{UNREACHABLE}:v1"));
        self.create(name, json!({"tags": [v1]})).await;
        self.until_failed(name, "v1").await;
    }

    /// Ends the importer's watch and waits until it lists again (or, with `hold_lists`, until
    /// its list waits).
    async fn break_watch_until_relisted(&self) {
        let lists = self.store.lists.load(Ordering::SeqCst);
        self.store.breaks.send_modify(|breaks| *breaks += 1);
        eventually("a re-list", || async {
            (self.store.lists.load(Ordering::SeqCst) > lists).then_some(())
        })
        .await;
    }

    /// Adds spec tag `v2` (of an unreachable registry) to stream `name`, as a PUT of the spec
    /// writes it (the next generation), over whatever the importer wrote.
    async fn add_tag_v2(&self, name: &str) {
        let stored = self.store.inner.get(&key(name)).await.unwrap();
        let mut changed = (*stored.value).clone();
        changed["metadata"]["generation"] = json!(2);
        let tags = changed["spec"]["tags"].as_array_mut().expect("spec tags");
        let mut v2 = tag("v2", &format!("{UNREACHABLE}:v2"));
        v2["generation"] = json!(2);
        tags.push(v2);
        self.store.update(&key(name), changed, None).await.unwrap();
    }

    /// Checks that stream `name`, imported and written once, was read by one pass only: its
    /// own write queued no second one. Twice: a re-queue noted while its pass still ran comes
    /// back after the pass, behind the first of them.
    async fn check_one_pass(&self, name: &str) {
        self.until_passes_queued_so_far_ran("first").await;
        self.until_passes_queued_so_far_ran("second").await;
        assert_eq!(
            self.reads(name),
            1,
            "one pass: one read, then the import's write"
        );
    }
}

#[tokio::test]
async fn an_importer_write_does_not_queue_its_stream_again() {
    let fixture = fixture();
    fixture.create_failing("app").await;
    fixture.check_one_pass("app").await;
}

#[tokio::test]
async fn a_repository_import_write_does_not_queue_its_stream_again() {
    let fixture = fixture();
    fixture
        .create("repo", json!({"dockerImageRepository": UNREACHABLE}))
        .await;
    eventually("the repository import failing", || async {
        let stream = fixture.stream("repo").await;
        let annotations = stream.metadata.annotations?;
        annotations
            .contains_key("imagelookup.io/repository-import-failure")
            .then_some(())
    })
    .await;
    fixture.check_one_pass("repo").await;
}

#[tokio::test]
async fn a_user_write_after_an_importer_write_is_imported() {
    let fixture = fixture();
    fixture.create_failing("app").await;

    fixture.add_tag_v2("app").await;
    fixture.until_failed("app", "v2").await;
}

#[tokio::test]
async fn a_relist_queues_no_pass_for_a_stream_unchanged_since_it_was_planned() {
    let fixture = fixture();
    fixture.create_failing("app").await;
    fixture.until_passes_queued_so_far_ran("first").await;
    let before = fixture.reads("app");

    fixture.break_watch_until_relisted().await;
    // Listed before the stream created next, or watched after it: either way queued ahead.
    fixture.until_passes_queued_so_far_ran("second").await;
    fixture.until_passes_queued_so_far_ran("third").await;
    assert_eq!(fixture.reads("app"), before, "no pass after the re-list");
}

#[tokio::test]
async fn a_relist_queues_a_stream_changed_while_the_watch_was_down() {
    let fixture = fixture();
    fixture.create_failing("app").await;
    fixture.until_passes_queued_so_far_ran("first").await;

    // The watch ends and the re-list waits: the change below is seen by the list only.
    fixture.store.hold_lists.store(true, Ordering::SeqCst);
    fixture.break_watch_until_relisted().await;
    fixture.add_tag_v2("app").await;
    fixture.store.hold_lists.store(false, Ordering::SeqCst);
    fixture.store.list_gate.add_permits(1);

    fixture.until_failed("app", "v2").await;
}

#[tokio::test]
async fn a_deleted_stream_is_forgotten_and_its_recreation_imported() {
    let fixture = fixture();
    let spec = json!({"tags": [tag("v1", &format!("{UNREACHABLE}:v1"))]});
    fixture.create("app", spec.clone()).await;
    fixture.until_failed("app", "v1").await;

    fixture.store.delete(&key("app"), None).await.unwrap();
    fixture.create("app", spec).await;
    fixture.until_failed("app", "v1").await;
}
