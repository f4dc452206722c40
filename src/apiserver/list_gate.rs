//! How many collection reads run at once: a crowd of clients listing together (every informer
//! relisting after a restart or an etcd outage) queues here rather than reading, decoding and
//! encoding all its pages at the same time; a read that waits too long gets kube-apiserver's
//! 429 with `Retry-After`, which client-go and kubectl retry. Each user holds at most as many
//! places (turns and places in the queue) as there are turns, so one client looping over lists
//! cannot fill the queue for everyone else.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use super::watch_quota::{WatchPermit, WatchQuota};

/// How long a read waits for its turn before it is answered 429: under the 10 s after which
/// a connection's request no longer counts as busy (see `server::slots`), so a read still
/// queued is never cut off by an eviction.
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// The seconds a refused read is told to wait before it tries again.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Turns for collection reads (lists, deletecollection's, a watch's initial events).
#[derive(Clone, Debug)]
pub struct ListGate {
    turns: Arc<Semaphore>,
    /// Places (held or waited for) per user: the watch quota's per-user accounting, with no
    /// bound in all (the semaphore is that bound).
    places: WatchQuota,
    per_user: usize,
    wait: Duration,
}

/// A read's turn; the next waiting read goes when it is dropped.
#[derive(Debug)]
pub struct ListTurn {
    _permit: OwnedSemaphorePermit,
    /// The user's place, given back with the turn; none for a read's later pages
    /// ([`ListGate::next_turn`]).
    place: Option<WatchPermit>,
}

impl ListTurn {
    /// Takes the user's place out of the turn, for a read that holds it across several turns
    /// (see [`ListGate::next_turn`]); the turn then gives back only itself when dropped.
    pub fn take_place(&mut self) -> Option<WatchPermit> {
        self.place.take()
    }
}

#[cfg(test)]
impl ListTurn {
    /// A turn of a gate of its own, for tests that build listings by hand.
    pub fn for_tests() -> Self {
        let gate = ListGate::new(1, Duration::ZERO);
        let permit = gate.turns.clone().try_acquire_owned();
        let place = gate.places.acquire("test").expect("a free place");
        Self {
            _permit: permit.expect("a free turn"),
            place: Some(place),
        }
    }
}

impl Default for ListGate {
    /// A turn per core this process may use (its CPU limit, rounded down), at least two.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores.max(2), QUEUE_WAIT)
    }
}

impl ListGate {
    /// A gate of `turns` reads at once, each waiting at most `wait` for its turn; each user
    /// holds at most `turns` places.
    pub fn new(turns: usize, wait: Duration) -> Self {
        let turns = turns.max(1);
        Self {
            turns: Arc::new(Semaphore::new(turns)),
            places: WatchQuota::new(turns, usize::MAX),
            per_user: turns,
            wait,
        }
    }

    /// Waits for `user`'s turn (the queue is first come, first served); a 429 after the gate's
    /// wait, or at once when the user already holds or awaits as many as there are turns.
    pub async fn turn(&self, user: &str) -> Result<ListTurn, ApiError> {
        let place = self.places.acquire(user).map_err(|_| {
            refused(format!(
                "too many collection reads of this user in progress or waiting (at most {}): \
                 wait for one to end before starting the next",
                self.per_user
            ))
        })?;
        let acquired = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await;
        match acquired {
            Ok(Ok(permit)) => Ok(ListTurn {
                _permit: permit,
                place: Some(place),
            }),
            // The semaphore is never closed; a timeout is the only refusal.
            _ => Err(refused(
                "too many collection reads in progress on this server: retry in a second \
                 (clients do so on their own)"
                    .to_string(),
            )),
        }
    }

    /// A turn for the next page of a read already answering (a list written as it is read, a
    /// watch's initial events): it waits in the same queue as new reads but is never refused,
    /// since the client holds half an answer, and takes no place of its user: the read kept
    /// the place of its first turn ([`ListTurn::take_place`]) and holds it to its end.
    pub async fn next_turn(&self) -> ListTurn {
        let permit = self.turns.clone().acquire_owned().await;
        ListTurn {
            // The semaphore is never closed.
            _permit: permit.expect("the list gate's semaphore is never closed"),
            place: None,
        }
    }
}

fn refused(message: String) -> ApiError {
    ApiError::TooManyRequests {
        message,
        retry_after_seconds: RETRY_AFTER_SECONDS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reads_past_the_gate_s_turns_wait_and_are_refused_with_a_retry_after() {
        let gate = ListGate::new(2, Duration::from_secs(5));
        let first = gate.turn("a").await.expect("a free turn");
        let second = gate.turn("b").await.expect("a free turn");

        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.turn("c").await }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(first);
        let third = waiting.await.unwrap();
        let third = third.expect("a turn freed within the wait");

        let refused = gate.turn("d").await;
        drop((second, third));
        let error = refused.expect_err("no turn within the wait");
        assert_eq!(error.code(), 429);
        assert_eq!(error.retry_after_seconds(), Some(1));
        assert!(error.to_string().contains("on this server"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn one_user_holds_no_more_places_than_there_are_turns() {
        let gate = ListGate::new(2, Duration::from_secs(5));
        let first = gate.turn("a").await.expect("a free turn");
        let second = gate.turn("a").await.expect("a free turn");
        let third = gate.turn("a").await.expect_err("a's places are all held");
        assert!(third.to_string().contains("of this user"), "{third}");

        let others = tokio::spawn({
            let gate = gate.clone();
            async move { gate.turn("b").await }
        });
        tokio::task::yield_now().await;
        drop(first);
        let turn = others.await.unwrap().expect("b is not held back by a");
        drop((second, turn));
        let again = (gate.turn("a").await, gate.turn("a").await);
        assert!(
            again.0.is_ok() && again.1.is_ok(),
            "a's places all came back"
        );
    }
}
