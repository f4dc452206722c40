//! The task that keeps a [`LiveIndex`] current: list, then watch from the list's revision. On
//! any error (a 410 for a watcher that fell behind the history window, or a failed list) it
//! lists again, backing off while nothing progresses so a broken store is not hammered.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;

use super::{decode, LiveIndex, IMAGESTREAMS_PREFIX};
use crate::resolve::CompactStream;
use crate::store::{self, EventKind, Store};

/// The wait before re-listing after an error that followed progress.
pub(super) const RETRY_FIRST: Duration = Duration::from_millis(200);
/// The longest wait between re-lists.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Keeps `index` current from `store` until the store shuts down (its watch ends); each list
/// made again after a failure counts in `restarts`.
pub async fn run_feed(store: Arc<dyn Store>, index: Arc<LiveIndex>, restarts: Counter) {
    let mut delay = RETRY_FIRST;
    loop {
        let before = index.synced_revision();
        // A panic re-lists as an error does: the next list rebuilds whatever it left half done.
        let result = crate::panics::caught(
            "the imagestream index feed",
            feed_once(store.as_ref(), &index),
        )
        .await
        .unwrap_or_else(|panicked| Err(store::Error::internal(panicked)));
        index.set_connected(false);
        let Err(error) = result else {
            return;
        };
        restarts.inc();
        delay = next_delay(delay, index.synced_revision() > before);
        tracing::warn!(%error, retry_ms = delay.as_millis() as u64, "imagestream index watch ended; re-listing");
        tokio::time::sleep(delay).await;
    }
}

/// The wait before the next re-list: short again once the index has progressed, doubling up
/// to [`RETRY_MAX`] while lists or watches keep failing without progress.
pub(super) fn next_delay(previous: Duration, progressed: bool) -> Duration {
    match progressed {
        true => RETRY_FIRST,
        false => (previous * 2).min(RETRY_MAX),
    }
}

/// One list and the watch that follows it; `Ok` only when the watch ends because the store
/// shut down.
async fn feed_once(store: &dyn Store, index: &LiveIndex) -> store::Result<()> {
    let (streams, revision, unreadable) = list_compact(store, index).await?;
    index.reset(streams, revision);
    index.set_unreadable(unreadable);
    let mut events = store.watch(IMAGESTREAMS_PREFIX, revision).await?;
    index.set_connected(true);
    while let Some(event) = events.next().await {
        let event = event?;
        // Writes through the API were applied before they were answered: decoding their
        // events again cost a typed decode per write.
        let already = stream_identity(&event.object.key)
            .is_some_and(|(namespace, name)| index.reflects(namespace, name, event.revision()));
        index.readable_again(&event.object.key);
        if !already {
            match decode(&event.object) {
                Some(stream) => {
                    index.apply(&stream, event.revision(), event.kind == EventKind::Deleted);
                }
                None => index.unreadable_again(&event.object.key),
            }
        }
        index.mark_synced(event.revision());
    }
    Ok(())
}

/// `(namespace, name)` of a store key `imagestreams/<namespace>/<name>` (see
/// [`store::object_key`]).
fn stream_identity(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(IMAGESTREAMS_PREFIX)?.split_once('/')
}

