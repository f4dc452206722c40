//! Kubernetes `Status` errors: one variant per failure, rendered the way kube-apiserver renders
//! them (`staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`) and always sent with
//! `code == HTTP status` and `Content-Type: application/json` (k8s-api-contract §5).
//!
//! The `Display` of every variant is exactly the Status `message`, except [`ApiError::Internal`],
//! whose `Display` carries the real cause for the log while the client gets a generic message.

use std::fmt;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::field::FieldError;

/// A boxed error, the payload of [`ApiError::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`ApiError`] as the default error.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// What an `Internal` error tells the client; the real cause only goes to the log.
pub const INTERNAL_MESSAGE: &str = "an unexpected server error occurred; see the server log";

/// The message of an expired continue token (`storage` package, `NewResourceExpired`).
pub const CONTINUE_EXPIRED_MESSAGE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// A resource qualified by its API group, e.g. `imagestreams.image.openshift.io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupResource {
    /// The API group; `""` for the core group.
    pub group: &'static str,
    /// The resource plural, e.g. `imagestreams`.
    pub resource: &'static str,
}

impl GroupResource {
    /// A group-qualified resource.
    pub const fn new(group: &'static str, resource: &'static str) -> Self {
        Self { group, resource }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            "" => f.write_str(self.resource),
            group => write!(f, "{}.{group}", self.resource),
        }
    }
}

/// A kind qualified by its API group, e.g. `ImageStream.image.openshift.io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupKind {
    /// The API group; `""` for the core group.
    pub group: &'static str,
    /// The kind, e.g. `ImageStream`.
    pub kind: &'static str,
}

impl GroupKind {
    /// A group-qualified kind.
    pub const fn new(group: &'static str, kind: &'static str) -> Self {
        Self { group, kind }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            "" => f.write_str(self.kind),
            group => write!(f, "{}.{group}", self.kind),
        }
    }
}

/// `imagestreams.image.openshift.io`, the resource of every object error about streams.
pub const IMAGE_STREAMS: GroupResource = GroupResource::new(crate::api::GROUP, "imagestreams");
/// `ImageStream.image.openshift.io`, the kind of 422 validation errors about streams.
pub const IMAGE_STREAM_KIND: GroupKind = GroupKind::new(crate::api::GROUP, "ImageStream");
/// The kind of 422 errors about list and watch query parameters.
pub const LIST_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "ListOptions");
/// The kind of 422 errors about create query parameters.
pub const CREATE_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "CreateOptions");
/// The kind of 422 errors about update query parameters.
pub const UPDATE_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "UpdateOptions");
/// The kind of 422 errors about patch query parameters.
pub const PATCH_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "PatchOptions");
/// The kind of 422 errors about delete options.
pub const DELETE_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "DeleteOptions");

/// One server-side-apply conflict: a field another manager owns with a different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldConflict {
    /// The other manager as structured-merge-diff prints it; see [`describe_manager`].
    pub manager: String,
    /// The field path in SSA notation, e.g. `.spec.lookupPolicy.local`.
    pub field: String,
}

/// Prints a manager the way the apiserver's `printManager` does: `"kubectl"`, with
/// `with subresource "status"` and, for `Update` entries, `using <apiVersion>[ at <time>]`.
pub fn describe_manager(
    manager: &str,
    subresource: &str,
    update_api_version: Option<&str>,
    time: Option<&str>,
) -> String {
    let mut text = format!("{manager:?}");
    if !subresource.is_empty() {
        text.push_str(&format!(" with subresource {subresource:?}"));
    }
    if let Some(api_version) = update_api_version {
        text.push_str(&format!(" using {api_version}"));
        if let Some(time) = time {
            text.push_str(&format!(" at {time}"));
        }
    }
    text
}

