//! Strategic merge patch for the ImageStream schema (`strategicpatch/patch.go`, server side).
//!
//! Objects and maps merge like RFC 7386. Lists follow the schema: keyed lists merge item by
//! item, sets take the union, other lists are replaced. The directives `$patch`,
//! `$retainKeys`, `$deleteFromPrimitiveList/<list>` and `$setElementOrder/<list>` are honoured.
//!
//! Deliberate differences from apimachinery, all in the direction of cleaner results: values
//! the original did not have are stored with their directives applied (apimachinery stores
//! them raw, `$patch` keys included), and `$patch: merge` is accepted as the explicit default.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::directives::{
    apply_order, apply_retain_keys, delete_from_primitive_list, merge_key, take_order_directives,
    unknown_directive, DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE,
};
use super::error::PatchError;
use super::order::{self, identity_text, Identity};
use super::schema::{ListKind, Node};

type Object = Map<String, Value>;

const BAD_DOCUMENT: &str = "invalid JSON document";
const LIST_OF_LISTS: &str = "lists of lists are not supported";

/// Applies a strategic merge patch body to `current`, following `schema`.
pub fn apply(current: &Value, body: &[u8], schema: &Node) -> Result<Value, PatchError> {
    let patch: Value =
        serde_json::from_slice(body).map_err(|_| PatchError::bad_request(BAD_DOCUMENT))?;
    let (Value::Object(original), Value::Object(patch)) = (current, &patch) else {
        return Err(PatchError::bad_request(BAD_DOCUMENT));
    };
    merge_object(original.clone(), patch, Some(schema))
}

fn merge_object(
    original: Object,
    patch: &Object,
    node: Option<&Node>,
) -> Result<Value, PatchError> {
    let mut patch = patch.clone();
    if let Some(directive) = patch.shift_remove(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => return merge_object(Object::new(), &patch, node),
            // apimachinery answers `$patch: delete` on a map with an empty map.
            Some("delete") => return Ok(Value::Object(Object::new())),
            Some("merge") => {}
            _ => return Err(unknown_directive(&directive, &patch)),
        }
    }
    let mut original = original;
    apply_retain_keys(&mut original, &mut patch)?;
    let orders = take_order_directives(&original, &mut patch)?;
    for (key, value) in &patch {
        merge_entry(&mut original, key, value, node)?;
    }
    for directive in orders {
        let child = node.and_then(|node| node.child_node(&directive.field));
        let patched = patch.get(&directive.field);
        apply_order(&mut original, directive, patched, child)?;
    }
    Ok(Value::Object(original))
}

fn merge_entry(
    original: &mut Object,
    key: &str,
    value: &Value,
    node: Option<&Node>,
) -> Result<(), PatchError> {
    if let Some(suffix) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
        return delete_from_primitive_list(original, suffix, value);
    }
    if key.starts_with('$') {
        return Err(PatchError::bad_request(format!(
            "unknown strategic merge patch directive {key:?}"
        )));
    }
    if value.is_null() {
        original.shift_remove(key);
        return Ok(());
    }
    let child = node.and_then(|node| node.child_node(key));
    let merged = match original.get_mut(key) {
        Some(existing) => merge_value(existing.take(), value, child)?,
        None => clean(value, child)?,
    };
    original.insert(key.to_string(), merged);
    Ok(())
}

fn merge_value(original: Value, patch: &Value, node: Option<&Node>) -> Result<Value, PatchError> {
    match (original, patch) {
        (Value::Object(original), Value::Object(patch)) => merge_object(original, patch, node),
        (Value::Array(original), Value::Array(patch)) => merge_list(original, patch, node),
        (_, patch) => clean(patch, node),
    }
}

