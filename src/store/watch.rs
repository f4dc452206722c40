//! Watch streams: a cursor over the history window.
//!
//! Each watcher remembers the last revision it has scanned and, when it runs dry, copies the
//! next matching records out of the history under a short read lock (their documents are JSON
//! bytes behind an `Arc`: a copy is a few pointers), then waits on the revision channel for
//! more. Each record becomes an [`Event`] only when delivered, outside the lock: its trees are
//! the ones other watchers (or the writer) still hold, or parsed then, so watchers of one event
//! share one tree and a lagging watcher's buffer holds no tree at all. There is no per-watcher queue: the history window *is* the buffer, shared
//! by every watcher. A watcher that falls more than a window behind finds its cursor below the
//! compacted revision and ends with [`super::Error::Expired`] (the Kubernetes 410 that makes
//! clients re-list). It can never skip events silently, which a lagging `broadcast` receiver
//! would.

use std::{collections::VecDeque, sync::Arc};

use futures::StreamExt;
use tokio::sync::watch;

use super::{embedded::Shared, history::Record, Event, EventStream, Result, WatchProgress};

/// The most history entries one refill scans, to bound how long it holds the read lock.
const SCAN_BATCH: usize = 256;

/// Starts a watch on `prefix` for events after `revision`; [`Error::Expired`] if those are
/// no longer all retained.
///
/// [`Error::Expired`]: super::Error::Expired
pub(crate) fn start(
    shared: Arc<Shared>,
    prefix: &str,
    revision: u64,
) -> Result<(EventStream, WatchProgress)> {
    shared.read().check_watchable(revision)?;
    let progress = WatchProgress::starting_at(revision);
    let watcher = Watcher {
        revision_rx: shared.revision_rx.clone(),
        shared,
        prefix: prefix.to_string(),
        cursor: revision,
        buffered: VecDeque::new(),
        done: false,
        progress: progress.clone(),
    };
    let stream = futures::stream::unfold(watcher, |mut watcher| async move {
        let item = watcher.next().await?;
        Some((item, watcher))
    });
    Ok((stream.boxed(), progress))
}

/// One watch's position in the history.
struct Watcher {
    shared: Arc<Shared>,
    /// Wakes the watcher when the store revision moves past its cursor; closed at shutdown.
    revision_rx: watch::Receiver<u64>,
    prefix: String,
    /// The last revision scanned: every matching event up to here is delivered or buffered.
    cursor: u64,
    /// Matching records copied out of the history, not yet delivered.
    buffered: VecDeque<Record>,
    /// Set after an error: the stream ends.
    done: bool,
    /// The cursor, published whenever nothing scanned is left undelivered.
    progress: WatchProgress,
}

