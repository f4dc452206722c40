//! Strategic merge patch for the ImageStream schema (`strategicpatch/patch.go`, server side).
//!
//! Objects and maps merge like RFC 7386. Lists follow the schema: keyed lists merge item by
//! item, sets take the union, other lists are replaced. The directives `$patch`,
//! `$retainKeys`, `$deleteFromPrimitiveList/<list>` and `$setElementOrder/<list>` are honoured.
//!
//! Deliberate differences from apimachinery, all in the direction of cleaner results: values
//! the original did not have are stored with their directives applied (apimachinery stores
//! them raw, `$patch` keys included), and `$patch: merge` is accepted as the explicit default.

use serde_json::{Map, Value};

use super::error::PatchError;
use super::order::{self, Identity};
use super::schema::{ListKind, Node};

type Object = Map<String, Value>;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

const BAD_DOCUMENT: &str = "invalid JSON document";
const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const BAD_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
const RETAIN_KEYS_MISMATCH: &str = "patch content doesn't match retainKeys list";
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

/// A `$setElementOrder/<field>` directive, with what it needs once the field is merged.
struct OrderDirective {
    field: String,
    order: Vec<Value>,
    original: Option<Value>,
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
    if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
        let field = directive_target(field, BAD_PRIMITIVE_LIST)?;
        return delete_from_primitive_list(original, field, value);
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
    for patch_item in &plain {
        let wanted = merge_key(patch_item, key)?;
        let found = merged
            .iter()
            .position(|candidate| candidate.get(key) == Some(wanted));
        match found {
            Some(index) => {
                merged[index] = merge_value(merged[index].take(), patch_item, Some(item))?
            }
            None => merged.push(clean(patch_item, Some(item))?),
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

fn merge_key<'v>(item: &'v Value, key: &str) -> Result<&'v Value, PatchError> {
    item.get(key).ok_or_else(|| {
        PatchError::bad_request(format!(
            "map: {item} does not contain declared merge key: {key}"
        ))
    })
}

fn delete_from_primitive_list(
    original: &mut Object,
    field: &str,
    value: &Value,
) -> Result<(), PatchError> {
    let Value::Array(doomed) = value else {
        return Err(PatchError::bad_request(BAD_PRIMITIVE_LIST));
    };
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|item| !doomed.contains(item));
    }
    Ok(())
}

/// `$retainKeys`: every non-null patch key must be listed, and original keys not listed go.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(retained) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retained) = retained else {
        return Err(PatchError::bad_request(BAD_RETAIN_KEYS));
    };
    let listed = |key: &str| retained.iter().any(|item| item.as_str() == Some(key));
    let unlisted = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !key.starts_with(SET_ELEMENT_ORDER)
            && !listed(key)
    });
    if unlisted {
        return Err(PatchError::unprocessable(RETAIN_KEYS_MISMATCH));
    }
    original.retain(|key, _| listed(key));
    Ok(())
}

fn take_order_directives(
    original: &Object,
    patch: &mut Object,
) -> Result<Vec<OrderDirective>, PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    let mut directives = Vec::with_capacity(keys.len());
    for key in keys {
        let field =
            directive_target(&key[SET_ELEMENT_ORDER.len()..], BAD_ELEMENT_ORDER)?.to_string();
        let Some(Value::Array(order)) = patch.shift_remove(&key) else {
            return Err(PatchError::bad_request(BAD_ELEMENT_ORDER));
        };
        let original = original.get(&field).cloned();
        directives.push(OrderDirective {
            field,
            order,
            original,
        });
    }
    Ok(directives)
}

/// The list a `$deleteFromPrimitiveList/<list>` or `$setElementOrder/<list>` key names.
fn directive_target<'k>(suffix: &'k str, malformed: &str) -> Result<&'k str, PatchError> {
    match suffix.strip_prefix('/') {
        Some(field) if !field.is_empty() => Ok(field),
        _ => Err(PatchError::bad_request(malformed)),
    }
}

