//! RFC 6902 JSON Patch, with kube-apiserver's limits and error mapping.
//!
//! kubectl's client-side-apply to server-side-apply migration sends one of these: a `test` of
//! `/metadata/resourceVersion` followed by a `replace` of `/metadata/managedFields`. Nothing in
//! the object is off limits here; the caller decides what the result may change.

use serde_json::Value;

use super::error::PatchError;

/// kube-apiserver's `maxJSONPatchOperations`.
pub const MAX_OPERATIONS: usize = 10_000;

/// Applies a JSON Patch document to `current`.
///
/// A body that is not a JSON-patch array is a 400; more than [`MAX_OPERATIONS`] operations a
/// 413; a failed `test` or a path that does not resolve a 422.
pub fn apply(current: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_slice(body).map_err(|err| PatchError::bad_request(err.to_string()))?;
    if operations.0.len() > MAX_OPERATIONS {
        return Err(PatchError::TooLarge(format!(
            "The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {}",
            operations.0.len()
        )));
    }
    let mut patched = current.clone();
    // A copy, dropped on failure: nothing to undo. `json_patch::patch` undoes the operations
    // applied before a failing one, and panics when it cannot, as for a `move` of a member
    // onto its parent (its undo would move the parent into its own child).
    json_patch::patch_unsafe(&mut patched, &operations).map_err(PatchError::unprocessable)?;
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn current() -> Value {
        json!({"metadata": {"name": "demo", "resourceVersion": "7",
                            "managedFields": [{"manager": "kubectl-client-side-apply"}]},
               "spec": {"lookupPolicy": {"local": true}}})
    }

    fn check(body: Value, expected: Result<Value, u16>) {
        let result = apply(&current(), body.to_string().as_bytes());
        match expected {
            Ok(value) => assert_eq!(result.unwrap(), value),
            Err(code) => assert_eq!(result.unwrap_err().code(), code),
        }
    }

    #[test]
    fn a_failing_operation_after_a_move_onto_the_parent_is_a_422_not_a_panic() {
        check(
            json!([{"op": "move", "from": "/spec/lookupPolicy/local", "path": "/spec/lookupPolicy"},
                   {"op": "test", "path": "/metadata/name", "value": "other"}]),
            Err(422),
        );
    }

    #[test]
    fn operations_apply_in_order() {
        check(
            json!([{"op": "replace", "path": "/spec/lookupPolicy/local", "value": false},
                   {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
                   {"op": "remove", "path": "/metadata/name"}]),
            Ok(
                json!({"metadata": {"resourceVersion": "7", "labels": {"a": "b"},
                                   "managedFields": [{"manager": "kubectl-client-side-apply"}]},
                      "spec": {"lookupPolicy": {"local": false}}}),
            ),
        );
    }

    #[test]
    fn managed_fields_migration_tests_resource_version_then_replaces() {
        let migrated = json!([{"manager": "kubectl", "operation": "Apply"}]);
        check(
            json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                   {"op": "replace", "path": "/metadata/managedFields", "value": migrated}]),
            Ok(json!({"metadata": {"name": "demo", "resourceVersion": "7",
                                   "managedFields": migrated},
                      "spec": {"lookupPolicy": {"local": true}}})),
        );
    }

    #[test]
    fn failed_test_and_bad_paths_are_unprocessable() {
        check(
            json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "6"}]),
            Err(422),
        );
        check(json!([{"op": "remove", "path": "/spec/nope"}]), Err(422));
        check(
            json!([{"op": "replace", "path": "/spec/tags/3", "value": 1}]),
            Err(422),
        );
    }

    #[test]
    fn malformed_documents_are_bad_requests() {
        check(json!({"op": "add"}), Err(400));
        check(json!([{"op": "frobnicate", "path": "/a"}]), Err(400));
        check(json!([{"op": "add", "value": 1}]), Err(400));
    }

    #[test]
    fn more_than_ten_thousand_operations_are_too_large() {
        let op = json!({"op": "add", "path": "/x", "value": 1});
        check(Value::Array(vec![op.clone(); MAX_OPERATIONS + 1]), Err(413));
        let within = apply(
            &json!({}),
            Value::Array(vec![op; MAX_OPERATIONS])
                .to_string()
                .as_bytes(),
        );
        assert_eq!(within.unwrap(), json!({"x": 1}));
    }
}
