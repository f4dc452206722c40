//! Arrays where the schema has a struct: Go's JSON decoder refuses them where kube-apiserver
//! decodes a struct, but serde's derived structs read a sequence field by field, so
//! `"spec": [{"local": true}, "x"]` would pass as a spec. This walk finds the first such array
//! before a stream is decoded, and words it as Go does. (A string or number there already
//! fails serde's decode, which names its path.)
//!
//! It looks up only fields whose values are objects or arrays, and descends only where the
//! schema has a struct or a list of them, so it reads a few dozen nodes of a stream, never
//! its strings.

use std::fmt;

use serde_json::Value;

use crate::apiserver::patch::schema::{Child, Node};

/// An array where the schema has a struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Where, with list indexes (`spec.tags[0]`); empty for the object itself.
    pub path: String,
    /// Go's field path: the JSON names only (`spec.tags`).
    field: String,
    /// The Go struct that declares the field (`ImageStreamSpec`).
    parent: &'static str,
    /// The Go type of the field (`v1.TagReference`).
    go_type: &'static str,
    /// What was found there, as Go names it: `array`, `string`, `number` or `bool`.
    found: &'static str,
}

/// Go's `UnmarshalTypeError`: `json: cannot unmarshal array into Go struct field
/// ImageStream.spec of type v1.ImageStreamSpec`.
impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (go_type, found) = (self.go_type, self.found);
        match self.parent {
            "" => write!(
                f,
                "json: cannot unmarshal {found} into Go value of type {go_type}"
            ),
            parent => write!(
                f,
                "json: cannot unmarshal {found} into Go struct field {parent}.{} of type {go_type}",
                self.field
            ),
        }
    }
}

/// The first array, in document order, where `schema` has a struct.
pub fn first_error(value: &Value, schema: &'static Node) -> Option<ShapeError> {
    let mut walk = Walk {
        path: String::new(),
        field: String::new(),
        parent: "",
    };
    walk.value(value, schema)
}

/// Where the walk is: both paths, and the struct whose field it is in.
struct Walk {
    path: String,
    field: String,
    parent: &'static str,
}

impl Walk {
    fn value(&mut self, value: &Value, node: &'static Node) -> Option<ShapeError> {
        let go_type = match node {
            Node::Struct { go_type, .. } | Node::Map { go_type, .. } => *go_type,
            _ => "",
        };
        let scalar = match value {
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
            _ => "",
        };
        // Only the top level's members are looked up when they are scalars (a misspelt
        // `metadata: x` would otherwise read as "no name"); deeper, serde's decode names them.
        if !go_type.is_empty() && !scalar.is_empty() {
            return Some(self.error(go_type, scalar));
        }
        match (node, value) {
            (Node::Struct { go_type, .. }, Value::Object(fields)) => {
                let parent = go_type.rsplit('.').next().unwrap_or(go_type);
                self.fields(fields, node, parent)
            }
            (Node::Struct { go_type, .. } | Node::Map { go_type, .. }, Value::Array(_)) => {
                Some(self.error(go_type, "array"))
            }
            (Node::List { item, .. }, Value::Array(items)) => self.items(items, item),
            _ => None,
        }
    }

