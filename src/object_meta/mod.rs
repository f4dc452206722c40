//! apimachinery's `ValidateObjectMeta` and `ValidateObjectMetaUpdate` rules for what every
//! stored object carries besides its name: labels, annotations, finalizers, owner references,
//! and the fields an update may not change. Messages are apimachinery's, so that kubectl users
//! see what a real cluster would tell them.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::field::FieldError;

pub mod names;
pub mod time;

use names::{label_value_problems, qualified_name_problems};

/// apimachinery's `TotalAnnotationSizeLimitB`: keys and values together.
pub const ANNOTATIONS_SIZE_MAX: usize = 256 * 1024;

/// The finalizers that ask the garbage collector for opposite things.
const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// Errors in the labels, annotations, finalizers and owner references of an object.
pub fn validate(meta: &ObjectMeta) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(labels) = &meta.labels {
        errors.extend(validate_labels(labels));
    }
    if let Some(annotations) = &meta.annotations {
        errors.extend(validate_annotations(annotations));
    }
    if let Some(finalizers) = &meta.finalizers {
        errors.extend(validate_finalizers(finalizers));
    }
    if let Some(references) = &meta.owner_references {
        errors.extend(validate_owner_references(references));
    }
    errors
}

/// Each owner reference names its owner completely, no Event owns anything, and one
/// reference at most is the controller (apimachinery `ValidateOwnerReferences`): the garbage
/// collector and every controller that adopts objects read "the" controller reference.
fn validate_owner_references(references: &[OwnerReference]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut first_controller: Option<String> = None;
    for reference in references {
        errors.extend(validate_owner_reference(reference));
        if reference.api_version == "v1" && reference.kind == "Event" {
            errors.push(FieldError::invalid(
                "metadata.ownerReferences",
                serde_json::to_value(reference).unwrap_or_default(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if reference.controller != Some(true) {
            continue;
        }
        let controller = format!("{}/{}", reference.kind, reference.name);
        match &first_controller {
            None => first_controller = Some(controller),
            Some(first) => errors.push(FieldError::invalid(
                "metadata.ownerReferences",
                serde_json::to_value(references).unwrap_or_default(),
                format!(
                    "Only one reference can have Controller set to true. Found \"true\" in \
                     references for {first} and {controller}"
                ),
            )),
        }
    }
    errors
}

/// What an update of `old` into `new` may not do: change the uid or the deletion fields (only a
/// delete sets them; the server carries the stored ones over first, as kube-apiserver's
/// `BeforeUpdate` does, so only a client setting them itself meets this), or add finalizers to
/// an object that is being deleted.
pub fn validate_update(new: &ObjectMeta, old: &ObjectMeta) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = [
        immutable("metadata.uid", &text(&new.uid), &text(&old.uid)),
        immutable(
            "metadata.deletionTimestamp",
            &new.deletion_timestamp,
            &old.deletion_timestamp,
        ),
        immutable(
            "metadata.deletionGracePeriodSeconds",
            &new.deletion_grace_period_seconds,
            &old.deletion_grace_period_seconds,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if old.deletion_timestamp.is_some() {
        let before = old.finalizers.as_deref().unwrap_or_default();
        let mut added: Vec<&str> = new
            .finalizers
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|finalizer| !before.iter().any(|old| old == finalizer))
            .collect();
        if !added.is_empty() {
            added.sort_unstable();
            added.dedup();
            errors.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new \
                     finalizers []string{{{}}}",
                    go_quoted(&added)
                ),
            ));
        }
    }
    errors
}

fn validate_labels(labels: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in labels {
        errors.extend(invalid_each(
            "metadata.labels",
            key,
            qualified_name_problems(key),
        ));
        errors.extend(invalid_each(
            "metadata.labels",
            value,
            label_value_problems(value),
        ));
    }
    errors
}

/// apimachinery's `ValidateAnnotations`: keys are qualified names regardless of case; keys and
/// values together hold at most 256 KiB.
pub fn validate_annotations(annotations: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for key in annotations.keys() {
        let problems = qualified_name_problems(&key.to_lowercase());
        errors.extend(invalid_each("metadata.annotations", key, problems));
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ANNOTATIONS_SIZE_MAX {
        errors.push(FieldError::too_long(
            "metadata.annotations",
            ANNOTATIONS_SIZE_MAX,
        ));
    }
    errors
}

fn validate_finalizers(finalizers: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for finalizer in finalizers {
        let problems = qualified_name_problems(finalizer);
        errors.extend(invalid_each("metadata.finalizers", finalizer, problems));
    }
    let has = |wanted: &str| finalizers.iter().any(|f| f == wanted);
    if has(ORPHAN) && has(FOREGROUND) {
        errors.push(FieldError::invalid(
            "metadata.finalizers",
            finalizers.to_vec(),
            format!("finalizer {ORPHAN} and {FOREGROUND} cannot be both set"),
        ));
    }
    errors
}

/// An owner reference names its owner completely (apimachinery `validateOwnerReference`).
fn validate_owner_reference(reference: &OwnerReference) -> Vec<FieldError> {
    let version = match reference.api_version.split_once('/') {
        Some((_, version)) => version,
        None => reference.api_version.as_str(),
    };
    let checks = [
        (
            "apiVersion",
            version,
            reference.api_version.as_str(),
            "version",
        ),
        (
            "kind",
            reference.kind.as_str(),
            reference.kind.as_str(),
            "kind",
        ),
        (
            "name",
            reference.name.as_str(),
            reference.name.as_str(),
            "name",
        ),
        ("uid", reference.uid.as_str(), reference.uid.as_str(), "uid"),
    ];
    checks
        .into_iter()
        .filter(|(_, checked, _, _)| checked.is_empty())
        .map(|(field, _, shown, what)| {
            FieldError::invalid(
                format!("metadata.ownerReferences.{field}"),
                shown,
                format!("{what} must not be empty"),
            )
        })
        .collect()
}

fn invalid_each(field: &str, value: &str, problems: Vec<String>) -> Vec<FieldError> {
    problems
        .into_iter()
        .map(|problem| FieldError::invalid(field, value, problem))
        .collect()
}

/// Strings as Go's `%#v` prints a `[]string`'s elements: quoted, comma-separated.
fn go_quoted(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    quoted.join(", ")
}

/// apimachinery's `ValidateImmutableField`: `new` at `path` differs from `old`.
fn immutable<T: PartialEq + serde::Serialize>(path: &str, new: &T, old: &T) -> Option<FieldError> {
    (new != old).then(|| {
        let sent = serde_json::to_value(new).unwrap_or_default();
        FieldError::invalid(path, sent, "field is immutable")
    })
}

fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(value: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(value).unwrap()
    }

    fn check(metadata: serde_json::Value, expected: &[&str]) {
        let errors: Vec<String> = validate(&meta(metadata.clone()))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors, expected, "{metadata}");
    }

    #[test]
    fn well_formed_metadata_has_no_errors() {
        check(
            json!({"labels": {"app": "web", "example.com/tier": "", "a.b": "x_y-z.1"},
                   "annotations": {"Example.com/Owner": "anything at all: {}"},
                   "finalizers": ["example.com/cleanup", "orphan"],
                   "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u"}]}),
            &[],
        );
    }

    #[test]
    fn labels_need_qualified_keys_and_label_values() {
        check(
            json!({"labels": {"bad key!": "ok", "good": "-bad-"}}),
            &[
                "metadata.labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                "metadata.labels: Invalid value: \"-bad-\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ],
        );
    }

    #[test]
    fn annotations_need_qualified_keys_and_fit_in_256_kib() {
        let errors = validate(&meta(json!({"annotations": {"no spaces": "v"}})));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "metadata.annotations");
        let big = "x".repeat(ANNOTATIONS_SIZE_MAX);
        check(
            json!({"annotations": {"a": big}}),
            &["metadata.annotations: Too long: may not be more than 262144 bytes"],
        );
        let exactly = "x".repeat(ANNOTATIONS_SIZE_MAX - 1);
        check(json!({"annotations": {"a": exactly}}), &[]);
    }

    #[test]
    fn finalizers_are_qualified_names_and_orphan_excludes_foreground() {
        let errors = validate(&meta(json!({"finalizers": ["Bad Name!"]})));
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .starts_with("metadata.finalizers: Invalid value: \"Bad Name!\""));
        check(
            json!({"finalizers": ["orphan", "foregroundDeletion"]}),
            &["metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set"],
        );
    }

    #[test]
    fn owner_references_name_their_owner_completely() {
        check(
            json!({"ownerReferences": [{"apiVersion": "apps/", "kind": "", "name": "x", "uid": ""}]}),
            &[
                "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty",
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
            ],
        );
    }

    #[test]
    fn one_owner_reference_at_most_is_the_controller_and_no_event_owns_anything() {
        let owner = |kind: &str, name: &str, controller: bool| {
            json!({"apiVersion": "v1", "kind": kind, "name": name, "uid": "u",
                   "controller": controller})
        };
        check(
            json!({"ownerReferences": [owner("A", "a", true), owner("B", "b", false)]}),
            &[],
        );
        let two = json!([
            owner("A", "a", true),
            owner("B", "b", true),
            owner("C", "c", true)
        ]);
        let errors: Vec<String> = validate(&meta(json!({ "ownerReferences": two })))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].ends_with(
                ": Only one reference can have Controller set to true. Found \"true\" in \
                 references for A/a and B/b"
            ),
            "{errors:?}"
        );
        assert!(
            errors[1].ends_with("references for A/a and C/c"),
            "{errors:?}"
        );
        let event = validate(&meta(
            json!({"ownerReferences": [owner("Event", "e", false)]}),
        ));
        assert_eq!(event.len(), 1, "{event:?}");
        assert!(
            event[0]
                .to_string()
                .ends_with(": /v1, Kind=Event is disallowed from being an owner"),
            "{event:?}"
        );
    }

    fn check_update(new: serde_json::Value, old: serde_json::Value, expected: &[&str]) {
        let errors: Vec<String> = validate_update(&meta(new), &meta(old))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors, expected);
    }

    #[test]
    fn an_update_keeps_the_uid() {
        check_update(json!({"uid": "a"}), json!({"uid": "a"}), &[]);
        check_update(
            json!({"uid": "b"}),
            json!({"uid": "a"}),
            &["metadata.uid: Invalid value: \"b\": field is immutable"],
        );
    }

    #[test]
    fn only_a_delete_sets_the_deletion_fields() {
        let at = "2026-01-01T00:00:00Z";
        let deleting = json!({"deletionTimestamp": at, "deletionGracePeriodSeconds": 0});
        check_update(deleting.clone(), deleting.clone(), &[]);
        check_update(
            json!({"deletionTimestamp": at}),
            json!({}),
            &["metadata.deletionTimestamp: Invalid value: \"2026-01-01T00:00:00Z\": field is immutable"],
        );
        check_update(
            json!({"deletionTimestamp": at, "deletionGracePeriodSeconds": 30}),
            deleting,
            &["metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable"],
        );
    }

    #[test]
    fn an_object_being_deleted_takes_no_new_finalizers() {
        let deleting = json!({"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["a/x"]});
        let at = |finalizers: serde_json::Value| json!({"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": finalizers});
        check_update(at(json!([])), deleting.clone(), &[]);
        check_update(at(json!(["a/x"])), deleting.clone(), &[]);
        check_update(
            at(json!(["a/x", "b/y", "a/z"])),
            deleting,
            &["metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"a/z\", \"b/y\"}"],
        );
        check_update(
            json!({"finalizers": ["b/y"]}),
            json!({"finalizers": ["a/x"]}),
            &[],
        );
    }
}
