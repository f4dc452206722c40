//! Kubernetes `Status` errors: one variant per failure, rendered the way kube-apiserver renders
//! them (`staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`) and always sent with
//! `code == HTTP status` and `Content-Type: application/json` (k8s-api-contract §5).
//!
//! The `Display` of every variant is exactly the Status `message`, except [`ApiError::Internal`],
//! whose `Display` carries the real cause for the log while the client gets a generic message.

use crate::field::FieldError;

mod constructors;
mod from_patch;
mod names;
mod status;
#[cfg(test)]
mod tests;

pub use names::{
    GroupKind, GroupResource, CREATE_OPTIONS, DELETE_OPTIONS, IMAGE_STREAMS, IMAGE_STREAM_KIND,
    IMAGE_STREAM_TAG_KIND, LIST_OPTIONS, PATCH_OPTIONS, UPDATE_OPTIONS,
};
pub use status::success_status;

/// A boxed error, the payload of [`ApiError::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`ApiError`] as the default error.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// What an `Internal` error tells the client; the real cause only goes to the log.
pub const INTERNAL_MESSAGE: &str = "an unexpected server error occurred; see the server log";

/// The message of an expired continue token answered without a fresh one (etcd3 storage,
/// `continueExpired`).
pub const CONTINUE_EXPIRED_MESSAGE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.";
/// The message of an expired continue token answered with a fresh one in the Status
/// `metadata.continue` (etcd3 storage, `inconsistentContinue`).
pub const INCONSISTENT_CONTINUE_MESSAGE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

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
    /// 409 `AlreadyExists` for a create whose generated names were all taken: the server's
    /// failure to pick a free name, not the client's (`NewGenerateNameConflict`); the client may
    /// try again in a second.
    #[error(
        "{resource} {name:?} already exists, the server was not able to generate a unique name \
         for the object"
    )]
    GenerateNameConflict {
        /// The resource created.
        resource: GroupResource,
        /// The last generated name, taken.
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
    /// 410 `Expired` for a continue token whose snapshot left the history: with a token that
    /// lists the rest from the newest state (sent as the Status `metadata.continue`) when one
    /// could be made, as the apiserver's `handleCompactedErrorForPaging` answers.
    #[error("{}", continue_expired_message(.0.is_some()))]
    ContinueExpired(Option<String>),
    /// 410 `Gone`.
    #[error("{0}")]
    Gone(String),
    /// 413: the body (or a JSON patch) is too large.
    #[error("Request entity too large: {0}")]
    RequestEntityTooLarge(String),
    /// 415: the request body's `Content-Type` is not accepted here.
    #[error("the body of the request was in an unknown format - accepted media types include: {}{}", .accepted.join(", "), .hint.map(|hint| format!("; {hint}")).unwrap_or_default())]
    UnsupportedMediaType {
        /// The media types accepted for this request.
        accepted: Vec<&'static str>,
        /// What to do instead, where kube's words alone would leave the client guessing.
        hint: Option<&'static str>,
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
    Internal(BoxError),
    /// 500 for a stored object that cannot be read: unlike [`ApiError::Internal`], the
    /// message is the client's to see, since it names the object and how to remove it.
    #[error("Internal error occurred: {0}")]
    Unreadable(String),
    /// 503: the server (for example its store) is not ready, or failed in a way that may have
    /// changed something (no retry hint: a write sent again could be applied twice).
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 503 for a request that was not carried out at all (the store was not reached, or is
    /// not connected yet): with `Retry-After: 1`, which client-go and urllib3 honour.
    #[error("{0}")]
    Unreachable(String),
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

fn continue_expired_message(with_token: bool) -> &'static str {
    match with_token {
        true => INCONSISTENT_CONTINUE_MESSAGE,
        false => CONTINUE_EXPIRED_MESSAGE,
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
