//! The routes that need the store (the API and the webhook) and what keeps them current (the
//! live index, readiness, the importer), started once the store is open. Until then
//! [`Pending`] answers those routes with 503 (after authenticating API callers), while health
//! and metrics are served already.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse as _, Response};
use axum::Router;
use tower::ServiceExt as _;

use crate::admission::Pin;
use crate::api::policy::ImagePolicyConfig;
use crate::apiserver::error::ApiError;
use crate::apiserver::state::Draining;
use crate::apiserver::watch_quota::WatchQuota;
use crate::apiserver::{self, ApiState, Auth};
use crate::auth::requestheader::RequestHeaderAuthenticator;
use crate::importer::on_request::OnRequest;
use crate::importer::secrets::PullSecrets;
use crate::importer::{self, ImporterConfig};
use crate::live_index::{self, LiveIndex};
use crate::metrics::{Metrics, Outcome};
use crate::registry_events::{self, RegistryEvents};
use crate::resolve::ResolverConfig;
use crate::server::{Background, Readiness};
use crate::server::{BodyBudget, DEFAULT_BODY_BUDGET_BYTES};
use crate::store::lead::Candidate;
use crate::store::{MeteredStore, Store};
use crate::{strategy, webhook};

/// The routes that need the store, once it is open; 503 `ServiceUnavailable` before.
#[derive(Clone)]
pub(super) struct Pending {
    /// Set once, then only read: a `OnceLock` costs one atomic load per request.
    routes: Arc<OnceLock<Router>>,
    /// The API's answers before: 401 to a caller it does not know, else 503 (counted in the
    /// API metrics, so the alert on API 5xx sees an etcd that is not there yet).
    unready_api: Router,
    /// The early admissions are counted as `NotReady`, where the webhook's alert looks.
    metrics: Arc<Metrics>,
    /// Who may call the webhook: checked before the early 503 too.
    callers: Option<Arc<webhook::Callers>>,
}

impl Pending {
    /// Nothing installed yet: the API answers through `unready_api`, admissions count in
    /// `metrics` once `callers` let them through.
    pub(super) fn new(
        unready_api: Router,
        metrics: Arc<Metrics>,
        callers: Option<Arc<webhook::Callers>>,
    ) -> Self {
        Self {
            routes: Arc::default(),
            unready_api,
            metrics,
            callers,
        }
    }

    /// A router that hands every request it does not route itself to the installed routes.
    pub(super) fn fallback(&self) -> Router {
        // One `Arc` to clone per request (axum clones the state for each), not four.
        Router::new()
            .fallback(forward)
            .with_state(Arc::new(self.clone()))
    }

    fn install(&self, routes: Router) {
        let _ = self.routes.set(routes);
    }

    /// The installed routes, if installed yet.
    pub(super) fn installed(&self) -> Option<Router> {
        self.routes.get().cloned()
    }
}

