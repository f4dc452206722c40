//! The constructors that word an [`ApiError`] as kube-apiserver does for a common failure.

use super::{ApiError, BoxError, GroupKind, GroupResource};
use crate::field::FieldError;

impl ApiError {
    /// A 400 with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// The 400 kube-apiserver's decoder answers for a body of `kind` it cannot read:
    /// `ImageStream in version "v1" cannot be handled as a ImageStream: <detail>`.
    pub fn undecodable(kind: &str, detail: impl std::fmt::Display) -> Self {
        Self::BadRequest(format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {detail}"
        ))
    }

    /// The 400 for a body naming another object than its URL (kube's `checkName`).
    pub fn name_mismatch(sent: &str, url: &str) -> Self {
        Self::BadRequest(format!(
            "the name of the object ({sent}) does not match the name on the URL ({url})"
        ))
    }

    /// The 400 for a body naming another namespace than its URL.
    pub fn namespace_mismatch() -> Self {
        Self::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the \
             request"
                .to_string(),
        )
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

    /// The 410 for a continue token whose snapshot was compacted away; `fresh` continues the
    /// list from where the token stopped, at a newer revision.
    pub fn continue_expired(fresh: Option<String>) -> Self {
        Self::ContinueExpired(fresh)
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
}
