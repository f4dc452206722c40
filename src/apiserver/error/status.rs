//! Pieces of a Status body: `details`, causes, and the Success Status of a DELETE.

use serde_json::{json, Map, Value};

use super::{FieldConflict, GroupResource};
use crate::field::FieldError;

/// `{name, group, kind}`, each omitted when empty (Go's `omitempty`).
pub(super) fn details(name: &str, group: &str, kind: &str) -> Map<String, Value> {
    let mut details = Map::new();
    for (key, value) in [("name", name), ("group", group), ("kind", kind)] {
        if !value.is_empty() {
            details.insert(key.into(), value.into());
        }
    }
    details
}

pub(super) fn with_causes(
    mut details: Map<String, Value>,
    causes: Vec<Value>,
) -> Map<String, Value> {
    details.insert("causes".into(), Value::Array(causes));
    details
}

pub(super) fn with_retry_after(
    mut details: Map<String, Value>,
    seconds: Option<u32>,
) -> Map<String, Value> {
    if let Some(seconds) = seconds {
        details.insert("retryAfterSeconds".into(), seconds.into());
    }
    details
}

/// One `StatusCause`, empty members omitted as Go does.
pub(super) fn cause(reason: &str, message: &str, field: &str) -> Value {
    let mut cause = Map::new();
    for (key, value) in [("reason", reason), ("message", message), ("field", field)] {
        if !value.is_empty() {
            cause.insert(key.into(), value.into());
        }
    }
    Value::Object(cause)
}

pub(super) fn field_causes(errors: &[FieldError]) -> Vec<Value> {
    errors
        .iter()
        .map(|e| cause(e.kind.cause_reason(), &e.body(), &e.field))
        .collect()
}

pub(super) fn conflict_causes(conflicts: &[FieldConflict]) -> Vec<Value> {
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
