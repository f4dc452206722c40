//! `metadata.managedFields`: who owns which fields, and how writes move ownership
//! (kube-apiserver's field manager, `k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager`).
//!
//! Every write records the fields it changed under its manager. An `Update` (create, update,
//! non-apply patch) takes the changed fields from every other manager; an `Apply` records
//! exactly the fields its configuration sets (see [`super::apply`]).

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use super::schema::IMAGE_STREAM;
use super::typed;
use crate::api::imagestream::{ImageStream, API_VERSION};

/// Which part of the object a write addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself: status changes are not the writer's.
    #[default]
    Main,
    /// `/status`: only status changes are the writer's.
    Status,
}

/// The `operation` of a managedFields entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write.
    Update,
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    /// The field manager's name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: Operation,
    /// The API version the fields are expressed in.
    pub api_version: String,
    /// `status` for `/status` writes, empty otherwise.
    pub subresource: String,
    /// When the manager last changed the object (RFC 3339, seconds).
    pub time: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
}

/// All entries of one object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagedFields(pub Vec<ManagedEntry>);

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

/// Records a non-apply write of `new` (over `old`, `None` for a create) by `manager` in
/// `new`'s `metadata.managedFields`.
///
/// A main-resource write that carries well-formed, non-empty managedFields replaces the
/// stored ones (kubectl's client-side to server-side apply migration relies on it); a single
/// empty entry `[{}]` clears them.
pub fn update_managed_fields(
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
        &normalize(old.unwrap_or(&empty)),
        &normalize(new),
        &IMAGE_STREAM,
    );
    let changed = owned_changes(comparison.added.union(&comparison.modified), subresource);
    let removed = owned_changes(comparison.removed, subresource);
    managers.release(&changed, &removed);
    if !changed.is_empty() {
        let entry = managers.entry_mut(manager, Operation::Update, subresource);
        entry.fields = entry.fields.union(&changed);
        entry.time = Some(format_time(now));
    }
    managers.store(new);
}

/// Drops the paths no manager may own, and those that belong to the other half of the
/// object (status for main-resource writes, spec and metadata for `/status` writes).
pub fn owned_changes(mut set: FieldSet, subresource: Subresource) -> FieldSet {
    let stripped: Vec<Path> = STRIPPED
        .iter()
        .map(|path| path.iter().map(|name| PathElement::field(name)).collect())
        .collect();
    set.retain(|path| !stripped.contains(path) && !is_reset(path, subresource));
    set
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

/// The object as the typed model writes it, without managedFields, so that equal objects
/// compare equal however a client spelled them (kube compares decoded objects too).
pub fn normalize(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    serde_json::from_value::<ImageStream>(object.clone())
        .ok()
        .and_then(|stream| serde_json::to_value(stream).ok())
        .unwrap_or(object)
}

/// `2026-01-02T03:04:05Z`: managedFields times have seconds precision.
pub fn format_time(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

// === impl ManagedFields ===

impl ManagedFields {
    /// The entries stored in `object`, skipping malformed ones.
    pub fn decode_lenient(object: &Value) -> ManagedFields {
        let entries = raw_entries(object)
            .iter()
            .filter_map(|raw| ManagedEntry::decode(raw).ok());
        ManagedFields(entries.collect())
    }

    /// The entries a write asks for, when it sets valid, non-empty ones.
    fn requested(object: &Value) -> Option<ManagedFields> {
        let raw = raw_entries(object);
        if raw.len() == 1 && raw[0].as_object().is_some_and(Map::is_empty) {
            return Some(ManagedFields::default());
        }
        let entries: Result<Vec<ManagedEntry>, ()> = raw
            .iter()
            .map(|raw| ManagedEntry::decode(raw).map_err(drop))
            .collect();
        entries
            .ok()
            .filter(|entries| !entries.is_empty())
            .map(ManagedFields)
    }

    /// Removes `changed` and `removed` from every entry and drops entries left empty.
    pub fn release(&mut self, changed: &FieldSet, removed: &FieldSet) {
        for entry in &mut self.0 {
            entry.fields = entry.fields.difference(changed).difference(removed);
        }
        self.0.retain(|entry| !entry.fields.is_empty());
    }

    /// The entry of this manager, operation and subresource, created if missing. Update
    /// entries are also per API version.
    pub fn entry_mut(
        &mut self,
        manager: &str,
        operation: Operation,
        subresource: Subresource,
    ) -> &mut ManagedEntry {
        let subresource = subresource_name(subresource);
        let found = self.0.iter().position(|entry| {
            entry.manager == manager
                && entry.operation == operation
                && entry.subresource == subresource
                && (operation == Operation::Apply || entry.api_version == API_VERSION)
        });
        let index = found.unwrap_or_else(|| {
            self.0.push(ManagedEntry {
                manager: manager.to_string(),
                operation,
                api_version: API_VERSION.to_string(),
                subresource: subresource.to_string(),
                time: None,
                fields: FieldSet::default(),
            });
            self.0.len() - 1
        });
        &mut self.0[index]
    }

    /// Removes and returns the entry of this manager, operation and subresource.
    pub fn take(
        &mut self,
        manager: &str,
        operation: Operation,
        subresource: Subresource,
    ) -> Option<ManagedEntry> {
        let subresource = subresource_name(subresource);
        let index = self.0.iter().position(|entry| {
            entry.manager == manager
                && entry.operation == operation
                && entry.subresource == subresource
        })?;
        Some(self.0.remove(index))
    }

    /// Writes the entries into `object`, sorted like kube-apiserver (Apply first, then oldest
    /// first), or removes `managedFields` when there are none.
    pub fn store(mut self, object: &mut Value) {
        self.0.sort_by_cached_key(|entry| {
            let seconds = entry
                .time
                .as_deref()
                .and_then(|time| time.parse::<Timestamp>().ok())
                .map_or(0, |time| time.as_second());
            (
                entry.operation,
                seconds,
                entry.manager.clone(),
                entry.api_version.clone(),
                entry.subresource.clone(),
            )
        });
        let Some(meta) = metadata_mut(object) else {
            return;
        };
        if self.0.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert(
                "managedFields".into(),
                Value::Array(self.0.iter().map(ManagedEntry::encode).collect()),
            );
        }
    }
}

fn raw_entries(object: &Value) -> &[Value] {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn metadata_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let fields = object.as_object_mut()?;
    let meta = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    meta.as_object_mut()
}

fn subresource_name(subresource: Subresource) -> &'static str {
    match subresource {
        Subresource::Main => "",
        Subresource::Status => "status",
    }
}