/// A failed request, one variant per Kubernetes `Status` reason.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a request that cannot be understood (bad selector, malformed body or token, …).
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or invalid credentials.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: denied by authorization or admission; see [`ApiError::access_denied`].
    #[error("{}", forbidden_message(*.resource, .name, .reason))]
    Forbidden {
        /// The resource, when the request named one.
        resource: Option<GroupResource>,
        /// The object name, or `""`.
        name: String,
        /// Why, e.g. `User "alice" cannot get resource …`.
        reason: String,
    },
    /// 404 for a named object: `imagestreams.image.openshift.io "demo" not found`.
    #[error("{resource} {name:?} not found")]
    NotFound {
        /// The resource looked up.
        resource: GroupResource,
        /// The missing object's name.
        name: String,
    },
    /// 404 for a path nothing is served at.
    #[error("the server could not find the requested resource")]
    PathNotFound,
    /// 405: the verb is not served on this path.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 406: the `Accept` header offers nothing this server produces.
    #[error("only the following media types are accepted: {}", .accepted.join(", "))]
    NotAcceptable {
        /// The media types this server can produce.
        accepted: Vec<&'static str>,
    },
    /// 409: create of a name that is taken.
    #[error("{resource} {name:?} already exists")]
    AlreadyExists {
        /// The resource created.
        resource: GroupResource,
        /// The taken name.
        name: String,
    },
    /// 409: optimistic-concurrency or precondition failure.
    #[error("Operation cannot be fulfilled on {resource} {name:?}: {reason}")]
    Conflict {
        /// The resource written.
        resource: GroupResource,
        /// The object name.
        name: String,
        /// Why, e.g. `the object has been modified; …` or `Precondition failed: …`.
        reason: String,
    },
    /// 409: server-side apply conflicts, one `FieldManagerConflict` cause each.
    #[error("{}", apply_conflict_message(.0))]
    ApplyConflict(Vec<FieldConflict>),
    /// 422 `Invalid` with a message and no field causes (a patch that cannot be applied).
    #[error("{0}")]
    Unprocessable(String),
    /// 410 `Expired`: a continue token or resourceVersion older than the retained history.
    #[error("{0}")]
    Expired(String),
    /// 410 `Gone`.
    #[error("{0}")]
    Gone(String),
    /// 413: the body (or a JSON patch) is too large.
    #[error("Request entity too large: {0}")]
    RequestEntityTooLarge(String),
    /// 415: the request body's `Content-Type` is not accepted here.
    #[error("the body of the request was in an unknown format - accepted media types include: {}", .accepted.join(", "))]
    UnsupportedMediaType {
        /// The media types accepted for this request.
        accepted: Vec<&'static str>,
    },
    /// 422: validation failed; `kind` is e.g. [`IMAGE_STREAM_KIND`] or [`LIST_OPTIONS`].
    #[error("{}", invalid_message(*.kind, .name, .errors))]
    Invalid {
        /// The kind that failed validation.
        kind: GroupKind,
        /// The object name, `""` for options.
        name: String,
        /// The causes.
        errors: Vec<FieldError>,
    },
    /// 429: overloaded; the client retries after `retry_after_seconds`.
    #[error("{message}")]
    TooManyRequests {
        /// Human text.
        message: String,
        /// Sent as `Retry-After` and `details.retryAfterSeconds`.
        retry_after_seconds: u32,
    },
    /// 500: a bug or an unexpected I/O failure. Logged; the client sees [`INTERNAL_MESSAGE`].
    #[error("Internal error occurred: {0}")]
    Internal(#[source] BoxError),
    /// 503: the server (for example its store) is not ready.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 504: the request or a wait timed out.
    #[error("Timeout: {message}")]
    Timeout {
        /// Human text, printed after `Timeout: `.
        message: String,
        /// Sent as `Retry-After` and `details.retryAfterSeconds` when non-zero.
        retry_after_seconds: u32,
    },
    /// 504 `Timeout` for a resourceVersion newer than the store, with the
    /// `ResourceVersionTooLarge` cause client-go retries on.
    #[error("Timeout: Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion {
        /// The resourceVersion asked for.
        requested: u64,
        /// The store's current revision.
        current: u64,
    },
}

