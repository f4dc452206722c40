//! Applying a configuration onto an object, and removing fields from it, following the
//! schema (structured-merge-diff's `Merge` and `RemoveItems`); server-side apply uses both.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::fieldset::{FieldSet, PathElement};
use super::schema::{Child, ListKind, Node};
use super::typed::{item_element, items, shape, Shape};

/// `config` applied onto `live`: objects merge field by field, associative lists item by item
/// (keeping the live order and adding new items where structured-merge-diff puts them), and
/// everything else is replaced. A `null` in the configuration removes the field.
pub fn merge(live: Option<&Value>, config: &Value, node: Option<&'static Node>) -> Value {
    match (shape(node), config) {
        (Shape::Object, Value::Object(fields)) => {
            let mut merged = live.and_then(Value::as_object).cloned().unwrap_or_default();
            for (name, value) in fields {
                if value.is_null() {
                    merged.shift_remove(name);
                    continue;
                }
                let child = node.and_then(|node| node.child_node(name));
                let result = merge(merged.get(name), value, child);
                merged.insert(name.clone(), result);
            }
            Value::Object(merged)
        }
        (Shape::Items(kind, item), Value::Array(config)) => {
            let live = live.map_or(&[][..], items);
            Value::Array(merge_items(live, config, kind, item))
        }
        _ => config.clone(),
    }
}

/// The list merge of structured-merge-diff's `visitListItems`: walk both lists, keep live-only
/// items in place, and place configured items in the configuration's relative order.
fn merge_items(
    live: &[Value],
    config: &[Value],
    kind: ListKind,
    item: &'static Node,
) -> Vec<Value> {
    let elements = |list: &[Value]| -> Vec<PathElement> {
        list.iter()
            .enumerate()
            .map(|(i, value)| item_element(kind, i, value))
            .collect()
    };
    let (left, right) = (elements(live), elements(config));
    let in_config: HashSet<&PathElement> = right.iter().collect();
    // The first live item of each element, found by lookup: scans of the live list for each
    // configured item were quadratic in a stream's tags.
    let mut in_live: HashMap<&PathElement, usize> = HashMap::with_capacity(left.len());
    for (index, element) in left.iter().enumerate() {
        in_live.entry(element).or_insert(index);
    }
    let mut shared = right.iter().filter(|element| in_live.contains_key(element));
    let mut next_shared = shared.next();
    let mut done: HashSet<&PathElement> = HashSet::new();
    let live_item = |element: &PathElement| in_live.get(element).map(|&index| &live[index]);
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut l, mut r) = (0, 0);
    while l < left.len() || r < right.len() {
        if l < left.len() && r < right.len() {
            if left[l] == right[r] {
                done.insert(&right[r]);
                out.push(merge(Some(&live[l]), &config[r], Some(item)));
                (l, r) = (l + 1, r + 1);
                next_shared = shared.next();
                continue;
            }
            if in_config.contains(&left[l]) && next_shared.is_some_and(|next| *next != left[l]) {
                l += 1;
                continue;
            }
        }
        if l < left.len() {
            if !in_config.contains(&left[l]) {
                out.push(live[l].clone());
                l += 1;
                continue;
            }
            if done.contains(&left[l]) {
                l += 1;
                continue;
            }
        }
        if r < right.len() {
            done.insert(&right[r]);
            out.push(merge(live_item(&right[r]), &config[r], Some(item)));
            if next_shared == Some(&right[r]) {
                next_shared = shared.next();
            }
            r += 1;
        }
    }
    out
}

/// Removes the field or item at `path`, with everything below it.
pub fn remove(value: &mut Value, path: &[PathElement]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = value;
    for element in parents {
        let Some(next) = step(current, element) else {
            return;
        };
        current = next;
    }
    match (last, current) {
        (PathElement::Field(name), Value::Object(fields)) => drop(fields.shift_remove(name)),
        (element, Value::Array(list)) => {
            let mut index = 0;
            list.retain(|item| {
                index += 1;
                !element.matches_item(index - 1, item)
            });
        }
        _ => {}
    }
}

fn step<'v>(value: &'v mut Value, element: &PathElement) -> Option<&'v mut Value> {
    match (element, value) {
        (PathElement::Field(name), Value::Object(fields)) => fields.get_mut(name),
        (element, Value::Array(list)) => list
            .iter_mut()
            .enumerate()
            .find(|(index, item)| element.matches_item(*index, item))
            .map(|(_, item)| item),
        _ => None,
    }
}

