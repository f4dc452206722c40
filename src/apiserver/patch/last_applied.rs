//! kubectl's `last-applied-configuration` annotation under server-side apply.

use serde_json::Value;

/// kubectl's client-side apply annotation, kept in step with server-side applies by `kubectl`.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// kube-apiserver's `lastAppliedUpdater`: when `kubectl` applies server-side to an object that
/// still carries the client-side annotation, the annotation is rewritten to the applied
/// configuration, so that a later client-side apply computes the right diff.
pub(super) fn sync(result: &mut Value, config: &Value) {
    let Some(annotations) = result
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if !annotations.contains_key(LAST_APPLIED) {
        return;
    }
    let mut applied = config.clone();
    if let Some(own) = applied
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        own.shift_remove(LAST_APPLIED);
    }
    annotations.insert(
        LAST_APPLIED.into(),
        format!("{}\n", sorted(&applied)).into(),
    );
}

/// Go's `encoding/json` writes map keys sorted; the annotation should read the same.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort();
            Value::Object(
                names
                    .into_iter()
                    .map(|name| (name.clone(), sorted(&fields[name])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(result: Value, config: Value, expected: Option<&str>) {
        let mut result = result;
        sync(&mut result, &config);
        assert_eq!(
            result["metadata"]["annotations"][LAST_APPLIED].as_str(),
            expected
        );
    }

    #[test]
    fn the_annotation_becomes_the_applied_configuration_with_sorted_keys() {
        let config = json!({"spec": {"lookupPolicy": {"local": true}}, "metadata": {"name": "demo",
            "annotations": {LAST_APPLIED: "ignored", "z": "1"}}, "apiVersion": "image.openshift.io/v1"});
        check(
            json!({"metadata": {"annotations": {LAST_APPLIED: "old"}}}),
            config,
            Some("{\"apiVersion\":\"image.openshift.io/v1\",\"metadata\":{\"annotations\":{\"z\":\"1\"},\"name\":\"demo\"},\"spec\":{\"lookupPolicy\":{\"local\":true}}}\n"),
        );
    }

    #[test]
    fn objects_without_the_annotation_are_left_alone() {
        check(
            json!({"metadata": {"annotations": {"a": "b"}}}),
            json!({"spec": {}}),
            None,
        );
        check(json!({"metadata": {}}), json!({"spec": {}}), None);
    }
}
