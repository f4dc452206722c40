//! The entries of `metadata.managedFields`: decoding, encoding in kube-apiserver's order, and
//! finding the entry of one manager.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::managed_fields::Subresource;

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
    pub(super) fn requested(object: &Value) -> Option<ManagedFields> {
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

    /// kube-apiserver keeps at most this many `Update` entries (`capManagersManager`).
    pub const MAX_UPDATERS: usize = 10;

    /// The name of the entry the oldest `Update` entries are folded into.
    pub const ANCIENT_CHANGES: &'static str = "ancient-changes";

    /// Folds the oldest `Update` entries into one `ancient-changes` entry so that at most
    /// [`Self::MAX_UPDATERS`] remain and managedFields cannot grow without bound.
    pub fn cap_updaters(&mut self) {
        let mut updaters: Vec<usize> = (0..self.0.len())
            .filter(|&index| self.0[index].operation == Operation::Update)
            .collect();
        if updaters.len() <= Self::MAX_UPDATERS {
            return;
        }
        updaters.sort_by_key(|&index| (seconds(&self.0[index]), self.0[index].manager.clone()));
        let (oldest, kept) = updaters.split_at(updaters.len() - Self::MAX_UPDATERS + 1);
        // An earlier bucket joins the new one: there is only ever one.
        let earlier = kept
            .iter()
            .filter(|&&index| self.0[index].manager == Self::ANCIENT_CHANGES);
        let mut folded: Vec<usize> = oldest.iter().chain(earlier).copied().collect();
        let newest = folded
            .iter()
            .max_by_key(|&&index| seconds(&self.0[index]))
            .map(|&index| &self.0[index]);
        let bucket = ManagedEntry {
            manager: Self::ANCIENT_CHANGES.to_string(),
            operation: Operation::Update,
            // Every entry of one object is in its kind's one version.
            api_version: newest
                .map(|entry| entry.api_version.clone())
                .unwrap_or_default(),
            subresource: String::new(),
            time: newest.and_then(|entry| entry.time.clone()),
            fields: folded.iter().fold(FieldSet::default(), |set, &index| {
                set.union(&self.0[index].fields)
            }),
        };
        folded.sort_unstable_by(|a, b| b.cmp(a));
        for index in folded {
            self.0.remove(index);
        }
        self.0.push(bucket);
    }

    /// Removes `changed` and `removed` from every entry and drops entries left empty.
    pub fn release(&mut self, changed: &FieldSet, removed: &FieldSet) {
        for entry in &mut self.0 {
            entry.fields = entry.fields.difference(changed).difference(removed);
        }
        self.0.retain(|entry| !entry.fields.is_empty());
    }

    /// The entry of this manager, operation and subresource, created if missing in
    /// `api_version`. Update entries are also per API version.
    pub fn entry_mut(
        &mut self,
        manager: &str,
        operation: Operation,
        subresource: Subresource,
        api_version: &str,
    ) -> &mut ManagedEntry {
        let subresource = subresource_name(subresource);
        let found = self.0.iter().position(|entry| {
            entry.manager == manager
                && entry.operation == operation
                && entry.subresource == subresource
                && (operation == Operation::Apply || entry.api_version == api_version)
        });
        let index = found.unwrap_or_else(|| {
            self.0.push(ManagedEntry {
                manager: manager.to_string(),
                operation,
                api_version: api_version.to_string(),
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
        self.cap_updaters();
        self.0.sort_by_cached_key(|entry| {
            (
                entry.operation,
                seconds(entry),
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

/// The entry's time in Unix seconds; entries without one sort first, as in kube-apiserver.
fn seconds(entry: &ManagedEntry) -> i64 {
    let time = entry
        .time
        .as_deref()
        .and_then(|time| time.parse::<Timestamp>().ok());
    time.map_or(0, |time| time.as_second())
}

pub(super) fn raw_entries(object: &Value) -> &[Value] {
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

pub(super) fn subresource_name(subresource: Subresource) -> &'static str {
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

    /// In k8s-openapi's field order, so that decoding and encoding the stream typed leaves
    /// the entry as it is (see [`is_canonical`]).
    fn encode(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("apiVersion".into(), self.api_version.clone().into());
        entry.insert("fieldsType".into(), "FieldsV1".into());
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        entry.insert("manager".into(), self.manager.clone().into());
        let operation = match self.operation {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        };
        entry.insert("operation".into(), operation.into());
        if !self.subresource.is_empty() {
            entry.insert("subresource".into(), self.subresource.clone().into());
        }
        if let Some(time) = &self.time {
            entry.insert("time".into(), time.clone().into());
        }
        Value::Object(entry)
    }
}

/// The fields of a `ManagedFieldsEntry` in the order k8s-openapi writes them; all but
/// `fieldsV1` are strings.
const ENTRY_FIELDS: [&str; 7] = [
    "apiVersion",
    "fieldsType",
    "fieldsV1",
    "manager",
    "operation",
    "subresource",
    "time",
];

/// Whether `managed_fields` is a list of entries exactly as k8s-openapi's typed
/// `ObjectMeta` writes them: decoding and encoding it typed would change nothing, so a
/// typed pass over the stream may leave it out and put it back.
pub fn is_canonical(managed_fields: &Value) -> bool {
    let Some(entries) = managed_fields.as_array() else {
        return false;
    };
    entries.iter().all(|entry| {
        let Some(fields) = entry.as_object() else {
            return false;
        };
        let mut order = ENTRY_FIELDS.iter();
        fields.iter().all(|(name, value)| {
            order.any(|known| known == name)
                && match name.as_str() {
                    "fieldsV1" => !value.is_null(),
                    "time" => value.as_str().is_some_and(is_canonical_time),
                    _ => value.is_string(),
                }
        })
    })
}

/// `2026-01-02T03:04:05Z`, as k8s-openapi writes a `Time`.
fn is_canonical_time(text: &str) -> bool {
    text.parse::<Timestamp>()
        .is_ok_and(|time| time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() == text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::imagestream::API_VERSION;
    use crate::apiserver::patch::fieldset::PathElement;
    use serde_json::json;

    fn check_canonical(managed_fields: Value, expected: bool) {
        assert_eq!(is_canonical(&managed_fields), expected, "{managed_fields}");
    }

    #[test]
    fn only_entries_in_typed_order_with_seconds_times_are_canonical() {
        let entry = ManagedEntry {
            manager: "m".into(),
            operation: Operation::Update,
            api_version: API_VERSION.into(),
            subresource: "status".into(),
            time: Some("2026-01-02T03:04:05Z".into()),
            fields: FieldSet::default(),
        };
        check_canonical(json!([entry.encode()]), true);
        check_canonical(json!([]), true);
        check_canonical(json!([{"manager": "m", "apiVersion": "v1"}]), false);
        check_canonical(json!([{"time": "2026-01-02T03:04:05.5Z"}]), false);
        check_canonical(json!([{"time": "2026-01-02T04:04:05+01:00"}]), false);
        check_canonical(json!([{"subresource": null}]), false);
        check_canonical(json!([{"operation": "Update", "extra": 1}]), false);
        check_canonical(json!([{"fieldsV1": null}]), false);
        check_canonical(json!({}), false);
    }

    const CSA: &str = "kubectl-client-side-apply";

    fn entries(object: &Value) -> Vec<Value> {
        raw_entries(object).to_vec()
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
            .entry_mut(CSA, Operation::Update, Subresource::Main, API_VERSION)
            .describe();
        assert_eq!(
            updater,
            "\"kubectl-client-side-apply\" using image.openshift.io/v1"
        );
        let applier = entry
            .entry_mut("kubectl", Operation::Apply, Subresource::Main, API_VERSION)
            .describe();
        assert_eq!(applier, "\"kubectl\"");
        let status = entry
            .entry_mut(
                "importer",
                Operation::Update,
                Subresource::Status,
                API_VERSION,
            )
            .describe();
        assert_eq!(
            status,
            "\"importer\" with subresource \"status\" using image.openshift.io/v1"
        );
    }

    #[test]
    fn the_oldest_updaters_are_folded_into_ancient_changes() {
        let updater = |index: i64| ManagedEntry {
            manager: format!("m{index:02}"),
            operation: Operation::Update,
            api_version: API_VERSION.into(),
            subresource: String::new(),
            time: Some(format!("2026-01-01T00:00:{index:02}Z")),
            fields: [vec![PathElement::field(&format!("f{index}"))]]
                .into_iter()
                .collect(),
        };
        let mut managers = ManagedFields((0..13).map(updater).collect());
        managers.cap_updaters();
        assert_eq!(managers.0.len(), ManagedFields::MAX_UPDATERS);
        let bucket = managers.0.last().unwrap();
        assert_eq!(bucket.manager, "ancient-changes");
        assert_eq!(bucket.time.as_deref(), Some("2026-01-01T00:00:03Z"));
        let expected: FieldSet = (0..4)
            .map(|index| vec![PathElement::field(&format!("f{index}"))])
            .collect();
        assert_eq!(bucket.fields, expected);
        assert_eq!(managers.0[0].manager, "m04");

        managers.0.push(updater(20));
        managers.cap_updaters();
        let buckets = managers
            .0
            .iter()
            .filter(|entry| entry.manager == "ancient-changes");
        assert_eq!(buckets.count(), 1);
        assert_eq!(managers.0.len(), ManagedFields::MAX_UPDATERS);
    }
}
