//! Server-side apply (`application/apply-patch+yaml`), after structured-merge-diff's
//! `Updater.Apply` as kube-apiserver wires it up.
//!
//! 1. The configuration is merged into the live object following the schema.
//! 2. The applier's entry becomes exactly the fields the configuration sets.
//! 3. Fields the applier set last time but not now are removed, unless another manager owns
//!    them (or, for object fields, something below them).
//! 4. Fields the merge changed that another manager owns are conflicts: a 409 unless `force`,
//!    in which case they change hands.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::error::{ConflictCause, PatchError, FIELD_MANAGER_CONFLICT};
use super::fieldset::{path_string, FieldSet};
use super::managed_fields::{
    format_time, normalize, owned_changes, ManagedEntry, ManagedFields, Operation, Subresource,
};
use super::schema::IMAGE_STREAM;
use super::typed;
use super::PatchOutcome;
use crate::api::imagestream::API_VERSION;
use crate::apiserver::unknown_fields;

/// kubectl's client-side apply annotation, kept in step with server-side applies by `kubectl`.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Who applies, and how.
#[derive(Clone, Copy, Debug)]
pub struct ApplyRequest<'a> {
    /// The `fieldManager`; required for apply.
    pub manager: &'a str,
    /// Take fields from other managers instead of failing with a conflict.
    pub force: bool,
    /// The main resource or `/status`.
    pub subresource: Subresource,
    /// The time recorded in the applier's entry.
    pub now: Timestamp,
}

/// Applies the YAML or JSON configuration `body` to `live` (`None`: the object does not
/// exist and is created, except through `/status`).
pub fn server_side_apply(
    live: Option<&Value>,
    body: &[u8],
    request: &ApplyRequest<'_>,
) -> Result<PatchOutcome, PatchError> {
    let config = parse_config(body)?;
    if live.is_none() && request.subresource == Subresource::Status {
        return Err(PatchError::NotFound);
    }
    let live_object = normalize(live.unwrap_or(&Value::Object(Map::new())));
    let mut managers = live.map(ManagedFields::decode_lenient).unwrap_or_default();
    let last = managers.take(request.manager, Operation::Apply, request.subresource);

    let applied = without_reset_fields(config.clone(), request.subresource);
    let applied_set = typed::field_set(&applied, &IMAGE_STREAM);
    let merged = typed::merge(Some(&live_object), &applied, Some(&IMAGE_STREAM));
    let mut result = normalize(&prune(merged, last.as_ref(), &applied_set, &managers));

    let comparison = typed::compare(&live_object, &result, &IMAGE_STREAM);
    let changed = owned_changes(
        comparison.added.union(&comparison.modified),
        request.subresource,
    );
    let removed = owned_changes(comparison.removed, request.subresource);
    let conflicts = conflicts(&managers, &changed);
    if !conflicts.is_empty() && !request.force {
        return Err(conflict_error(conflicts));
    }
    managers.release(&changed, &removed);
    let fields = owned_changes(applied_set, request.subresource);
    if !fields.is_empty() {
        let unchanged = result == live_object;
        let time = match last {
            Some(last) if unchanged => last.time,
            _ => Some(format_time(request.now)),
        };
        managers.0.push(applier_entry(request, fields, time));
    }
    if request.manager == "kubectl" && request.subresource == Subresource::Main {
        sync_last_applied(&mut result, &config);
    }
    managers.store(&mut result);
    Ok(PatchOutcome {
        object: result,
        created: live.is_none(),
    })
}