    fn fields(
        &mut self,
        fields: &serde_json::Map<String, Value>,
        node: &'static Node,
        parent: &'static str,
    ) -> Option<ShapeError> {
        // Scalars hold no array: below the top level only containers are looked up.
        let top = self.path.is_empty();
        let looked_up = |value: &Value| top || value.is_object() || value.is_array();
        for (name, child) in fields.iter().filter(|(_, v)| looked_up(v)) {
            let Child::Declared(child_node) = node.child(name) else {
                continue;
            };
            let (path, field, outer) = (self.path.len(), self.field.len(), self.parent);
            push_name(&mut self.path, name);
            push_name(&mut self.field, name);
            self.parent = parent;
            let found = self.value(child, child_node);
            self.path.truncate(path);
            self.field.truncate(field);
            self.parent = outer;
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn items(&mut self, items: &[Value], item: &'static Node) -> Option<ShapeError> {
        if !matches!(item, Node::Struct { .. }) {
            return None;
        }
        for (index, child) in items.iter().enumerate() {
            let path = self.path.len();
            self.path.push_str(&format!("[{index}]"));
            let found = self.value(child, item);
            self.path.truncate(path);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    fn error(&self, go_type: &'static str, found: &'static str) -> ShapeError {
        ShapeError {
            path: self.path.clone(),
            field: self.field.clone(),
            parent: self.parent,
            go_type,
            found,
        }
    }
}

fn push_name(path: &mut String, name: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::patch::schema::IMAGE_STREAM;
    use serde_json::json;

    fn check(object: Value, expected: Option<(&str, &str)>) {
        let found = first_error(&object, &IMAGE_STREAM);
        let found = found.as_ref().map(|e| (e.path.as_str(), e.to_string()));
        let expected = expected.map(|(path, message)| (path, message.to_string()));
        assert_eq!(found, expected, "{object}");
    }

    #[test]
    fn an_array_where_a_struct_belongs_is_named_as_go_names_it() {
        let tag =
            |from: Value| json!({"spec": {"tags": [{"name": "a"}, {"name": "b", "from": from}]}});
        check(
            json!({"metadata": {"name": "s"}, "spec": [{"local": true}, "x"]}),
            Some(("spec", "json: cannot unmarshal array into Go struct field ImageStream.spec of type v1.ImageStreamSpec")),
        );
        check(
            json!({"metadata": ["s"]}),
            Some(("metadata", "json: cannot unmarshal array into Go struct field ImageStream.metadata of type v1.ObjectMeta")),
        );
        check(
            json!({"status": []}),
            Some(("status", "json: cannot unmarshal array into Go struct field ImageStream.status of type v1.ImageStreamStatus")),
        );
        check(
            json!({"spec": {"lookupPolicy": [true]}}),
            Some(("spec.lookupPolicy", "json: cannot unmarshal array into Go struct field ImageStreamSpec.spec.lookupPolicy of type v1.ImageLookupPolicy")),
        );
        check(
            json!({"spec": {"tags": [{"name": "a"}, ["b"]]}}),
            Some(("spec.tags[1]", "json: cannot unmarshal array into Go struct field ImageStreamSpec.spec.tags of type v1.TagReference")),
        );
        check(
            tag(json!(["DockerImage", "x"])),
            Some(("spec.tags[1].from", "json: cannot unmarshal array into Go struct field TagReference.spec.tags.from of type v1.ObjectReference")),
        );
        check(
            json!({"spec": {"tags": [{"name": "a", "importPolicy": []}]}}),
            Some(("spec.tags[0].importPolicy", "json: cannot unmarshal array into Go struct field TagReference.spec.tags.importPolicy of type v1.TagImportPolicy")),
        );
        check(
            json!({"status": {"tags": [{"tag": "a", "items": [{"image": "i"}, [7]]}]}}),
            Some(("status.tags[0].items[1]", "json: cannot unmarshal array into Go struct field NamedTagEventList.status.tags.items of type v1.TagEvent")),
        );
        check(
            json!([1]),
            Some((
                "",
                "json: cannot unmarshal array into Go value of type v1.ImageStream",
            )),
        );
    }

    #[test]
    fn a_scalar_where_a_top_level_struct_belongs_is_named_with_its_json_type() {
        check(
            json!({"metadata": "x"}),
            Some(("metadata", "json: cannot unmarshal string into Go struct field ImageStream.metadata of type v1.ObjectMeta")),
        );
        check(
            json!({"metadata": {"name": "s"}, "status": 7}),
            Some(("status", "json: cannot unmarshal number into Go struct field ImageStream.status of type v1.ImageStreamStatus")),
        );
        check(
            json!({"spec": true}),
            Some(("spec", "json: cannot unmarshal bool into Go struct field ImageStream.spec of type v1.ImageStreamSpec")),
        );
    }

    #[test]
    fn objects_nulls_maps_scalars_and_unknown_fields_pass() {
        // Scalars where a struct belongs are serde's to refuse.
        check(
            json!({"metadata": {"name": "s", "labels": {"a": "b"}, "finalizers": ["f"],
                                "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
                   "spec": {"lookupPolicy": null, "tags": [{"name": "a", "from": {"kind": "DockerImage", "name": "x"}}]},
                   "status": null, "extra": [1]}),
            None,
        );
        check(
            json!({"spec": {"tags": [{"from": true}], "lookupPolicy": "x"}}),
            None,
        );
        // The first in document order is named.
        check(
            json!({"spec": {"tags": [{"from": [true]}], "lookupPolicy": []}}),
            Some(("spec.tags[0].from", "json: cannot unmarshal array into Go struct field TagReference.spec.tags.from of type v1.ObjectReference")),
        );
    }
}
