//! `kubectl auth can-i` and `kubectl auth whoami`: the self reviews of
//! [`crate::apiserver::self_review`], decoded (JSON, YAML, or protobuf as kubectl sends them)
//! and answered `201 Created` with the review and its status, as kube-apiserver answers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, SelfSubjectReviewStatus};
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SelfSubjectRulesReview};
use serde_json::Value;

use crate::apiserver::error::{ApiError, GroupKind};
use crate::apiserver::http::{self, header_text};
use crate::apiserver::state::{ApiState, Caller};
use crate::apiserver::{negotiate, protobuf, self_review};

/// The kind of an access review's 422.
const ACCESS_REVIEW: GroupKind = GroupKind::new("authorization.k8s.io", "SelfSubjectAccessReview");

/// `POST` [`self_review::ACCESS_REVIEWS`]: may the caller do this?
pub(super) async fn access_review(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = (&method, &headers, &body[..]);
    answer(
        request,
        protobuf::decode_access_review,
        ACCESS_REVIEW.kind,
        |review: &mut SelfSubjectAccessReview| {
            let policy = state.auth.policy.as_ref();
            let status = self_review::access_status(policy, &caller.0, &review.spec)
                .map_err(|error| ApiError::invalid(ACCESS_REVIEW, "", vec![*error]))?;
            review.status = Some(status);
            Ok(())
        },
    )
}

/// `POST` [`self_review::RULES_REVIEWS`]: what may the caller do in a namespace?
pub(super) async fn rules_review(
    State(state): State<Arc<ApiState>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = (&method, &headers, &body[..]);
    let kind = "SelfSubjectRulesReview";
    answer(
        request,
        protobuf::decode_rules_review,
        kind,
        |review: &mut SelfSubjectRulesReview| {
            let namespace = review.spec.namespace.as_deref().unwrap_or_default();
            let policy = state.auth.policy.as_ref();
            review.status = Some(self_review::rules_status(policy, &caller.0, namespace));
            Ok(())
        },
    )
}

/// A review's answer: the request's body read as the review `T` (named `kind` in errors;
/// protobuf read by `protobuf`), its status filled by `fill`, answered 201; else the error.
fn answer<T>(
    (method, headers, body): (&Method, &HeaderMap, &[u8]),
    protobuf: fn(&[u8]) -> Result<Value, protobuf::ProtobufError>,
    kind: &str,
    fill: impl FnOnce(&mut T) -> Result<(), ApiError>,
) -> Response
where
    T: k8s_openapi::Resource + serde::Serialize + serde::de::DeserializeOwned,
{
    let answered = read(method, headers, body, protobuf)
        .and_then(|body| typed::<T>(body, kind))
        .and_then(|mut review| fill(&mut review).map(|()| review));
    match answered {
        Ok(review) => created(&review),
        Err(error) => error.into_response(),
    }
}

/// `POST` [`self_review::SUBJECT_REVIEWS`]: who is the caller? The body holds nothing to read.
pub(super) async fn subject_review(
    Extension(caller): Extension<Caller>,
    method: Method,
) -> Response {
    if method != Method::POST {
        return ApiError::MethodNotAllowed.into_response();
    }
    let review = SelfSubjectReview {
        status: Some(SelfSubjectReviewStatus {
            user_info: Some(self_review::user_info(&caller.0)),
        }),
        ..SelfSubjectReview::default()
    };
    created(&review)
}

/// The body of a `POST` as JSON: decoded by its `Content-Type`, protobuf by `protobuf`.
fn read(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    protobuf: fn(&[u8]) -> Result<Value, protobuf::ProtobufError>,
) -> Result<Value, ApiError> {
    if *method != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let content_type = header_text(headers, header::CONTENT_TYPE);
    let media = content_type.and_then(|value| value.split(';').next());
    if media.is_some_and(|media| media.trim().eq_ignore_ascii_case(protobuf::MEDIA_TYPE)) {
        return protobuf(body)
            .map_err(|error| ApiError::bad_request(format!("error decoding protobuf: {error}")));
    }
    let format = negotiate::body_format(content_type)?;
    negotiate::decode_body(body, format)
}

/// `body` as the review `T` (named `kind` in the error).
fn typed<T: serde::de::DeserializeOwned>(body: Value, kind: &str) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|error| ApiError::undecodable(kind, error))
}

/// `201 Created` with `review`, as kube-apiserver answers a review.
fn created<T: k8s_openapi::Resource + serde::Serialize>(review: &T) -> Response {
    match serde_json::to_value(review) {
        Ok(body) => http::json(StatusCode::CREATED, "application/json", &body),
        Err(error) => ApiError::internal(error).into_response(),
    }
}