/// Parses and checks the configuration: an object of this API version, without
/// managedFields, and without fields the schema does not know.
fn parse_config(body: &[u8]) -> Result<Value, PatchError> {
    let config: Value = serde_norway::from_slice(body)
        .map_err(|err| PatchError::bad_request(format!("error decoding YAML: {err}")))?;
    if !config.is_object() {
        return Err(PatchError::bad_request(
            "error decoding YAML: the apply configuration must be an object",
        ));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|fields| !fields.is_null())
    {
        return Err(PatchError::bad_request(
            "metadata.managedFields must be nil",
        ));
    }
    let version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if version != API_VERSION {
        return Err(PatchError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {API_VERSION}"
        )));
    }
    let unknown = unknown_fields::unknown_fields(&config, &IMAGE_STREAM);
    if let Some(first) = unknown.first() {
        return Err(PatchError::bad_request(format!(
            "failed to create typed patch object ({API_VERSION}, Kind=ImageStream): .{}: field not declared in schema",
            first.path()
        )));
    }
    Ok(config)
}

/// The configuration without what this endpoint resets: status on the main resource, spec
/// and metadata on `/status`.
fn without_reset_fields(mut config: Value, subresource: Subresource) -> Value {
    let reset: &[&str] = match subresource {
        Subresource::Main => &["status"],
        Subresource::Status => &["spec", "metadata"],
    };
    if let Some(fields) = config.as_object_mut() {
        fields.retain(|name, _| !reset.contains(&name.as_str()));
    }
    config
}

/// Removes what the applier owned last time and no longer sets, when nobody else owns it.
fn prune(
    mut merged: Value,
    last: Option<&ManagedEntry>,
    applied: &FieldSet,
    others: &ManagedFields,
) -> Value {
    let Some(last) = last else {
        return merged;
    };
    let owned = others
        .0
        .iter()
        .fold(applied.clone(), |owned, entry| owned.union(&entry.fields));
    let owned = typed::with_named_ancestors(&owned, &IMAGE_STREAM);
    let previous = typed::with_named_ancestors(&last.fields, &IMAGE_STREAM);
    for path in previous.iter().filter(|path| !owned.contains(path)) {
        typed::remove(&mut merged, path);
    }
    merged
}

/// Every field another manager owns that this apply changes.
fn conflicts(others: &ManagedFields, changed: &FieldSet) -> Vec<(String, String)> {
    let mut conflicts: Vec<(String, String)> = others
        .0
        .iter()
        .flat_map(|entry| {
            let owner = entry.describe();
            entry
                .fields
                .intersection(changed)
                .iter()
                .map(move |path| (owner.clone(), path_string(path)))
                .collect::<Vec<_>>()
        })
        .collect();
    conflicts.sort();
    conflicts
}

/// The 409 of `internal.NewConflictError`.
fn conflict_error(conflicts: Vec<(String, String)>) -> PatchError {
    let message = match conflicts.as_slice() {
        [(owner, field)] => format!("Apply failed with 1 conflict: conflict with {owner}: {field}"),
        many => {
            let mut lines = Vec::new();
            for (index, (owner, field)) in many.iter().enumerate() {
                if index == 0 || many[index - 1].0 != *owner {
                    lines.push(format!("conflicts with {owner}:"));
                }
                lines.push(format!("- {field}"));
            }
            format!(
                "Apply failed with {} conflicts: {}",
                many.len(),
                lines.join("\n")
            )
        }
    };
    let causes = conflicts
        .into_iter()
        .map(|(owner, field)| ConflictCause {
            message: format!("conflict with {owner}"),
            field,
        })
        .collect();
    debug_assert_eq!(FIELD_MANAGER_CONFLICT, "FieldManagerConflict");
    PatchError::Conflict { message, causes }
}

fn applier_entry(
    request: &ApplyRequest<'_>,
    fields: FieldSet,
    time: Option<String>,
) -> ManagedEntry {
    ManagedEntry {
        manager: request.manager.to_string(),
        operation: Operation::Apply,
        api_version: API_VERSION.to_string(),
        subresource: match request.subresource {
            Subresource::Main => String::new(),
            Subresource::Status => "status".to_string(),
        },
        time,
        fields,
    }
}

/// kube-apiserver's `lastAppliedUpdater`: when `kubectl` applies server-side to an object that
/// still carries the client-side annotation, the annotation is rewritten to the applied
/// configuration, so that a later client-side apply computes the right diff.
fn sync_last_applied(result: &mut Value, config: &Value) {
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
