//! RFC 6902 JSON Patch, with kube-apiserver's limits and error mapping.
//!
//! kubectl's client-side-apply to server-side-apply migration sends one of these: a `test` of
//! `/metadata/resourceVersion` followed by a `replace` of `/metadata/managedFields`. Nothing in
//! the object is off limits here; the caller decides what the result may change.

use serde_json::Value;

use super::error::PatchError;

/// kube-apiserver's `maxJSONPatchOperations`.
pub const MAX_OPERATIONS: usize = 10_000;

/// How many bytes (of the copied values' JSON) the `copy` operations of one patch may add in
/// all: kube-apiserver's `JSONPatchMaxCopyBytes` (3 MiB), the fix of CVE-2019-1002100. Without
/// it, forty operations each copying a value into itself double it forty times.
pub const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Applies a JSON Patch document to `current`.
///
/// A body that is not a JSON-patch array is a 400; more than [`MAX_OPERATIONS`] operations a
/// 413; a failed `test`, a path that does not resolve, or copies adding more than
/// [`MAX_COPY_BYTES`] a 422.
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
    let mut copied = CopyBudget::default();
    // A copy, dropped on failure: nothing to undo. `json_patch::patch` undoes the operations
    // applied before a failing one, and panics when it cannot, as for a `move` of a member
    // onto its parent (its undo would move the parent into its own child).
    for (index, operation) in operations.0.into_iter().enumerate() {
        let Some(operation) = as_kube_apiserver_reads(&patched, operation) else {
            continue;
        };
        copied.spend(&patched, &operation)?;
        let one = json_patch::Patch(vec![operation]);
        json_patch::patch_unsafe(&mut patched, &one).map_err(|mut error| {
            // Applied one at a time: the failing operation's place is the patch's, not 0.
            error.operation = index;
            PatchError::unprocessable(error)
        })?;
    }
    Ok(patched)
}

/// The bytes the `copy` operations of a patch have added so far.
#[derive(Default)]
struct CopyBudget {
    spent: usize,
}

impl CopyBudget {
    /// Counts what `operation` copies in `document` (nothing for other operations), before it
    /// is applied; a 422 in evanphx/json-patch's words once the copies pass [`MAX_COPY_BYTES`].
    fn spend(
        &mut self,
        document: &Value,
        operation: &json_patch::PatchOperation,
    ) -> Result<(), PatchError> {
        let json_patch::PatchOperation::Copy(copy) = operation else {
            return Ok(());
        };
        // A `from` that does not resolve fails when the operation is applied.
        let Ok(value) = copy.from.resolve(document) else {
            return Ok(());
        };
        let room = MAX_COPY_BYTES - self.spent;
        match json_size_within(value, room) {
            Some(size) => {
                self.spent += size;
                Ok(())
            }
            None => Err(PatchError::unprocessable(format!(
                "Unable to complete the copy, the accumulated size increase of copy would pass \
                 the limit {MAX_COPY_BYTES} ({} bytes copied by the operations before this \
                 one): copy less, or add the values themselves",
                self.spent
            ))),
        }
    }
}

