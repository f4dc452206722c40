//! The mutating admission webhook: `POST /mutate`, answered from the live index.
//!
//! The handler only translates: read the body (bounded), [`review::parse`], decide under a
//! read guard of the index (synchronous, no `.await` while it is held), [`review::respond`],
//! and record metrics and one log line. A body that is not an AdmissionReview gets HTTP 400.
//!
//! With `--admission-client-ca-file`, [`require_callers`] checks the caller's client
//! certificate before the body is read: none or another CA's gets 401, a name not allowed 403
//! (a `Status` saying what is missing). Without it no layer is added, so the check costs nothing.

pub mod review;

#[cfg(test)]
mod fuzz;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rustls::pki_types::UnixTime;

use self::review::ReviewError;
use crate::admission::{Decision, Pin, StreamResolver, WithPlatforms};
use crate::api::policy::ImagePolicyConfig;
use crate::auth::client_certs::{ClientCertPool, PoolRefusal};
use crate::live_index::{LiveIndex, Platforms};
use crate::metrics::{AdmissionLabels, Metrics, Outcome, ReasonLabels, PINNED, PULL_THROUGH};
use crate::resolve::ResolverConfig;
use crate::server::{PeerCertificates, Throttle, HANDSHAKE_LOG_INTERVAL};

/// The largest AdmissionReview accepted; the kube-apiserver's own request limit is 3 MiB and a
/// review carries the object twice on UPDATE.
pub const MAX_REVIEW_BYTES: usize = 7 * 1024 * 1024;

/// What the webhook reads.
#[derive(Clone)]
pub struct WebhookState {
    /// Streams, kept current by the store's watch.
    pub index: Arc<LiveIndex>,
    /// The architectures of imported images, kept current by the store's watch.
    pub platforms: Arc<Platforms>,
    /// The admission policy, defaulted.
    pub policy: Arc<ImagePolicyConfig>,
    /// Where pod specs are pinned (`--pin`).
    pub pin: Pin,
    /// Resolver settings.
    pub resolver: Arc<ResolverConfig>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// The webhook's path.
pub const PATH: &str = "/mutate";

/// Paces the log lines of reviews refused unread or malformed (`suppressed` counts the rest).
static UNREAD_REVIEWS: Throttle = Throttle::new(HANDSHAKE_LOG_INTERVAL);

/// `POST /mutate`.
pub fn routes(state: WebhookState) -> Router {
    Router::new()
        .route(PATH, post(mutate))
        .layer(DefaultBodyLimit::max(MAX_REVIEW_BYTES))
        // One `Arc`: axum clones the state for every request, and six reference counts
        // incremented and dropped by both cores' workers bounce their cache lines.
        .with_state(Arc::new(state))
}

/// Who may call the webhook (`--admission-client-ca-file`).
#[derive(Debug)]
pub struct Callers {
    pool: ClientCertPool,
    /// Counts refused calls as [`Outcome::Unauthorized`].
    metrics: Arc<Metrics>,
    /// Limits the log lines of refused calls under a flood.
    refusals: Throttle,
}

impl Callers {
    /// Callers presenting a certificate of `pool`; refusals are counted in `metrics`.
    pub fn new(pool: ClientCertPool, metrics: Arc<Metrics>) -> Self {
        Self {
            pool,
            metrics,
            refusals: Throttle::new(HANDSHAKE_LOG_INTERVAL),
        }
    }

