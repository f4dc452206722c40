//! `metadata.managedFields`: who owns which fields, and how writes move ownership
//! (kube-apiserver's field manager, `k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`).
//!
//! Every write records the fields it changed under its manager. An `Update` (create, update,
//! non-apply patch) takes the changed fields from every other manager; an `Apply` records
//! exactly the fields its configuration sets (see [`super::apply`]).

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub use super::entries::{ManagedEntry, ManagedFields, Operation};
use super::fieldset::{FieldSet, Path, PathElement};
use super::schema::{ObjectType, IMAGE_STREAM_TYPE};
use super::typed::{self, AbsentMap};
use crate::api::imagestream::ImageStream;
use crate::object_meta::time::rfc3339;

/// Which part of the object a write addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself: status changes are not the writer's.
    #[default]
    Main,
    /// `/status`: only status changes are the writer's.
    Status,
}

/// Longest accepted manager name (`validation.FieldManagerMaxLength`).
pub const MAX_MANAGER_LENGTH: usize = 128;

/// Fields no manager owns: identity and server-maintained metadata (`stripMetaManager`).
const STRIPPED: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "creationTimestamp"],
    &["metadata", "selfLink"],
    &["metadata", "uid"],
    &["metadata", "clusterName"],
    &["metadata", "generation"],
    &["metadata", "managedFields"],
    &["metadata", "resourceVersion"],
];

/// The manager name apiserver derives from a User-Agent: what precedes the first `/`, without
/// unprintable characters, cut to 128 bytes (`kubectl/v1.37.1 (linux/amd64) …` → `kubectl`).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or_default();
    let mut manager = String::new();
    for c in prefix.chars().filter(|c| !c.is_control()) {
        if manager.len() + c.len_utf8() > MAX_MANAGER_LENGTH {
            break;
        }
        manager.push(c);
    }
    manager
}

/// Records a non-apply write of the ImageStream `new` (over `old`, `None` for a create) by
/// `manager` in `new`'s `metadata.managedFields`; see [`record_update`].
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Subresource,
    now: Timestamp,
) {
    record_update(&IMAGE_STREAM_TYPE, old, new, manager, subresource, now);
}

/// Records a non-apply write of `new` (over `old`, `None` for a create), an object of
/// `object_type`, by `manager` in `new`'s `metadata.managedFields`.
///
/// A main-resource write that carries well-formed, non-empty managedFields replaces the
/// stored ones (kubectl's client-side to server-side apply migration relies on it); a single
/// empty entry `[{}]` clears them.
pub fn record_update(
    object_type: &ObjectType,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Subresource,
    now: Timestamp,
) {
    let live = old.map(ManagedFields::decode_lenient).unwrap_or_default();
    let mut managers = match subresource {
        Subresource::Main => ManagedFields::requested(new).unwrap_or(live),
        Subresource::Status => live,
    };
    let empty = json!({});
    let comparison = typed::compare(
        &normalize(object_type, old.unwrap_or(&empty)),
        &normalize(object_type, new),
        object_type.node,
        AbsentMap::Missing,
    );
    let mut changed = comparison.added;
    changed.extend(comparison.modified);
    let changed = owned_changes(changed, subresource);
    let removed = owned_changes(comparison.removed, subresource);
    managers.release(&changed, &removed);
    if !changed.is_empty() {
        let entry = managers.entry_mut(
            manager,
            Operation::Update,
            subresource,
            object_type.api_version,
        );
        entry.fields.extend(changed);
        entry.time = Some(rfc3339(now));
    }
    managers.store(new);
}

/// Drops the paths no manager may own, and those that belong to the other half of the
/// object (status for main-resource writes, spec and metadata for `/status` writes).
pub fn owned_changes(mut set: FieldSet, subresource: Subresource) -> FieldSet {
    set.retain(|path| !is_stripped(path) && !is_reset(path, subresource));
    set
}

/// Whether `path` is one of [`STRIPPED`] (compared in place: this runs for every changed path).
fn is_stripped(path: &Path) -> bool {
    STRIPPED.iter().any(|stripped| {
        stripped.len() == path.len()
            && stripped
                .iter()
                .zip(path)
                .all(|(name, element)| matches!(element, PathElement::Field(f) if f == name))
    })
}

fn is_reset(path: &[PathElement], subresource: Subresource) -> bool {
    let top = match path.first() {
        Some(PathElement::Field(name)) => name.as_str(),
        _ => return false,
    };
    match subresource {
        Subresource::Main => top == "status",
        Subresource::Status => top == "spec" || top == "metadata",
    }
}

/// The object as the typed model writes it and the store keeps it (without empty labels or
/// annotations), without managedFields, so that equal objects compare equal however a client
/// spelled them (kube compares decoded objects too).
pub fn normalize(object_type: &ObjectType, object: &Value) -> Value {
    if object_type.kind != IMAGE_STREAM_TYPE.kind {
        // Other kinds are kept as trees: compared as written, less what the store drops.
        let mut object = object.clone();
        drop_empty_metadata_maps(&mut object);
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.shift_remove("managedFields");
        }
        return object;
    }
    // Decoded from the borrowed tree, so the object is copied only when that fails (perhaps
    // because of its managedFields, which the copy then drops before decoding again).
    if let Ok(mut stream) = ImageStream::deserialize(object) {
        stream.metadata.managed_fields = None;
        let metadata = &mut stream.metadata;
        for map in [&mut metadata.labels, &mut metadata.annotations] {
            map.take_if(|map| map.is_empty());
        }
        if let Ok(normalized) = serde_json::to_value(stream) {
            return normalized;
        }
    }
    let mut object = object.clone();
    drop_empty_metadata_maps(&mut object);
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    serde_json::from_value::<ImageStream>(object.clone())
        .ok()
        .and_then(|stream| serde_json::to_value(stream).ok())
        .unwrap_or(object)
}

