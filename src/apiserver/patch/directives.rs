//! The directives of strategic merge patch other than list-item `$patch` markers:
//! `$retainKeys`, `$deleteFromPrimitiveList/<list>` and `$setElementOrder/<list>`, plus the
//! errors apimachinery gives for malformed ones (400) or contradictory ones (422).

use serde_json::{Map, Value};

use super::error::PatchError;
use super::order::{self, Identity};
use super::schema::{ListKind, Node};

type Object = Map<String, Value>;

/// The marker key of `$patch: replace|delete|merge`.
pub(super) const DIRECTIVE: &str = "$patch";
/// The prefix of `$deleteFromPrimitiveList/<list>`.
pub(super) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const BAD_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
const RETAIN_KEYS_MISMATCH: &str = "patch content doesn't match retainKeys list";

/// A `$setElementOrder/<field>` directive, with what it needs once the field is merged.
pub(super) struct OrderDirective {
    /// The list the directive orders.
    pub(super) field: String,
    order: Vec<Value>,
    original: Option<Value>,
}

pub(super) fn merge_key<'v>(item: &'v Value, key: &str) -> Result<&'v Value, PatchError> {
    item.get(key).ok_or_else(|| {
        PatchError::bad_request(format!(
            "map: {item} does not contain declared merge key: {key}"
        ))
    })
}

/// `$deleteFromPrimitiveList/<list>`: removes the listed values from a scalar list.
pub(super) fn delete_from_primitive_list(
    original: &mut Object,
    suffix: &str,
    value: &Value,
) -> Result<(), PatchError> {
    let field = directive_target(suffix, BAD_PRIMITIVE_LIST)?;
    let Value::Array(doomed) = value else {
        return Err(PatchError::bad_request(BAD_PRIMITIVE_LIST));
    };
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|item| !doomed.contains(item));
    }
    Ok(())
}

/// `$retainKeys`: every non-null patch key must be listed, and original keys not listed go.
pub(super) fn apply_retain_keys(
    original: &mut Object,
    patch: &mut Object,
) -> Result<(), PatchError> {
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

pub(super) fn take_order_directives(
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

pub(super) fn apply_order(
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

pub(super) fn unknown_directive(directive: &Value, patch: &Object) -> PatchError {
    PatchError::bad_request(format!(
        "unknown patch type: {directive} in map: {}",
        Value::Object(patch.clone())
    ))
}

#[cfg(test)]
mod tests {
    use crate::apiserver::patch::schema::IMAGE_STREAM;
    use crate::apiserver::patch::strategic::apply;
    use serde_json::{json, Value};

    fn check(original: Value, patch: Value, expected: Result<Value, u16>) {
        let result = apply(&original, patch.to_string().as_bytes(), &IMAGE_STREAM);
        match expected {
            Ok(value) => assert_eq!(result.unwrap(), value, "patch {patch}"),
            Err(code) => assert_eq!(result.map_err(|err| err.code()), Err(code), "patch {patch}"),
        }
    }

    fn two_tags() -> Value {
        json!({"spec": {"tags": [{"name": "a", "from": {"kind": "DockerImage", "name": "x:a"}},
                                 {"name": "b", "reference": true}]}})
    }

    #[test]
    fn set_element_order_reorders_by_key() {
        check(
            two_tags(),
            json!({"spec": {"$setElementOrder/tags": [{"name": "b"}, {"name": "a"}],
                            "tags": [{"name": "a", "reference": true}]}}),
            Ok(json!({"spec": {"tags": [
                {"name": "b", "reference": true},
                {"name": "a", "from": {"kind": "DockerImage", "name": "x:a"}, "reference": true}]}})),
        );
    }

    #[test]
    fn set_element_order_reorders_a_set() {
        check(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "a"], "finalizers": ["c"]}}),
            Ok(json!({"metadata": {"finalizers": ["b", "c", "a"]}})),
        );
    }

    #[test]
    fn delete_from_primitive_list_removes_values() {
        check(
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}),
            Ok(json!({"metadata": {"finalizers": ["b"]}})),
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
    fn malformed_directives_are_bad_requests() {
        let cases = [
            json!({"spec": {"tags": [{"name": "a", "$patch": "frob"}]}}),
            json!({"metadata": {"labels": {"$patch": 1}}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/": ["a"]}}),
            json!({"spec": {"$setElementOrder/tags": {"name": "a"}}}),
            json!({"spec": {"$setElementOrder/tags": [{"nom": "a"}]}}),
            json!({"spec": {"$setElementOrder/tags": [{"name": "a"}], "tags": [{"name": "b"}]}}),
            json!({"spec": {"$retainKeys": "lookupPolicy"}}),
            json!({"spec": {"$frob": 1}}),
        ];
        for patch in cases {
            check(two_tags(), patch, Err(400));
        }
    }

    #[test]
    fn mismatched_retain_keys_are_unprocessable() {
        check(
            two_tags(),
            json!({"spec": {"$retainKeys": ["lookupPolicy"], "dockerImageRepository": "r"}}),
            Err(422),
        );
    }
}
