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
        found.push(at(String::new(), object, Expected::Object));
        return found;
    }
    match shape {
        Shape::Pods { spec, .. } => pod_spec(object, spec, &mut found),
        Shape::Build => build(object, &mut found),
    }
    found
}

/// The pod spec at `spec` and each object leading to it must be objects, `null` included (a
/// pod spec cannot be empty); below it, see [`each_object`]. Pointers are formatted only for
/// what is recorded: this runs on every admission, and almost every object is readable.
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
        let list = ListAt {
            parent: spec,
            key: list.key(),
        };
        each_object(pod_spec, list, found, |index, container, found| {
            if let Some(image) = locate::member(container, "image") {
                reference(image, || list.item(index, "/image"), found);
            }
        });
    }
    let volumes = ListAt {
        parent: spec,
        key: "volumes",
    };
    each_object(pod_spec, volumes, found, |index, volume, found| {
        let Some(image) = locate::member(volume, "image").filter(|image| !image.is_null()) else {
            return;
        };
        if !image.is_object() {
            found.push(at(volumes.item(index, "/image"), image, Expected::Object));
        } else if let Some(reference_value) = locate::member(image, "reference") {
            let pointer = || volumes.item(index, "/image/reference");
            reference(reference_value, pointer, found);
        }
    });
}

/// A list member `key` of the object at pointer `parent`.
#[derive(Clone, Copy)]
struct ListAt<'a> {
    parent: &'a str,
    key: &'a str,
}

impl ListAt<'_> {
    /// The list's pointer.
    fn pointer(self) -> String {
        format!("{}/{}", self.parent, self.key)
    }

    /// The pointer of item `index`, then `rest`.
    fn item(self, index: usize, rest: &str) -> String {
        format!("{}/{}/{index}{rest}", self.parent, self.key)
    }
}

/// Whether the value at `pointer` (a step towards the pod spec) is an object, or absent;
/// anything else is recorded.
fn leads_on(object: &Value, pointer: &str, found: &mut Vec<Unreadable>) -> bool {
    match locate::at(object, pointer) {
        None | Some(Value::Object(_)) => true,
        Some(other) => {
            found.push(at(pointer.to_string(), other, Expected::Object));
            false
        }
    }
}

/// Calls `read` with each item of `list` (a member of `holder`) that is an object, and its
/// index; a list that is not one, and items that are not objects, are recorded, all in the
/// list's order.
fn each_object(
    holder: &Value,
    list: ListAt<'_>,
    found: &mut Vec<Unreadable>,
    mut read: impl FnMut(usize, &Value, &mut Vec<Unreadable>),
) {
    match locate::member(holder, list.key) {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                match item.is_object() {
                    true => read(index, item, found),
                    false => found.push(at(list.item(index, ""), item, Expected::Object)),
                }
            }
        }
        Some(other) => found.push(at(list.pointer(), other, Expected::List)),
    }
}

/// An image reference must be a string; `null` reads as none.
fn reference(value: &Value, pointer: impl FnOnce() -> String, found: &mut Vec<Unreadable>) {
    if !value.is_string() && !value.is_null() {
        found.push(at(pointer(), value, Expected::Reference));
    }
}

/// A build's source images and strategies: each `from` must be an object.
fn build(object: &Value, found: &mut Vec<Unreadable>) {
    for pointer in ["/spec", "/spec/source"] {
        if !leads_on(object, pointer, found) {
            return;
        }
    }
    if let Some(source) = locate::at(object, "/spec/source") {
        let images = ListAt {
            parent: "/spec/source",
            key: "images",
        };
        each_object(source, images, found, |index, holder, found| {
            from(|| images.item(index, ""), holder, found)
        });
    }
    if !leads_on(object, "/spec/strategy", found) {
        return;
    }
    for strategy in STRATEGIES {
        let pointer = ["/spec/strategy/", strategy].concat();
        match locate::at(object, &pointer) {
            None | Some(Value::Null) => {}
            Some(holder @ Value::Object(_)) => from(|| pointer.clone(), holder, found),
            Some(other) => found.push(at(pointer, other, Expected::Object)),
        }
    }
}

/// The `from` of `holder` (at the pointer `holder_pointer` gives) must be an object, when it
/// is there.
fn from(holder_pointer: impl FnOnce() -> String, holder: &Value, found: &mut Vec<Unreadable>) {
    match locate::member(holder, "from") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => {
            let pointer = holder_pointer() + "/from";
            found.push(at(pointer, other, Expected::Object));
        }
    }
}

fn at(pointer: String, value: &Value, expected: Expected) -> Unreadable {
    Unreadable {
        pointer,
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
