//! What every API handler shares.

use std::sync::Arc;

use super::encoded::EncodedObjects;

use crate::auth::{Attributes, Policy, TokenAuthenticator, UserInfo};
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
}

/// The authenticated caller of a request, put into request extensions by the auth layer.
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<UserInfo>);
