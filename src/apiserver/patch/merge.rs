//! RFC 7386 JSON Merge Patch: objects merge, `null` deletes, everything else replaces.

use serde_json::Value;

use super::error::PatchError;

/// Applies a merge patch to `current`.
///
/// kube-apiserver only accepts a JSON object here; any other document is a 400.
pub fn apply(current: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|err| PatchError::bad_request(format!("error decoding patch: {err}")))?;
    if !patch.is_object() {
        return Err(PatchError::bad_request("Invalid JSON Patch"));
    }
    let mut patched = current.clone();
    json_patch::merge(&mut patched, &patch);
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(current: Value, patch: &str, expected: Result<Value, u16>) {
        let result = apply(&current, patch.as_bytes());
        match expected {
            Ok(value) => assert_eq!(result.unwrap(), value),
            Err(code) => assert_eq!(result.unwrap_err().code(), code),
        }
    }

    #[test]
    fn null_deletes_and_objects_merge() {
        check(
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"lookupPolicy": {"local": false}}}),
            r#"{"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"lookupPolicy": {"local": true}}}"#,
            Ok(
                json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"lookupPolicy": {"local": true}}}),
            ),
        );
    }

    #[test]
    fn lists_are_replaced_wholesale() {
        check(
            json!({"spec": {"tags": [{"name": "a"}, {"name": "b"}]}}),
            r#"{"spec": {"tags": [{"name": "c"}]}}"#,
            Ok(json!({"spec": {"tags": [{"name": "c"}]}})),
        );
    }

    #[test]
    fn non_object_and_malformed_patches_are_bad_requests() {
        check(json!({}), "[1]", Err(400));
        check(json!({}), "{", Err(400));
    }
}
