//! The routes that need the store (the API and the webhook) and what keeps them current (the
//! live index, readiness, the importer), started once the store is open. Until then
//! [`Pending`] answers those routes with 503, while health and metrics are served already.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::Router;
use tower::ServiceExt as _;

use crate::admission::Pin;
use crate::api::policy::ImagePolicyConfig;
use crate::apiserver::error::ApiError;
use crate::apiserver::state::Draining;
use crate::apiserver::{self, ApiState, Auth};
use crate::auth::requestheader::RequestHeaderAuthenticator;
use crate::importer::secrets::PullSecrets;
use crate::importer::{self, ImporterConfig};
use crate::live_index::{self, LiveIndex};
use crate::metrics::{AdmissionLabels, ApiLabels, Metrics, Outcome};
use crate::resolve::ResolverConfig;
use crate::server::Readiness;
use crate::store::lead::Candidate;
use crate::store::{MeteredStore, Store};
use crate::{strategy, webhook};

/// The routes that need the store, once it is open; 503 `ServiceUnavailable` before.
#[derive(Clone)]
pub(super) struct Pending {
    /// Set once, then only read: a `OnceLock` costs one atomic load per request.
    routes: Arc<OnceLock<Router>>,
    /// The 503s before are counted as the routes would count them, so the alerts on
    /// admissions answered `NotReady` and on API 5xx see an etcd that is not there yet.
    metrics: Arc<Metrics>,
}

impl Pending {
    /// Nothing installed yet; the early answers count in `metrics`.
    pub(super) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            routes: Arc::default(),
            metrics,
        }
    }

    /// A router that hands every request it does not route itself to the installed routes.
    pub(super) fn fallback(&self) -> Router {
        Router::new().fallback(forward).with_state(self.clone())
    }

    fn install(&self, routes: Router) {
        let _ = self.routes.set(routes);
    }
}

async fn forward(State(pending): State<Pending>, request: Request) -> Response {
    match pending.routes.get() {
        Some(routes) => match routes.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        None => {
            pending.count_unready(&request);
            ApiError::ServiceUnavailable(
                "the store is not connected yet; retry shortly".to_string(),
            )
            .into_response()
        }
    }
}

impl Pending {
    /// Counts a 503 answered before the routes exist: an admission `NotReady` (its kind and
    /// operation unread, so empty), or an API request by method and code.
    fn count_unready(&self, request: &Request) {
        if request.uri().path() == webhook::PATH {
            let labels = AdmissionLabels {
                kind: "",
                operation: "",
                outcome: Outcome::NotReady,
            };
            self.metrics.count_admission(&labels, 0.0);
            return;
        }
        let labels = ApiLabels {
            method: ApiLabels::method(request.method()),
            code: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        };
        self.metrics.count_api(&labels, 0.0);
    }
}

/// Everything the store-backed routes are built from, loaded and checked before the listener
/// opens, so that a bad flag or file fails start-up at once.
pub(super) struct App {
    pub(super) strategy: strategy::Config,
    pub(super) auth: Arc<Auth>,
    pub(super) admission_policy: Arc<ImagePolicyConfig>,
    pub(super) pin: Pin,
    pub(super) resolver: Arc<ResolverConfig>,
    pub(super) requestheader: Option<RequestHeaderAuthenticator>,
    /// `None` with `--no-importer`.
    pub(super) importer: Option<(ImporterConfig, Candidate)>,
    /// Where the importer and the `secrets` subresource read pull secrets.
    pub(super) pull_secrets: PullSecrets,
    pub(super) server_address: String,
    pub(super) metrics: Arc<Metrics>,
    pub(super) readiness: Readiness,
    pub(super) draining: Draining,
}

impl App {
    /// Starts the index feed, readiness and the importer (which stops when `stopping`
    /// completes) over `store`, and installs the routes into `pending`. Returns the importer's
    /// task, so shutdown can wait for it to resign.
    pub(super) fn install(
        self,
        store: Arc<dyn Store>,
        pending: &Pending,
        stopping: impl Future<Output = ()> + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let store: Arc<dyn Store> = Arc::new(MeteredStore::new(store, self.metrics.clone()));
        let index = LiveIndex::serving(self.strategy.clone());
        tokio::spawn(live_index::run_feed(store.clone(), index.clone()));
        tokio::spawn(mark_ready_when_indexed(
            index.clone(),
            self.readiness.clone(),
            self.metrics.clone(),
            store.clone(),
        ));
        let importer = self.importer.map(|(config, candidate)| {
            tokio::spawn(importer::run_while_leading(
                store.clone(),
                Some(index.clone()),
                config,
                candidate,
                self.metrics.importer_leader.clone(),
                stopping,
            ))
        });
        let api = ApiState {
            store,
            strategy: Arc::new(self.strategy),
            index: index.clone(),
            auth: self.auth,
            metrics: self.metrics.clone(),
            server_address: self.server_address,
            encoded: Default::default(),
            draining: self.draining,
            pull_secrets: self.pull_secrets,
        };
        let hook = webhook::WebhookState {
            index,
            policy: self.admission_policy,
            pin: self.pin,
            resolver: self.resolver,
            metrics: self.metrics,
        };
        let api = match self.requestheader {
            Some(authenticator) => {
                apiserver::routes::with_request_header(apiserver::router(api), authenticator)
            }
            None => apiserver::router(api),
        };
        pending.install(Router::new().merge(webhook::routes(hook)).merge(api));
        importer
    }
}

/// Reports ready once the index holds the store's streams; keeps index metrics current.
async fn mark_ready_when_indexed(
    index: Arc<LiveIndex>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticker.tick().await;
        if index.is_ready() && !readiness.is_ready() {
            readiness.set_ready(true);
            ticker = tokio::time::interval(Duration::from_secs(1));
        }
        metrics.index_streams.set(index.len() as i64);
        metrics.set_spec_tags(&index.tag_counts());
        let lag = store
            .current_revision()
            .saturating_sub(index.synced_revision());
        metrics.watch_lag.set(lag as i64);
        metrics
            .index_feed_connected
            .set(i64::from(index.is_connected()));
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt as _;

    use super::*;

    async fn check(router: &Router, path: &str, status: u16, body_part: &str) {
        let request = http::Request::get(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&bytes);
        assert!(body.contains(body_part), "{path}: {body}");
    }

    #[tokio::test]
    async fn pending_routes_answer_503_until_installed_and_then_serve() {
        let metrics = Arc::new(Metrics::new());
        let pending = Pending::new(metrics.clone());
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .merge(pending.fallback());
        check(&router, "/healthz", 200, "ok").await;
        check(&router, "/mutate", 503, "the store is not connected yet").await;
        check(&router, "/apis", 503, r#""reason":"ServiceUnavailable""#).await;
        // The early 503s count where an alert on NotReady admissions or API 5xx looks.
        let text = metrics.encode();
        for counted in [
            r#"imagelookup_admission_requests_total{kind="",operation="",outcome="NotReady"} 1"#,
            r#"imagelookup_api_requests_total{method="GET",code="503"} 1"#,
        ] {
            assert!(text.contains(counted), "{counted} in {text}");
        }
        pending.install(Router::new().route("/apis", get(|| async { "groups" })));
        check(&router, "/apis", 200, "groups").await;
        check(&router, "/healthz", 200, "ok").await;
        check(&router, "/other", 404, "").await;
    }
}
