//! Server-side apply (`application/apply-patch+yaml`), after structured-merge-diff's
//! `Updater.Apply` as kube-apiserver wires it up.
//!
//! 1. The configuration is merged into the live object following the schema.
//! 2. The applier's entry becomes exactly the fields the configuration sets.
//! 3. Fields the applier set last time but not now are removed, unless another manager owns
//!    them (or, for object fields, something below them).
//! 4. Fields the merge changed that another manager owns are conflicts: a 409 unless `force`,
//!    in which case they change hands.

use crate::object_meta::time::rfc3339;
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::combine;
use super::conflict;
use super::error::PatchError;
use super::fieldset::FieldSet;
use super::last_applied;
use super::managed_fields::{
    normalize, owned_changes, ManagedEntry, ManagedFields, Operation, Subresource,
};
use super::schema::{Node, ObjectType, IMAGE_STREAM_TYPE};
use super::typed::{self, AbsentMap};
use super::PatchOutcome;
use crate::api::imagestream::ImageStream;
use crate::apiserver::resource::{self, shape};
use crate::apiserver::unknown_fields;

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
    /// The kind applied: the configuration must name it, and its schema merges it.
    pub object_type: &'static ObjectType,
}

/// Applies the YAML or JSON configuration `body` to `live` (`None`: the object does not
/// exist and is created, except through `/status`).
pub fn server_side_apply(
    live: Option<&Value>,
    body: &[u8],
    request: &ApplyRequest<'_>,
) -> Result<PatchOutcome, PatchError> {
    let object_type = request.object_type;
    let config = parse_config(body, object_type)?;
    if live.is_none() && request.subresource == Subresource::Status {
        return Err(PatchError::NotFound);
    }
    let live_object = normalize(object_type, live.unwrap_or(&Value::Object(Map::new())));
    let mut managers = live.map(ManagedFields::decode_lenient).unwrap_or_default();
    let last = managers.take(request.manager, Operation::Apply, request.subresource);

    let applied = without_reset_fields(config.clone(), request.subresource);
    let applied_set = typed::field_set(&applied, object_type.node);
    let merged = combine::merge(Some(&live_object), &applied, Some(object_type.node));
    let pruned = prune(
        merged,
        last.as_ref(),
        &applied_set,
        &managers,
        object_type.node,
    );
    // kube converts the applied object to a typed value before it computes conflicts: a
    // wrongly typed field is that error, not a conflict that forcing would only trade for it.
    if let Some(problem) = type_problem(object_type, &pruned) {
        return Err(PatchError::bad_request(format!(
            "failed to create typed patch object ({}, Kind={}): .{problem}",
            object_type.api_version, object_type.kind
        )));
    }
    let mut result = normalize(object_type, &pruned);

    transfer_ownership(&live_object, &result, &mut managers, request)?;
    record_applier(
        &mut managers,
        request,
        last,
        applied_set,
        result == live_object,
    );
    if request.manager == last_applied::KUBECTL && request.subresource == Subresource::Main {
        last_applied::sync(&mut result, &config);
    }
    managers.store(&mut result);
    Ok(PatchOutcome {
        object: result,
        created: live.is_none(),
    })
}

/// Parses and checks the configuration: an object of this API version and kind, without
/// managedFields, and without fields the schema does not know.
fn parse_config(body: &[u8], object_type: &ObjectType) -> Result<Value, PatchError> {
    let config: Value = crate::yaml_aliases::json_from_slice(body)
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
    let expected = object_type.api_version;
    if version != expected {
        return Err(PatchError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {expected}"
        )));
    }
    let kind = config
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != object_type.kind {
        return Err(PatchError::bad_request(format!(
            "no corresponding type for {expected}, Kind={kind}"
        )));
    }
    match schema_problem(&config, object_type.node) {
        Some(detail) => Err(PatchError::bad_request(format!(
            "failed to create typed patch object ({expected}, Kind={kind}): {detail}"
        ))),
        None => Ok(config),
    }
}

