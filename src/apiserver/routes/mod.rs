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
use crate::apiserver::state::{ApiState, Caller};
use crate::auth::requestheader::RequestHeaderAuthenticator;

mod auth;
mod call;
mod documents;

use auth::{authenticate, observe_latency};
use call::Call;
use documents::{
    core_versions, group_list, openapi_group_version, openapi_index, openapi_v2, version,
};

/// `/version`: no token and no store, so it answers from the first accept, also while etcd
/// is not connected yet (as kube-apiserver's does whatever its storage's state).
pub fn public_routes() -> Router {
    Router::new().route("/version", get(version))
}

/// The API routes; every one needs a token (`/version` is in [`public_routes`]).
pub fn router(state: ApiState) -> Router {
    let authenticated = Router::new()
        .route("/api", get(core_versions))
        .route("/apis", get(group_list))
        .route("/api/{*rest}", any(dispatch))
        .route("/apis/{*rest}", any(dispatch))
        .route("/openapi/v3", get(openapi_index))
        .route("/openapi/v3/{*path}", get(openapi_group_version))
        .route("/openapi/v2", get(openapi_v2))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe_latency,
        ));
    Router::new()
        .merge(authenticated)
        .fallback(not_found)
        .with_state(state)
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
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(document) = group_document(uri.path()) {
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
    match call.serve(uri.path(), body).await {
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
