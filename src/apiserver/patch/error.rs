//! Why a patch failed, in the shape the API layer turns into a Kubernetes `Status`.
//!
//! Messages follow the kube-apiserver patch handler (`handlers/patch.go`) and
//! `k8s.io/apimachinery/pkg/api/errors`, because clients show them to users verbatim.

use crate::field::{invalid_message, FieldError};

/// The `StatusCause.reason` of every server-side apply conflict.
pub const FIELD_MANAGER_CONFLICT: &str = "FieldManagerConflict";

/// The message `NewGenericServerResponse(422, …)` gives to patch application failures.
const GENERIC_INVALID: &str = "the server rejected our request due to an error in our request";

/// A patch request that cannot be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// 400: the body or a directive in it is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 422: options or the patch content are invalid.
    #[error("{message}")]
    Invalid {
        /// The API group of `kind`, e.g. `meta.k8s.io`; empty when no kind applies.
        group: &'static str,
        /// The kind that is invalid, e.g. `PatchOptions`; empty when no kind applies.
        kind: &'static str,
        /// The full status message.
        message: String,
        /// One cause per field error.
        causes: Vec<FieldError>,
    },
    /// 409: a server-side apply conflicts with other field managers.
    #[error("{message}")]
    Conflict {
        /// `Apply failed with N conflict(s): …`.
        message: String,
        /// One `FieldManagerConflict` cause per conflicting field.
        causes: Vec<ConflictCause>,
    },
    /// 413: too many JSON-patch operations.
    #[error("Request entity too large: {0}")]
    TooLarge(String),
    /// 404: a non-apply patch addressed a missing object. The patch module knows no resource,
    /// so the handler answers it, naming the object; converted as it is, it is a bug (500).
    #[error("the object to patch does not exist")]
    NotFound,
    /// 415: the `Content-Type` names no supported patch type.
    #[error("{0}")]
    UnsupportedMediaType(String),
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictCause {
    /// `conflict with "<manager>" using image.openshift.io/v1`.
    pub message: String,
    /// The field path, structured-merge-diff style: `.spec.lookupPolicy.local`.
    pub field: String,
}

// === impl PatchError ===

impl PatchError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Invalid { .. } => 422,
            Self::Conflict { .. } => 409,
            Self::TooLarge(_) => 413,
            Self::NotFound => 404,
            Self::UnsupportedMediaType(_) => 415,
        }
    }

    /// The `Status.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BadRequest",
            Self::Invalid { .. } => "Invalid",
            Self::Conflict { .. } => "Conflict",
            Self::TooLarge(_) => "RequestEntityTooLarge",
            Self::NotFound => "NotFound",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
        }
    }

    /// A 422 for a patch that cannot be applied. kube-apiserver sends only the generic
    /// sentence; the detail is appended so that users can see which operation failed.
    pub fn unprocessable(detail: impl std::fmt::Display) -> Self {
        Self::Invalid {
            group: "",
            kind: "",
            message: format!("{GENERIC_INVALID}: {detail}"),
            causes: Vec::new(),
        }
    }

    /// A 422 about the request's `PatchOptions` (`fieldManager`, `force`).
    pub fn invalid_options(errors: Vec<FieldError>) -> Self {
        Self::Invalid {
            group: "meta.k8s.io",
            kind: "PatchOptions",
            message: invalid_message("PatchOptions.meta.k8s.io", "", &errors),
            causes: errors,
        }
    }

    /// A 400 with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: PatchError, code: u16, reason: &str, message: &str) {
        assert_eq!(error.code(), code);
        assert_eq!(error.reason(), reason);
        assert_eq!(error.to_string(), message);
    }

    #[test]
    fn errors_map_to_kubernetes_status_codes_and_messages() {
        check(
            PatchError::invalid_options(vec![FieldError::required(
                "fieldManager",
                "is required for apply patch",
            )]),
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        );
        check(
            PatchError::TooLarge("x".into()),
            413,
            "RequestEntityTooLarge",
            "Request entity too large: x",
        );
        check(
            PatchError::unprocessable("test failed"),
            422,
            "Invalid",
            "the server rejected our request due to an error in our request: test failed",
        );
        check(
            PatchError::NotFound,
            404,
            "NotFound",
            "the object to patch does not exist",
        );
        check(PatchError::bad_request("bad"), 400, "BadRequest", "bad");
    }
}