/// `set` plus every ancestor that is a declared field of an object (structured-merge-diff's
/// `EnsureNamedFieldsAreMembers`): owning `spec.lookupPolicy.local` also owns `spec` and
/// `spec.lookupPolicy`, but owning a tag's field does not own the tag.
pub fn with_named_ancestors(set: &FieldSet, root: &'static Node) -> FieldSet {
    let mut out = set.clone();
    for path in set.iter() {
        let mut node = Some(root);
        for depth in 0..path.len() {
            let element = &path[depth];
            let declared = match (node, element) {
                (Some(parent), PathElement::Field(name)) => {
                    matches!(parent.child(name), Child::Declared(_))
                }
                _ => false,
            };
            if declared && depth + 1 < path.len() {
                out.insert(path[..=depth].to_vec());
            }
            node = node.and_then(|node| descend(node, element));
        }
    }
    out
}

fn descend(node: &'static Node, element: &PathElement) -> Option<&'static Node> {
    match (node, element) {
        (_, PathElement::Field(name)) => node.child_node(name),
        (Node::List { item, .. }, _) => Some(item),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::patch::fieldset::path_string;
    use crate::apiserver::patch::schema::IMAGE_STREAM;
    use serde_json::json;

    fn paths(set: &FieldSet) -> Vec<String> {
        set.iter().map(|path| path_string(path)).collect()
    }

    fn tag(name: &str, image: &str) -> Value {
        json!({"name": name, "from": {"kind": "DockerImage", "name": image}})
    }

    fn merged_names(live: &[&str], config: &[&str]) -> Vec<String> {
        let list = |names: &[&str]| json!({"spec": {"tags": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}});
        let merged = merge(Some(&list(live)), &list(config), Some(&IMAGE_STREAM));
        let names = merged["spec"]["tags"].as_array().unwrap().iter();
        names
            .map(|tag| tag["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn merge_keeps_live_items_in_place_and_appends_new_ones() {
        assert_eq!(merged_names(&["a", "b", "c"], &["d"]), ["a", "b", "c", "d"]);
        assert_eq!(merged_names(&["a", "b", "c"], &["c", "a"]), ["b", "c", "a"]);
        assert_eq!(merged_names(&["a", "b"], &["b", "x", "a"]), ["b", "x", "a"]);
        assert_eq!(merged_names(&[], &["a"]), ["a"]);
    }

    #[test]
    fn merge_replaces_atomic_values_and_merges_objects() {
        let live = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"tags": [
            {"name": "t", "from": {"kind": "ImageStreamTag", "name": "x:1", "namespace": "ns"}, "reference": true}]}});
        let config = json!({"metadata": {"labels": {"b": "2", "a": null}}, "spec": {"tags": [tag("t", "y")]}});
        let merged = merge(Some(&live), &config, Some(&IMAGE_STREAM));
        assert_eq!(
            merged,
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"tags": [
                {"name": "t", "from": {"kind": "DockerImage", "name": "y"}, "reference": true}]}})
        );
    }

    #[test]
    fn remove_drops_fields_and_items_by_path() {
        let mut object = json!({"metadata": {"finalizers": ["x", "y"]}, "spec": {"tags": [tag("a", "x"), tag("b", "y")]}});
        remove(
            &mut object,
            &[
                PathElement::field("spec"),
                PathElement::field("tags"),
                PathElement::key("name", &json!("a")),
            ],
        );
        remove(
            &mut object,
            &[
                PathElement::field("metadata"),
                PathElement::field("finalizers"),
                PathElement::value(&json!("y")),
            ],
        );
        remove(
            &mut object,
            &[
                PathElement::field("spec"),
                PathElement::field("nope"),
                PathElement::field("x"),
            ],
        );
        assert_eq!(
            object,
            json!({"metadata": {"finalizers": ["x"]}, "spec": {"tags": [tag("b", "y")]}})
        );
    }

    #[test]
    fn named_ancestors_are_owned_but_items_are_not() {
        let set: FieldSet = [vec![
            PathElement::field("spec"),
            PathElement::field("tags"),
            PathElement::key("name", &json!("a")),
            PathElement::field("from"),
        ]]
        .into_iter()
        .collect();
        assert_eq!(
            paths(&with_named_ancestors(&set, &IMAGE_STREAM)),
            [".spec", ".spec.tags", ".spec.tags[name=\"a\"].from"]
        );
    }
}
