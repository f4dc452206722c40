//! Schema-aware walks over objects for server-side apply and managedFields: the set of fields
//! an object sets, the fields that changed between two versions, applying one object onto
//! another, and removing fields (`sigs.k8s.io/structured-merge-diff/v4/typed`).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement};
use super::schema::{Child, ListKind, Node};

/// What changed between two versions of an object.
#[derive(Debug, Default, PartialEq)]
pub struct Comparison {
    /// Fields only the new version has.
    pub added: FieldSet,
    /// Leaf fields whose value differs.
    pub modified: FieldSet,
    /// Fields only the old version has.
    pub removed: FieldSet,
}

/// How a value is walked: as a leaf, as an object with fields, or as a list of items.
enum Shape {
    Leaf,
    Object,
    Items(ListKind, &'static Node),
}

fn shape(node: Option<&'static Node>) -> Shape {
    match node {
        Some(Node::Struct { atomic: false, .. } | Node::Map(_)) => Shape::Object,
        Some(Node::List { kind, item }) if *kind != ListKind::Atomic => Shape::Items(*kind, item),
        _ => Shape::Leaf,
    }
}

/// Whether `value` has the form `shape` walks into; `null` counts as an empty container.
fn fits(shape: &Shape, value: &Value) -> bool {
    match shape {
        Shape::Leaf => false,
        Shape::Object => value.is_object() || value.is_null(),
        Shape::Items(..) => value.is_array() || value.is_null(),
    }
}

/// The path element of a list item: its key for associative lists, its value for sets.
pub fn item_element(kind: ListKind, index: usize, item: &Value) -> PathElement {
    match kind {
        ListKind::Keyed(key) => PathElement::key(key, item.get(key).unwrap_or(&Value::Null)),
        ListKind::Set => PathElement::value(item),
        ListKind::Atomic => PathElement::Index(index),
    }
}

fn entries(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value.as_object().into_iter().flatten()
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

// --- the fields an object sets (`ToFieldSet`) ---

/// The set of fields `value` sets, as server-side apply records them for an applier.
pub fn field_set(value: &Value, node: &'static Node) -> FieldSet {
    let mut set = FieldSet::default();
    collect(value, Some(node), &mut Vec::new(), &mut set);
    set
}

fn collect(value: &Value, node: Option<&'static Node>, path: &mut Path, set: &mut FieldSet) {
    match shape(node) {
        Shape::Object if value.is_object() => {
            for (name, child) in entries(value) {
                let resolved = node.map_or(Child::Unknown, |node| node.child(name));
                path.push(PathElement::field(name));
                collect(child, child_node(resolved), path, set);
                // Map entries and empty or null fields are owned themselves, not only their leaves.
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !matches!(resolved, Child::Declared(_)) {
                    set.insert(path.clone());
                }
                path.pop();
            }
        }
        Shape::Items(kind, item) if value.is_array() => {
            for (index, child) in items(value).iter().enumerate() {
                path.push(item_element(kind, index, child));
                collect(child, Some(item), path, set);
                set.insert(path.clone());
                path.pop();
            }
        }
        Shape::Object | Shape::Items(..) => {}
        Shape::Leaf => set.insert(path.clone()),
    }
}

fn child_node(child: Child) -> Option<&'static Node> {
    match child {
        Child::Declared(node) | Child::Entry(node) => Some(node),
        Child::Unknown => None,
    }
}

// --- what changed (`Compare`) ---

/// The fields added, modified and removed between `old` and `new`.
pub fn compare(old: &Value, new: &Value, node: &'static Node) -> Comparison {
    let mut comparison = Comparison::default();
    compare_at(
        Some(old),
        Some(new),
        Some(node),
        &mut Vec::new(),
        &mut comparison,
    );
    comparison
}

fn compare_at(
    old: Option<&Value>,
    new: Option<&Value>,
    node: Option<&'static Node>,
    path: &mut Path,
    out: &mut Comparison,
) {
    let shape = shape(node);
    let walk = [old, new].iter().flatten().all(|value| fits(&shape, value))
        && [old, new].iter().flatten().any(|value| !value.is_null());
    if !walk {
        match (old, new) {
            (None, Some(_)) => out.added.insert(path.clone()),
            (Some(_), None) => out.removed.insert(path.clone()),
            (Some(old), Some(new)) if old != new => out.modified.insert(path.clone()),
            _ => {}
        }
        return;
    }
    match shape {
        Shape::Object => compare_fields(old, new, node, path, out),
        Shape::Items(kind, item) => compare_items(old, new, kind, item, path, out),
        Shape::Leaf => {}
    }
    // Containers present on one side only are added or removed as a whole too.
    if !path.is_empty() {
        match (old, new) {
            (None, Some(_)) => out.added.insert(path.clone()),
            (Some(_), None) => out.removed.insert(path.clone()),
            _ => {}
        }
    }
}

fn compare_fields(
    old: Option<&Value>,
    new: Option<&Value>,
    node: Option<&'static Node>,
    path: &mut Path,
    out: &mut Comparison,
) {
    let old_fields = old.and_then(Value::as_object);
    let new_fields = new.and_then(Value::as_object);
    let mut names: Vec<&String> = old_fields.into_iter().flat_map(Map::keys).collect();
    names.extend(
        new_fields
            .into_iter()
            .flat_map(Map::keys)
            .filter(|name| !old_fields.is_some_and(|old| old.contains_key(*name))),
    );
    for name in names {
        let child = node.and_then(|node| node.child_node(name));
        path.push(PathElement::field(name));
        compare_at(
            old_fields.and_then(|o| o.get(name)),
            new_fields.and_then(|n| n.get(name)),
            child,
            path,
            out,
        );
        path.pop();
    }
}

fn compare_items(
    old: Option<&Value>,
    new: Option<&Value>,
    kind: ListKind,
    item: &'static Node,
    path: &mut Path,
    out: &mut Comparison,
) {
    let (old_items, new_items) = (keyed_items(old, kind), keyed_items(new, kind));
    let mut seen = HashSet::new();
    for (element, _) in old_items.iter().chain(&new_items) {
        if !seen.insert(element.clone()) {
            continue;
        }
        path.push(element.clone());
        compare_at(
            find_item(&old_items, element),
            find_item(&new_items, element),
            Some(item),
            path,
            out,
        );
        path.pop();
    }
}

fn keyed_items(list: Option<&Value>, kind: ListKind) -> Vec<(PathElement, &Value)> {
    let list = list.map_or(&[][..], items);
    list.iter()
        .enumerate()
        .map(|(index, value)| (item_element(kind, index, value), value))
        .collect()
}

/// With duplicate keys the last item wins, as it does for spec tags.
fn find_item<'v>(list: &[(PathElement, &'v Value)], element: &PathElement) -> Option<&'v Value> {
    list.iter()
        .rev()
        .find(|(candidate, _)| candidate == element)
        .map(|(_, value)| *value)
}

