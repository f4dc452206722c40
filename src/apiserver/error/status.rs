//! An [`ApiError`] as kube-apiserver's `Status`: its code, reason, message and `details`
//! (causes, `retryAfterSeconds`), the HTTP response that carries it, and the Success Status
//! of a DELETE.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::{ApiError, FieldConflict, GroupResource, INTERNAL_MESSAGE};
use crate::field::FieldError;

// === impl ApiError ===

impl ApiError {
    /// The HTTP status, equal to the Status `code`.
    pub fn code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } | Self::PathNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable { .. } => 406,
            Self::AlreadyExists { .. }
            | Self::GenerateNameConflict { .. }
            | Self::Conflict { .. }
            | Self::ApplyConflict(_) => 409,
            Self::Expired(_) | Self::ContinueExpired(_) | Self::Gone(_) => 410,
            Self::RequestEntityTooLarge(_) => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::Invalid { .. } | Self::Unprocessable(_) => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Internal(_) | Self::Unreadable(_) => 500,
            Self::ServiceUnavailable(_) | Self::Unreachable(_) => 503,
            Self::Timeout { .. } | Self::TooLargeResourceVersion { .. } => 504,
        }
    }

    /// The Status `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BadRequest",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound { .. } | Self::PathNotFound => "NotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotAcceptable { .. } => "NotAcceptable",
            Self::AlreadyExists { .. } | Self::GenerateNameConflict { .. } => "AlreadyExists",
            Self::Conflict { .. } | Self::ApplyConflict(_) => "Conflict",
            Self::Expired(_) | Self::ContinueExpired(_) => "Expired",
            Self::Gone(_) => "Gone",
            Self::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            Self::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            Self::Invalid { .. } | Self::Unprocessable(_) => "Invalid",
            Self::TooManyRequests { .. } => "TooManyRequests",
            Self::Internal(_) | Self::Unreadable(_) => "InternalError",
            Self::ServiceUnavailable(_) | Self::Unreachable(_) => "ServiceUnavailable",
            Self::Timeout { .. } | Self::TooLargeResourceVersion { .. } => "Timeout",
        }
    }

    /// Seconds the client should wait before retrying, when the error says so.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        match self {
            Self::TooManyRequests {
                retry_after_seconds,
                ..
            }
            | Self::Timeout {
                retry_after_seconds,
                ..
            } if *retry_after_seconds > 0 => Some(*retry_after_seconds),
            // A store that was not reached: client-go retries a 5xx that says when, as for
            // kube-apiserver's unreachable-storage answer.
            Self::TooLargeResourceVersion { .. }
            | Self::GenerateNameConflict { .. }
            | Self::Unreachable(_) => Some(1),
            _ => None,
        }
    }

    /// The Status `message`: the `Display`, except that internal causes stay private.
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) => format!("Internal error occurred: {INTERNAL_MESSAGE}"),
            other => other.to_string(),
        }
    }

    /// The exact `Status` object kube-apiserver would send for this error.
    pub fn status(&self) -> Value {
        let mut status = Map::new();
        status.insert("kind".into(), "Status".into());
        status.insert("apiVersion".into(), "v1".into());
        status.insert("metadata".into(), self.list_meta());
        status.insert("status".into(), "Failure".into());
        status.insert("message".into(), self.message().into());
        status.insert("reason".into(), self.reason().into());
        if let Some(details) = self.details() {
            status.insert("details".into(), Value::Object(details));
        }
        status.insert("code".into(), self.code().into());
        Value::Object(status)
    }

    /// The Status `metadata` (a `ListMeta`): only an expired continue token fills it in.
    fn list_meta(&self) -> Value {
        match self {
            Self::ContinueExpired(Some(token)) => json!({"continue": token}),
            _ => json!({}),
        }
    }

    /// `details`, present exactly where the apiserver's constructors set it.
    fn details(&self) -> Option<Map<String, Value>> {
        let details = match self {
            Self::Forbidden { resource, name, .. } => {
                let (group, kind) = resource.map_or(("", ""), |r| (r.group, r.resource));
                details(name, group, kind)
            }
            Self::NotFound { resource, name }
            | Self::AlreadyExists { resource, name }
            | Self::GenerateNameConflict { resource, name }
            | Self::Conflict { resource, name, .. } => {
                details(name, resource.group, resource.resource)
            }
            Self::PathNotFound | Self::MethodNotAllowed => Map::new(),
            Self::ApplyConflict(conflicts) => with_causes(Map::new(), conflict_causes(conflicts)),
            Self::Invalid { kind, name, errors } => {
                with_causes(details(name, kind.group, kind.kind), field_causes(errors))
            }
            Self::Internal(_) => with_causes(Map::new(), vec![cause("", INTERNAL_MESSAGE, "")]),
            Self::Unreadable(message) => with_causes(Map::new(), vec![cause("", message, "")]),
            Self::TooLargeResourceVersion { .. } => {
                let causes = vec![cause(
                    "ResourceVersionTooLarge",
                    "Too large resource version",
                    "",
                )];
                with_causes(Map::new(), causes)
            }
            Self::TooManyRequests { .. } | Self::Timeout { .. } | Self::Unreachable(_) => {
                Map::new()
            }
            _ => return None,
        };
        Some(with_retry_after(details, self.retry_after_seconds()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(source) = &self {
            tracing::error!(error = %source, "internal error answering a request");
        }
        let code = StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.status().to_string();
        let content_type = [(header::CONTENT_TYPE, "application/json")];
        let mut response = (code, content_type, body).into_response();
        if let Some(seconds) = self.retry_after_seconds() {
            let value = HeaderValue::from(seconds);
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

// === Status pieces ===

/// `{name, group, kind}`, each omitted when empty (Go's `omitempty`).
fn details(name: &str, group: &str, kind: &str) -> Map<String, Value> {
    let mut details = Map::new();
    for (key, value) in [("name", name), ("group", group), ("kind", kind)] {
        if !value.is_empty() {
            details.insert(key.into(), value.into());
        }
    }
    details
}

fn with_causes(mut details: Map<String, Value>, causes: Vec<Value>) -> Map<String, Value> {
    details.insert("causes".into(), Value::Array(causes));
    details
}

fn with_retry_after(mut details: Map<String, Value>, seconds: Option<u32>) -> Map<String, Value> {
    if let Some(seconds) = seconds {
        details.insert("retryAfterSeconds".into(), seconds.into());
    }
    details
}

/// One `StatusCause`, empty members omitted as Go does.
fn cause(reason: &str, message: &str, field: &str) -> Value {
    let mut cause = Map::new();
    for (key, value) in [("reason", reason), ("message", message), ("field", field)] {
        if !value.is_empty() {
            cause.insert(key.into(), value.into());
        }
    }
    Value::Object(cause)
}

fn field_causes(errors: &[FieldError]) -> Vec<Value> {
    errors
        .iter()
        .map(|e| cause(e.kind.cause_reason(), &e.body(), &e.field))
        .collect()
}

fn conflict_causes(conflicts: &[FieldConflict]) -> Vec<Value> {
    conflicts
        .iter()
        .map(|c| {
            let message = format!("conflict with {}", c.manager);
            cause("FieldManagerConflict", &message, &c.field)
        })
        .collect()
}

/// The body of a successful DELETE (`ReturnDeletedObject=false`, as OpenShift answers).
pub fn success_status(resource: GroupResource, name: &str, uid: &str) -> Value {
    let mut details = details(name, resource.group, resource.resource);
    if !uid.is_empty() {
        details.insert("uid".into(), uid.into());
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
           "details": details})
}
