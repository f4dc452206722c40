//! Exponential backoff for work that keeps failing, as client-go's
//! `ItemExponentialFailureRateLimiter` does it.
//!
//! A failure the store will answer the same way again (etcd's "request is too large" for a
//! status that does not fit, a store that stays unavailable) must not be retried at a fixed
//! short pace: each retry of an import pass asks the registry about every tag again. So the
//! wait doubles with each consecutive failure of the same stream, up to a cap, and is
//! forgotten once a pass of that stream succeeds or the stream is deleted. Streams are counted
//! apart, so one failing stream never delays another.

use std::collections::HashMap;
use std::time::Duration;

/// The wait after the `failures`-th consecutive failure (1 for the first): `base`, doubled for
/// each failure before this one, at most `cap`.
pub fn delay(base: Duration, cap: Duration, failures: u32) -> Duration {
    // 2^31 times any base in use here is far beyond every cap; stopping there avoids overflow.
    let doublings = failures.saturating_sub(1).min(31);
    base.saturating_mul(1 << doublings).min(cap)
}

/// Consecutive failures per key, and the wait each one earns.
///
/// Holds only keys whose last attempt failed: callers [`Backoff::forget`] a key when it
/// succeeds or goes away, which keeps the map as small as the set of failing keys.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: HashMap<String, u32>,
}

impl Backoff {
    /// No failures yet; the first failure waits `base`, and no wait exceeds `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            failures: HashMap::new(),
        }
    }

    /// Counts one more failure of `key` and returns how long to wait before retrying it.
    pub fn failed(&mut self, key: &str) -> Duration {
        let failures = self.failures.entry(key.to_string()).or_default();
        *failures = failures.saturating_add(1);
        delay(self.base, self.cap, *failures)
    }

    /// Forgets the failures of `key`: it succeeded, or no longer exists.
    pub fn forget(&mut self, key: &str) {
        self.failures.remove(key);
    }

    /// How many keys have failures remembered.
    #[cfg(test)]
    pub fn failing(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(500);
    const CAP: Duration = Duration::from_secs(15 * 60);

    fn check(failures: u32, expected: Duration) {
        assert_eq!(
            delay(BASE, CAP, failures),
            expected,
            "after {failures} failures"
        );
    }

    #[test]
    fn the_wait_doubles_per_consecutive_failure_up_to_the_cap() {
        let ms = Duration::from_millis;
        let cases = [
            (0, ms(500)),
            (1, ms(500)),
            (2, ms(1_000)),
            (3, ms(2_000)),
            (4, ms(4_000)),
            (11, ms(512_000)),
            (12, CAP),
            (40, CAP),
            (u32::MAX, CAP),
        ];
        for (failures, expected) in cases {
            check(failures, expected);
        }
    }

    #[test]
    fn a_cap_below_the_base_wins() {
        let cap = Duration::from_millis(100);
        assert_eq!(delay(BASE, cap, 1), cap);
    }

    #[test]
    fn failures_are_counted_per_key() {
        let mut backoff = Backoff::new(BASE, CAP);
        let waits: Vec<_> = ["a", "a", "b", "a", "b"]
            .into_iter()
            .map(|key| backoff.failed(key).as_millis())
            .collect();
        assert_eq!(waits, [500, 1_000, 500, 2_000, 1_000]);
        assert_eq!(backoff.failing(), 2);
    }

    #[test]
    fn a_forgotten_key_starts_again_from_the_base_and_leaves_the_map() {
        let mut backoff = Backoff::new(BASE, CAP);
        for _ in 0..5 {
            backoff.failed("a");
        }
        backoff.failed("b");
        backoff.forget("a");
        assert_eq!(backoff.failing(), 1, "only b is remembered");
        assert_eq!(backoff.failed("a"), BASE);
        backoff.forget("never-failed");
        assert_eq!(backoff.failing(), 2);
    }
}