/// A patch value for a field the original lacks: directives applied, nulls dropped.
fn clean(patch: &Value, node: Option<&Node>) -> Result<Value, PatchError> {
    match patch {
        Value::Object(patch) => merge_object(Object::new(), patch, node),
        Value::Array(patch) => merge_list(Vec::new(), patch, node),
        other => Ok(other.clone()),
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    node: Option<&Node>,
) -> Result<Value, PatchError> {
    let Some(Node::List { kind, item }) = node else {
        return Ok(Value::Array(patch.to_vec()));
    };
    match kind {
        ListKind::Atomic => Ok(Value::Array(patch.to_vec())),
        ListKind::Keyed(key) => merge_keyed_list(original, patch, key, item),
        ListKind::Set => merge_set(original, patch),
    }
}

fn merge_keyed_list(
    original: Vec<Value>,
    patch: &[Value],
    key: &str,
    item: &Node,
) -> Result<Value, PatchError> {
    check_items(&original, patch, true)?;
    let (mut merged, plain, replace) = apply_item_directives(original, patch, key)?;
    if replace {
        let cleaned: Result<Vec<Value>, PatchError> =
            plain.iter().map(|value| clean(value, Some(item))).collect();
        return Ok(Value::Array(cleaned?));
    }
    let server_order = merged.clone();
    // Items found by their key's text, not by a scan of the list for each patch item: a patch
    // of a stream's thousands of tags was quadratic.
    let mut positions: HashMap<String, usize> = HashMap::with_capacity(merged.len());
    for (position, candidate) in merged.iter().enumerate() {
        if let Some(text) = candidate.get(key).and_then(identity_text) {
            positions.entry(text).or_insert(position);
        }
    }
    for patch_item in &plain {
        let wanted = merge_key(patch_item, key)?;
        let found = match identity_text(wanted) {
            Some(text) => positions.get(&text).copied(),
            None => merged
                .iter()
                .position(|candidate| candidate.get(key) == Some(wanted)),
        };
        match found {
            Some(index) => {
                merged[index] = merge_value(merged[index].take(), patch_item, Some(item))?
            }
            None => {
                if let Some(text) = identity_text(wanted) {
                    positions.insert(text, merged.len());
                }
                merged.push(clean(patch_item, Some(item))?)
            }
        }
    }
    let ordered = order::normalize(merged, &plain, &server_order, Identity::Key(key));
    Ok(Value::Array(ordered))
}

/// Handles `$patch` items of a keyed list: deletions by key, and `replace` for the whole list.
/// Returns the remaining original items, the plain patch items and whether to replace.
fn apply_item_directives(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>, bool), PatchError> {
    let mut plain = Vec::new();
    let mut replace = false;
    for patch_item in patch {
        let Some(directive) = patch_item.get(DIRECTIVE) else {
            plain.push(patch_item.clone());
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let wanted = merge_key(patch_item, key)?;
                original.retain(|candidate| candidate.get(key) != Some(wanted));
            }
            Some("replace") => replace = true,
            Some("merge") => plain.extend(without_directive(patch_item, key)),
            _ => {
                return Err(unknown_directive(
                    directive,
                    patch_item.as_object().unwrap_or(&Object::new()),
                ))
            }
        }
    }
    Ok((original, plain, replace))
}

/// A `$patch: merge` item is a plain item; one carrying nothing but the marker is dropped.
fn without_directive(patch_item: &Value, key: &str) -> Option<Value> {
    let mut item = patch_item.as_object()?.clone();
    item.shift_remove(DIRECTIVE);
    item.contains_key(key).then_some(Value::Object(item))
}

fn merge_set(original: Vec<Value>, patch: &[Value]) -> Result<Value, PatchError> {
    check_items(&original, patch, false)?;
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for value in original.iter().chain(patch) {
        if !merged.contains(value) {
            merged.push(value.clone());
        }
    }
    Ok(Value::Array(order::normalize(
        merged,
        patch,
        &original,
        Identity::Value,
    )))
}

