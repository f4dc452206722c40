//! The namespaces of the core group: GET of one namespace, answered without storage.

use axum::response::Response;
use serde_json::{json, Value};

use super::encoded;
use crate::apiserver::error::{ApiError, GroupResource};
use crate::apiserver::negotiate::{Form, Output};
use crate::apiserver::table;

/// The resource namespaces are, for errors.
const NAMESPACES: GroupResource = GroupResource::new("", "namespaces");

/// The longest DNS-1123 label.
const LABEL_MAX: usize = 63;

/// `GET /api/v1/namespaces/<name>`: there are no namespace objects here and every namespace
/// exists, so any name a namespace may have is an Active namespace. kubectl asks for it after
/// a NotFound and, when it is missing, prints its error instead of the object's.
pub fn namespace(name: &str, output: Output) -> Result<Response, ApiError> {
    let namespace =
        synthetic_namespace(name).ok_or_else(|| ApiError::not_found(NAMESPACES, name))?;
    match output.form {
        Form::PartialObjectMetadata => encoded(output, &table::partial_object_metadata(&namespace)),
        _ => encoded(output, &namespace),
    }
}

/// The Namespace `name` stands for, if a namespace may have that name (`ValidateNamespaceName`).
fn synthetic_namespace(name: &str) -> Option<Value> {
    is_dns_label(name).then(|| {
        json!({"kind": "Namespace", "apiVersion": "v1",
               "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    })
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most [`LABEL_MAX`] characters.
fn is_dns_label(name: &str) -> bool {
    let alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    name.len() <= LABEL_MAX
        && bytes.first().is_some_and(alphanumeric)
        && bytes.last().is_some_and(alphanumeric)
        && bytes.iter().all(|b| alphanumeric(b) || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, exists: bool) {
        let namespace = synthetic_namespace(name);
        assert_eq!(namespace.is_some(), exists, "{name:?}");
        if let Some(namespace) = namespace {
            assert_eq!(namespace["metadata"]["name"], name);
            assert_eq!(namespace["status"]["phase"], "Active");
        }
    }

    #[test]
    fn every_dns_label_is_an_active_namespace() {
        let long = "a".repeat(LABEL_MAX);
        for name in ["default", "team-a", "1x", long.as_str()] {
            check(name, true);
        }
        let too_long = "a".repeat(LABEL_MAX + 1);
        for name in ["", "Team", "team_a", "-a", "a-", "a.b", too_long.as_str()] {
            check(name, false);
        }
    }

    #[test]
    fn a_synthetic_namespace_looks_like_a_new_one() {
        let expected = json!({"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": "ns", "labels": {"kubernetes.io/metadata.name": "ns"}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        assert_eq!(synthetic_namespace("ns"), Some(expected));
    }
}