    /// The answer to `request` when its connection presented no certificate of the pool;
    /// `None` lets it through.
    pub fn refuse(&self, request: &Request) -> Option<Response> {
        let chain = request.extensions().get::<PeerCertificates>();
        let chain = chain.map(|certificates| &certificates.0[..]);
        let refusal = self.pool.check(chain, UnixTime::now()).err()?;
        self.metrics.admission.count_unread(Outcome::Unauthorized);
        if let Some(suppressed) = self.refusals.admit(Instant::now()) {
            tracing::info!(reason = %refusal, suppressed, "admission call refused: not a caller the admission client ca vouches for");
        }
        Some(refused(&refusal))
    }
}

/// `routes`, each call first checked by `callers` (a router without routes is returned as is).
pub fn require_callers(routes: Router, callers: Arc<Callers>) -> Router {
    // axum panics on a route layer over no route: `serve` guards the extra routes, often none.
    if !routes.has_routes() {
        return routes;
    }
    routes.route_layer(axum::middleware::from_fn_with_state(callers, check_caller))
}

async fn check_caller(
    State(callers): State<Arc<Callers>>,
    request: Request,
    next: Next,
) -> Response {
    match callers.refuse(&request) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// A `Status` naming what the caller lacks: 401 without a certificate of the CA, 403 with one
/// whose name is not allowed.
fn refused(refusal: &PoolRefusal) -> Response {
    let (status, reason, message) = match refusal {
        PoolRefusal::NoCertificate => (
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the admission webhook requires a client certificate signed by its admission client \
             ca, and the caller presented none: give the kube-apiserver one in the kubeconfig its \
             AdmissionConfiguration names for this webhook"
                .to_string(),
        ),
        PoolRefusal::Untrusted(error) => (
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!(
                "the caller's client certificate is not signed by the admission webhook's client \
                 ca: {error}"
            ),
        ),
        PoolRefusal::NameNotAllowed(name) => (
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "the caller's client certificate has common name {name:?}, which the admission \
                 webhook's allowed names do not include"
            ),
        ),
    };
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

async fn mutate(
    State(state): State<Arc<WebhookState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let parsed = body
        .as_ref()
        .map_err(unread)
        .and_then(|body| review::parse(body));
    let request = match parsed {
        Ok(request) => request,
        Err(error) => return state.refuse_invalid(&error, started),
    };
    let decision = {
        let index = state.index.read();
        // A partial index would leave references to streams not loaded yet unpinned, silently.
        if !index.is_loaded() {
            drop(index);
            state.observe(
                &request.kind.kind,
                &request.operation,
                Outcome::NotReady,
                started,
            );
            tracing::warn!(uid = %request.uid, "admission before the index is loaded: answered 503");
            let review = review::respond_not_ready(&request.uid);
            return json_response(StatusCode::SERVICE_UNAVAILABLE, &review);
        }
        let streams = StreamResolver {
            config: &state.resolver,
            streams: &**index,
        };
        let resolver = WithPlatforms {
            resolver: &streams,
            platforms: &*state.platforms,
        };
        review::decide_with(&request, &state.policy, state.pin, &resolver)
    };
    let outcome = outcome_of(&decision);
    state.record(&decision);
    state.observe(&request.kind.kind, &request.operation, outcome, started);
    log_admission(&request, outcome, &decision, started);
    json_response(StatusCode::OK, &review::respond(&request.uid, &decision))
}

/// The admission's log line. Its `uid`, `kind` and `operation` are the caller's text as sent
/// (`/mutate` may be called without credentials): logged as quoted strings, so that spaces and
/// quotes in them cannot add `name=value` pairs of their own, and cut to 128 bytes; the text format
/// escapes their control characters ([`crate::cli::logging::EscapedFields`]).
pub fn log_admission(
    request: &review::RequestBody<'_>,
    outcome: Outcome,
    decision: &Decision,
    started: Instant,
) {
    let uid = clipped(&request.uid);
    let kind = clipped(&request.kind.kind);
    let operation = clipped(&request.operation);
    tracing::info!(
        uid = &*uid,
        kind = &*kind,
        namespace = request.namespace.as_deref().unwrap_or(""),
        name = request.name.as_deref().unwrap_or(""),
        operation = &*operation,
        outcome = ?outcome,
        rewrites = decision.rewrites.len(),
        warnings = decision.warnings.len(),
        duration_us = started.elapsed().as_micros() as u64,
        "admission"
    );
}

/// The longest text of the caller's logged whole: a kube-apiserver's uid is 36 bytes, a kind
/// a few dozen.
const LOGGED_TEXT_BYTES: usize = 128;

/// `text`, cut to [`LOGGED_TEXT_BYTES`] (at a character boundary) and marked `…` when it is
/// longer, so that a caller cannot make one admission a megabyte of log.
fn clipped(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= LOGGED_TEXT_BYTES {
        return text.into();
    }
    let end = (0..=LOGGED_TEXT_BYTES)
        .rev()
        .find(|&end| text.is_char_boundary(end))
        .unwrap_or(0);
    format!("{}…", &text[..end]).into()
}

/// Why a body was not read: over [`MAX_REVIEW_BYTES`], the server's body budget spent, or
/// cut off.
fn unread(rejection: &BytesRejection) -> ReviewError {
    if let Some(exhausted) = crate::server::budget_exhausted(rejection) {
        return ReviewError::Busy(*exhausted);
    }
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ReviewError::TooLarge {
            limit: MAX_REVIEW_BYTES,
        },
        _ => ReviewError::Unreadable {
            detail: rejection.body_text(),
        },
    }
}

/// The review as the response body.
fn json_response(status: StatusCode, review: &review::ReviewResponse<'_>) -> Response {
    let body = review.to_json();
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// How `decision` is counted and logged.
pub fn outcome_of(decision: &Decision) -> Outcome {
    match (
        &decision.denial,
        &decision.skipped,
        decision.patch.0.is_empty(),
    ) {
        (Some(_), _, _) => Outcome::Denied,
        (None, Some(_), _) => Outcome::Skipped,
        (None, None, false) => Outcome::Patched,
        (None, None, true) => Outcome::Allowed,
    }
}

/// Kinds admission knows how to read images from, the only kind label values.
const IMAGE_KINDS: [&str; 12] = [
    "Pod",
    "PodTemplate",
    "ReplicationController",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
    "DeploymentConfig",
    "Build",
    "BuildConfig",
];

/// The admission operations, the only operation label values.
const OPERATIONS: [&str; 4] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];

/// `value` when it is one of `known`, else `other`: `/mutate` is reachable without
/// credentials, and free-form label values would let any caller grow the metrics without bound.
fn label_or_other(value: &str, known: &[&'static str]) -> &'static str {
    match known.iter().find(|label| **label == value) {
        Some(label) => label,
        None if value.is_empty() => "",
        None => "other",
    }
}

// === impl WebhookState ===

impl WebhookState {
    /// The answer to a body that is not a review this webhook can read, counted `Invalid`, or
    /// `Busy` when the body budget was spent. Logged at most once per interval: `/mutate` is
    /// reachable without credentials, and a flood must not become a flood of lines.
    fn refuse_invalid(&self, error: &ReviewError, started: Instant) -> Response {
        let busy = matches!(error, ReviewError::Busy(_));
        match busy {
            // Unread: not timed, as the other answers given without reading the review.
            true => self.metrics.admission.count_unread(Outcome::Busy),
            false => self.observe("", "", Outcome::Invalid, started),
        }
        if let Some(suppressed) = UNREAD_REVIEWS.admit(Instant::now()) {
            match busy {
                true => tracing::warn!(%error, suppressed, "admission request refused unread"),
                false => {
                    tracing::warn!(%error, suppressed, "admission request rejected as malformed")
                }
            }
        }
        let status = StatusCode::from_u16(error.status().0).unwrap_or(StatusCode::BAD_REQUEST);
        json_response(status, &review::respond_invalid(error))
    }

    fn observe(&self, kind: &str, operation: &str, outcome: Outcome, started: Instant) {
        let labels = AdmissionLabels {
            kind: label_or_other(kind, &IMAGE_KINDS),
            operation: label_or_other(operation, &OPERATIONS),
            outcome,
        };
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.admission.count(&labels, seconds);
    }

    fn record(&self, decision: &Decision) {
        for rewrite in &decision.rewrites {
            let via = if rewrite.pinned { PINNED } else { PULL_THROUGH };
            self.metrics
                .admission
                .rewrites
                .get_or_create(&ReasonLabels { reason: via })
                .inc();
        }
        if let Some(skip) = decision.skipped {
            self.metrics
                .admission
                .skipped
                .get_or_create(&ReasonLabels {
                    reason: skip.label(),
                })
                .inc();
        }
        for &reason in &decision.unresolved {
            let labels = ReasonLabels { reason };
            self.metrics
                .admission
                .unresolved
                .get_or_create(&labels)
                .inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_text_is_logged_whole_up_to_128_bytes_and_clipped_at_a_character_after() {
        let uid = "705ab4f5-6393-11e8-b7cc-42010a800002";
        assert_eq!(clipped(uid), uid);
        let exact = "u".repeat(128);
        assert_eq!(clipped(&exact), exact);
        let long = "x".repeat(1 << 20);
        assert_eq!(clipped(&long), format!("{}…", "x".repeat(128)));
        // 127 ASCII bytes then a two-byte character: cut before it, not inside it.
        let straddling = format!("{}é tail", "a".repeat(127));
        assert_eq!(clipped(&straddling), format!("{}…", "a".repeat(127)));
    }

    #[test]
    fn metric_labels_keep_known_kinds_and_operations_and_fold_the_rest() {
        let check = |value: &str, known: &[&'static str], expected: &str| {
            assert_eq!(label_or_other(value, known), expected, "{value}");
        };
        check("Deployment", &IMAGE_KINDS, "Deployment");
        check("ConfigMap", &IMAGE_KINDS, "other");
        check("x".repeat(1000).as_str(), &IMAGE_KINDS, "other");
        check("", &IMAGE_KINDS, "");
        check("UPDATE", &OPERATIONS, "UPDATE");
        check("update", &OPERATIONS, "other");
    }

    #[test]
    fn guarding_a_router_without_routes_leaves_it_alone() {
        let bundle = crate::certs::generate(&["a.test".into()], std::time::SystemTime::now());
        let ca = bundle.unwrap().ca_cert_pem;
        let verifier = crate::tls::client_ca_verifier(ca.as_bytes()).unwrap();
        let pool = ClientCertPool::new(verifier, Vec::new());
        let callers = Arc::new(Callers::new(pool, Arc::new(Metrics::new())));
        // `serve` guards its extra routes, which production leaves empty.
        let guarded = require_callers(Router::new(), callers);
        assert!(!guarded.has_routes());
    }

    fn router(index: Arc<LiveIndex>) -> Router {
        counted_by(index, Arc::new(Metrics::new()))
    }

    fn counted_by(index: Arc<LiveIndex>, metrics: Arc<Metrics>) -> Router {
        routes(WebhookState {
            index,
            platforms: Platforms::new(),
            policy: Arc::new(ImagePolicyConfig::default()),
            pin: Pin::default(),
            resolver: Arc::new(ResolverConfig::default()),
            metrics,
        })
    }

    async fn post_review(router: Router) -> (StatusCode, serde_json::Value) {
        let object = serde_json::json!({"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "mysql"}]}});
        post(router, "CREATE", object).await
    }

    /// Posts a review of a Pod `object` in namespace `demo` under `operation`.
    async fn post(
        router: Router,
        operation: &str,
        object: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": operation, "namespace": "demo", "object": object}});
        let request = axum::http::Request::post("/mutate")
            .header(CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(review.to_string()))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn unreadable_objects_and_unknown_operations_are_counted_by_reason() {
        let loaded = LiveIndex::new();
        loaded.reset(Vec::<crate::api::ImageStream>::new(), 1);
        let metrics = Arc::new(Metrics::new());
        let malformed = serde_json::json!({"spec": {"containers": [{"name": "a", "image": 5}]}});
        let (status, review) = post(
            counted_by(loaded.clone(), metrics.clone()),
            "CREATE",
            malformed,
        )
        .await;
        assert_eq!(
            (status, &review["response"]["allowed"]),
            (StatusCode::OK, &true.into())
        );
        let (_, review) = post(
            counted_by(loaded, metrics.clone()),
            "PATCH",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(review["response"]["allowed"], true);
        let text = metrics.encode(crate::metrics::Exposition::OpenMetrics);
        let unreadable = r#"imagelookup_unresolved_references_total{reason="unreadable"} 1"#;
        let unknown = r#"imagelookup_admission_skipped_total{reason="unknown_operation"} 1"#;
        assert!(text.contains(unreadable), "{text}");
        assert!(text.contains(unknown), "{text}");
    }

    #[tokio::test]
    async fn before_the_index_is_loaded_admission_answers_503_for_the_failure_policy() {
        let (status, review) = post_review(router(LiveIndex::new())).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let response = &review["response"];
        assert_eq!(
            (&response["uid"], &response["allowed"]),
            (&"u-1".into(), &false.into())
        );
        assert_eq!(response["status"]["code"], 503);
        let loaded = LiveIndex::new();
        loaded.reset(Vec::<crate::api::ImageStream>::new(), 1);
        let (status, review) = post_review(router(loaded)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(review["response"]["allowed"], true);
    }

    #[tokio::test]
    async fn a_review_past_the_servers_body_budget_is_answered_503_saying_why() {
        let loaded = LiveIndex::new();
        loaded.reset(Vec::<crate::api::ImageStream>::new(), 1);
        // A review is a few hundred bytes (one KiB permit): a spent budget refuses it.
        let tiny = crate::server::BodyBudget::new(0);
        let metrics = Arc::new(Metrics::new());
        let counted = counted_by(loaded.clone(), metrics.clone());
        let (status, review) = post_review(tiny.guard(counted)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{review}");
        let message = review["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("too many large request bodies"),
            "{message}"
        );
        // Counted as the server being busy, not as a caller sending garbage.
        let text = metrics.encode(crate::metrics::Exposition::OpenMetrics);
        let busy = r#"imagelookup_admission_requests_total{kind="",operation="",outcome="Busy"} 1"#;
        assert!(text.contains(busy), "{text}");
        let invalid =
            r#"imagelookup_admission_requests_total{kind="",operation="",outcome="Invalid"} 0"#;
        assert!(text.contains(invalid), "{text}");
        assert!(
            text.contains("imagelookup_admission_duration_seconds_count 0"),
            "answered unread, not timed: {text}"
        );
        // Room for one review at a time: ten in a row each find it again.
        let one = crate::server::BodyBudget::new(1 << 10);
        for _ in 0..10 {
            let (status, _) = post_review(one.guard(router(loaded.clone()))).await;
            assert_eq!(status, StatusCode::OK, "each review gives its share back");
        }
        let ample = crate::server::BodyBudget::new(1 << 20);
        let (status, _) = post_review(ample.guard(router(LiveIndex::new()))).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "not loaded, as before"
        );
    }
}
