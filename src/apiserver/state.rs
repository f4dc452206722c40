//! What every API handler shares.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::encoded::EncodedObjects;

use crate::apiserver::error::{ApiError, GroupResource};
use crate::apiserver::list_gate::ListGate;
use crate::apiserver::watch_quota::WatchQuota;
use crate::auth::{Attributes, Policy, TokenAuthenticator, UserInfo};
use crate::importer::on_request::OnRequest;
use crate::importer::secrets::PullSecrets;
use crate::live_index::LiveIndex;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::strategy;

/// Shared state of the API server; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// Where objects live.
    pub store: Arc<dyn Store>,
    /// Stream rules settings.
    pub strategy: Arc<strategy::Config>,
    /// The admission index; writes are applied to it before they are answered.
    pub index: Arc<LiveIndex>,
    /// Who may call, and what they may do.
    pub auth: Arc<Auth>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// `host:port` clients reach this server at, for `/api`.
    pub server_address: String,
    /// Watch events already encoded, shared by all watchers.
    pub encoded: Arc<EncodedObjects>,
    /// Raised when the server starts to drain: watches end then.
    pub draining: Draining,
    /// Where `imagestreams/<name>/secrets` lists from: the importer's source, so the
    /// subresource shows the Secrets imports use.
    pub pull_secrets: PullSecrets,
    /// The registry client `imagestreamimports` import through, with the importer's settings
    /// (registry CA, timeout); there with `--no-importer` too, as OpenShift imports on request
    /// whatever its controllers do.
    pub imports: Arc<OnRequest>,
    /// The watches each user holds open, bounded per user.
    pub watches: WatchQuota,
    /// Turns for collection reads, so a crowd of lists queues rather than fills memory.
    pub lists: ListGate,
    /// How long a `deletecollection` deletes before it answers 504 with what it got through
    /// ([`REQUEST_TIMEOUT`] outside tests).
    pub request_timeout: Duration,
}

/// kube-apiserver's `--request-timeout` default: a request that is not a watch answers within
/// it. Here it bounds a `deletecollection`, the one request whose work grows with the store.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
impl ApiState {
    /// The admin's bearer token of [`ApiState::for_tests`].
    pub const TEST_TOKEN: &'static str = "test-admin-token";

    /// A state over an in-memory store, with defaults, and one user, an admin whose token is
    /// [`ApiState::TEST_TOKEN`].
    pub fn for_tests() -> Self {
        let store = crate::store::EmbeddedStore::in_memory(Default::default()).expect("a store");
        let tokens =
            TokenAuthenticator::parse(&format!("{},admin,1,\"system:masters\"", Self::TEST_TOKEN))
                .expect("a token line");
        Self {
            store: Arc::new(store),
            strategy: Default::default(),
            index: LiveIndex::serving(Default::default()),
            auth: Arc::new(Auth {
                tokens,
                policy: None,
            }),
            metrics: Arc::new(Metrics::new()),
            server_address: "127.0.0.1:1".into(),
            encoded: Default::default(),
            draining: Default::default(),
            pull_secrets: Default::default(),
            imports: Default::default(),
            watches: Default::default(),
            lists: Default::default(),
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Raised once, when the server stops accepting and drains on shutdown: watches end their
/// response then (as kube-apiserver's do), so the drain does not wait out their timeout and
/// their clients re-watch elsewhere at once. Cheap to clone; every clone sees the same signal.
#[derive(Clone, Debug)]
pub struct Draining {
    /// A watch channel, not a `Notify`: a watch that starts after the signal must see it too.
    /// Held by every clone, so it is never closed while anyone waits on it.
    raised: Arc<watch::Sender<bool>>,
}

impl Default for Draining {
    /// Not raised.
    fn default() -> Self {
        Self {
            raised: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Draining {
    /// Raises the signal; raising it again changes nothing.
    pub fn raise(&self) {
        self.raised.send_replace(true);
    }

    /// Resolves once the signal is raised (at once if it already is).
    pub async fn raised(&self) {
        let mut raised = self.raised.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = raised.wait_for(|raised| *raised).await;
    }
}

/// Authentication and authorization settings.
#[derive(Debug, Default)]
pub struct Auth {
    /// Bearer tokens.
    pub tokens: TokenAuthenticator,
    /// The authorization policy; `None` lets every authenticated user do everything.
    pub policy: Option<Policy>,
}

impl Auth {
    /// Whether `user` may do what `attributes` describe.
    pub fn allows(&self, user: &UserInfo, attributes: &Attributes<'_>) -> bool {
        self.policy
            .as_ref()
            .is_none_or(|policy| policy.allows(user, attributes))
    }

    /// Whether `user` may do what `attributes` describe in another namespace than the
    /// request's: with a policy, as it says; without one, a user this server authenticated
    /// may (everyone may do everything), but a front-proxy user may not, since the
    /// kube-apiserver authorized only the request itself and this server cannot see the
    /// cluster's RBAC (OpenShift asks it with a SubjectAccessReview).
    pub fn allows_elsewhere(
        &self,
        user: &UserInfo,
        attributes: &Attributes<'_>,
    ) -> Result<(), String> {
        match &self.policy {
            Some(policy) if policy.allows(user, attributes) => Ok(()),
            // OpenShift's reason is RBAC's, usually empty; this one says what to grant.
            Some(_) => Err(crate::auth::denial(user, attributes)),
            None if !user.delegated => Ok(()),
            None => Err(format!(
                "this server cannot see the cluster's RBAC for namespace {:?}: an --authz-file \
                 rule must let {:?} get imagestreams/layers there",
                attributes.namespace, user.name
            )),
        }
    }

    /// `Ok` when `user` may `verb` `resource` (its `subresource` when not empty) named `name`
    /// in `namespace`; otherwise kube-apiserver's 403, which names all of them.
    pub fn require(
        &self,
        user: &UserInfo,
        verb: &str,
        resource: GroupResource,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let full = match subresource {
            "" => resource.resource.to_string(),
            sub => format!("{}/{sub}", resource.resource),
        };
        let attributes = Attributes {
            verb,
            resource: &full,
            group: resource.group,
            namespace,
            name,
        };
        match self.allows(user, &attributes) {
            true => Ok(()),
            false => Err(ApiError::access_denied(
                &user.name,
                verb,
                resource,
                subresource,
                namespace,
                name,
            )),
        }
    }
}

/// The authenticated caller of a request, put into request extensions by the auth layer.
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<UserInfo>);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `raised()` of `draining` resolves within a moment.
    async fn resolves(draining: &Draining) -> bool {
        tokio::time::timeout(Duration::from_millis(50), draining.raised())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn draining_is_seen_by_every_clone_and_by_waits_that_start_after_it() {
        let draining = Draining::default();
        let waiting = tokio::spawn({
            let draining = draining.clone();
            async move { draining.raised().await }
        });
        assert!(!resolves(&draining).await);
        draining.clone().raise();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("a wait started before the signal ends")
            .unwrap();
        assert!(resolves(&draining).await);
        draining.raise();
        assert!(resolves(&draining.clone()).await);
    }
}
