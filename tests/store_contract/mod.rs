//! The behaviour every [`Store`] backend shares, as test bodies run against each backend.
//!
//! A backend's test binary calls [`contract_tests!`] with an async function returning a fresh
//! [`Subject`]. Revisions are only compared with each other, never with constants: an etcd
//! revision also moves with writes outside the store's prefix (other tests, other tenants).

// Each test binary uses only some of the helpers.
#![allow(dead_code)]

use std::{any::Any, num::NonZeroUsize, sync::Arc, time::Duration};

use futures::StreamExt;
use imagelookup::store::{
    Error, Event, EventKind, EventStream, ListOptions, Object, ReadAt, Store, MAX_OBJECT_BYTES,
};
use serde_json::{json, Value};

/// Far enough above any revision a test reaches.
const FAR_FUTURE: u64 = 1_000_000_000;

/// A store under test, empty as far as its keys go, and whatever must live as long as it.
pub struct Subject {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Kept alive with the store (a lock, a temporary directory, …).
    pub guard: Box<dyn Any + Send>,
}

/// Generates one `#[tokio::test]` per contract test, each on a fresh subject from `$fresh`.
#[macro_export]
macro_rules! contract_tests {
    ($fresh:path) => {
        $crate::contract_tests!(@tests $fresh;
            writes_follow_compare_and_swap_semantics,
            the_store_stamps_resource_version_with_the_mod_revision,
            list_pages_stay_on_one_snapshot_while_writes_happen,
            list_above_the_current_revision_is_too_large,
            watch_delivers_exactly_the_later_events_with_prev_states,
            deleted_event_carries_the_last_state_at_the_deletion_revision,
            watch_from_a_future_revision_delivers_nothing_before_it,
            wait_for_revision_returns_once_reached_or_times_out_as_too_large,
            dropping_the_store_ends_its_watches,
            documents_over_the_object_limit_are_refused_and_nothing_is_written,
        );
    };
    (@tests $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::store_contract::$name($fresh().await).await;
            }
        )*
    };
}

// How long a test waits for a watch event or a revision before failing: the shared patience of
// the integration tests (a backend's test binary declares `mod common` at its root).
use crate::common::PATIENCE;

/// The next event as `(kind, key, revision, prev revision)`, or the error's reason.
pub async fn next(stream: &mut EventStream) -> Option<Result<Summary, &'static str>> {
    let item = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("the watch stalled")?;
    Some(item.map(|e| summary(&e)).map_err(|e| e.reason()))
}

/// An event in brief: kind, key, revision, and the previous state's revision.
pub type Summary = (EventKind, String, u64, Option<u64>);

fn summary(event: &Event) -> Summary {
    (
        event.kind,
        event.object.key.clone(),
        event.revision(),
        event.prev.as_ref().map(|p| p.revision),
    )
}

/// Shorthand for an expected event.
pub fn event(
    kind: EventKind,
    key: &str,
    revision: u64,
    prev: Option<u64>,
) -> Option<Result<Summary, &'static str>> {
    Some(Ok((kind, key.to_string(), revision, prev)))
}

async fn create(store: &dyn Store, key: &str) -> u64 {
    store.create(key, json!({})).await.unwrap().revision
}

fn reason<T: std::fmt::Debug>(result: Result<T, Error>) -> Result<T, &'static str> {
    result.map_err(|e| e.reason())
}

