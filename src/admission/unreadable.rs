//! The parts of an object that cannot be read for its kind: a value of another JSON type where
//! admission looks for an object, a list or an image reference.
//!
//! [`locate`](super::locate) passes over them, so nothing there is resolved; without a word the
//! answer would read like that of an object with nothing to resolve. A kube-apiserver never
//! sends such an object (it decodes and defaults it first), so admission still allows it:
//! failing closed would block pods for a caller's bug. Each is named instead, at its field.
//!
//! A missing part, or a `null` one below the pod spec, is not unreadable: Go reads both as
//! empty, and a manifest's `initContainers:` with no items is ordinary YAML. The object itself,
//! and the objects leading to the pod spec, must be objects.

use serde_json::Value;

use super::locate::{self, ContainerList, Shape, STRATEGIES};

/// One part of an object that cannot be read, and what admission looks for there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unreadable {
    /// JSON pointer to the part; `""` for the object itself.
    pub pointer: String,
    /// What is there: `a string`, `null`, …
    pub found: &'static str,
    /// What admission looks for there.
    pub expected: Expected,
}

/// What admission looks for at a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expected {
    /// A JSON object.
    Object,
    /// A list.
    List,
    /// An image reference (a string).
    Reference,
}

impl Unreadable {
    /// The field path reported: `object` for the object itself.
    pub(crate) fn path(&self) -> String {
        match self.pointer.as_str() {
            "" => "object".to_string(),
            pointer => locate::field_path(pointer),
        }
    }

    /// `<found>, not <expected>`, what the warning says.
    pub(crate) fn subject(&self) -> String {
        let expected = match self.expected {
            Expected::Object => "an object",
            Expected::List => "a list",
            Expected::Reference => "an image reference",
        };
        format!("{}, not {expected}", self.found)
    }
}

/// The parts of `object`, of a kind shaped `shape`, where admission looks for images and
/// finds a value it cannot read, in [`locate::sites`]' visiting order.
pub(crate) fn unreadable(object: &Value, shape: Shape) -> Vec<Unreadable> {
    let mut found = Vec::new();
    if !object.is_object() {
        found.push(at("", object, Expected::Object));
        return found;
    }
    match shape {
        Shape::Pods { spec, .. } => pod_spec(object, spec, &mut found),
        Shape::Build => build(object, &mut found),
    }
    found
}

/// The pod spec at `spec` and each object leading to it must be objects, `null` included (a
/// pod spec cannot be empty); below it, see [`lists`].
fn pod_spec(object: &Value, spec: &str, found: &mut Vec<Unreadable>) {
    let mut end = 0;
    while let Some(next) = spec[end + 1..].find('/').map(|at| at + end + 1) {
        if !leads_on(object, &spec[..next], found) {
            return;
        }
        end = next;
    }
    if !leads_on(object, spec, found) {
        return;
    }
    let Some(pod_spec) = locate::at(object, spec) else {
        return;
    };
    for list in ContainerList::ALL {
        each_object(
            pod_spec,
            spec,
            list.key(),
            found,
            |pointer, container, found| {
                if let Some(image) = locate::member(container, "image") {
                    reference(image, format!("{pointer}/image"), found);
                }
            },
        );
    }
    each_object(
        pod_spec,
        spec,
        "volumes",
        found,
        |pointer, volume, found| {
            let Some(image) = locate::member(volume, "image").filter(|image| !image.is_null())
            else {
                return;
            };
            let image_pointer = format!("{pointer}/image");
            if !image.is_object() {
                found.push(at(&image_pointer, image, Expected::Object));
            } else if let Some(reference_value) = locate::member(image, "reference") {
                reference(reference_value, format!("{image_pointer}/reference"), found);
            }
        },
    );
}

/// Whether the value at `pointer` (a step towards the pod spec) is an object, or absent;
/// anything else is recorded.
fn leads_on(object: &Value, pointer: &str, found: &mut Vec<Unreadable>) -> bool {
    match locate::at(object, pointer) {
        None | Some(Value::Object(_)) => true,
        Some(other) => {
            found.push(at(pointer, other, Expected::Object));
            false
        }
    }
}

/// Calls `read` with each item of list `key` of the pod spec at `spec` that is an object, and
/// its pointer; a list that is not one, and items that are not objects, are recorded, all in
/// the list's order.
fn each_object(
    pod_spec: &Value,
    spec: &str,
    key: &str,
    found: &mut Vec<Unreadable>,
    read: impl FnMut(&str, &Value, &mut Vec<Unreadable>),
) {
    let pointer = format!("{spec}/{key}");
    match locate::member(pod_spec, key) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => objects(items, &pointer, found, read),
        Some(other) => found.push(at(&pointer, other, Expected::List)),
    }
}

/// Calls `read` with each item that is an object, and its pointer; the others are recorded.
fn objects(
    items: &[Value],
    pointer: &str,
    found: &mut Vec<Unreadable>,
    mut read: impl FnMut(&str, &Value, &mut Vec<Unreadable>),
) {
    for (index, item) in items.iter().enumerate() {
        let item_pointer = format!("{pointer}/{index}");
        match item.is_object() {
            true => read(&item_pointer, item, found),
            false => found.push(at(&item_pointer, item, Expected::Object)),
        }
    }
}

/// An image reference must be a string; `null` reads as none.
fn reference(value: &Value, pointer: String, found: &mut Vec<Unreadable>) {
    if !value.is_string() && !value.is_null() {
        found.push(at(&pointer, value, Expected::Reference));
    }
}

/// A build's source images and strategies: each `from` must be an object.
fn build(object: &Value, found: &mut Vec<Unreadable>) {
    for pointer in ["/spec", "/spec/source"] {
        if !leads_on(object, pointer, found) {
            return;
        }
    }
    match locate::at(object, "/spec/source/images") {
        None | Some(Value::Null) => {}
        Some(Value::Array(images)) => objects(images, "/spec/source/images", found, from),
        Some(other) => found.push(at("/spec/source/images", other, Expected::List)),
    }
    if !leads_on(object, "/spec/strategy", found) {
        return;
    }
    for strategy in STRATEGIES {
        let pointer = ["/spec/strategy/", strategy].concat();
        match locate::at(object, &pointer) {
            None | Some(Value::Null) => {}
            Some(holder @ Value::Object(_)) => from(&pointer, holder, found),
            Some(other) => found.push(at(&pointer, other, Expected::Object)),
        }
    }
}

/// The `from` of `holder` at `pointer` must be an object, when it is there.
fn from(pointer: &str, holder: &Value, found: &mut Vec<Unreadable>) {
    match locate::member(holder, "from") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => found.push(at(&format!("{pointer}/from"), other, Expected::Object)),
    }
}

fn at(pointer: &str, value: &Value, expected: Expected) -> Unreadable {
    Unreadable {
        pointer: pointer.to_string(),
        found: json_type(value),
        expected,
    }
}

/// The JSON type of `value`, as a warning names it.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