fn apply_order(
    original: &mut Object,
    directive: OrderDirective,
    patched: Option<&Value>,
    node: Option<&Node>,
) -> Result<(), PatchError> {
    let identity = match node {
        Some(Node::List {
            kind: ListKind::Keyed(key),
            ..
        }) => Identity::Key(key),
        _ => Identity::Value,
    };
    if let Identity::Key(key) = identity {
        directive
            .order
            .iter()
            .try_for_each(|item| merge_key(item, key).map(drop))?;
    }
    if let Some(Value::Array(patched)) = patched {
        check_order_matches(patched, &directive.order, identity)?;
    }
    let Some(Value::Array(merged)) = original.get_mut(&directive.field) else {
        return Ok(());
    };
    let server_order = match directive.original {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    *merged = order::normalize(
        std::mem::take(merged),
        &directive.order,
        &server_order,
        identity,
    );
    Ok(())
}

/// `validatePatchWithSetOrderList`: the patch list must follow the order list's relative order.
fn check_order_matches(
    patched: &[Value],
    order: &[Value],
    identity: Identity<'_>,
) -> Result<(), PatchError> {
    let mut items = patched
        .iter()
        .filter(|item| item.get(DIRECTIVE).is_none())
        .peekable();
    for wanted in order {
        match items.peek() {
            Some(item) if identity.of(item) == identity.of(wanted) => drop(items.next()),
            Some(_) => {}
            None => return Ok(()),
        }
    }
    match items.peek() {
        None => Ok(()),
        Some(_) => Err(PatchError::bad_request(format!(
            "the order in patch list {} doesn't match $setElementOrder list {}",
            Value::Array(patched.to_vec()),
            Value::Array(order.to_vec())
        ))),
    }
}

fn unknown_directive(directive: &Value, patch: &Object) -> PatchError {
    PatchError::bad_request(format!(
        "unknown patch type: {directive} in map: {}",
        Value::Object(patch.clone())
    ))
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
    fn set_element_order_reorders_by_key() {
        check(
            two_tags(),
            json!({"spec": {"$setElementOrder/tags": [{"name": "b"}, {"name": "a"}],
                            "tags": [{"name": "a", "reference": true}]}}),
            Ok(tags(json!([{"name": "b", "reference": true},
                           {"name": "a", "from": {"kind": "DockerImage", "name": "x:a"}, "reference": true}]))),
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
    fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
        let meta = |finalizers: Value| json!({"metadata": {"finalizers": finalizers}});
        check(
            meta(json!(["a", "b"])),
            meta(json!(["b", "c"])),
            Ok(meta(json!(["a", "b", "c"]))),
        );
        check(
            meta(json!(["a", "b"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}),
            Ok(meta(json!(["b"]))),
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
    fn retain_keys_clears_unlisted_fields() {
        check(
            json!({"spec": {"dockerImageRepository": "r", "lookupPolicy": {"local": false}}}),
            json!({"spec": {"$retainKeys": ["lookupPolicy"], "lookupPolicy": {"local": true}}}),
            Ok(json!({"spec": {"lookupPolicy": {"local": true}}})),
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
    fn malformed_directives_are_bad_requests() {
        let cases = [
            json!({"spec": {"tags": [{"name": "a", "$patch": "frob"}]}}),
            json!({"metadata": {"labels": {"$patch": 1}}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
            json!({"spec": {"$setElementOrder/tags": {"name": "a"}}}),
            json!({"spec": {"$setElementOrder/tags": [{"nom": "a"}]}}),
            json!({"spec": {"$setElementOrder/tags": [{"name": "a"}], "tags": [{"name": "b"}]}}),
            json!({"spec": {"$retainKeys": "lookupPolicy"}}),
            json!({"spec": {"$frob": 1}}),
            json!({"spec": {"tags": [{"from": {"name": "x"}}]}}),
            json!({"spec": {"tags": [{"name": "a", "$patch": "delete"}, "b"]}}),
        ];
        for patch in cases {
            check(two_tags(), patch, Err(400));
        }
        let result = apply(&two_tags(), b"[1]", &IMAGE_STREAM);
        assert_eq!(
            result.unwrap_err(),
            PatchError::bad_request("invalid JSON document")
        );
    }

    #[test]
    fn lists_of_lists_and_mismatched_retain_keys_are_unprocessable() {
        check(two_tags(), json!({"spec": {"tags": [["a"]]}}), Err(422));
        check(
            two_tags(),
            json!({"spec": {"$retainKeys": ["lookupPolicy"], "dockerImageRepository": "r"}}),
            Err(422),
        );
    }
}