/// Why `object` cannot be read against the schema, as structured-merge-diff's typed
/// conversion says it (`.spec: expected map, got array`); `None` when it can. The
/// configuration of an apply and the last-applied annotation are both read this way.
pub(super) fn schema_problem(object: &Value, node: &'static Node) -> Option<String> {
    if let Some(error) = shape::first_error(object, node) {
        return Some(format!(".{}: expected map, got array", error.path));
    }
    let unknown = unknown_fields::unknown_fields(object, node);
    if let Some(first) = unknown.first() {
        return Some(format!(".{}: field not declared in schema", first.path()));
    }
    // Create and update keep the last of two tags of one name, as OpenShift does; an apply
    // must not, since its configuration would then claim a field it silently dropped.
    typed::first_duplicate(object, node)
}

/// Why the merged object does not decode as its kind (`spec.lookupPolicy.local: invalid
/// type: …`). The live object decoded when it was stored, so the fault is the configuration's.
/// Secrets are kept as trees and checked by their write rules, so only streams are decoded.
fn type_problem(object_type: &ObjectType, merged: &Value) -> Option<String> {
    if object_type.kind != IMAGE_STREAM_TYPE.kind {
        return None;
    }
    resource::decode_problem::<ImageStream>(merged)
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
    node: &'static Node,
) -> Value {
    let Some(last) = last else {
        return merged;
    };
    let owned = others
        .0
        .iter()
        .fold(applied.clone(), |owned, entry| owned.union(&entry.fields));
    let owned = combine::with_named_ancestors(&owned, node);
    let previous = combine::with_named_ancestors(&last.fields, node);
    for path in previous.iter().filter(|path| !owned.contains(path)) {
        combine::remove(&mut merged, path);
    }
    merged
}

/// Conflicts first; then other managers lose what this apply changed or removed.
fn transfer_ownership(
    live: &Value,
    result: &Value,
    managers: &mut ManagedFields,
    request: &ApplyRequest<'_>,
) -> Result<(), PatchError> {
    let comparison = typed::compare(live, result, request.object_type.node, AbsentMap::Empty);
    let added_or_modified = comparison.added.union(&comparison.modified);
    let changed = owned_changes(added_or_modified, request.subresource);
    let removed = owned_changes(comparison.removed, request.subresource);
    if !request.force {
        let mut conflicts = conflict::find(managers, &changed);
        // kube-apiserver's lastAppliedManager: `kubectl apply --server-side` may take over
        // what its client-side applies set, so that moving to server-side apply does not
        // need --force-conflicts. Only the other conflicts are reported.
        if !conflicts.is_empty() && request.manager == last_applied::KUBECTL {
            if let Some(allowed) = last_applied::allowed_conflicts(live, request.object_type) {
                conflicts = conflict::find(managers, &changed.difference(&allowed));
            }
        }
        if !conflicts.is_empty() {
            return Err(conflict::error(conflicts));
        }
    }
    managers.release(&changed, &removed);
    Ok(())
}

/// The applier's entry: exactly what it applied. Its time moves only when the object changed
/// (or the entry is new), so that a repeated apply is a no-op.
fn record_applier(
    managers: &mut ManagedFields,
    request: &ApplyRequest<'_>,
    last: Option<ManagedEntry>,
    applied: FieldSet,
    unchanged: bool,
) {
    let fields = owned_changes(applied, request.subresource);
    if fields.is_empty() {
        return;
    }
    let time = match last {
        Some(last) if unchanged => last.time,
        _ => Some(rfc3339(request.now)),
    };
    let entry = managers.entry_mut(
        request.manager,
        Operation::Apply,
        request.subresource,
        request.object_type.api_version,
    );
    entry.fields = fields;
    entry.time = time;
}

#[cfg(test)]
mod tests;
