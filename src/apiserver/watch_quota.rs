//! How many watches may be open at once, per user and in all. A watch holds its connection
//! (over HTTP/1.1, one each) for up to half an hour, and the server's connections are bounded,
//! so without bounds one tenant, or a few together, could hold them all and leave `/healthz`,
//! `/mutate` and every other user waiting (verify14, verify16). kube-apiserver bounds
//! long-running requests through its priority and fairness; these are the bounds that matter
//! here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Concurrent watches per user, a quarter of the server's default connection limit.
pub const WATCHES_PER_USER: usize = 256;

/// Concurrent watches in all, half the server's default connection limit: however many users
/// watch, the other half stays for probes, admission and short requests.
pub const WATCHES_IN_ALL: usize = 512;

/// Why a watch was refused, with the limit reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The user holds their limit.
    User(usize),
    /// The server holds its limit.
    Server(usize),
}

/// The watches open, by user and in all, shared by every request; the list gate counts its
/// users' places with one too.
#[derive(Clone, Debug)]
pub struct WatchQuota {
    open: Arc<Mutex<Open>>,
    per_user: usize,
    in_all: usize,
}

#[derive(Debug, Default)]
struct Open {
    by_user: HashMap<String, usize>,
    total: usize,
}

impl Default for WatchQuota {
    /// [`WATCHES_PER_USER`] per user, [`WATCHES_IN_ALL`] in all.
    fn default() -> Self {
        Self::new(WATCHES_PER_USER, WATCHES_IN_ALL)
    }
}

impl WatchQuota {
    /// At most `per_user` open watches per user and `in_all` in all.
    pub fn new(per_user: usize, in_all: usize) -> Self {
        Self {
            open: Arc::default(),
            per_user,
            in_all,
        }
    }

    /// A permit for one more watch of `user`, held until the watch ends; refused when the user
    /// or the server already holds its limit.
    pub fn acquire(&self, user: &str) -> Result<WatchPermit, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.in_all {
            return Err(Refused::Server(self.in_all));
        }
        let count = open.by_user.entry(user.to_string()).or_default();
        if *count >= self.per_user {
            return Err(Refused::User(self.per_user));
        }
        *count += 1;
        open.total += 1;
        Ok(WatchPermit {
            quota: self.clone(),
            user: user.to_string(),
        })
    }

    fn release(&self, user: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_user.get_mut(user) {
            *count -= 1;
            if *count == 0 {
                open.by_user.remove(user);
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

impl WatchPermit {
    /// The user whose watch this is.
    pub fn user(&self) -> &str {
        &self.user
    }
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
        let quota = WatchQuota::new(2, 10);
        let first = quota.acquire("alice").expect("first");
        let _second = quota.acquire("alice").expect("second");
        assert_eq!(quota.acquire("alice").err(), Some(Refused::User(2)));
        let _bob = quota
            .acquire("bob")
            .expect("another user is not bound by alice's");
        drop(first);
        assert!(
            quota.acquire("alice").is_ok(),
            "a finished watch frees its place"
        );
    }

    #[test]
    fn many_users_together_hold_at_most_the_servers_limit() {
        let quota = WatchQuota::new(2, 3);
        let held: Vec<WatchPermit> = ["a", "a", "b"]
            .iter()
            .map(|user| quota.acquire(user).unwrap())
            .collect();
        assert_eq!(quota.acquire("c").err(), Some(Refused::Server(3)));
        drop(held);
        assert!(quota.acquire("c").is_ok());
    }
}
