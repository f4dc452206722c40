//! A deduplicating work queue of stream keys, with client-go's workqueue semantics.
//!
//! A key is queued at most once; a key being processed is never handed to a second worker,
//! and a key added while it is processed is queued again when its worker is done. So a burst
//! of watch events for one stream costs one import pass, and a change that lands during a
//! pass is never lost.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

/// The queue shared by the feed, the scheduler and the workers.
#[derive(Debug, Default)]
pub struct WorkQueue {
    /// A std lock: every critical section is a few set operations, never an `.await`.
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<String>,
    /// Keys waiting to be processed (queued, or added again while processing).
    dirty: HashSet<String>,
    processing: HashSet<String>,
    closed: bool,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: &str) {
        if self.lock().push(key) {
            self.ready.notify_one();
        }
    }

    /// The next key to process, waiting for one; `None` once the queue is closed and drained.
    /// Call [`WorkQueue::done`] with the key when finished.
    pub async fn next(&self) -> Option<String> {
        loop {
            {
                let mut state = self.lock();
                if let Some(key) = state.pop() {
                    return Some(key);
                }
                if state.closed {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    pub fn done(&self, key: &str) {
        if self.lock().finish(key) {
            self.ready.notify_one();
        }
    }

    /// Stops handing out keys once the queue is empty, and wakes every waiting worker.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
        self.ready.notify_one();
    }

    /// Number of keys waiting (not counting those being processed).
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Returns whether the key became available to a worker.
    fn push(&mut self, key: &str) -> bool {
        if self.closed || !self.dirty.insert(key.to_string()) {
            return false;
        }
        if self.processing.contains(key) {
            return false;
        }
        self.queue.push_back(key.to_string());
        true
    }

    fn pop(&mut self) -> Option<String> {
        let key = self.queue.pop_front()?;
        self.dirty.remove(&key);
        self.processing.insert(key.clone());
        Some(key)
    }

    /// Returns whether the key was queued again.
    fn finish(&mut self, key: &str) -> bool {
        self.processing.remove(key);
        if self.dirty.contains(key) {
            self.queue.push_back(key.to_string());
            return true;
        }
        false
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
        let queue = WorkQueue::new();
        for key in ["a", "b", "a", "a"] {
            queue.add(key);
        }
        assert_eq!(queue.waiting(), 2);
        assert_eq!(drain(&queue), ["a", "b"]);
    }

    #[test]
    fn a_key_added_while_processed_comes_back_once_done() {
        let queue = WorkQueue::new();
        queue.add("a");
        assert_eq!(drain(&queue), ["a"]);
        queue.add("a");
        queue.add("a");
        assert_eq!(
            queue.waiting(),
            0,
            "not handed to a second worker meanwhile"
        );
        queue.done("a");
        assert_eq!(drain(&queue), ["a"]);
        queue.done("a");
        assert_eq!(queue.waiting(), 0, "done without a new add: gone");
    }

    #[tokio::test]
    async fn workers_wait_for_keys_and_stop_after_close() {
        let queue = std::sync::Arc::new(WorkQueue::new());
        let worker = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut seen = Vec::new();
                while let Some(key) = queue.next().await {
                    queue.done(&key);
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
