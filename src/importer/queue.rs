//! A deduplicating work queue of stream keys, with client-go's workqueue semantics.
//!
//! A key is queued at most once; a key being processed is never handed to a second worker,
//! and a key added while it is processed is queued again when its worker is done. So a burst
//! of watch events for one stream costs one import pass, and a change that lands during a
//! pass is never lost.
//!
//! A key queued for a change of its stream carries that change's revision
//! ([`WorkQueue::add_change`]): when it was added again during a pass, and that pass planned
//! from the revision or a later one, the key is not queued again (the pass's own write, which
//! the watch delivers back while the pass still runs, is such a change).
//!
//! A key can also be queued later ([`WorkQueue::add_after`], client-go's delaying queue): a
//! timer adds it when its time comes. A key has at most one deferred time, the earliest asked,
//! so retries of a failing stream do not pile up.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The queue shared by the feed, the scheduler and the workers.
#[derive(Debug, Default)]
pub struct WorkQueue {
    /// A std lock: every critical section is a few set operations, never an `.await`.
    state: Mutex<State>,
    ready: Notify,
    /// Set to the number of keys waiting after each change.
    depth: Gauge<i64, AtomicI64>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<String>,
    /// Keys waiting to be processed (queued, or added again while processing), with what
    /// asked for them.
    dirty: HashMap<String, Wanted>,
    processing: HashSet<String>,
    /// Keys a timer will queue, with its time; a timer that finds a later time here (or none)
    /// was superseded and does nothing.
    deferred: HashMap<String, Instant>,
    closed: bool,
}

/// What a waiting key was added for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    /// A pass whatever the stream holds (a timer, the ticker).
    Always,
    /// The changes of the stream up to this revision.
    Changes(u64),
}

impl Wanted {
    /// What both ask for.
    fn and(self, other: Wanted) -> Wanted {
        match (self, other) {
            (Wanted::Changes(a), Wanted::Changes(b)) => Wanted::Changes(a.max(b)),
            _ => Wanted::Always,
        }
    }
}

impl WorkQueue {
    /// An empty queue that keeps `depth` at the number of keys waiting.
    pub fn with_depth(depth: Gauge<i64, AtomicI64>) -> Self {
        depth.set(0);
        Self {
            depth,
            ..Self::default()
        }
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: &str) {
        if self.change(|state| state.push(key, Wanted::Always)) {
            self.ready.notify_one();
        }
    }

    /// Queues `key` for a change of its stream at `revision`, unless it is already waiting;
    /// added during its pass, it is not queued again when that pass planned from `revision`
    /// or later (see [`WorkQueue::done`]).
    pub fn add_change(&self, key: &str, revision: u64) {
        if self.change(|state| state.push(key, Wanted::Changes(revision))) {
            self.ready.notify_one();
        }
    }