fn forbidden_message(resource: Option<GroupResource>, name: &str, reason: &str) -> String {
    match resource {
        None => format!("forbidden: {reason}"),
        Some(resource) if name.is_empty() => format!("{resource} is forbidden: {reason}"),
        Some(resource) => format!("{resource} {name:?} is forbidden: {reason}"),
    }
}

fn invalid_message(kind: GroupKind, name: &str, errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return format!("{kind} {name:?} is invalid");
    }
    crate::field::invalid_message(&kind.to_string(), name, errors)
}

/// structured-merge-diff's wording: one conflict inline, several grouped by sorted manager.
fn apply_conflict_message(conflicts: &[FieldConflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        let fields = conflicts.iter().filter(|c| c.manager == manager);
        lines.extend(fields.map(|c| format!("- {}", c.field)));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

// === impl ApiError ===

impl ApiError {
    /// A 400 with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// A 404 for a named object.
    pub fn not_found(resource: GroupResource, name: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            name: name.into(),
        }
    }

    /// A 409 `AlreadyExists`.
    pub fn already_exists(resource: GroupResource, name: impl Into<String>) -> Self {
        Self::AlreadyExists {
            resource,
            name: name.into(),
        }
    }

    /// The 409 for a stale `metadata.resourceVersion` on update.
    pub fn modified(resource: GroupResource, name: impl Into<String>) -> Self {
        Self::Conflict {
            resource,
            name: name.into(),
            reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }
    }

    /// A 422 with these causes.
    pub fn invalid(kind: GroupKind, name: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::Invalid {
            kind,
            name: name.into(),
            errors,
        }
    }

    /// A 500 wrapping the real cause (logged when the response is built).
    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::Internal(error.into())
    }

    /// The 410 for a resourceVersion below the retained history: `too old resource version: N (M)`.
    pub fn too_old_resource_version(requested: u64, oldest: u64) -> Self {
        Self::Expired(format!("too old resource version: {requested} ({oldest})"))
    }

    /// The 410 for a continue token whose snapshot was compacted away.
    pub fn continue_expired() -> Self {
        Self::Expired(CONTINUE_EXPIRED_MESSAGE.to_string())
    }

    /// The RBAC-style 403: `User "alice" cannot get resource "imagestreams" in API group
    /// "image.openshift.io" in the namespace "ns"` (`at the cluster scope` without a namespace).
    pub fn access_denied(
        user: &str,
        verb: &str,
        resource: GroupResource,
        subresource: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        let target = match subresource {
            "" => resource.resource.to_string(),
            sub => format!("{}/{sub}", resource.resource),
        };
        let scope = match namespace {
            "" => "at the cluster scope".to_string(),
            ns => format!("in the namespace {ns:?}"),
        };
        let group = resource.group;
        Self::Forbidden {
            resource: Some(resource),
            name: name.to_string(),
            reason: format!(
                "User {user:?} cannot {verb} resource {target:?} in API group {group:?} {scope}"
            ),
        }
    }

    /// The HTTP status, equal to the Status `code`.
    pub fn code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } | Self::PathNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable { .. } => 406,
            Self::AlreadyExists { .. } | Self::Conflict { .. } | Self::ApplyConflict(_) => 409,
            Self::Expired(_) | Self::Gone(_) => 410,
            Self::RequestEntityTooLarge(_) => 413,
            Self::UnsupportedMediaType { .. } => 415,
            Self::Invalid { .. } | Self::Unprocessable(_) => 422,
            Self::TooManyRequests { .. } => 429,
            Self::Internal(_) => 500,
            Self::ServiceUnavailable(_) => 503,
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
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::Conflict { .. } | Self::ApplyConflict(_) => "Conflict",
            Self::Expired(_) => "Expired",
            Self::Gone(_) => "Gone",
            Self::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            Self::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            Self::Invalid { .. } | Self::Unprocessable(_) => "Invalid",
            Self::TooManyRequests { .. } => "TooManyRequests",
            Self::Internal(_) => "InternalError",
            Self::ServiceUnavailable(_) => "ServiceUnavailable",
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
            Self::TooLargeResourceVersion { .. } => Some(1),
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
        status.insert("metadata".into(), json!({}));
        status.insert("status".into(), "Failure".into());
        status.insert("message".into(), self.message().into());
        status.insert("reason".into(), self.reason().into());
        if let Some(details) = self.details() {
            status.insert("details".into(), Value::Object(details));
        }
        status.insert("code".into(), self.code().into());
        Value::Object(status)
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
            | Self::Conflict { resource, name, .. } => {
                details(name, resource.group, resource.resource)
            }
            Self::PathNotFound | Self::MethodNotAllowed => Map::new(),
            Self::ApplyConflict(conflicts) => with_causes(Map::new(), conflict_causes(conflicts)),
            Self::Invalid { kind, name, errors } => {
                with_causes(details(name, kind.group, kind.kind), field_causes(errors))
            }
            Self::Internal(_) => with_causes(Map::new(), vec![cause("", INTERNAL_MESSAGE, "")]),
            Self::TooLargeResourceVersion { .. } => {
                let causes = vec![cause(
                    "ResourceVersionTooLarge",
                    "Too large resource version",
                    "",
                )];
                with_causes(Map::new(), causes)
            }
            Self::TooManyRequests { .. } | Self::Timeout { .. } => Map::new(),
            _ => return None,
        };
        Some(with_retry_after(details, self.retry_after_seconds()))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn check(error: ApiError, expected: Value) {
        let status = error.status();
        assert_eq!(status, expected, "{error:?}");
        assert_eq!(
            status["code"],
            error.code(),
            "code must equal the HTTP status"
        );
        if !matches!(error, ApiError::Internal(_)) {
            assert_eq!(status["message"], error.to_string());
        }
    }

    fn failure(code: u16, reason: &str, message: &str) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code})
    }

    fn failure_with(code: u16, reason: &str, message: &str, details: Value) -> Value {
        let mut status = failure(code, reason, message);
        status["details"] = details;
        status
    }

    #[test]
    fn client_errors_render_like_the_apiserver() {
        check(
            ApiError::bad_request("invalid continue token"),
            failure(400, "BadRequest", "invalid continue token"),
        );
        check(
            ApiError::Unauthorized,
            failure(401, "Unauthorized", "Unauthorized"),
        );
        check(
            ApiError::MethodNotAllowed,
            failure_with(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                json!({}),
            ),
        );
        check(
            ApiError::NotAcceptable {
                accepted: vec!["application/json"],
            },
            failure(
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json",
            ),
        );
        check(
            ApiError::RequestEntityTooLarge("limit is 3145728".into()),
            failure(
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 3145728",
            ),
        );
        check(
            ApiError::UnsupportedMediaType { accepted: vec!["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"] },
            failure(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
        );
    }

    #[test]
    fn object_errors_carry_the_resource_plural_in_details() {
        let details =
            json!({"name": "demo", "group": "image.openshift.io", "kind": "imagestreams"});
        check(
            ApiError::not_found(IMAGE_STREAMS, "demo"),
            failure_with(
                404,
                "NotFound",
                "imagestreams.image.openshift.io \"demo\" not found",
                details.clone(),
            ),
        );
        check(
            ApiError::already_exists(IMAGE_STREAMS, "demo"),
            failure_with(
                409,
                "AlreadyExists",
                "imagestreams.image.openshift.io \"demo\" already exists",
                details.clone(),
            ),
        );
        check(
            ApiError::modified(IMAGE_STREAMS, "demo"),
            failure_with(409, "Conflict", "Operation cannot be fulfilled on imagestreams.image.openshift.io \"demo\": the object has been modified; please apply your changes to the latest version and try again", details),
        );
    }

    #[test]
    fn status_members_keep_apimachinery_order() {
        assert_eq!(
            ApiError::not_found(IMAGE_STREAMS, "demo")
                .status()
                .to_string(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"imagestreams.image.openshift.io \"demo\" not found","reason":"NotFound","details":{"name":"demo","group":"image.openshift.io","kind":"imagestreams"},"code":404}"#
        );
    }

    #[test]
    fn path_not_found_has_empty_details() {
        check(
            ApiError::PathNotFound,
            failure_with(
                404,
                "NotFound",
                "the server could not find the requested resource",
                json!({}),
            ),
        );
    }

    #[test]
    fn forbidden_names_user_verb_resource_and_namespace() {
        check(
            ApiError::access_denied("alice", "get", IMAGE_STREAMS, "", "ns", "demo"),
            failure_with(403, "Forbidden", "imagestreams.image.openshift.io \"demo\" is forbidden: User \"alice\" cannot get resource \"imagestreams\" in API group \"image.openshift.io\" in the namespace \"ns\"",
                         json!({"name": "demo", "group": "image.openshift.io", "kind": "imagestreams"})),
        );
        check(
            ApiError::access_denied("bob", "list", IMAGE_STREAMS, "status", "", ""),
            failure_with(403, "Forbidden", "imagestreams.image.openshift.io is forbidden: User \"bob\" cannot list resource \"imagestreams/status\" in API group \"image.openshift.io\" at the cluster scope",
                         json!({"group": "image.openshift.io", "kind": "imagestreams"})),
        );
        check(
            ApiError::Forbidden {
                resource: None,
                name: String::new(),
                reason: "denied".into(),
            },
            failure_with(403, "Forbidden", "forbidden: denied", json!({})),
        );
    }

    #[test]
    fn invalid_uses_the_kind_and_field_causes() {
        let errors = vec![FieldError::required("spec.tags[latest].from.name", "")];
        check(
            ApiError::invalid(IMAGE_STREAM_KIND, "demo", errors),
            failure_with(422, "Invalid", "ImageStream.image.openshift.io \"demo\" is invalid: spec.tags[latest].from.name: Required value",
                         json!({"name": "demo", "group": "image.openshift.io", "kind": "ImageStream",
                                "causes": [{"reason": "FieldValueRequired", "message": "Required value",
                                            "field": "spec.tags[latest].from.name"}]})),
        );
    }

    #[test]
    fn invalid_list_options_match_the_observed_body() {
        let detail =
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled";
        let errors = vec![FieldError::forbidden("sendInitialEvents", detail)];
        check(
            ApiError::invalid(LIST_OPTIONS, "", errors),
            failure_with(422, "Invalid", &format!("ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: {detail}"),
                         json!({"group": "meta.k8s.io", "kind": "ListOptions",
                                "causes": [{"reason": "FieldValueForbidden", "message": format!("Forbidden: {detail}"),
                                            "field": "sendInitialEvents"}]})),
        );
        check(
            ApiError::invalid(PATCH_OPTIONS, "", vec![]),
            failure_with(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid",
                json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": []}),
            ),
        );
    }

    #[test]
    fn apply_conflicts_list_field_manager_causes() {
        let manager = describe_manager(
            "kubectl-client-side-apply",
            "",
            Some("image.openshift.io/v1"),
            None,
        );
        let one = vec![FieldConflict {
            manager: manager.clone(),
            field: ".spec.lookupPolicy.local".into(),
        }];
        check(
            ApiError::ApplyConflict(one),
            failure_with(409, "Conflict", "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using image.openshift.io/v1: .spec.lookupPolicy.local",
                         json!({"causes": [{"reason": "FieldManagerConflict",
                                            "message": "conflict with \"kubectl-client-side-apply\" using image.openshift.io/v1",
                                            "field": ".spec.lookupPolicy.local"}]})),
        );
        let two = vec![
            FieldConflict {
                manager: "\"b\"".into(),
                field: ".x".into(),
            },
            FieldConflict {
                manager: "\"a\"".into(),
                field: ".y".into(),
            },
        ];
        assert_eq!(
            ApiError::ApplyConflict(two).to_string(),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .y\nconflicts with \"b\":\n- .x"
        );
    }

    #[test]
    fn managers_print_like_structured_merge_diff() {
        assert_eq!(describe_manager("kubectl", "", None, None), "\"kubectl\"");
        assert_eq!(
            describe_manager("m", "status", Some("v1"), Some("2026-01-02T03:04:05Z")),
            "\"m\" with subresource \"status\" using v1 at 2026-01-02T03:04:05Z"
        );
    }

    #[test]
    fn gone_and_expired_are_410() {
        check(
            ApiError::too_old_resource_version(123, 4567),
            failure(410, "Expired", "too old resource version: 123 (4567)"),
        );
        check(ApiError::Gone("gone".into()), failure(410, "Gone", "gone"));
        assert_eq!(ApiError::continue_expired().status()["reason"], "Expired");
    }

    #[test]
    fn server_errors_carry_retry_hints() {
        check(
            ApiError::TooManyRequests {
                message: "slow down".into(),
                retry_after_seconds: 3,
            },
            failure_with(
                429,
                "TooManyRequests",
                "slow down",
                json!({"retryAfterSeconds": 3}),
            ),
        );
        check(
            ApiError::ServiceUnavailable("store not ready".into()),
            failure(503, "ServiceUnavailable", "store not ready"),
        );
        check(
            ApiError::TooLargeResourceVersion {
                requested: 9,
                current: 5,
            },
            failure_with(
                504,
                "Timeout",
                "Timeout: Too large resource version: 9, current: 5",
                json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                                "retryAfterSeconds": 1}),
            ),
        );
        check(
            ApiError::Timeout {
                message: "request did not complete".into(),
                retry_after_seconds: 0,
            },
            failure_with(
                504,
                "Timeout",
                "Timeout: request did not complete",
                json!({}),
            ),
        );
    }

    #[test]
    fn internal_errors_hide_the_cause_from_the_client() {
        let error = ApiError::internal("disk on fire");
        assert_eq!(error.to_string(), "Internal error occurred: disk on fire");
        check(
            error,
            failure_with(
                500,
                "InternalError",
                &format!("Internal error occurred: {INTERNAL_MESSAGE}"),
                json!({"causes": [{"message": INTERNAL_MESSAGE}]}),
            ),
        );
    }

    #[test]
    fn success_status_names_the_deleted_object() {
        assert_eq!(
            success_status(IMAGE_STREAMS, "demo", "u-1"),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                   "details": {"name": "demo", "group": "image.openshift.io", "kind": "imagestreams", "uid": "u-1"}})
        );
    }

    fn respond(error: ApiError) -> (u16, http::HeaderMap, Value) {
        let response = error.into_response();
        let code = response.status().as_u16();
        let headers = response.headers().clone();
        let body = futures::executor::block_on(response.into_body().collect()).unwrap();
        (
            code,
            headers,
            serde_json::from_slice(&body.to_bytes()).unwrap(),
        )
    }

    #[test]
    fn responses_are_json_with_code_equal_to_http_status() {
        let (code, headers, body) = respond(ApiError::not_found(IMAGE_STREAMS, "x"));
        assert_eq!(code, 404);
        assert_eq!(body["code"], 404);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(headers.get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn throttling_and_rv_timeouts_send_retry_after() {
        let throttled = ApiError::TooManyRequests {
            message: "busy".into(),
            retry_after_seconds: 7,
        };
        let (code, headers, _) = respond(throttled);
        assert_eq!(
            (code, &headers[header::RETRY_AFTER]),
            (429, &"7".parse().unwrap())
        );
        let too_large = ApiError::TooLargeResourceVersion {
            requested: 2,
            current: 1,
        };
        let (code, headers, body) = respond(too_large);
        assert_eq!(
            (code, &headers[header::RETRY_AFTER]),
            (504, &"1".parse().unwrap())
        );
        assert_eq!(body["reason"], "Timeout");
    }
}
