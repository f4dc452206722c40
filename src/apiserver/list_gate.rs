//! How many collection reads run at once: a crowd of clients listing together (every informer
//! relisting after a restart or an etcd outage) queues here instead of holding every page it
//! reads, decodes and encodes in memory at the same time, and waits too long gets kube-apiserver's
//! 429 with `Retry-After`, which client-go and kubectl retry.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// How long a read waits for its turn before it is answered 429.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The seconds a refused read is told to wait before it tries again.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Collection reads in progress at once, per core: each holds a page of decoded documents and
/// its answer, so the bound is on memory as much as on CPU; the webhook keeps a core's share.
const PER_CORE: usize = 2;

/// Turns for collection reads (lists, deletecollection's, a watch's initial events).
#[derive(Clone, Debug)]
pub struct ListGate {
    turns: Arc<Semaphore>,
    wait: Duration,
}

/// A read's turn; the next waiting read goes when it is dropped.
#[derive(Debug)]
pub struct ListTurn(#[allow(dead_code)] OwnedSemaphorePermit);

#[cfg(test)]
impl ListTurn {
    /// A turn of a gate of its own, for tests that build listings by hand.
    pub fn for_tests() -> Self {
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned();
        Self(permit.expect("a free turn"))
    }
}

impl Default for ListGate {
    /// Two turns per core this process may use.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new((cores * PER_CORE).max(2), QUEUE_WAIT)
    }
}

impl ListGate {
    /// A gate of `turns` reads at once, each waiting at most `wait` for its turn.
    pub fn new(turns: usize, wait: Duration) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(turns.max(1))),
            wait,
        }
    }

    /// Waits for a turn; a 429 after the gate's wait.
    pub async fn turn(&self) -> Result<ListTurn, ApiError> {
        let acquired = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await;
        match acquired {
            Ok(Ok(permit)) => Ok(ListTurn(permit)),
            // The semaphore is never closed; a timeout is the only refusal.
            _ => Err(ApiError::TooManyRequests {
                message: "too many collection reads in progress on this server: retry in a \
                          second (clients do so on their own)"
                    .to_string(),
                retry_after_seconds: RETRY_AFTER_SECONDS,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reads_past_the_gate_s_turns_wait_and_are_refused_with_a_retry_after() {
        let gate = ListGate::new(2, Duration::from_secs(10));
        let first = gate.turn().await.expect("a free turn");
        let second = gate.turn().await.expect("a free turn");

        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.turn().await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(first);
        let third = waiting.await.unwrap();
        let third = third.expect("a turn freed within the wait");

        let refused = gate.turn().await;
        drop((second, third));
        let error = refused.expect_err("no turn within the wait");
        assert_eq!(error.code(), 429);
        assert_eq!(error.retry_after_seconds(), Some(1));
    }
}
