//! Schema-aware walks over objects for server-side apply and managedFields: the set of fields
//! an object sets and the fields that changed between two versions
//! (`sigs.k8s.io/structured-merge-diff/v4/typed`).

use std::collections::{HashMap, HashSet};

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

/// How a map present on one side of a comparison only counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbsentMap {
    /// Added or removed as a whole, with its entries: an update records `f:labels: {".": {}}`
    /// for the labels it creates, as kube-apiserver does.
    Missing,
    /// Like an empty map: only its entries are added or removed. The stored object drops an
    /// empty map (Go's `omitempty`), so whoever owns the map itself (an applied `labels: {}`,
    /// the last `kubectl label` before it emptied) must not conflict with a later apply that
    /// sets an entry (structured-merge-diff's `emptyPromoteToLeaf` takes a missing map for an
    /// empty one).
    Empty,
}

/// How a value is walked: as a leaf, as an object with fields, or as a list of items.
pub(super) enum Shape {
    Leaf,
    Object,
    Items(ListKind, &'static Node),
}

pub(super) fn shape(node: Option<&'static Node>) -> Shape {
    match node {
        Some(Node::Struct { atomic: false, .. } | Node::Map { .. }) => Shape::Object,
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

pub(super) fn items(value: &Value) -> &[Value] {
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

// --- duplicate list keys (`validatingObjectWalker`) ---

/// The first associative-list item (keyed list or set) whose key an earlier item of its list
/// already has, as structured-merge-diff words it: `.spec.tags: duplicate entries for key
/// [name="v1"]`. An applied configuration with one is refused, since apply could only keep
/// one of the two and would silently drop the other.
pub fn first_duplicate(value: &Value, node: &'static Node) -> Option<String> {
    duplicate_at(value, Some(node), &mut Vec::new())
}

fn duplicate_at(value: &Value, node: Option<&'static Node>, path: &mut Path) -> Option<String> {
    match shape(node) {
        Shape::Object => entries(value).find_map(|(name, child)| {
            let resolved = node.and_then(|node| node.child_node(name));
            path.push(PathElement::field(name));
            let found = duplicate_at(child, resolved, path);
            path.pop();
            found
        }),
        Shape::Items(kind, item) => {
            let mut seen = HashSet::new();
            for (index, child) in items(value).iter().enumerate() {
                let element = item_element(kind, index, child);
                let keyless = matches!(kind, ListKind::Keyed(key) if child.get(key).is_none());
                if !keyless && !seen.insert(element.clone()) {
                    let list = super::fieldset::path_string(path);
                    return Some(format!("{list}: duplicate entries for key {element}"));
                }
                path.push(element);
                let found = duplicate_at(child, Some(item), path);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        Shape::Leaf => None,
    }
}

// --- what changed (`Compare`) ---

/// The fields added, modified and removed between `old` and `new`.
pub fn compare(old: &Value, new: &Value, node: &'static Node, absent: AbsentMap) -> Comparison {
    let mut walk = Walk {
        absent,
        path: Vec::new(),
        out: Comparison::default(),
    };
    walk.at(Some(old), Some(new), Some(node));
    walk.out
}

/// One comparison in progress: the rule for absent maps, where it is, what it found.
struct Walk {
    absent: AbsentMap,
    path: Path,
    out: Comparison,
}

impl Walk {
    fn at(&mut self, old: Option<&Value>, new: Option<&Value>, node: Option<&'static Node>) {
        let shape = shape(node);
        let walk = [old, new].iter().flatten().all(|value| fits(&shape, value))
            && [old, new].iter().flatten().any(|value| !value.is_null());
        if !walk {
            let path = self.path.clone();
            match (old, new) {
                (None, Some(_)) => self.out.added.insert(path),
                (Some(_), None) => self.out.removed.insert(path),
                (Some(old), Some(new)) if old != new => self.out.modified.insert(path),
                _ => {}
            }
            return;
        }
        match shape {
            Shape::Object => self.fields(old, new, node),
            Shape::Items(kind, item) => self.items(old, new, kind, item),
            Shape::Leaf => {}
        }
        // Containers present on one side only are added or removed as a whole too, unless
        // an absent map counts as an empty one.
        let empty_map = self.absent == AbsentMap::Empty && matches!(node, Some(Node::Map { .. }));
        if !self.path.is_empty() && !empty_map {
            match (old, new) {
                (None, Some(_)) => self.out.added.insert(self.path.clone()),
                (Some(_), None) => self.out.removed.insert(self.path.clone()),
                _ => {}
            }
        }
    }

    fn fields(&mut self, old: Option<&Value>, new: Option<&Value>, node: Option<&'static Node>) {
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
            self.path.push(PathElement::field(name));
            self.at(
                old_fields.and_then(|o| o.get(name)),
                new_fields.and_then(|n| n.get(name)),
                child,
            );
            self.path.pop();
        }
    }

    fn items(
        &mut self,
        old: Option<&Value>,
        new: Option<&Value>,
        kind: ListKind,
        item: &'static Node,
    ) {
        let (old_items, new_items) = (keyed_items(old, kind), keyed_items(new, kind));
        let (old_by_key, new_by_key) = (by_element(&old_items), by_element(&new_items));
        let mut seen = HashSet::new();
        for (element, _) in old_items.iter().chain(&new_items) {
            if !seen.insert(element) {
                continue;
            }
            self.path.push(element.clone());
            self.at(
                old_by_key.get(element).copied(),
                new_by_key.get(element).copied(),
                Some(item),
            );
            self.path.pop();
        }
    }
}

fn keyed_items(list: Option<&Value>, kind: ListKind) -> Vec<(PathElement, &Value)> {
    let list = list.map_or(&[][..], items);
    list.iter()
        .enumerate()
        .map(|(index, value)| (item_element(kind, index, value), value))
        .collect()
}

/// Each item by its path element, looked up once per element rather than found by a scan of
/// the list (a stream's thousands of tags). With duplicate keys the last item wins, as it does
/// for spec tags.
fn by_element<'l, 'v>(list: &'l [(PathElement, &'v Value)]) -> HashMap<&'l PathElement, &'v Value> {
    list.iter()
        .map(|(element, value)| (element, *value))
        .collect()
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
    fn first_duplicate_names_the_list_and_the_repeated_key() {
        let cases: &[(Value, Option<&str>)] = &[
            (
                json!({"spec": {"tags": [tag("v1", "a:1"), tag("v2", "a:2")]}}),
                None,
            ),
            (
                json!({"spec": {"tags": [tag("v1", "a:1"), tag("v1", "a:2")]}}),
                Some(".spec.tags: duplicate entries for key [name=\"v1\"]"),
            ),
            (
                json!({"metadata": {"finalizers": ["x", "y", "x"]}}),
                Some(".metadata.finalizers: duplicate entries for key [=\"x\"]"),
            ),
            (
                json!({"status": {"tags": [{"tag": "a"}, {"tag": "a"}]}}),
                Some(".status.tags: duplicate entries for key [tag=\"a\"]"),
            ),
            // Atomic lists are replaced whole, so repeated items are only values.
            (
                json!({"status": {"tags": [{"tag": "a", "items": [{"image": "x"}, {"image": "x"}]}]}}),
                None,
            ),
            // Items without their key are left to validation, which names the missing field.
            (
                json!({"spec": {"tags": [{"from": {}}, {"from": {}}]}}),
                None,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                first_duplicate(value, &IMAGE_STREAM).as_deref(),
                *expected,
                "{value}"
            );
        }
    }

    #[test]
    fn compare_reports_leaves_and_whole_items() {
        let old = json!({"spec": {"lookupPolicy": {"local": false}, "tags": [tag("a", "x"), tag("b", "y")]}});
        let new = json!({"spec": {"lookupPolicy": {"local": true}, "tags": [tag("b", "z"), tag("c", "w")]}});
        let comparison = compare(&old, &new, &IMAGE_STREAM, AbsentMap::Missing);
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
        let comparison = compare(&old, &new, &IMAGE_STREAM, AbsentMap::Missing);
        assert_eq!(
            paths(&comparison.added),
            [".spec.tags[name=\"a\"].annotations.k"]
        );
        assert!(comparison.modified.is_empty() && comparison.removed.is_empty());
    }

    #[test]
    fn an_absent_map_compares_as_missing_or_as_empty_as_asked() {
        let check = |old: Value, new: Value, absent, expected: [&[&str]; 2]| {
            let comparison = compare(&old, &new, &IMAGE_STREAM, absent);
            let found = [paths(&comparison.added), paths(&comparison.removed)];
            assert_eq!(found, expected, "{old} -> {new} ({absent:?})");
            assert!(comparison.modified.is_empty());
        };
        let none = || json!({"metadata": {"name": "s"}});
        let labels = |labels: Value| json!({"metadata": {"name": "s", "labels": labels}});
        let whole: &[&str] = &[".metadata.labels", ".metadata.labels.app"];
        let entry: &[&str] = &[".metadata.labels.app"];
        check(
            none(),
            labels(json!({"app": "web"})),
            AbsentMap::Missing,
            [whole, &[]],
        );
        check(
            labels(json!({"app": "web"})),
            none(),
            AbsentMap::Missing,
            [&[], whole],
        );
        check(
            none(),
            labels(json!({"app": "web"})),
            AbsentMap::Empty,
            [entry, &[]],
        );
        check(
            labels(json!({"app": "web"})),
            none(),
            AbsentMap::Empty,
            [&[], entry],
        );
        check(none(), labels(json!({})), AbsentMap::Empty, [&[], &[]]);
        check(
            labels(json!({})),
            labels(json!({"app": "web"})),
            AbsentMap::Missing,
            [entry, &[]],
        );
        // Structs keep their own path whichever way maps count.
        let spec = || json!({"spec": {"lookupPolicy": {"local": true}}});
        let added: &[&str] = &[".spec", ".spec.lookupPolicy", ".spec.lookupPolicy.local"];
        check(json!({}), spec(), AbsentMap::Empty, [added, &[]]);
    }
}