/// Every stream, compacted page by page from one snapshot, that snapshot's revision, and the
/// keys of the stored streams that could not be read. One damaged document must not keep
/// admission from every other stream (or the server from becoming ready): it is left out and
/// reported.
async fn list_compact(
    store: &dyn Store,
    index: &LiveIndex,
) -> store::Result<(Vec<CompactStream>, u64, HashSet<String>)> {
    let mut streams = Vec::new();
    let mut unreadable = HashSet::new();
    let revision = store::for_each_readable_page(store, IMAGESTREAMS_PREFIX, |page| {
        store::report_unreadable("the admission index", &page.unreadable);
        unreadable.extend(page.unreadable.iter().map(|object| object.key.clone()));
        for object in &page.items {
            match decode(object) {
                Some(stream) => streams.push(index.compact(&stream)),
                None => {
                    unreadable.insert(object.key.clone());
                }
            }
        }
    })
    .await?;
    Ok((streams, revision, unreadable))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::resolve::StreamLookup;
    use crate::store::{Error, Event, EventStream, ListOptions, ListPage, Object, ReadAt};

    #[test]
    fn stream_keys_name_the_namespace_and_the_stream() {
        let check = |key: &str, expected: Option<(&str, &str)>| {
            assert_eq!(stream_identity(key), expected, "{key}");
        };
        check("imagestreams/ns/app", Some(("ns", "app")));
        check("imagestreams/ns", None);
        check("secrets/ns/app", None);
        let key = crate::store::object_key("imagestreams", Some("ns"), "app");
        check(&key, Some(("ns", "app")));
    }

    /// A store that answers lists and watches from a script, and records the calls.
    #[derive(Default)]
    struct Scripted {
        lists: Mutex<VecDeque<ListPage>>,
        watches: Mutex<VecDeque<Vec<store::Result<Event>>>>,
        calls: Mutex<Vec<String>>,
        /// The next list panics (a bug in the store or the decoding), once.
        panics: std::sync::atomic::AtomicBool,
    }

    fn object(name: &str, revision: u64) -> Object {
        let value = json!({"metadata": {"name": name, "namespace": "ns",
                                        "resourceVersion": revision.to_string()}});
        Object {
            key: format!("{IMAGESTREAMS_PREFIX}ns/{name}"),
            value: Arc::new(value),
            revision,
        }
    }

    fn page(items: Vec<Object>, revision: u64) -> ListPage {
        ListPage {
            items,
            revision,
            more: false,
            unreadable: Vec::new(),
        }
    }

    /// A page that more pages of the same snapshot follow.
    fn partial(items: Vec<Object>, revision: u64) -> ListPage {
        ListPage {
            more: true,
            ..page(items, revision)
        }
    }

    fn refused(key: &str) -> store::Result<Object> {
        Err(Error::NotFound { key: key.into() })
    }

    #[async_trait]
    impl Store for Scripted {
        fn current_revision(&self) -> u64 {
            0
        }

        async fn get(&self, key: &str) -> store::Result<Object> {
            refused(key)
        }

        async fn list(&self, prefix: &str, options: &ListOptions) -> store::Result<ListPage> {
            let limit = options.limit.map_or(0, std::num::NonZeroUsize::get);
            let mut call = format!("list {prefix} limit {limit}");
            if let Some(after) = &options.start_after {
                call.push_str(&format!(" after {after}"));
            }
            if let ReadAt::Exact(revision) = options.at {
                call.push_str(&format!(" at {revision}"));
            }
            self.calls.lock().unwrap().push(call);
            if self
                .panics
                .swap(false, std::sync::atomic::Ordering::Relaxed)
            {
                panic!("a bug under the feed");
            }
            let next = self.lists.lock().unwrap().pop_front();
            next.ok_or_else(|| Error::NotFound { key: prefix.into() })
        }

        async fn create(&self, key: &str, _: serde_json::Value) -> store::Result<Object> {
            refused(key)
        }

        async fn update(
            &self,
            key: &str,
            _: serde_json::Value,
            _: Option<u64>,
        ) -> store::Result<Object> {
            refused(key)
        }

        async fn delete(&self, key: &str, _: Option<u64>) -> store::Result<Object> {
            refused(key)
        }

        async fn watch(&self, prefix: &str, after: u64) -> store::Result<EventStream> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("watch {prefix} after {after}"));
            let items = self.watches.lock().unwrap().pop_front().unwrap_or_default();
            Ok(futures::stream::iter(items).boxed())
        }

        async fn wait_for_revision(&self, revision: u64, _: Duration) -> store::Result<u64> {
            Ok(revision)
        }
    }

    /// Runs the feed over `store` until its script runs out; the index and the calls made.
    async fn feed_to_the_end(store: Scripted) -> (Arc<LiveIndex>, Vec<String>) {
        let (index, calls, _) = feed_counting_restarts(store).await;
        (index, calls)
    }

    /// [`feed_to_the_end`], with the number of lists made again after a failure.
    async fn feed_counting_restarts(store: Scripted) -> (Arc<LiveIndex>, Vec<String>, u64) {
        let store = Arc::new(store);
        let index = LiveIndex::new();
        let restarts = Counter::default();
        let fed = run_feed(store.clone(), index.clone(), restarts.clone());
        tokio::time::timeout(Duration::from_secs(10), fed)
            .await
            .expect("the feed ends with the store");
        let calls = store.calls.lock().unwrap().clone();
        (index, calls, restarts.get())
    }

    #[tokio::test]
    async fn a_watch_that_expires_is_followed_by_a_fresh_list_and_watch() {
        let store = Scripted::default();
        store
            .lists
            .lock()
            .unwrap()
            .extend([page(vec![object("a", 1)], 1), page(vec![object("b", 5)], 5)]);
        let expired = Err(Error::Expired {
            requested: 1,
            compacted: 3,
        });
        let modified = Event {
            kind: EventKind::Modified,
            object: object("b", 6),
            prev: Some(object("b", 5)),
        };
        store
            .watches
            .lock()
            .unwrap()
            .extend([vec![expired], vec![Ok(modified)]]);
        let (index, calls, restarts) = feed_counting_restarts(store).await;
        assert_eq!(restarts, 1, "one list made again");
        let expected = [
            "list imagestreams/ limit 500",
            "watch imagestreams/ after 1",
            "list imagestreams/ limit 500",
            "watch imagestreams/ after 5",
        ];
        assert_eq!(calls, expected);
        let state = index.read();
        assert!(state.stream("ns", "a").is_none(), "gone in the fresh list");
        let b = state.stream("ns", "b").expect("b is indexed");
        assert_eq!(b.revision(), 6);
        drop(state);
        assert_eq!(index.synced_revision(), 6);
    }

    #[tokio::test]
    async fn an_unreadable_stream_is_left_out_and_counted_while_the_others_are_indexed() {
        let store = Scripted::default();
        // Valid JSON that is no ImageStream (a foreign write) counts as unreadable too.
        let mut not_a_stream = object("c", 2);
        not_a_stream.value = Arc::new(json!({"metadata": {"name": "c"}, "spec": {"tags": 5}}));
        let mut listed = page(vec![object("a", 4), not_a_stream], 4);
        listed.unreadable = vec![crate::store::Unreadable {
            key: format!("{IMAGESTREAMS_PREFIX}ns/b"),
            revision: 3,
            cause: "not json".into(),
        }];
        store.lists.lock().unwrap().push_back(listed.clone());
        let (index, calls) = feed_to_the_end(store).await;
        let expected = [
            "list imagestreams/ limit 500",
            "watch imagestreams/ after 4",
        ];
        assert_eq!(calls, expected, "no list made again");
        assert!(index.is_ready());
        assert!(index.read().stream("ns", "a").is_some());
        assert!(index.read().stream("ns", "b").is_none());
        assert_eq!(index.unreadable(), 2);

        // Deleted (the unsafe delete) or written again: an event for it is readable.
        let store = Scripted::default();
        store.lists.lock().unwrap().push_back(listed);
        let deleted = Event {
            kind: EventKind::Deleted,
            object: object("b", 5),
            prev: None,
        };
        store.watches.lock().unwrap().push_back(vec![Ok(deleted)]);
        let (index, _) = feed_to_the_end(store).await;
        assert_eq!(index.unreadable(), 1, "c is still no stream");
    }

    #[tokio::test]
    async fn a_panic_under_the_feed_is_followed_by_a_fresh_list_not_a_dead_feed() {
        let store = Scripted::default();
        store
            .panics
            .store(true, std::sync::atomic::Ordering::Relaxed);
        store
            .lists
            .lock()
            .unwrap()
            .push_back(page(vec![object("a", 4)], 4));
        let (index, calls) = feed_to_the_end(store).await;
        let expected = [
            "list imagestreams/ limit 500",
            "list imagestreams/ limit 500",
            "watch imagestreams/ after 4",
        ];
        assert_eq!(calls, expected);
        assert!(index.read().stream("ns", "a").is_some());
    }

    #[tokio::test]
    async fn the_index_is_connected_while_watching_and_not_once_the_feed_ends() {
        let script = || {
            let store = Scripted::default();
            store
                .lists
                .lock()
                .unwrap()
                .push_back(page(vec![object("a", 1)], 1));
            store.watches.lock().unwrap().push_back(Vec::new());
            store
        };
        let index = LiveIndex::new();
        assert!(!index.is_connected());
        feed_once(&script(), &index).await.unwrap();
        assert!(index.is_connected(), "listed and watching");
        let (ended, _) = feed_to_the_end(script()).await;
        assert!(!ended.is_connected(), "the feed ended");
    }

    #[tokio::test]
    async fn start_up_lists_in_pages_of_one_snapshot_before_watching() {
        let store = Scripted::default();
        store.lists.lock().unwrap().extend([
            partial(vec![object("a", 3), object("b", 7)], 9),
            partial(vec![object("c", 8)], 9),
            page(vec![object("d", 2)], 9),
        ]);
        let (index, calls) = feed_to_the_end(store).await;
        let expected = [
            "list imagestreams/ limit 500",
            "list imagestreams/ limit 500 after imagestreams/ns/b at 9",
            "list imagestreams/ limit 500 after imagestreams/ns/c at 9",
            "watch imagestreams/ after 9",
        ];
        assert_eq!(calls, expected);
        let state = index.read();
        let indexed: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|name| state.stream("ns", name).map(|s| s.revision()))
            .collect();
        assert_eq!(indexed, [Some(3), Some(7), Some(8), Some(2)]);
        assert_eq!(state.len(), 4);
        drop(state);
        assert_eq!(index.synced_revision(), 9);
    }

    #[test]
    fn retries_back_off_until_the_index_progresses() {
        let check = |previous: u64, progressed: bool, expected: u64| {
            let next = next_delay(Duration::from_millis(previous), progressed);
            assert_eq!(
                next,
                Duration::from_millis(expected),
                "{previous} {progressed}"
            );
        };
        check(200, false, 400);
        check(3_200, false, 5_000);
        check(5_000, false, 5_000);
        check(5_000, true, 200);
    }
}
