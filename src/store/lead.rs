//! Leadership: one replica at a time holds a named role (the importer), with fail-over.
//!
//! A replica [`Elector::campaign`]s for a role and gets a [`Term`]. The term ends when the
//! backend can no longer vouch for it ([`Term::ended`] says why) or when the replica resigns
//! ([`Term::resign`], or dropping the term), which hands the role over at once.
//!
//! - The embedded store is owned by one process (redb locks its file), so that process leads
//!   every role at once and forever: [`Sole`].
//! - etcd: a lease renewed every [`renew_every`] and a key bound to it, created only if absent
//!   (the elector lives in the etcd backend). A term is given up *before* etcd could have let
//!   the lease expire: it lasts [`valid_for`] past the last renewal request sent, so a
//!   partitioned leader stops before a successor can start.

use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::sync::watch;

/// The default lease: Kubernetes' leader-election lease duration.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// The shortest lease accepted: etcd refuses shorter ones (its minimum is 1.5 election
/// timeouts, 1.5 s by default) and the safety margin would leave no term at all.
pub const MIN_LEASE: Duration = Duration::from_secs(2);

/// Who campaigns for what, and for how long a term lasts without renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The role, a key segment (`importer`).
    pub role: String,
    /// Who this replica is ([`local_identity`]), recorded by the backend for operators.
    pub identity: String,
    /// How long the role outlives a leader that stops renewing.
    pub lease: Duration,
}

/// Why a term ended without the replica resigning.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TermEnd {
    /// Renewals kept failing until the term's deadline; the last failure.
    #[error("lease renewal failed until the deadline: {0}")]
    RenewalFailed(String),
    /// etcd answered a renewal with no time left: the lease expired or was revoked.
    #[error("the lease expired or was revoked")]
    LeaseGone,
    /// No renewal succeeded before the term's deadline.
    #[error("the lease was not renewed in time")]
    Deadline,
    /// The task keeping the term stopped.
    #[error("the term's keeper stopped")]
    KeeperStopped,
}

/// Elects one leader per role among the replicas sharing a store.
#[async_trait]
pub trait Elector: Send + Sync {
    /// Waits until `candidate` leads its role, retrying through backend errors. Dropping the
    /// future gives up the campaign.
    async fn campaign(&self, candidate: &Candidate) -> Term;
}

/// The backend's side of a [`Term`]: what keeps it alive and gives it up.
pub trait Hold: Send + Sync {
    /// Stops renewing and frees the role for the next candidate.
    fn resign(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// One stretch of leadership.
pub struct Term {
    identity: String,
    /// `Some` once the backend can no longer vouch for the term.
    end: watch::Receiver<Option<TermEnd>>,
    /// `None` once resigned.
    hold: Option<Box<dyn Hold>>,
}

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Term")
            .field("identity", &self.identity)
            .field("end", &*self.end.borrow())
            .finish()
    }
}

impl Term {
    /// A term that ends when `end` says so (or its sender goes away) and resigns via `hold`.
    pub fn new(
        identity: String,
        end: watch::Receiver<Option<TermEnd>>,
        hold: Box<dyn Hold>,
    ) -> Self {
        Self {
            identity,
            end,
            hold: Some(hold),
        }
    }

    /// Who leads.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until the term ends on its own, and says why.
    pub async fn ended(&mut self) -> TermEnd {
        if let Ok(end) = self.end.wait_for(Option::is_some).await {
            return end.clone().unwrap_or(TermEnd::KeeperStopped);
        }
        // The keeper may have said why just before it went away.
        let last = self.end.borrow().clone();
        last.unwrap_or(TermEnd::KeeperStopped)
    }

    /// Whether the term has ended on its own.
    pub fn is_over(&self) -> bool {
        self.end.borrow().is_some()
    }

    /// Gives the role up and waits until the backend has freed it.
    pub async fn resign(mut self) {
        if let Some(hold) = self.hold.take() {
            hold.resign().await;
        }
    }
}