/// Drops `metadata.labels` and `metadata.annotations` when empty or null, as kube-apiserver
/// does (Go's `omitempty`) when it stores and serves any object: `kubectl diff` sends
/// `annotations: {}` in its dry run, and a kept `{}` would read as a change on every run.
pub fn drop_empty_metadata_maps(object: &mut Value) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for key in ["labels", "annotations"] {
        let empty = metadata
            .get(key)
            .is_some_and(|map| map.is_null() || map.as_object().is_some_and(Map::is_empty));
        if empty {
            metadata.shift_remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::patch::entries::raw_entries;

    const CSA: &str = "kubectl-client-side-apply";

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + second).unwrap()
    }

    fn stream(spec: Value) -> Value {
        json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
               "metadata": {"name": "demo", "namespace": "default",
                            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
               "spec": spec})
    }

    fn entries(object: &Value) -> Vec<Value> {
        raw_entries(object).to_vec()
    }

    fn created() -> Value {
        let mut object = stream(json!({"lookupPolicy": {"local": true},
            "tags": [{"name": "latest", "from": {"kind": "DockerImage", "name": "nginx:1.27"}}]}));
        update_managed_fields(None, &mut object, CSA, Subresource::Main, at(0));
        object
    }

    #[test]
    fn user_agents_name_managers_like_apiserver() {
        let cases = [
            (
                "kubectl/v1.37.1 (linux/amd64) kubernetes/f78e722",
                "kubectl".to_string(),
            ),
            ("kube-rs", "kube-rs".to_string()),
            (
                "OpenAPI-Generator/37.0.2/python",
                "OpenAPI-Generator".to_string(),
            ),
            ("a\tb\u{7f}c/1", "abc".to_string()),
            ("", String::new()),
            (&"x".repeat(200), "x".repeat(128)),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(
                manager_from_user_agent(user_agent),
                expected,
                "{user_agent:?}"
            );
        }
    }

    #[test]
    fn create_records_every_set_field_for_the_creator() {
        let object = created();
        let expected = json!([{
            "manager": CSA, "operation": "Update", "apiVersion": "image.openshift.io/v1",
            "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                "f:spec": {
                    "f:lookupPolicy": {"f:local": {}},
                    "f:tags": {".": {}, "k:{\"name\":\"latest\"}": {
                        ".": {}, "f:annotations": {}, "f:from": {}, "f:generation": {}, "f:importPolicy": {},
                        "f:name": {}, "f:referencePolicy": {".": {}, "f:type": {}}}}}
            }
        }]);
        assert_eq!(entries(&object), expected.as_array().unwrap().clone());
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_from_other_managers() {
        let old = created();
        let mut new = old.clone();
        new["spec"]["lookupPolicy"]["local"] = json!(false);
        update_managed_fields(
            Some(&old),
            &mut new,
            "kubectl-edit",
            Subresource::Main,
            at(60),
        );
        let managed = entries(&new);
        assert_eq!(managed.len(), 2);
        assert_eq!(managed[0]["manager"], CSA);
        assert_eq!(managed[0]["fieldsV1"]["f:spec"].get("f:lookupPolicy"), None);
        assert_eq!(managed[1]["manager"], "kubectl-edit");
        assert_eq!(managed[1]["time"], "2026-01-01T00:01:00Z");
        assert_eq!(
            managed[1]["fieldsV1"],
            json!({"f:spec": {"f:lookupPolicy": {"f:local": {}}}})
        );
    }

    #[test]
    fn a_write_that_changes_nothing_keeps_managed_fields_as_they_were() {
        let old = created();
        let mut new = old.clone();
        update_managed_fields(
            Some(&old),
            &mut new,
            "kubectl-edit",
            Subresource::Main,
            at(60),
        );
        assert_eq!(new, old);
    }

    #[test]
    fn status_writes_own_only_status_and_say_so() {
        let old = created();
        let mut new = old.clone();
        new["spec"]["lookupPolicy"]["local"] = json!(false);
        new["status"] = json!({"dockerImageRepository": "registry/default/demo"});
        update_managed_fields(Some(&old), &mut new, "importer", Subresource::Status, at(5));
        let managed = entries(&new);
        assert_eq!(managed[1]["subresource"], "status");
        assert_eq!(
            managed[1]["fieldsV1"],
            json!({"f:status": {".": {}, "f:dockerImageRepository": {}}})
        );
        assert_eq!(
            managed[0]["fieldsV1"]["f:spec"]["f:lookupPolicy"],
            json!({"f:local": {}})
        );
    }

    #[test]
    fn requested_managed_fields_replace_or_reset_the_stored_ones() {
        let old = created();
        let mut migrated = old.clone();
        let mut requested = entries(&old);
        requested[0]["manager"] = json!("kubectl");
        requested[0]["operation"] = json!("Apply");
        migrated["metadata"]["managedFields"] = Value::Array(requested.clone());
        update_managed_fields(
            Some(&old),
            &mut migrated,
            "kubectl",
            Subresource::Main,
            at(1),
        );
        assert_eq!(entries(&migrated), requested);

        let mut reset = old.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        update_managed_fields(Some(&old), &mut reset, "kubectl", Subresource::Main, at(1));
        assert_eq!(reset["metadata"].get("managedFields"), None);

        let mut malformed = old.clone();
        malformed["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Frob"}]);
        update_managed_fields(
            Some(&old),
            &mut malformed,
            "kubectl",
            Subresource::Main,
            at(1),
        );
        assert_eq!(entries(&malformed), entries(&old));
    }
}