impl Watcher {
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            let next = match self.buffered.pop_front() {
                Some(record) => Some(record.event()),
                None if self.done => return None,
                None => self.refill().err().map(Err),
            };
            // Everything scanned has been handed out (or is being, with `next`): the consumer
            // takes `next` before it can read the progress.
            if self.buffered.is_empty() && !self.done {
                self.progress.advance(self.cursor);
            }
            if let Some(item) = next {
                // After an error the stream ends: events after a gap would lie.
                self.done |= item.is_err();
                if self.done {
                    self.buffered.clear();
                }
                return Some(item);
            }
            if self.buffered.is_empty() && !self.wait().await {
                return None;
            }
        }
    }

    fn refill(&mut self) -> Result<()> {
        let (events, reached) =
            self.shared
                .read()
                .events_after(&self.prefix, self.cursor, SCAN_BATCH)?;
        self.cursor = reached;
        self.buffered.extend(events);
        Ok(())
    }

    /// Waits for a revision past the cursor; `false` once the store has shut down.
    async fn wait(&mut self) -> bool {
        let cursor = self.cursor;
        self.revision_rx
            .wait_for(|revision| *revision > cursor)
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::store::{fixtures, EventKind, EventStream, Store};

    /// The next item as `(kind, key, revision)`, or the error's reason; `None` at the end.
    async fn next(
        stream: &mut EventStream,
    ) -> Option<Result<(EventKind, String, u64), &'static str>> {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("watch stalled")?;
        Some(
            item.map(|e| (e.kind, e.object.key.clone(), e.revision()))
                .map_err(|e| e.reason()),
        )
    }

    fn ok(
        kind: EventKind,
        key: &str,
        revision: u64,
    ) -> Option<Result<(EventKind, String, u64), &'static str>> {
        Some(Ok((kind, key.to_string(), revision)))
    }

    #[tokio::test]
    async fn progress_moves_past_revisions_of_other_prefixes_once_all_before_are_yielded() {
        let (_dir, store) = fixtures::file_store(100);
        store.create("p/a", json!({})).await.unwrap(); // 1
        store.create("q/x", json!({})).await.unwrap(); // 2
        let (mut stream, progress) = store.watch_with_progress("p/", 0).await.unwrap();
        assert_eq!(progress.delivered_through(), 0, "nothing yielded yet");
        assert_eq!(next(&mut stream).await, ok(EventKind::Added, "p/a", 1));
        assert_eq!(progress.delivered_through(), 2, "q/x scanned, p/a yielded");
        store.create("q/y", json!({})).await.unwrap(); // 3
        store.create("p/b", json!({})).await.unwrap(); // 4
        store.create("q/z", json!({})).await.unwrap(); // 5
        assert_eq!(next(&mut stream).await, ok(EventKind::Added, "p/b", 4));
        assert!(progress.delivered_through() >= 4, "{progress:?}");
        let waiting = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(waiting.is_err(), "no event past p/b");
        assert_eq!(progress.delivered_through(), 5);
    }

    #[tokio::test]
    async fn watch_delivers_exactly_the_later_events_under_its_prefix_in_order() {
        let (_dir, store) = fixtures::file_store(100);
        store.create("p/a", json!({})).await.unwrap(); // 1
        store.create("q/x", json!({})).await.unwrap(); // 2
        store.update("p/a", json!({}), Some(1)).await.unwrap(); // 3
        store.create("p/b", json!({})).await.unwrap(); // 4
        let mut stream = store.watch("p/", 1).await.unwrap();
        assert_eq!(next(&mut stream).await, ok(EventKind::Modified, "p/a", 3));
        assert_eq!(next(&mut stream).await, ok(EventKind::Added, "p/b", 4));
        store.create("q/y", json!({})).await.unwrap(); // 5
        store.delete("p/a", None).await.unwrap(); // 6
        assert_eq!(next(&mut stream).await, ok(EventKind::Deleted, "p/a", 6));
    }

    #[tokio::test]
    async fn deleted_event_carries_the_last_state_at_the_deletion_revision() {
        let (_dir, store) = fixtures::file_store(100);
        store
            .create("p/a", json!({"spec": {"x": 1}}))
            .await
            .unwrap();
        let mut stream = store.watch("p/", 1).await.unwrap();
        let deleted = store.delete("p/a", Some(1)).await.unwrap();
        let event = stream.next().await.unwrap().unwrap();
        assert_eq!(
            (event.kind, event.revision(), deleted.revision),
            (EventKind::Deleted, 2, 2)
        );
        assert_eq!(
            *event.object.value,
            json!({"spec": {"x": 1}, "metadata": {"resourceVersion": "2"}})
        );
        assert_eq!(event.object, deleted);
        assert_eq!(event.prev.map(|o| o.revision), Some(1));
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_the_window_gets_an_error_not_a_gap() {
        let (_dir, store) = fixtures::file_store(4);
        let mut stream = store.watch("p/", 0).await.unwrap();
        store.create("p/0", json!({})).await.unwrap();
        store.create("p/1", json!({})).await.unwrap();
        assert_eq!(next(&mut stream).await, ok(EventKind::Added, "p/0", 1));
        for i in 2..12 {
            store.create(&format!("p/{i}"), json!({})).await.unwrap();
        }
        // Revision 2 was copied out before the watcher fell behind; 3..=8 are gone.
        assert_eq!(next(&mut stream).await, ok(EventKind::Added, "p/1", 2));
        assert_eq!(next(&mut stream).await, Some(Err("Expired")));
        assert_eq!(next(&mut stream).await, None);
    }

    #[tokio::test]
    async fn watch_from_below_the_window_fails_at_once() {
        let (_dir, store) = fixtures::file_store(2);
        for i in 0..5 {
            store.create(&format!("p/{i}"), json!({})).await.unwrap();
        }
        let error = store.watch("p/", 2).await.err().map(|e| e.to_string());
        assert_eq!(error.as_deref(), Some("too old resource version: 2 (3)"));
        assert!(store.watch("p/", 3).await.is_ok());
    }

    #[tokio::test]
    async fn watch_from_a_future_revision_skips_events_up_to_it() {
        let (_dir, store) = fixtures::file_store(100);
        let mut stream = store.watch("p/", 2).await.unwrap();
        for i in 0..3 {
            store.create(&format!("p/{i}"), json!({})).await.unwrap();
        }
        assert_eq!(next(&mut stream).await, ok(EventKind::Added, "p/2", 3));
    }

    #[tokio::test]
    async fn watch_ends_when_the_store_shuts_down() {
        let (_dir, store) = fixtures::file_store(100);
        let mut stream = store.watch("p/", 0).await.unwrap();
        store.create("p/a", json!({})).await.unwrap();
        drop(store);
        assert_eq!(next(&mut stream).await, ok(EventKind::Added, "p/a", 1));
        assert_eq!(next(&mut stream).await, None);
    }
}
