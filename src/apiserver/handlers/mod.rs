//! The request handlers: each translates one API call into store and strategy calls.

pub mod body;
pub mod delete;
pub mod isimport;
pub mod istag;
mod object_meta;
pub mod patch;
pub mod read;
pub mod subresource;
pub mod validation;
pub mod watch;
pub mod write;

use serde_json::Value;

use super::error::ApiError;
use super::resource::Kind;
use crate::store;

/// What a resource request addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The resource kind.
    pub kind: Kind,
    /// The namespace, for namespaced requests.
    pub namespace: Option<String>,
    /// The object name, for item requests.
    pub name: Option<String>,
    /// The subresource, if any.
    pub subresource: Option<String>,
}

impl Target {
    /// The store key of the addressed object.
    pub fn key(&self) -> String {
        store::object_key(self.kind.plural(), self.namespace.as_deref(), self.name())
    }

    /// The store prefix of the addressed collection.
    pub fn prefix(&self) -> String {
        store::collection_prefix(self.kind.plural(), self.namespace.as_deref())
    }

    /// The object name, or `""`.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// Translates a store failure into the Status the client sees.
    pub fn store_error(&self, error: store::Error) -> ApiError {
        let resource = self.kind.group_resource();
        match error {
            store::Error::NotFound { .. } => ApiError::not_found(resource, self.name()),
            store::Error::AlreadyExists { .. } => ApiError::already_exists(resource, self.name()),
            store::Error::Conflict { .. } => ApiError::modified(resource, self.name()),
            store::Error::Expired {
                requested,
                compacted,
            } => ApiError::too_old_resource_version(requested, compacted),
            store::Error::TooLargeResourceVersion { requested, current } => {
                ApiError::TooLargeResourceVersion { requested, current }
            }
            error @ (store::Error::Unavailable(_)
            | store::Error::Unreachable(_)
            | store::Error::TooLarge(_)
            | store::Error::Corrupt(_)
            | store::Error::Internal(_)) => store_failure(error),
        }
    }
}

/// Translates a store failure that names no object of the request: the storage being
/// unavailable (to retry) or the object too large (to shrink) is the client's to know,
/// anything else is internal.
pub fn store_failure(error: store::Error) -> ApiError {
    match error {
        store::Error::Unavailable(message) => ApiError::ServiceUnavailable(message),
        store::Error::Unreachable(message) => ApiError::Unreachable(message),
        store::Error::TooLarge(message) => ApiError::RequestEntityTooLarge(message),
        store::Error::Corrupt(object) => ApiError::Unreadable(object.to_string()),
        other => ApiError::internal(other.to_string()),
    }
}

/// Sets `apiVersion` and `kind` on an object for output.
pub fn with_type_meta(kind: Kind, mut object: Value) -> Value {
    if let Some(fields) = object.as_object_mut() {
        fields.insert("apiVersion".into(), Value::from(kind.api_version()));
        fields.insert("kind".into(), Value::from(kind.kind()));
    }
    object
}

/// The object's `metadata.resourceVersion`, or `""`.
pub fn resource_version(object: &Value) -> &str {
    object["metadata"]["resourceVersion"].as_str().unwrap_or("")
}