/// The length of `value` written as compact JSON, or `None` past `limit` bytes: counted
/// without building the text, and given up on as soon as the limit is passed, so a huge
/// value costs no more than the limit to refuse.
fn json_size_within(value: &Value, limit: usize) -> Option<usize> {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.written += bytes.len();
            match self.written > self.limit {
                true => Err(std::io::Error::other("over the limit")),
                false => Ok(bytes.len()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { written: 0, limit };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.written)
}

/// `operation` as kube-apiserver's JSON patch library (evanphx/json-patch v4) applies it to
/// `document`, where RFC 6902 is stricter: a missing member of an existing object reads as
/// `null`, so a `test` of it against `null` passes (`None`: nothing to apply; what kube-rs's
/// finalizer helper sends before adding the first finalizer), a `replace` of it adds it
/// (scripts replacing a field the server omits, such as `importPolicy/scheduled: false`) and a
/// `copy` from it adds `null`. Array elements stay strict, as there, and so do `remove` and
/// `move` of a missing member.
fn as_kube_apiserver_reads(
    document: &Value,
    operation: json_patch::PatchOperation,
) -> Option<json_patch::PatchOperation> {
    use json_patch::{AddOperation, PatchOperation};
    let missing_member = |path: &json_patch::jsonptr::Pointer| {
        path.split_back().is_some_and(|(parent, member)| {
            parent
                .resolve(document)
                .ok()
                .and_then(Value::as_object)
                .is_some_and(|object| !object.contains_key(member.decoded().as_ref()))
        })
    };
    match operation {
        PatchOperation::Test(test) if test.value.is_null() && missing_member(&test.path) => None,
        PatchOperation::Replace(replace) if missing_member(&replace.path) => {
            Some(PatchOperation::Add(AddOperation {
                path: replace.path,
                value: replace.value,
            }))
        }
        PatchOperation::Copy(copy) if missing_member(&copy.from) => {
            Some(PatchOperation::Add(AddOperation {
                path: copy.path,
                value: Value::Null,
            }))
        }
        other => Some(other),
    }
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
    fn a_missing_member_reads_as_null_as_kube_apiserver_s_json_patch_reads_it() {
        // kube-rs's finalizer helper, on an object with no finalizers yet.
        let mut added = current();
        added["metadata"]["finalizers"] = json!(["x"]);
        check(
            json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                   {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}]),
            Ok(added),
        );
        let mut scheduled = current();
        scheduled["spec"]["lookupPolicy"]["scheduled"] = json!(true);
        check(
            json!([{"op": "replace", "path": "/spec/lookupPolicy/scheduled", "value": true}]),
            Ok(scheduled),
        );
        let missing_parent = json!([{"op": "replace", "path": "/spec/x/y", "value": 1}]);
        check(missing_parent, Err(422));
        let not_null = json!([{"op": "test", "path": "/metadata/finalizers", "value": []}]);
        check(not_null, Err(422));
        let present = json!([{"op": "test", "path": "/metadata/name", "value": null}]);
        check(present, Err(422));
        let past_the_end = json!([{"op": "replace", "path": "/metadata/managedFields/1",
                                   "value": {}}]);
        check(past_the_end, Err(422));
        let mut copied = current();
        copied["metadata"]["x"] = Value::Null;
        check(
            json!([{"op": "copy", "from": "/metadata/finalizers", "path": "/metadata/x"}]),
            Ok(copied),
        );
        let moved = json!([{"op": "move", "from": "/metadata/finalizers", "path": "/metadata/x"}]);
        check(moved, Err(422));
    }

    #[test]
    fn a_failure_names_the_operation_that_failed() {
        let body = json!([{"op": "test", "path": "/metadata/name", "value": "demo"},
                          {"op": "add", "path": "/metadata/labels", "value": {}},
                          {"op": "test", "path": "/metadata/name", "value": "other"}]);
        let error = apply(&current(), body.to_string().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("operation '/2'"), "{error}");
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
    fn copies_adding_more_than_three_mebibytes_in_all_are_refused_before_they_are_made() {
        // Copies adding up to the limit apply: 30 copies of 100 KiB are under 3 MiB.
        let big = "y".repeat(100 * 1024);
        let mut body = vec![json!({"op": "add", "path": "/big", "value": big})];
        body.extend(
            (0..30).map(|i| json!({"op": "copy", "from": "/big", "path": format!("/c{i}")})),
        );
        let applied = apply(
            &json!({}),
            Value::Array(body.clone()).to_string().as_bytes(),
        );
        assert_eq!(applied.unwrap()["c29"], json!(big));
        // One more copy of the same value passes it.
        body.push(json!({"op": "copy", "from": "/big", "path": "/c30"}));
        let over = apply(&json!({}), Value::Array(body).to_string().as_bytes());
        assert_eq!(over.unwrap_err().code(), 422);

        // Each copy of /a into itself doubles it: 2^40 copies of a 100-byte string unchecked.
        let mut body = vec![json!({"op": "add", "path": "/a", "value": ["x".repeat(100)]})];
        let doubling = json!({"op": "copy", "from": "/a", "path": "/a/-"});
        body.extend(std::iter::repeat_n(doubling, 40));
        let refused = apply(&json!({}), Value::Array(body).to_string().as_bytes()).unwrap_err();
        assert_eq!(refused.code(), 422);
        let said = refused.to_string();
        assert!(said.contains("accumulated size increase of copy"), "{said}");
        assert!(said.contains("would pass the limit 3145728"), "{said}");
    }

    #[test]
    fn a_value_s_json_size_is_counted_exactly_and_given_up_on_past_the_limit() {
        let value = json!({"a": [1, "two", null], "b": {"c": true}});
        let size = value.to_string().len();
        assert_eq!(json_size_within(&value, size), Some(size));
        assert_eq!(json_size_within(&value, size - 1), None);
        assert_eq!(json_size_within(&json!("é\n"), 100), Some("\"é\\n\"".len()));
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