async fn forward(State(pending): State<Arc<Pending>>, request: Request) -> Response {
    let routes = match pending.routes.get() {
        Some(routes) => routes.clone(),
        None if request.uri().path() == webhook::PATH => {
            let refused = pending.callers.as_ref().and_then(|c| c.refuse(&request));
            return refused.unwrap_or_else(|| pending.unready_admission());
        }
        // The registry retries; the API's authentication would refuse its token.
        None if request.uri().path().starts_with(registry_events::PATH) => {
            return ApiError::Unreachable(
                "the store is not connected yet; retry shortly".to_string(),
            )
            .into_response();
        }
        None => pending.unready_api.clone(),
    };
    match routes.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

impl Pending {
    /// A 503 to an admission before the index exists, counted `NotReady` (its kind and
    /// operation unread, so empty).
    fn unready_admission(&self) -> Response {
        self.metrics.admission.count_unread(Outcome::NotReady);
        ApiError::Unreachable("the store is not connected yet; retry shortly".to_string())
            .into_response()
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
    /// Who may call the webhook (`--admission-client-ca-file`); `None` lets anyone.
    pub(super) callers: Option<Arc<webhook::Callers>>,
    /// `None` with `--no-importer`.
    pub(super) importer: Option<(ImporterConfig, Candidate)>,
    /// `--registry-events-token-file`: `/registry-events` is served when given.
    pub(super) registry_events: Option<PathBuf>,
    /// Where the importer and the `secrets` subresource read pull secrets.
    pub(super) pull_secrets: PullSecrets,
    /// The registry client of `imagestreamimports`, built from the importer's flags.
    pub(super) imports: Arc<OnRequest>,
    /// Open watches per user, bounded by `--max-watches-per-user`.
    pub(super) watches: WatchQuota,
    pub(super) server_address: String,
    pub(super) metrics: Arc<Metrics>,
    pub(super) readiness: Readiness,
    pub(super) draining: Draining,
}

impl App {
    /// The API's answers before the store is connected: the same authentication as the
    /// installed routes, then 503.
    pub(super) fn unready_api(&self) -> Router {
        let api = apiserver::routes::unready_router(self.auth.clone(), self.metrics.clone());
        match &self.requestheader {
            Some(authenticator) => {
                apiserver::routes::with_request_header(api, authenticator.clone())
            }
            None => api,
        }
    }

    /// Starts the index feed, readiness and the importer (which stops when `stopping`
    /// completes) over `store`, and installs the routes into `pending`. Returns the importer's
    /// task, so shutdown can wait for it to resign.
    ///
    /// The API's handlers, the feeds and the importer run on `background`
    /// ([`Background`]'s reasons); admission stays on the serving runtime.
    pub(super) fn install(
        self,
        store: Arc<dyn Store>,
        pending: &Pending,
        background: &Arc<Background>,
        stopping: impl Future<Output = ()> + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.readiness.set_store_open();
        let store: Arc<dyn Store> = Arc::new(MeteredStore::new(store, self.metrics.clone()));
        let index = LiveIndex::serving(self.strategy.clone());
        let restarts = |feed| self.metrics.importer.restarts_of(feed);
        background.spawn(live_index::run_feed(
            store.clone(),
            index.clone(),
            restarts("index"),
        ));
        let platforms = live_index::Platforms::new();
        background.spawn(live_index::run_platform_feed(
            store.clone(),
            platforms.clone(),
            restarts("platforms"),
        ));
        background.spawn(mark_ready_when_indexed(
            index.clone(),
            self.readiness.clone(),
            self.metrics.clone(),
            store.clone(),
        ));
        let importer = self.importer.map(|(config, candidate)| {
            background.spawn(importer::run_while_leading(
                store.clone(),
                Some(index.clone()),
                config,
                candidate,
                self.metrics.importer.leader.clone(),
                stopping,
            ))
        });
        let importer_metrics = self.metrics.importer.clone();
        let api = ApiState {
            store: store.clone(),
            strategy: Arc::new(self.strategy),
            index: index.clone(),
            auth: self.auth,
            metrics: self.metrics.clone(),
            server_address: self.server_address,
            encoded: Default::default(),
            draining: self.draining,
            pull_secrets: self.pull_secrets,
            imports: self.imports,
            watches: self.watches,
            lists: Default::default(),
            request_timeout: apiserver::state::REQUEST_TIMEOUT,
        };
        let hook = webhook::WebhookState {
            index,
            platforms,
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
        let api = background.serve(api);
        let hook = match self.callers {
            Some(callers) => webhook::require_callers(webhook::routes(hook), callers),
            None => webhook::routes(hook),
        };
        // Both read a body before they know its sender may send it.
        let budget = BodyBudget::new(DEFAULT_BODY_BUDGET_BYTES);
        let mut routes = Router::new().merge(budget.guard(hook)).merge(api);
        if let Some(token_file) = self.registry_events {
            let events = RegistryEvents::new(store, token_file, importer_metrics);
            let events = background.serve(registry_events::routes(events));
            routes = routes.merge(budget.guard(events));
        }
        pending.install(routes);
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
    let mut loading_since = Some(tokio::time::Instant::now());
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticker.tick().await;
        if index.is_ready() && !readiness.is_ready() {
            readiness.set_ready(true);
            // Once: while shutting down readiness stays false and this branch runs again.
            if let Some(since) = loading_since.take() {
                let load_ms = since.elapsed().as_millis() as u64;
                let streams = index.len();
                tracing::info!(streams, load_ms, "ready: the admission index is loaded");
            }
            ticker = tokio::time::interval(Duration::from_secs(1));
        }
        metrics.index.streams.set(index.len() as i64);
        metrics.index.set_spec_tags(&index.tag_counts());
        let lag = store
            .current_revision()
            .saturating_sub(index.synced_revision());
        metrics.index.watch_lag.set(lag as i64);
        metrics
            .index
            .feed_connected
            .set(i64::from(index.is_connected()));
        metrics.index.unreadable.set(index.unreadable() as i64);
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt as _;

    use super::*;

    const TOKEN: &str = "secret-token";

    async fn check(router: &Router, path: &str, token: Option<&str>, status: u16, body_part: &str) {
        let mut request = http::Request::get(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&bytes);
        assert!(body.contains(body_part), "{path}: {body}");
    }

    fn pending(metrics: &Arc<Metrics>) -> Pending {
        let auth = Arc::new(Auth {
            tokens: crate::auth::TokenAuthenticator::parse(&format!("{TOKEN},alice,1")).unwrap(),
            policy: None,
        });
        let unready_api = apiserver::routes::unready_router(auth, metrics.clone());
        Pending::new(unready_api, metrics.clone(), None)
    }

    #[tokio::test]
    async fn pending_routes_answer_503_until_installed_and_then_serve() {
        let metrics = Arc::new(Metrics::new());
        let pending = pending(&metrics);
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .merge(pending.fallback());
        let token = Some(TOKEN);
        check(&router, "/healthz", None, 200, "ok").await;
        check(
            &router,
            "/mutate",
            None,
            503,
            "the store is not connected yet",
        )
        .await;
        check(
            &router,
            "/apis",
            token,
            503,
            r#""reason":"ServiceUnavailable""#,
        )
        .await;
        // The early 503s count where an alert on NotReady admissions or API 5xx looks.
        let text = metrics.encode(crate::metrics::Exposition::OpenMetrics);
        for counted in [
            r#"imagelookup_admission_requests_total{kind="",operation="",outcome="NotReady"} 1"#,
            r#"imagelookup_api_requests_total{method="GET",code="503"} 1"#,
        ] {
            assert!(text.contains(counted), "{counted} in {text}");
        }
        pending.install(Router::new().route("/apis", get(|| async { "groups" })));
        check(&router, "/apis", None, 200, "groups").await;
        check(&router, "/healthz", None, 200, "ok").await;
        check(&router, "/other", None, 404, "").await;
    }

    #[tokio::test]
    async fn pending_api_authenticates_before_it_answers_503() {
        let metrics = Arc::new(Metrics::new());
        let router = pending(&metrics).fallback();
        let streams = "/apis/image.openshift.io/v1/namespaces/ns/imagestreams";
        check(&router, streams, None, 401, r#""reason":"Unauthorized""#).await;
        check(
            &router,
            streams,
            Some("wrong"),
            401,
            r#""reason":"Unauthorized""#,
        )
        .await;
        check(
            &router,
            "/openapi/v2",
            Some(TOKEN),
            503,
            "not connected yet",
        )
        .await;
        check(&router, "/unknown", None, 404, r#""reason":"NotFound""#).await;
        let text = metrics.encode(crate::metrics::Exposition::OpenMetrics);
        let counted = r#"imagelookup_api_requests_total{method="GET",code="401"} 2"#;
        assert!(text.contains(counted), "{counted} in {text}");
    }
}
