//! `/version`, the discovery documents (`/api`, `/apis`, aggregated or not) and OpenAPI.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::apiserver::discovery::{self, AggregatedVersion};
use crate::apiserver::error::ApiError;
use crate::apiserver::http::{self, header_text};
use crate::apiserver::openapi;
use crate::apiserver::state::ApiState;

pub(super) async fn version() -> Response {
    let info = discovery::version_info(&discovery::BuildInfo::CURRENT);
    http::json(StatusCode::OK, "application/json", &info)
}

pub(super) async fn core_versions(State(state): State<ApiState>, headers: HeaderMap) -> Response {
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

pub(super) async fn openapi_index() -> Response {
    let document = openapi::v3_index();
    http::bytes_response(StatusCode::OK, openapi::JSON_CONTENT_TYPE, document.bytes())
}

pub(super) async fn openapi_group_version(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches("/openapi/v3/");
    match openapi::v3_group_version(path) {
        Some(document) => {
            http::bytes_response(StatusCode::OK, openapi::JSON_CONTENT_TYPE, document.bytes())
        }
        None => ApiError::PathNotFound.into_response(),
    }
}

/// Swagger 2.0 in JSON only; kubectl asks for protobuf and tolerates the 404.
pub(super) async fn openapi_v2(headers: HeaderMap) -> Response {
    let accept = header_text(&headers, header::ACCEPT).unwrap_or("");
    // kubectl asks for protobuf only (`…spec.v2@v1.0+protobuf`; older clients `.v2.v1.0+`).
    if accept.contains("com.github.proto-openapi.spec.v2") {
        return http::bytes_response(
            StatusCode::OK,
            openapi::V2_PROTOBUF_CONTENT_TYPE,
            openapi::v2_protobuf(),
        );
    }
    if !accept.is_empty() && !accept.contains("json") && !accept.contains("*/*") {
        return ApiError::PathNotFound.into_response();
    }
    http::bytes_response(
        StatusCode::OK,
        openapi::JSON_CONTENT_TYPE,
        openapi::v2().bytes(),
    )
}
