//! Leader election on etcd: a lease, and a key bound to it created only if absent.
//!
//! A candidate reads `<prefix>leases/<role>` every [`renew_every`]; once it is absent, it
//! grants a lease and creates the key (txn `create_revision == 0`) with its identity as the
//! value. The winner's keeper renews the lease with one-shot keepalives (a failed one is
//! retried); the term ends on a renewal with no TTL left, or when [`valid_for`] has passed since
//! the last successful renewal was sent. Resigning revokes the lease, which deletes the key,
//! so the next candidate takes over within one poll.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::{sync::watch, time::Instant};

use super::{
    lease_wire::{self, GrantResponse, KeepAliveLine},
    wire::{self, TxnResponse},
    Inner,
};
use crate::store::lead::{renew_every, valid_for, Candidate, Elector, Hold, Term, TermEnd};

/// The key prefix, under the store's, of the role keys.
const ROLES: &str = "leases/";

/// Elects leaders among the replicas sharing an etcd prefix.
pub(super) struct EtcdElector {
    pub(super) inner: Arc<Inner>,
}

#[async_trait]
impl Elector for EtcdElector {
    async fn campaign(&self, candidate: &Candidate) -> Term {
        let key = self.inner.etcd_key(&format!("{ROLES}{}", candidate.role));
        loop {
            match self.try_lead(&key, candidate).await {
                Ok(Some(term)) => return term,
                Ok(None) => {}
                Err(error) => tracing::warn!(role = %candidate.role, %error, "campaign failed"),
            }
            tokio::time::sleep(renew_every(candidate.lease)).await;
        }
    }
}

impl EtcdElector {
    /// One attempt: `None` while another replica holds the role.
    async fn try_lead(&self, key: &[u8], candidate: &Candidate) -> Result<Option<Term>, String> {
        let holder = self.inner.range(&wire::get(key)).await.map_err(text)?;
        if !holder.kvs.is_empty() {
            return Ok(None);
        }
        let sent = Instant::now();
        let lease = self.grant(candidate.lease).await?;
        let put = lease_wire::put_with_lease_op(key, candidate.identity.as_bytes(), &lease.id);
        let body = wire::txn(vec![wire::absent(key)], put, wire::get_op(key));
        let answer: TxnResponse = self.inner.txn(&body).await.map_err(text)?;
        if !answer.succeeded {
            return Ok(None); // dropping the lease revokes it
        }
        let inner = self.inner.clone();
        Ok(Some(lease.into_term(
            inner,
            candidate.identity.clone(),
            sent,
        )))
    }

    async fn grant(&self, ttl: Duration) -> Result<Lease, String> {
        let body = lease_wire::grant(ttl);
        let answer: GrantResponse = self
            .inner
            .transport
            .call("/v3/lease/grant", &body)
            .await
            .map_err(text)?;
        if !answer.error.is_empty() || answer.id.is_empty() || answer.ttl.is_zero() {
            return Err(format!("etcd granted no lease: {answer:?}"));
        }
        Ok(Lease {
            inner: Some(self.inner.clone()),
            id: answer.id,
            ttl: answer.ttl,
        })
    }
}

/// A granted lease; revoked when dropped unless resigned through its [`Term`].
struct Lease {
    /// `None` once revoked or handed to a revocation.
    inner: Option<Arc<Inner>>,
    id: String,
    ttl: Duration,
}

impl Lease {
    /// Starts renewing: the term is good until `sent + valid_for(ttl)` and every renewal
    /// moves that deadline.
    fn into_term(self, inner: Arc<Inner>, identity: String, sent: Instant) -> Term {
        let (ended, end) = watch::channel(None);
        let keeper = tokio::spawn(keep(
            inner,
            self.id.clone(),
            self.ttl,
            sent + valid_for(self.ttl),
            ended,
        ));
        let hold = LeaseHold {
            lease: self,
            keeper: keeper.abort_handle(),
        };
        Term::new(identity, end, Box::new(hold))
    }

    /// Revokes the lease (deleting the keys bound to it); a lease already gone is fine.
    fn revoke(mut self) -> BoxFuture<'static, ()> {
        let inner = self.inner.take();
        let id = std::mem::take(&mut self.id);
        Box::pin(async move {
            let Some(inner) = inner else { return };
            let body = lease_wire::lease(&id);
            let answer: Result<serde_json::Value, _> =
                inner.transport.call("/v3/lease/revoke", &body).await;
            if let Err(error) = answer {
                tracing::debug!(lease = %id, %error, "lease revocation failed; it will expire");
            }
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let lease = Lease {
            inner: Some(inner),
            id: std::mem::take(&mut self.id),
            ttl: self.ttl,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(lease.revoke());
        } else {
            std::mem::forget(lease); // no runtime to revoke on: the lease expires instead
        }
    }
}

/// The etcd side of a term: the lease and the task renewing it.
struct LeaseHold {
    lease: Lease,
    keeper: tokio::task::AbortHandle,
}

impl Hold for LeaseHold {
    fn resign(self: Box<Self>) -> BoxFuture<'static, ()> {
        // Renewals stop before the revocation, so none can race it.
        self.keeper.abort();
        self.lease.revoke()
    }
}

/// Renews lease `id` every third of its TTL until the lease is gone or `deadline` passes
/// without a successful renewal; then says why on `ended`. A failed renewal is retried every
/// [`RETRY`] until the deadline, as Kubernetes' leader election retries until its renew
/// deadline: one network blip must not hand the role over.
async fn keep(
    inner: Arc<Inner>,
    id: String,
    mut ttl: Duration,
    mut deadline: Instant,
    ended: watch::Sender<Option<TermEnd>>,
) {
    let body = lease_wire::lease(&id);
    let mut failure: Option<String> = None;
    let end = loop {
        let wait = if failure.is_some() {
            RETRY
        } else {
            renew_every(ttl)
        };
        tokio::time::sleep_until((Instant::now() + wait).min(deadline)).await;
        let sent = Instant::now();
        if sent >= deadline {
            break failure.map_or(TermEnd::Deadline, TermEnd::RenewalFailed);
        }
        let renewal = inner
            .transport
            .call::<KeepAliveLine>("/v3/lease/keepalive", &body);
        let answer = match tokio::time::timeout_at(deadline, renewal).await {
            Err(_) => break failure.map_or(TermEnd::Deadline, TermEnd::RenewalFailed),
            Ok(answer) => answer.map_err(|error| error.to_string()),
        };
        match answer.and_then(|line| line.ttl()) {
            Ok(fresh) if fresh.is_zero() => break TermEnd::LeaseGone,
            Ok(fresh) => {
                ttl = fresh;
                deadline = sent + valid_for(fresh);
                failure = None;
            }
            Err(error) => {
                tracing::warn!(lease = %id, %error, "lease renewal failed; retrying until the term's deadline");
                failure = Some(error);
            }
        }
    };
    ended.send_replace(Some(end));
}

/// How soon a failed renewal is tried again.
const RETRY: Duration = Duration::from_millis(500);

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}