// --- applying a configuration (`Merge`) ---

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
    let mut shared = right.iter().filter(|element| left.contains(element));
    let mut next_shared = shared.next();
    let mut done: HashSet<&PathElement> = HashSet::new();
    let live_item =
        |element: &PathElement| left.iter().position(|e| e == element).map(|i| &live[i]);
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

// --- removing fields (`RemoveItems`) and schema lookups ---

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

    #[test]
    fn field_set_owns_leaves_items_map_entries_and_atomic_objects() {
        let config = json!({
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": "demo", "labels": {"app": "web"}, "finalizers": ["x"]},
            "spec": {"lookupPolicy": {}, "tags": [tag("latest", "nginx")]}
        });
        assert_eq!(
            paths(&field_set(&config, &IMAGE_STREAM)),
            [
                ".apiVersion",
                ".kind",
                ".metadata.finalizers[=\"x\"]",
                ".metadata.labels.app",
                ".metadata.name",
                ".spec.lookupPolicy",
                ".spec.tags[name=\"latest\"]",
                ".spec.tags[name=\"latest\"].from",
                ".spec.tags[name=\"latest\"].name",
            ]
        );
    }

    #[test]
    fn compare_reports_leaves_and_whole_items() {
        let old = json!({"spec": {"lookupPolicy": {"local": false}, "tags": [tag("a", "x"), tag("b", "y")]}});
        let new = json!({"spec": {"lookupPolicy": {"local": true}, "tags": [tag("b", "z"), tag("c", "w")]}});
        let comparison = compare(&old, &new, &IMAGE_STREAM);
        assert_eq!(
            paths(&comparison.modified),
            [".spec.lookupPolicy.local", ".spec.tags[name=\"b\"].from"]
        );
        assert_eq!(
            paths(&comparison.added),
            [
                ".spec.tags[name=\"c\"]",
                ".spec.tags[name=\"c\"].from",
                ".spec.tags[name=\"c\"].name"
            ]
        );
        assert_eq!(
            paths(&comparison.removed),
            [
                ".spec.tags[name=\"a\"]",
                ".spec.tags[name=\"a\"].from",
                ".spec.tags[name=\"a\"].name"
            ]
        );
    }

    #[test]
    fn compare_treats_null_as_an_empty_map() {
        let old = json!({"spec": {"tags": [{"name": "a", "annotations": null}]}});
        let new = json!({"spec": {"tags": [{"name": "a", "annotations": {"k": "v"}}]}});
        let comparison = compare(&old, &new, &IMAGE_STREAM);
        assert_eq!(
            paths(&comparison.added),
            [".spec.tags[name=\"a\"].annotations.k"]
        );
        assert!(comparison.modified.is_empty() && comparison.removed.is_empty());
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