/// Keyed lists hold objects and sets hold scalars; a list of lists is a 422, as in apimachinery.
fn check_items(original: &[Value], patch: &[Value], objects: bool) -> Result<(), PatchError> {
    let items = original.iter().chain(patch);
    if items.clone().any(Value::is_array) {
        return Err(PatchError::unprocessable(LIST_OF_LISTS));
    }
    match items.clone().find(|item| item.is_object() != objects) {
        Some(item) if objects => Err(PatchError::bad_request(format!(
            "expected a map, but received {item}"
        ))),
        Some(item) => Err(PatchError::bad_request(format!(
            "cannot merge lists without merge key, but received {item}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::patch::schema::IMAGE_STREAM;
    use serde_json::json;

    fn check(original: Value, patch: Value, expected: Result<Value, u16>) {
        let result = apply(&original, patch.to_string().as_bytes(), &IMAGE_STREAM);
        match expected {
            Ok(value) => assert_eq!(result.unwrap(), value, "patch {patch}"),
            Err(code) => assert_eq!(result.map_err(|err| err.code()), Err(code), "patch {patch}"),
        }
    }

    fn tags(tags: Value) -> Value {
        json!({"metadata": {"name": "demo"}, "spec": {"tags": tags}})
    }

    fn two_tags() -> Value {
        tags(
            json!([{"name": "a", "from": {"kind": "DockerImage", "name": "x:a"}},
                    {"name": "b", "reference": true}]),
        )
    }

    #[test]
    fn spec_tags_merge_by_name() {
        check(
            two_tags(),
            json!({"spec": {"tags": [{"name": "a", "from": {"name": "y:a"}}]}}),
            Ok(tags(
                json!([{"name": "a", "from": {"kind": "DockerImage", "name": "y:a"}},
                           {"name": "b", "reference": true}]),
            )),
        );
    }

    #[test]
    fn new_tags_go_first_like_apimachinery() {
        check(
            two_tags(),
            json!({"spec": {"tags": [{"name": "c", "importPolicy": {"scheduled": true, "insecure": null}}]}}),
            Ok(tags(
                json!([{"name": "c", "importPolicy": {"scheduled": true}},
                           {"name": "a", "from": {"kind": "DockerImage", "name": "x:a"}},
                           {"name": "b", "reference": true}]),
            )),
        );
    }

    #[test]
    fn patch_delete_removes_a_tag_by_name() {
        check(
            two_tags(),
            json!({"spec": {"tags": [{"name": "a", "$patch": "delete"}]}}),
            Ok(tags(json!([{"name": "b", "reference": true}]))),
        );
    }

    #[test]
    fn patch_replace_replaces_a_keyed_list() {
        check(
            two_tags(),
            json!({"spec": {"tags": [{"$patch": "replace"}, {"name": "z"}]}}),
            Ok(tags(json!([{"name": "z"}]))),
        );
    }

    #[test]
    fn status_tags_merge_by_tag_and_their_items_are_atomic() {
        let event = |image: &str| json!({"created": "2026-01-01T00:00:00Z", "image": image});
        check(
            json!({"status": {"tags": [{"tag": "t1", "items": [event("sha256:1"), event("sha256:2")]},
                                       {"tag": "t2", "items": [event("sha256:9")]}]}}),
            json!({"status": {"tags": [{"tag": "t1", "items": [event("sha256:3")]}]}}),
            Ok(
                json!({"status": {"tags": [{"tag": "t1", "items": [event("sha256:3")]},
                                          {"tag": "t2", "items": [event("sha256:9")]}]}}),
            ),
        );
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let meta = |finalizers: Value| json!({"metadata": {"finalizers": finalizers}});
        check(
            meta(json!(["a", "b"])),
            meta(json!(["b", "c"])),
            Ok(meta(json!(["a", "b", "c"]))),
        );
        check(
            json!({"metadata": {}}),
            meta(json!(["a"])),
            Ok(meta(json!(["a"]))),
        );
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let owner = |uid: &str, name: &str| json!({"uid": uid, "name": name, "kind": "X", "apiVersion": "v1"});
        let meta = |owners: Value| json!({"metadata": {"ownerReferences": owners}});
        check(
            meta(json!([owner("1", "one"), owner("2", "two")])),
            meta(json!([{"uid": "2", "name": "deux"}])),
            Ok(meta(json!([owner("1", "one"), owner("2", "deux")]))),
        );
    }

    #[test]
    fn maps_merge_null_deletes_and_map_directives_apply() {
        let labels = |labels: Value| json!({"metadata": {"labels": labels}});
        let original = labels(json!({"a": "1", "b": "2"}));
        check(
            original.clone(),
            labels(json!({"a": null, "x": "y"})),
            Ok(labels(json!({"b": "2", "x": "y"}))),
        );
        check(
            original.clone(),
            labels(json!({"$patch": "replace", "c": "3"})),
            Ok(labels(json!({"c": "3"}))),
        );
        check(
            original.clone(),
            labels(json!({"$patch": "delete"})),
            Ok(labels(json!({}))),
        );
        check(
            original,
            labels(json!({"$patch": "merge", "c": "3"})),
            Ok(labels(json!({"a": "1", "b": "2", "c": "3"}))),
        );
    }

    #[test]
    fn atomic_and_unknown_lists_are_replaced() {
        check(
            json!({"status": {"tags": [{"tag": "t", "conditions": [{"type": "A"}, {"type": "B"}]}]}}),
            json!({"status": {"tags": [{"tag": "t", "conditions": [{"type": "C"}]}]}}),
            Ok(json!({"status": {"tags": [{"tag": "t", "conditions": [{"type": "C"}]}]}})),
        );
        check(
            json!({"spec": {"foo": [1, 2]}}),
            json!({"spec": {"foo": [3]}}),
            Ok(json!({"spec": {"foo": [3]}})),
        );
    }

    #[test]
    fn lists_of_lists_are_unprocessable() {
        check(two_tags(), json!({"spec": {"tags": [["a"]]}}), Err(422));
        check(
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": [["b"]]}}),
            Err(422),
        );
    }

    #[test]
    fn malformed_list_items_and_documents_are_bad_requests() {
        check(
            two_tags(),
            json!({"spec": {"tags": [{"from": {"name": "x"}}]}}),
            Err(400),
        );
        check(
            two_tags(),
            json!({"spec": {"tags": [{"name": "a", "$patch": "delete"}, "b"]}}),
            Err(400),
        );
        check(
            two_tags(),
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            Err(400),
        );
        let result = apply(&two_tags(), b"[1]", &IMAGE_STREAM);
        assert_eq!(
            result.unwrap_err(),
            PatchError::bad_request("invalid JSON document")
        );
    }
}