pub async fn writes_follow_compare_and_swap_semantics(subject: Subject) {
    let store = subject.store.as_ref();
    let base = store.current_revision();
    let spec = || json!({"spec": 1});
    let created = create(store, "s/a").await;
    assert!(created > base, "a write takes a new revision");
    let again = store.create("s/a", json!({})).await.err();
    assert_eq!(
        again.map(|e| e.to_string()).as_deref(),
        Some("s/a already exists")
    );
    assert_eq!(store.get("s/a").await.unwrap().revision, created);
    let stale = store.update("s/a", spec(), Some(created - 1)).await.err();
    assert_eq!(
        stale.map(|e| e.to_string()),
        Some(format!(
            "the object has been modified: s/a is at revision {created}, not {}",
            created - 1
        ))
    );
    let updated = store
        .update("s/a", spec(), Some(created))
        .await
        .unwrap()
        .revision;
    let blind = store.update("s/a", spec(), None).await.unwrap().revision;
    assert!(created < updated && updated < blind, "revisions increase");
    assert_eq!(
        reason(store.update("s/z", spec(), None).await).err(),
        Some("NotFound")
    );
    assert_eq!(
        reason(store.delete("s/a", Some(updated)).await).err(),
        Some("Conflict")
    );
    let deleted = store.delete("s/a", Some(blind)).await.unwrap().revision;
    assert!(deleted > blind);
    assert_eq!(reason(store.get("s/a").await).err(), Some("NotFound"));
    assert_eq!(
        reason(store.delete("s/a", None).await).err(),
        Some("NotFound")
    );
    assert_eq!(
        reason(store.update("s/a", spec(), Some(blind)).await).err(),
        Some("NotFound")
    );
    let recreated = create(store, "s/a").await;
    assert!(recreated > deleted);
    assert!(store.current_revision() >= recreated);
}

pub async fn the_store_stamps_resource_version_with_the_mod_revision(subject: Subject) {
    let store = subject.store.as_ref();
    let value = json!({"metadata": {"name": "a", "resourceVersion": "999"}, "spec": {"x": 1}});
    let created = store.create("s/a", value).await.unwrap();
    let expected = json!({
        "metadata": {"name": "a", "resourceVersion": created.revision.to_string()},
        "spec": {"x": 1},
    });
    assert_eq!(*created.value, expected);
    assert_eq!(store.get("s/a").await.unwrap(), created);
    let bare = store.create("s/b", json!({"spec": 2})).await.unwrap();
    assert_eq!(
        bare.value["metadata"]["resourceVersion"],
        json!(bare.revision.to_string())
    );
    let not_an_object = store.create("s/c", json!(["a", "list"])).await;
    assert_eq!(reason(not_an_object).err(), Some("InternalError"));
    assert_eq!(reason(store.get("s/c").await).err(), Some("NotFound"));
}

/// A write made between two list pages.
enum Write {
    Create(&'static str),
    Update(&'static str),
    Delete(&'static str),
}

impl Write {
    /// Makes the write; its revision.
    async fn make(&self, store: &dyn Store) -> u64 {
        let written = match self {
            Write::Create(key) => store.create(key, json!({})).await,
            Write::Update(key) => store.update(key, json!({"spec": 1}), None).await,
            Write::Delete(key) => store.delete(key, None).await,
        };
        written.unwrap().revision
    }
}

pub async fn list_pages_stay_on_one_snapshot_while_writes_happen(subject: Subject) {
    use Write::*;
    let store = subject.store.as_ref();
    for i in 0..10 {
        create(store, &format!("s/{i:02}")).await;
    }
    let page_of = |at, start_after| ListOptions {
        at,
        start_after,
        limit: NonZeroUsize::new(3),
        skip_unreadable: false,
    };
    let mut page = store
        .list("s/", &page_of(ReadAt::Current, None))
        .await
        .unwrap();
    let snapshot = page.revision;
    let all = ListOptions {
        at: ReadAt::Exact(snapshot),
        ..ListOptions::default()
    };
    let expected = store.list("s/", &all).await.unwrap();
    // Before each later page, writes that change what it (or a later one) would show: keys
    // deleted, updated and added on it, and one already listed deleted.
    let mut between_pages = vec![
        vec![Delete("s/03"), Update("s/04"), Create("s/05a")],
        vec![Delete("s/06"), Create("s/07a"), Update("s/08")],
        vec![Delete("s/01"), Delete("s/09"), Create("s/99")],
    ]
    .into_iter();
    let mut last_write = snapshot;
    let mut items = page.items.clone();
    while page.more {
        for write in between_pages.next().unwrap_or_default() {
            last_write = write.make(store).await;
        }
        let last = items.last().map(|o: &Object| o.key.clone());
        page = store
            .list("s/", &page_of(ReadAt::Exact(snapshot), last))
            .await
            .unwrap();
        assert_eq!(page.revision, snapshot);
        items.extend(page.items.iter().cloned());
    }
    assert_eq!(between_pages.len(), 0, "every write was made before a page");
    assert_eq!(items, expected.items);
    let keys: Vec<&str> = items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        ["s/00", "s/01", "s/02", "s/03", "s/04", "s/05", "s/06", "s/07", "s/08", "s/09"]
    );
    assert!(
        items.iter().all(|o| o.value.get("spec").is_none()),
        "no page shows an update made after the snapshot: {items:?}"
    );

    // The writes did land: a fresh list sees them.
    let now = store.list("s/", &ListOptions::default()).await.unwrap();
    assert!(now.revision >= last_write && last_write > snapshot);
    let keys: Vec<&str> = now.items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        ["s/00", "s/02", "s/04", "s/05", "s/05a", "s/07", "s/07a", "s/08", "s/99"]
    );
    let updated: Vec<&str> = now
        .items
        .iter()
        .filter(|o| o.value.get("spec").is_some())
        .map(|o| o.key.as_str())
        .collect();
    assert_eq!(updated, ["s/04", "s/08"]);
    let after = page_of(ReadAt::Current, Some("s/05".to_string()));
    let keys: Vec<String> = store
        .list("s/", &after)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["s/05a", "s/07", "s/07a"], "start_after is exclusive");
}

