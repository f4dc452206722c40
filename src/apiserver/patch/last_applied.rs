//! kubectl's `last-applied-configuration` annotation under server-side apply: kept in step
//! with what `kubectl` applies (kube-apiserver's `lastAppliedUpdater`), and read to let
//! `kubectl` take over without conflicts what its client-side applies set
//! (`lastAppliedManager`).

use serde_json::Value;

use super::apply::schema_problem;
use super::fieldset::FieldSet;
use super::schema::ObjectType;
use super::typed::{self, AbsentMap};

/// kubectl's client-side apply annotation, kept in step with server-side applies by `kubectl`.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager of `kubectl apply --server-side`, the only one the annotation concerns:
/// kube-apiserver keys both halves on this exact name, so another manager opts out.
pub const KUBECTL: &str = "kubectl";

/// kube-apiserver's `allowedConflictsFromLastApplied`: the fields `live`'s last-applied
/// annotation sets whose values `live` still holds. A conflict on one of them only takes
/// over what kubectl's client-side apply set to that same value, so kubectl's server-side
/// apply may change it as if forced.
///
/// `None` (conflicts stay conflicts) when there is no annotation, or it is not a JSON object
/// of the kind's `apiVersion` that reads against the schema.
pub(super) fn allowed_conflicts(live: &Value, object_type: &ObjectType) -> Option<FieldSet> {
    let text = live
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()
        .filter(|text| !text.is_empty())?;
    let last: Value = serde_json::from_str(text).ok().filter(Value::is_object)?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(object_type.api_version) {
        return None;
    }
    let node = object_type.node;
    if schema_problem(&last, node).is_some() {
        return None;
    }
    // A map the store dropped because it was empty is still the annotation's empty map.
    let comparison = typed::compare(&last, live, node, AbsentMap::Empty);
    Some(
        typed::field_set(&last, node)
            .difference(&comparison.modified)
            .difference(&comparison.added)
            .difference(&comparison.removed),
    )
}

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
    use crate::apiserver::patch::fieldset::path_string;
    use crate::apiserver::patch::schema::{IMAGE_STREAM_TYPE, SECRET_TYPE};
    use serde_json::json;

    /// A live stream whose annotation holds `last` (a string as it is, anything else as JSON).
    fn live_with(last: Value, spec: Value, labels: Value) -> Value {
        let text = match last {
            Value::String(text) => text,
            other => other.to_string(),
        };
        json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
               "metadata": {"name": "app", "namespace": "qa", "labels": labels,
                            "annotations": {LAST_APPLIED: text}},
               "spec": spec})
    }

    fn last_applied(spec: Value) -> Value {
        json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
               "metadata": {"name": "app", "namespace": "qa", "labels": {"team": "a"}},
               "spec": spec})
    }

    #[test]
    fn allowed_conflicts_are_the_last_applied_fields_the_live_object_still_holds() {
        let tag =
            |image: &str| json!({"name": "v1", "from": {"kind": "DockerImage", "name": image}});
        let spec = json!({"lookupPolicy": {"local": true}, "tags": [tag("quay.io/o/a:1")]});
        let common = [
            ".apiVersion",
            ".kind",
            ".metadata.name",
            ".metadata.namespace",
        ];
        let all = [
            ".metadata.labels.team",
            ".spec.lookupPolicy.local",
            ".spec.tags[name=\"v1\"]",
            ".spec.tags[name=\"v1\"].from",
            ".spec.tags[name=\"v1\"].name",
        ];
        let without = |gone: &[&str]| -> Vec<&str> {
            let mut paths: Vec<&str> = common.iter().chain(&all).copied().collect();
            paths.retain(|path| !gone.contains(path));
            paths.sort();
            paths
        };
        let cases: Vec<(&str, Value, Option<Vec<&str>>)> = vec![
            (
                "unchanged since the client-side apply",
                live_with(
                    last_applied(spec.clone()),
                    spec.clone(),
                    json!({"team": "a"}),
                ),
                Some(without(&[])),
            ),
            (
                "a label and a tag's source changed since",
                live_with(
                    last_applied(spec.clone()),
                    json!({"lookupPolicy": {"local": true}, "tags": [tag("quay.io/o/a:2")]}),
                    json!({"team": "b"}),
                ),
                Some(without(&[
                    ".metadata.labels.team",
                    ".spec.tags[name=\"v1\"].from",
                ])),
            ),
            (
                "a field removed since, and fields added since",
                live_with(
                    last_applied(spec.clone()),
                    json!({"tags": [tag("quay.io/o/a:1"), json!({"name": "v2"})]}),
                    json!({"team": "a", "extra": "x"}),
                ),
                Some(without(&[".spec.lookupPolicy.local"])),
            ),
            (
                "an empty annotation",
                live_with(json!(""), spec.clone(), json!({"team": "a"})),
                None,
            ),
            (
                "an annotation that is not JSON",
                live_with(json!("{not json"), spec.clone(), json!({"team": "a"})),
                None,
            ),
            (
                "an annotation of another apiVersion",
                live_with(
                    json!({"apiVersion": "v1", "kind": "ImageStream", "spec": spec}),
                    spec.clone(),
                    json!({"team": "a"}),
                ),
                None,
            ),
            (
                "an annotation with a field the schema does not know",
                live_with(
                    last_applied(json!({"lookupPolicy": {"local": true}, "tagz": []})),
                    spec.clone(),
                    json!({"team": "a"}),
                ),
                None,
            ),
            (
                "an annotation with two tags of one name",
                live_with(
                    last_applied(json!({"tags": [tag("a:1"), tag("a:2")]})),
                    spec.clone(),
                    json!({"team": "a"}),
                ),
                None,
            ),
        ];
        for (case, live, expected) in cases {
            let allowed = allowed_conflicts(&live, &IMAGE_STREAM_TYPE);
            let paths = allowed.map(|set| set.iter().map(|p| path_string(p)).collect::<Vec<_>>());
            let expected = expected.map(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>());
            assert_eq!(paths, expected, "{case}");
        }
        let bare = json!({"metadata": {"name": "app"}, "spec": spec});
        assert_eq!(
            allowed_conflicts(&bare, &IMAGE_STREAM_TYPE),
            None,
            "no annotation"
        );
        let stream_annotation = live_with(last_applied(spec.clone()), spec, json!({}));
        assert_eq!(
            allowed_conflicts(&stream_annotation, &SECRET_TYPE),
            None,
            "an annotation of another kind's apiVersion"
        );
    }

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
