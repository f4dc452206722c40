//! The router: discovery and OpenAPI documents, and one dispatcher for every resource path,
//! behind authentication: request headers from a trusted front proxy, else a bearer token.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};

use crate::apiserver::discovery;
use crate::apiserver::error::ApiError;
use crate::apiserver::http;
use crate::apiserver::options::Query;
use crate::apiserver::self_review::{ACCESS_REVIEWS, RULES_REVIEWS, SUBJECT_REVIEWS};
use crate::apiserver::state::{ApiState, Auth, Caller};
use crate::auth::requestheader::RequestHeaderAuthenticator;
use crate::metrics::Metrics;

mod auth;
mod call;
mod documents;
mod isimport;
mod istag;
mod self_review;

use auth::{authenticate, observe_latency};
use call::Call;
use documents::{
    core_versions, group_list, openapi_group_version, openapi_index, openapi_v2, version,
};

/// `/version`: no token and no store, so it answers from the first accept, also while etcd
/// is not connected yet (as kube-apiserver's does whatever its storage's state).
/// `/version/` too: kube-apiserver registers the path with go-restful, which answers it with
/// and without the slash, and the OpenAPI spec (so the Python client's `VersionApi`) names
/// `/version/`.
pub fn public_routes() -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/version/", get(version))
}

/// The paths behind authentication, in both [`router`] and [`unready_router`]. The roots
/// answer with a trailing slash as well, as kube-apiserver's do (the Python client's
/// `CoreApi` and `ApisApi` ask for `/api/` and `/apis/`).
const AUTHENTICATED_PATHS: [&str; 9] = [
    "/api",
    "/apis",
    "/api/",
    "/apis/",
    "/api/{*rest}",
    "/apis/{*rest}",
    "/openapi/v3",
    "/openapi/v3/{*path}",
    "/openapi/v2",
];

/// The API routes; every one needs a token (`/version` is in [`public_routes`]).
pub fn router(state: ApiState) -> Router {
    let routes = Router::new()
        .route(AUTHENTICATED_PATHS[0], get(core_versions))
        .route(AUTHENTICATED_PATHS[1], get(group_list))
        .route(AUTHENTICATED_PATHS[2], get(core_versions))
        .route(AUTHENTICATED_PATHS[3], get(group_list))
        .route(AUTHENTICATED_PATHS[4], any(dispatch))
        .route(AUTHENTICATED_PATHS[5], any(dispatch))
        .route(AUTHENTICATED_PATHS[6], get(openapi_index))
        .route(AUTHENTICATED_PATHS[7], get(openapi_group_version))
        .route(AUTHENTICATED_PATHS[8], get(openapi_v2))
        // `kubectl auth can-i` and `whoami`, for a server used alone: not in discovery, as
        // behind the kube-apiserver these are the cluster's (kubectl does not look them up).
        .route(ACCESS_REVIEWS, any(self_review::access_review))
        .route(RULES_REVIEWS, any(self_review::rules_review))
        .route(SUBJECT_REVIEWS, any(self_review::subject_review));
    let (auth, metrics) = (state.auth.clone(), state.metrics.clone());
    // One `Arc`: axum clones the state for every request, and a dozen reference counts and
    // the server address copied for each would be work for nothing.
    guarded(routes, auth, metrics).with_state(Arc::new(state))
}

/// The API's paths before the store is connected: the caller is authenticated first, as
/// kube-apiserver does whatever its storage's state (a request without a token gets 401,
/// not 503), then every path answers 503 `ServiceUnavailable`.
pub fn unready_router(auth: Arc<Auth>, metrics: Arc<Metrics>) -> Router {
    let routes = AUTHENTICATED_PATHS
        .iter()
        .fold(Router::new(), |routes, path| {
            routes.route(path, any(store_not_connected))
        });
    guarded(routes, auth, metrics)
}

/// `routes` behind authentication and the latency metric, with the JSON 404 for every
/// other path.
fn guarded<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    auth: Arc<Auth>,
    metrics: Arc<Metrics>,
) -> Router<S> {
    let authenticated = routes
        .layer(middleware::from_fn_with_state(auth, authenticate))
        .layer(middleware::from_fn_with_state(metrics, observe_latency));
    Router::new().merge(authenticated).fallback(not_found)
}

async fn store_not_connected() -> Response {
    ApiError::Unreachable("the store is not connected yet; retry shortly".to_string())
        .into_response()
}

/// Every other path: the path-not-found Status, so clients always get JSON.
async fn not_found() -> Response {
    ApiError::PathNotFound.into_response()
}

/// Enables request-header authentication on `router` (from [`router`]): requests whose
/// connection presented a front-proxy certificate are authenticated by their headers.
pub fn with_request_header(router: Router, authenticator: RequestHeaderAuthenticator) -> Router {
    // An extension rather than a field of `ApiState`, so the state stays as it is; the
    // middleware below finds it in every request.
    router.layer(Extension(Arc::new(authenticator)))
}

/// Every `/api/...` and `/apis/...` path: group documents, then resources.
async fn dispatch(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Served decoded, as kube-apiserver serves Go's `URL.Path`: clients escape path segments
    // (the Python client sends `db:8` as `db%3A8`), and an escaped `/` separates segments there.
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    if let Some(document) = group_document(&path) {
        return match method {
            Method::GET => http::json(StatusCode::OK, "application/json", &document),
            _ => ApiError::MethodNotAllowed.into_response(),
        };
    }
    let call = Call {
        state: &state,
        caller: &caller,
        method: &method,
        headers: &headers,
        query: Query::parse(uri.query()),
    };
    match call.serve(&path, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// `/apis/<group>`, `/apis/<group>/<version>` and `/api/v1`.
fn group_document(path: &str) -> Option<serde_json::Value> {
    let trimmed = path.trim_end_matches('/');
    match trimmed
        .trim_start_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["apis", group] => discovery::api_group(group),
        ["apis", _, _] | ["api", _] => discovery::api_resource_list_for(trimmed),
        _ => None,
    }
}