pub async fn list_above_the_current_revision_is_too_large(subject: Subject) {
    let store = subject.store.as_ref();
    create(store, "s/a").await;
    let future = ListOptions {
        at: ReadAt::Exact(FAR_FUTURE),
        ..ListOptions::default()
    };
    let error = store.list("s/", &future).await.err();
    assert_eq!(
        error.map(|e| (
            e.reason(),
            e.to_string()
                .starts_with("too large resource version: 1000000000, current: ")
        )),
        Some(("Timeout", true))
    );
}

pub async fn watch_delivers_exactly_the_later_events_with_prev_states(subject: Subject) {
    use EventKind::*;
    let store = subject.store.as_ref();
    let a1 = create(store, "p/a").await;
    create(store, "q/x").await;
    let a2 = store
        .update("p/a", json!({"spec": 2}), Some(a1))
        .await
        .unwrap()
        .revision;
    let b1 = create(store, "p/b").await;
    let mut stream = store.watch("p/", a1).await.unwrap();
    assert_eq!(
        next(&mut stream).await,
        event(Modified, "p/a", a2, Some(a1))
    );
    assert_eq!(next(&mut stream).await, event(Added, "p/b", b1, None));
    create(store, "q/y").await;
    create(store, "pq").await;
    let gone = store.delete("p/a", None).await.unwrap().revision;
    assert_eq!(
        next(&mut stream).await,
        event(Deleted, "p/a", gone, Some(a2))
    );
    let b2 = store.update("p/b", json!({}), None).await.unwrap().revision;
    assert_eq!(
        next(&mut stream).await,
        event(Modified, "p/b", b2, Some(b1))
    );
}

pub async fn deleted_event_carries_the_last_state_at_the_deletion_revision(subject: Subject) {
    let store = subject.store.as_ref();
    let created = store
        .create("p/a", json!({"spec": {"x": 1}}))
        .await
        .unwrap();
    let mut stream = store.watch("p/", created.revision).await.unwrap();
    let deleted = store.delete("p/a", Some(created.revision)).await.unwrap();
    let event = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let last_state =
        json!({"spec": {"x": 1}, "metadata": {"resourceVersion": deleted.revision.to_string()}});
    assert_eq!(
        (event.kind, event.revision()),
        (EventKind::Deleted, deleted.revision)
    );
    assert!(deleted.revision > created.revision);
    assert_eq!(*event.object.value, last_state);
    assert_eq!(event.object, deleted);
    assert_eq!(event.prev, Some(created));
}

