//! How many watches one user may hold open at once. A watch holds its connection (over
//! HTTP/1.1, one each) for up to half an hour, and the server's connections are bounded, so
//! without a per-user bound one tenant could hold them all and leave `/healthz`, `/mutate` and
//! every other user waiting (verify14). kube-apiserver bounds long-running requests through
//! its priority and fairness; this is the one bound that matters here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Concurrent watches per user, a quarter of the server's default connection limit.
pub const WATCHES_PER_USER: usize = 256;

/// The watches each user holds open, shared by every request.
#[derive(Clone, Debug)]
pub struct WatchQuota {
    open: Arc<Mutex<HashMap<String, usize>>>,
    limit: usize,
}

impl Default for WatchQuota {
    /// [`WATCHES_PER_USER`] per user.
    fn default() -> Self {
        Self::new(WATCHES_PER_USER)
    }
}

impl WatchQuota {
    /// At most `limit` open watches per user.
    pub fn new(limit: usize) -> Self {
        Self {
            open: Arc::default(),
            limit,
        }
    }

    /// A permit for one more watch of `user`, held until the watch ends; `None` when the user
    /// already holds the limit.
    pub fn acquire(&self, user: &str) -> Option<WatchPermit> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(user.to_string()).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(WatchPermit {
            quota: self.clone(),
            user: user.to_string(),
        })
    }

    /// The limit, for messages.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn release(&self, user: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(user) {
            *count -= 1;
            if *count == 0 {
                open.remove(user);
            }
        }
    }
}

/// One open watch of a user; dropping it (the watch ended) frees its place.
#[derive(Debug)]
pub struct WatchPermit {
    quota: WatchQuota,
    user: String,
}

impl Drop for WatchPermit {
    fn drop(&mut self) {
        self.quota.release(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_limit_and_a_finished_watch_frees_its_place() {
        let quota = WatchQuota::new(2);
        let first = quota.acquire("alice").expect("first");
        let _second = quota.acquire("alice").expect("second");
        assert!(quota.acquire("alice").is_none(), "the third waits");
        let _bob = quota
            .acquire("bob")
            .expect("another user is not bound by alice's");
        drop(first);
        assert!(
            quota.acquire("alice").is_some(),
            "a finished watch frees its place"
        );
    }
}