// === impl ManagedEntry ===

impl ManagedEntry {
    /// How conflict messages name this manager (`printManager`): `"kubectl"` for appliers,
    /// `"kubectl-client-side-apply" using image.openshift.io/v1` for updaters.
    pub fn describe(&self) -> String {
        let mut text = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            text.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            text.push_str(&format!(" using {}", self.api_version));
        }
        text
    }

    fn decode(raw: &Value) -> Result<ManagedEntry, String> {
        let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_string);
        let operation = match text("operation").as_deref() {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            other => return Err(format!("invalid operation {other:?}")),
        };
        if text("fieldsType").as_deref() != Some("FieldsV1") {
            return Err("fieldsType must be FieldsV1".into());
        }
        let fields = raw
            .get("fieldsV1")
            .map_or(Ok(FieldSet::default()), FieldSet::from_fields_v1)
            .map_err(|err| err.to_string())?;
        Ok(ManagedEntry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            subresource: text("subresource").unwrap_or_default(),
            time: text("time"),
            fields,
        })
    }

    fn encode(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), self.manager.clone().into());
        let operation = match self.operation {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        };
        entry.insert("operation".into(), operation.into());
        entry.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(time) = &self.time {
            entry.insert("time".into(), time.clone().into());
        }
        entry.insert("fieldsType".into(), "FieldsV1".into());
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            entry.insert("subresource".into(), self.subresource.clone().into());
        }
        Value::Object(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn entries_sort_apply_first_then_oldest_first() {
        let entry = |manager: &str, operation, time: &str| ManagedEntry {
            manager: manager.into(),
            operation,
            api_version: API_VERSION.into(),
            subresource: String::new(),
            time: Some(time.into()),
            fields: [vec![PathElement::field("spec")]].into_iter().collect(),
        };
        let managers = ManagedFields(vec![
            entry("new-update", Operation::Update, "2026-01-02T00:00:00Z"),
            entry("old-update", Operation::Update, "2026-01-01T00:00:00Z"),
            entry("applier", Operation::Apply, "2026-01-03T00:00:00Z"),
        ]);
        let mut object = json!({"metadata": {}});
        managers.store(&mut object);
        let order: Vec<Value> = entries(&object)
            .iter()
            .map(|entry| entry["manager"].clone())
            .collect();
        assert_eq!(
            order,
            [json!("applier"), json!("old-update"), json!("new-update")]
        );
        assert_eq!(ManagedFields::decode_lenient(&object).0.len(), 3);
    }

    #[test]
    fn managers_are_described_like_conflict_messages_do() {
        let mut entry = ManagedFields::default();
        let updater = entry
            .entry_mut(CSA, Operation::Update, Subresource::Main)
            .describe();
        assert_eq!(
            updater,
            "\"kubectl-client-side-apply\" using image.openshift.io/v1"
        );
        let applier = entry
            .entry_mut("kubectl", Operation::Apply, Subresource::Main)
            .describe();
        assert_eq!(applier, "\"kubectl\"");
        let status = entry
            .entry_mut("importer", Operation::Update, Subresource::Status)
            .describe();
        assert_eq!(
            status,
            "\"importer\" with subresource \"status\" using image.openshift.io/v1"
        );
    }
}
