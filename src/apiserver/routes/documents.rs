//! `/version`, the discovery documents (`/api`, `/apis`, aggregated or not) and OpenAPI.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::apiserver::discovery::{self, AggregatedVersion};
use crate::apiserver::error::ApiError;
use crate::apiserver::http::{self, header_text};
use crate::apiserver::openapi::{self, Audience};
use crate::apiserver::state::{ApiState, Caller};

pub(super) async fn version() -> Response {
    let info = discovery::version_info(&discovery::BuildInfo::CURRENT);
    http::json(StatusCode::OK, "application/json", &info)
}

pub(super) async fn core_versions(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Response {
    match discovery::negotiate_aggregated(header_text(&headers, header::ACCEPT)) {
        Some(version) => aggregated(version, discovery::aggregated_core(version)),
        None => http::json(
            StatusCode::OK,
            "application/json",
            &discovery::api_versions(&state.server_address),
        ),
    }
}

pub(super) async fn group_list(headers: HeaderMap) -> Response {
    match discovery::negotiate_aggregated(header_text(&headers, header::ACCEPT)) {
        Some(version) => aggregated(version, discovery::aggregated_apis(version)),
        None => http::json(
            StatusCode::OK,
            "application/json",
            &discovery::api_group_list(),
        ),
    }
}

fn aggregated(version: AggregatedVersion, body: serde_json::Value) -> Response {
    http::json(StatusCode::OK, version.content_type(), &body)
}

pub(super) async fn openapi_index(Extension(caller): Extension<Caller>) -> Response {
    let document = openapi::v3_index(audience(&caller));
    http::bytes_response(StatusCode::OK, openapi::JSON_CONTENT_TYPE, document.bytes())
}

pub(super) async fn openapi_group_version(
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Response {
    let path = uri.path().trim_start_matches("/openapi/v3/");
    match openapi::v3_group_version(path, audience(&caller)) {
        Some(document) => {
            http::bytes_response(StatusCode::OK, openapi::JSON_CONTENT_TYPE, document.bytes())
        }
        None => ApiError::PathNotFound.into_response(),
    }
}

fn audience(caller: &Caller) -> Audience {
    Audience::of(caller.0.delegated)
}

/// Swagger 2.0 in JSON, or in the protobuf kubectl asks for (a 404 for any other type), the
/// aggregator's without the core group (see [`Audience`]).
pub(super) async fn openapi_v2(
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    let audience = audience(&caller);
    let accept = header_text(&headers, header::ACCEPT).unwrap_or("");
    // kubectl asks for protobuf only (`…spec.v2@v1.0+protobuf`; older clients `.v2.v1.0+`).
    if accept.contains("com.github.proto-openapi.spec.v2") {
        return http::bytes_response(
            StatusCode::OK,
            openapi::V2_PROTOBUF_CONTENT_TYPE,
            openapi::v2_protobuf(audience),
        );
    }
    if !accept.is_empty() && !accept.contains("json") && !accept.contains("*/*") {
        return ApiError::PathNotFound.into_response();
    }
    http::bytes_response(
        StatusCode::OK,
        openapi::JSON_CONTENT_TYPE,
        openapi::v2(audience).bytes(),
    )
}