    /// Queues `key` once `delay` has passed (sooner when an earlier time was asked before) and
    /// returns how long until then; zero, with no timer, when the key waits in the queue
    /// already. The timer holds the queue weakly, so a dropped queue stops it.
    pub fn add_after(self: &Arc<Self>, key: &str, delay: Duration) -> Duration {
        let now = Instant::now();
        let (at, start) = self.change(|state| state.defer(key, now, now + delay));
        if start {
            let queue = Arc::downgrade(self);
            let key = key.to_string();
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                if let Some(queue) = queue.upgrade() {
                    queue.fire(&key);
                }
            });
        }
        at - now
    }

    /// [`WorkQueue::add_change`] unless a timer will queue `key`: a re-list then does not undo
    /// a failing stream's wait.
    pub fn add_unless_deferred(&self, key: &str, revision: u64) {
        let wanted = Wanted::Changes(revision);
        let pushed =
            self.change(|state| !state.deferred.contains_key(key) && state.push(key, wanted));
        if pushed {
            self.ready.notify_one();
        }
    }

    /// The next key to process, waiting for one; `None` once the queue is closed and drained.
    /// Call [`WorkQueue::done`] with the key when finished.
    pub async fn next(&self) -> Option<String> {
        loop {
            // Registered before looking: a notification between the look and the wait would
            // otherwise be one stored permit for several idle workers, and a key would wait
            // for another's pass while a worker sleeps.
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (key, closed) = self.change(|state| (state.pop(), state.closed));
            if key.is_some() || closed {
                return key;
            }
            notified.await;
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile, unless only for
    /// changes up to `planned`, the newest revision of its stream a pass planned from.
    pub fn done(&self, key: &str, planned: Option<u64>) {
        if self.change(|state| state.finish(key, planned)) {
            self.ready.notify_one();
        }
    }

    /// Stops handing out keys once the queue is empty, and wakes every waiting worker.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
        self.ready.notify_one();
    }

    /// A timer of [`WorkQueue::add_after`] ran out.
    fn fire(&self, key: &str) {
        if self.change(|state| state.fire(key, Instant::now())) {
            self.ready.notify_one();
        }
    }

    /// Number of keys waiting (not counting those being processed).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    /// Runs `change` on the state, then sets the depth gauge.
    fn change<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.lock();
        let changed = change(&mut state);
        self.depth
            .set(i64::try_from(state.queue.len()).unwrap_or(i64::MAX));
        changed
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Returns whether the key became available to a worker.
    fn push(&mut self, key: &str, wanted: Wanted) -> bool {
        if self.closed {
            return false;
        }
        if let Some(waiting) = self.dirty.get_mut(key) {
            *waiting = waiting.and(wanted);
            return false;
        }
        self.dirty.insert(key.to_string(), wanted);
        if self.processing.contains(key) {
            return false;
        }
        self.queue.push_back(key.to_string());
        true
    }

    /// Defers `key` to `at`; returns when it will be queued (a queued key, or an earlier
    /// deferred time, stands) and whether a timer must be started for that time.
    fn defer(&mut self, key: &str, now: Instant, at: Instant) -> (Instant, bool) {
        if self.dirty.contains_key(key) {
            return (now, false);
        }
        match self.deferred.get_mut(key) {
            Some(pending) if *pending <= at => (*pending, false),
            Some(pending) => {
                *pending = at;
                (at, true)
            }
            None => {
                self.deferred.insert(key.to_string(), at);
                (at, true)
            }
        }
    }

    /// A timer for `key` ran out at `now`: queues the key if that was its deferred time (not
    /// superseded by an earlier one). Returns whether the key became available to a worker.
    fn fire(&mut self, key: &str, now: Instant) -> bool {
        match self.deferred.get(key) {
            Some(at) if *at <= now => {
                self.deferred.remove(key);
                self.push(key, Wanted::Always)
            }
            _ => false,
        }
    }

    fn pop(&mut self) -> Option<String> {
        let key = self.queue.pop_front()?;
        self.dirty.remove(&key);
        self.processing.insert(key.clone());
        Some(key)
    }

    /// Returns whether the key was queued again.
    fn finish(&mut self, key: &str, planned: Option<u64>) -> bool {
        self.processing.remove(key);
        match self.dirty.get(key) {
            None => false,
            Some(Wanted::Changes(revision)) if planned.is_some_and(|p| *revision <= p) => {
                self.dirty.remove(key);
                false
            }
            Some(_) => {
                self.queue.push_back(key.to_string());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &WorkQueue) -> Vec<String> {
        std::iter::from_fn(|| queue.lock().pop()).collect()
    }

    #[test]
    fn a_key_waits_in_the_queue_only_once() {
        let queue = WorkQueue::default();
        for key in ["a", "b", "a", "a"] {
            queue.add(key);
        }
        assert_eq!(queue.waiting(), 2);
        assert_eq!(drain(&queue), ["a", "b"]);
    }

    #[test]
    fn the_depth_gauge_follows_the_keys_waiting() {
        let depth = Gauge::<i64, AtomicI64>::default();
        let queue = std::sync::Arc::new(WorkQueue::with_depth(depth.clone()));
        queue.add("a");
        queue.add("b");
        assert_eq!(depth.get(), 2);
        let next = futures::executor::block_on(queue.next());
        assert_eq!((next.as_deref(), depth.get()), (Some("a"), 1));
        queue.add("a");
        assert_eq!(depth.get(), 1, "a is in a pass: not waiting yet");
        queue.done("a", None);
        assert_eq!(depth.get(), 2, "queued again once its pass ended");
    }

    #[test]
    fn a_key_added_while_processed_comes_back_once_done() {
        let queue = WorkQueue::default();
        queue.add("a");
        assert_eq!(drain(&queue), ["a"]);
        queue.add("a");
        queue.add("a");
        assert_eq!(
            queue.waiting(),
            0,
            "not handed to a second worker meanwhile"
        );
        queue.done("a", None);
        assert_eq!(drain(&queue), ["a"]);
        queue.done("a", None);
        assert_eq!(queue.waiting(), 0, "done without a new add: gone");
    }

    #[test]
    fn a_change_added_during_a_pass_that_planned_from_it_is_not_queued_again() {
        let queue = WorkQueue::default();
        queue.add_change("a", 5);
        assert_eq!(drain(&queue), ["a"]);
        queue.add_change("a", 7);
        queue.add_change("a", 6);
        queue.done("a", Some(7));
        assert_eq!(queue.waiting(), 0, "the pass planned from revision 7");
        assert!(queue.lock().dirty.is_empty(), "nothing left waiting");
    }

    #[test]
    fn a_change_newer_than_its_pass_planned_from_is_queued_again() {
        for planned in [Some(6), None] {
            let queue = WorkQueue::default();
            queue.add_change("a", 5);
            assert_eq!(drain(&queue), ["a"]);
            queue.add_change("a", 7);
            queue.done("a", planned);
            assert_eq!(drain(&queue), ["a"], "planned from {planned:?}");
        }
    }

    #[test]
    fn a_key_added_whatever_its_changes_during_a_pass_is_queued_again() {
        let queue = WorkQueue::default();
        queue.add("a");
        assert_eq!(drain(&queue), ["a"]);
        queue.add_change("a", 3);
        queue.add("a");
        queue.done("a", Some(9));
        assert_eq!(drain(&queue), ["a"], "the ticker's add stands");
    }

    /// Defers `key` to `after` from `start`, as [`WorkQueue::add_after`] does; returns when
    /// it will be queued (from `start`) and whether a timer starts.
    fn defer(queue: &WorkQueue, key: &str, start: Instant, after: u64) -> (u64, bool) {
        let at = start + Duration::from_secs(after);
        let (when, timer) = queue.lock().defer(key, start, at);
        ((when - start).as_secs(), timer)
    }

    fn fire(queue: &WorkQueue, key: &str, start: Instant, after: u64) -> bool {
        queue.lock().fire(key, start + Duration::from_secs(after))
    }

    #[test]
    fn a_deferred_key_is_queued_only_once_its_time_has_come() {
        let queue = WorkQueue::default();
        let start = Instant::now();
        assert_eq!(defer(&queue, "a", start, 2), (2, true));
        assert!(!fire(&queue, "a", start, 1), "too early");
        assert_eq!(queue.waiting(), 0);
        assert!(fire(&queue, "a", start, 2));
        assert_eq!(drain(&queue), ["a"]);
        assert!(queue.lock().deferred.is_empty(), "nothing left behind");
    }

    #[test]
    fn the_earliest_deferred_time_of_a_key_stands() {
        let queue = WorkQueue::default();
        let start = Instant::now();
        let cases = [(4, (4, true)), (8, (4, false)), (1, (1, true))];
        for (after, expected) in cases {
            assert_eq!(
                defer(&queue, "a", start, after),
                expected,
                "deferred by {after}"
            );
        }
        assert!(fire(&queue, "a", start, 1));
        assert!(
            !fire(&queue, "a", start, 4),
            "the superseded timer adds nothing"
        );
        assert_eq!(drain(&queue), ["a"]);
    }

    #[test]
    fn a_key_already_queued_is_not_deferred() {
        let queue = WorkQueue::default();
        let start = Instant::now();
        queue.add("a");
        assert_eq!(defer(&queue, "a", start, 3), (0, false));
        assert!(queue.lock().deferred.is_empty());
    }

    #[test]
    fn a_relist_leaves_deferred_keys_to_their_timer() {
        let queue = WorkQueue::default();
        defer(&queue, "a", Instant::now(), 3);
        queue.add_unless_deferred("a", 1);
        queue.add_unless_deferred("b", 1);
        assert_eq!(drain(&queue), ["b"]);
        queue.add("a");
        assert_eq!(
            drain(&queue),
            ["a"],
            "a watch event still queues it at once"
        );
    }

    #[tokio::test]
    async fn a_key_added_after_a_delay_reaches_a_worker() {
        let queue = std::sync::Arc::new(WorkQueue::default());
        let retry_in = queue.add_after("a", Duration::from_millis(20));
        assert_eq!(retry_in, Duration::from_millis(20));
        assert_eq!(queue.waiting(), 0, "not before its time");
        let next = tokio::time::timeout(Duration::from_secs(5), queue.next()).await;
        assert_eq!(next.expect("the timer queued it"), Some("a".to_string()));
    }

    #[tokio::test]
    async fn workers_wait_for_keys_and_stop_after_close() {
        let queue = std::sync::Arc::new(WorkQueue::default());
        let worker = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut seen = Vec::new();
                while let Some(key) = queue.next().await {
                    queue.done(&key, None);
                    seen.push(key);
                }
                seen
            }
        });
        tokio::task::yield_now().await;
        queue.add("a");
        queue.add("b");
        while queue.waiting() > 0 {
            tokio::task::yield_now().await;
        }
        queue.close();
        assert_eq!(worker.await.unwrap(), ["a", "b"]);
    }
}