pub async fn watch_from_a_future_revision_delivers_nothing_before_it(subject: Subject) {
    let store = subject.store.as_ref();
    // On etcd, writes elsewhere (other tests, or before the store's last answer) can take the
    // revisions up to the watch's: then nothing of ours lands at or before it, and it is tried
    // again higher up.
    for attempt in 0..10 {
        let from = store.current_revision() + 3;
        let mut stream = store.watch("p/", from).await.unwrap();
        let mut written = Vec::new();
        for key in ["a", "b", "c", "d", "e"] {
            let key = format!("p/{attempt}/{key}");
            let revision = create(store, &key).await;
            written.push((key, revision));
        }
        if written[0].1 > from {
            continue;
        }
        let (key, revision) = written
            .iter()
            .find(|(_, revision)| *revision > from)
            .expect("five writes go past three revisions");
        assert_eq!(
            next(&mut stream).await,
            event(EventKind::Added, key, *revision, None),
            "the first event is the first write after the watch's revision {from}: {written:?}"
        );
        return;
    }
    panic!("every time, other writes took the revisions up to the watch's");
}

pub async fn wait_for_revision_returns_once_reached_or_times_out_as_too_large(subject: Subject) {
    let store = subject.store.clone();
    let target = store.current_revision() + 2;
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.wait_for_revision(target, PATIENCE).await }
    });
    create(store.as_ref(), "s/a").await;
    create(store.as_ref(), "s/b").await;
    let reached = waiting.await.unwrap().unwrap();
    assert!(reached >= target, "{reached} < {target}");
    let error = store
        .wait_for_revision(FAR_FUTURE, Duration::from_millis(50))
        .await
        .err();
    assert_eq!(
        error.map(|e| (
            e.reason(),
            e.to_string()
                .starts_with("too large resource version: 1000000000, current: ")
        )),
        Some(("Timeout", true))
    );
}

pub async fn dropping_the_store_ends_its_watches(subject: Subject) {
    let Subject { store, guard } = subject;
    let mut stream = store.watch("p/", store.current_revision()).await.unwrap();
    let created = create(store.as_ref(), "p/a").await;
    assert_eq!(
        next(&mut stream).await,
        event(EventKind::Added, "p/a", created, None)
    );
    drop(store);
    assert_eq!(next(&mut stream).await, None);
    drop(guard);
}

/// A JSON document's `metadata.resourceVersion`, parsed.
/// A document of about `bytes` bytes serialized.
fn document_of(bytes: usize) -> Value {
    json!({"metadata": {"name": "big"}, "pad": "x".repeat(bytes.saturating_sub(40))})
}

pub async fn documents_over_the_object_limit_are_refused_and_nothing_is_written(subject: Subject) {
    let store = subject.store.as_ref();
    let over = || document_of(MAX_OBJECT_BYTES + 100);
    let refused = store.create("s/big", over()).await.unwrap_err();
    assert_eq!(
        (refused.reason(), refused.code()),
        ("RequestEntityTooLarge", 413)
    );
    let message = refused.to_string();
    assert!(
        message.contains(&format!("over the limit of {MAX_OBJECT_BYTES} bytes")),
        "{message}"
    );
    assert!(message.contains("make it smaller"), "{message}");
    assert_eq!(reason(store.get("s/big").await).err(), Some("NotFound"));
    let created = store.create("s/big", document_of(1000)).await.unwrap();
    let refused = store.update("s/big", over(), None).await.unwrap_err();
    assert_eq!(refused.reason(), "RequestEntityTooLarge");
    assert_eq!(store.get("s/big").await.unwrap().revision, created.revision);
    let under = document_of(MAX_OBJECT_BYTES - 2_000);
    let updated = store.update("s/big", under, None).await.unwrap();
    assert!(
        updated.revision > created.revision,
        "just under the limit is kept"
    );
}

pub fn resource_version(value: &Value) -> Option<u64> {
    value["metadata"]["resourceVersion"].as_str()?.parse().ok()
}