impl Drop for Term {
    /// Resigns in the background: a dropped term must not keep the role.
    fn drop(&mut self) {
        let Some(hold) = self.hold.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(hold.resign());
        }
    }
}

/// The elector of a store only one process can open: it always leads, at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sole;

#[async_trait]
impl Elector for Sole {
    async fn campaign(&self, candidate: &Candidate) -> Term {
        let (sender, end) = watch::channel(None);
        let hold = Forever { _sender: sender };
        Term::new(candidate.identity.clone(), end, Box::new(hold))
    }
}

/// Keeps a [`Sole`] term's channel open, so it never ends.
struct Forever {
    _sender: watch::Sender<Option<TermEnd>>,
}

impl Hold for Forever {
    fn resign(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// How often a leader renews its lease, and a follower looks for a free role: a third of the
/// lease, as Kubernetes' clients do, so two renewals may be slow before the deadline.
pub fn renew_every(lease: Duration) -> Duration {
    lease / 3
}

/// How long a term lasts after the renewal request that granted `ttl` was *sent*: the TTL
/// minus a safety margin (a fifth of it, at least 1 s, at most half), because etcd counts the
/// TTL from when it handled the request, later than it was sent, and clocks drift.
pub fn valid_for(ttl: Duration) -> Duration {
    let margin = (ttl / 5).max(Duration::from_secs(1)).min(ttl / 2);
    ttl - margin
}

/// This replica's identity: the host name (a pod's name in Kubernetes), the process id and a
/// random suffix, so two processes on one host, or a restarted pod, never share one.
pub fn local_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    identity(host.as_deref(), std::process::id(), &suffix[..8])
}

/// `<host>_<pid>_<suffix>`, with the host trimmed and `unknown` when absent or blank.
pub fn identity(host: Option<&str>, pid: u32, suffix: &str) -> String {
    let host = host.map(str::trim).filter(|host| !host.is_empty());
    format!("{}_{pid}_{suffix}", host.unwrap_or("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_lasts_the_ttl_minus_a_margin_of_a_fifth_between_one_second_and_half() {
        let check = |ttl: u64, valid: u64| {
            assert_eq!(
                valid_for(Duration::from_millis(ttl)),
                Duration::from_millis(valid),
                "ttl {ttl} ms"
            );
        };
        check(15_000, 12_000);
        check(60_000, 48_000);
        check(3_000, 2_000);
        check(2_000, 1_000);
        check(1_000, 500);
        check(0, 0);
    }

    #[test]
    fn renewals_come_three_times_per_lease() {
        let check = |lease: u64, every: u128| {
            assert_eq!(renew_every(Duration::from_secs(lease)).as_millis(), every);
        };
        check(15, 5_000);
        check(2, 666);
    }

    #[test]
    fn a_renewal_is_due_well_before_the_term_ends() {
        for secs in [2, 3, 15, 60] {
            let lease = Duration::from_secs(secs);
            assert!(renew_every(lease) < valid_for(lease), "lease {secs} s");
        }
    }

    #[test]
    fn identities_name_host_pid_and_suffix() {
        let check = |host, expected: &str| assert_eq!(identity(host, 42, "ab12cd34"), expected);
        check(Some("pod-0"), "pod-0_42_ab12cd34");
        check(Some("node1\n"), "node1_42_ab12cd34");
        check(Some("  "), "unknown_42_ab12cd34");
        check(None, "unknown_42_ab12cd34");
    }

    #[test]
    fn local_identities_differ_between_calls() {
        assert_ne!(local_identity(), local_identity());
    }

    #[tokio::test]
    async fn the_sole_elector_leads_at_once_and_its_term_does_not_end() {
        let candidate = Candidate {
            role: "importer".into(),
            identity: "me".into(),
            lease: DEFAULT_LEASE,
        };
        let mut term = Sole.campaign(&candidate).await;
        assert_eq!(term.identity(), "me");
        let ended = tokio::time::timeout(Duration::from_millis(50), term.ended()).await;
        assert!(ended.is_err(), "the term ended: {ended:?}");
        assert!(!term.is_over());
        term.resign().await;
    }
}
