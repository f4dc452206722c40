//! Small builders for OpenAPI 3.0 schema objects, shaped the way kube-apiserver writes them
//! (a `$ref` with a description is wrapped in a one-element `allOf`), so kubectl's `explain`
//! templates and its strategic-merge lookup (`PatchMetaFromOpenAPIV3`) read them unchanged.

use serde_json::{json, Value};

/// Where OpenAPI 3 documents keep their schemas.
pub(super) const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// The `apiVersion` description every kind carries.
const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. \
Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. \
More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
/// The `kind` description every kind carries.
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. \
Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. \
More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
/// The `metadata` description of an object.
const OBJECT_META_DOC: &str = "Standard object's metadata. \
More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
/// The `metadata` description of a list.
const LIST_META_DOC: &str = "Standard list metadata. \
More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The schema name of a meta/v1 type, e.g. `ObjectMeta`.
pub(super) fn meta(name: &str) -> String {
    format!("io.k8s.apimachinery.pkg.apis.meta.v1.{name}")
}

/// A bare reference to a named schema.
pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("{SCHEMA_REF_PREFIX}{name}")})
}

/// A field holding another schema, with its own description.
pub(super) fn field_ref(name: &str, description: &str) -> Value {
    json!({"description": description, "allOf": [reference(name)]})
}

/// An array or map element that is another schema.
pub(super) fn item_ref(name: &str) -> Value {
    json!({"allOf": [reference(name)], "default": {}})
}

/// A string field.
pub(super) fn string(description: &str) -> Value {
    json!({"description": description, "type": "string"})
}

/// A 64-bit integer field.
pub(super) fn int64(description: &str) -> Value {
    json!({"description": description, "type": "integer", "format": "int64"})
}

/// A 32-bit integer field.
pub(super) fn int32(description: &str) -> Value {
    json!({"description": description, "type": "integer", "format": "int32"})
}

/// A boolean field.
pub(super) fn boolean(description: &str) -> Value {
    json!({"description": description, "type": "boolean"})
}

/// A `map[string]string` field.
pub(super) fn string_map(description: &str) -> Value {
    map_of(description, json!({"type": "string"}))
}

/// A map field whose values follow `values`.
pub(super) fn map_of(description: &str, values: Value) -> Value {
    json!({"description": description, "type": "object", "additionalProperties": values})
}

/// An array field whose items follow `items`.
pub(super) fn array(description: &str, items: Value) -> Value {
    json!({"description": description, "type": "array", "items": items})
}

/// A `[]string` field.
pub(super) fn strings(description: &str) -> Value {
    array(description, json!({"type": "string"}))
}

/// An object schema with these properties.
pub(super) fn object(description: &str, properties: Value) -> Value {
    json!({"description": description, "type": "object", "properties": properties})
}

/// Adds the given keys (extensions, `required`, …) to a schema object.
pub(super) fn with(mut schema: Value, extra: Value) -> Value {
    if let (Some(fields), Value::Object(extra)) = (schema.as_object_mut(), extra) {
        fields.extend(extra);
    }
    schema
}

/// Marks a schema's required properties.
pub(super) fn required(schema: Value, names: &[&str]) -> Value {
    with(schema, json!({"required": names}))
}

/// Tags a top-level kind: `kubectl explain` and kubectl's patcher find schemas by this.
pub(super) fn gvk(schema: Value, group: &str, version: &str, kind: &str) -> Value {
    let entry = json!({"group": group, "kind": kind, "version": version});
    with(schema, json!({"x-kubernetes-group-version-kind": [entry]}))
}

/// A list merged by key: strategic merge patch reads the patch extensions, server-side
/// apply the list-map ones.
pub(super) fn keyed_list(field: Value, key: &str) -> Value {
    with(
        field,
        json!({
            "x-kubernetes-list-map-keys": [key],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-patch-merge-key": key,
            "x-kubernetes-patch-strategy": "merge",
        }),
    )
}

/// The `apiVersion` and `kind` fields every kind starts with.
pub(super) fn type_meta() -> [(&'static str, Value); 2] {
    [
        ("apiVersion", string(API_VERSION_DOC)),
        ("kind", string(KIND_DOC)),
    ]
}

/// A top-level kind: `apiVersion`, `kind`, `metadata` (ObjectMeta) and `fields`.
pub(super) fn kind(gv: (&str, &str), name: &str, description: &str, fields: Value) -> Value {
    let mut properties = serde_json::Map::from_iter(type_meta().map(|(k, v)| (k.to_string(), v)));
    properties.insert(
        "metadata".into(),
        field_ref(&meta("ObjectMeta"), OBJECT_META_DOC),
    );
    if let Value::Object(fields) = fields {
        properties.extend(fields);
    }
    gvk(object(description, properties.into()), gv.0, gv.1, name)
}

/// A list kind whose `items` are `item_schema` objects.
pub(super) fn list_kind(
    gv: (&str, &str),
    name: &str,
    description: &str,
    item_schema: &str,
    items_doc: &str,
) -> Value {
    let [api_version, kind_field] = type_meta();
    let properties = json!({
        "apiVersion": api_version.1,
        "items": array(items_doc, item_ref(item_schema)),
        "kind": kind_field.1,
        "metadata": field_ref(&meta("ListMeta"), LIST_META_DOC),
    });
    gvk(
        required(object(description, properties), &["items"]),
        gv.0,
        gv.1,
        name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_refs_wrap_the_ref_in_all_of_beside_the_description() {
        let field = field_ref("X", "an x");
        assert_eq!(
            field,
            json!({"description": "an x", "allOf": [{"$ref": "#/components/schemas/X"}]})
        );
    }

    #[test]
    fn kinds_carry_type_meta_metadata_and_their_gvk() {
        let schema = kind(
            ("g", "v1"),
            "Thing",
            "a thing",
            json!({"spec": string("the spec")}),
        );
        let properties = schema["properties"].as_object().unwrap();
        let names: Vec<_> = properties.keys().map(String::as_str).collect();
        assert_eq!(names, ["apiVersion", "kind", "metadata", "spec"]);
        assert_eq!(
            schema["x-kubernetes-group-version-kind"],
            json!([{"group": "g", "kind": "Thing", "version": "v1"}])
        );
        assert_eq!(
            properties["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
    }

    #[test]
    fn keyed_lists_get_patch_and_apply_extensions() {
        let field = keyed_list(array("tags", item_ref("T")), "name");
        assert_eq!(field["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(field["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(field["x-kubernetes-list-type"], "map");
        assert_eq!(field["x-kubernetes-list-map-keys"], json!(["name"]));
        assert_eq!(field["type"], "array");
    }

    #[test]
    fn list_kinds_require_items() {
        let schema = list_kind(("g", "v1"), "ThingList", "things", "g.Thing", "the things");
        assert_eq!(schema["required"], json!(["items"]));
        assert_eq!(
            schema["properties"]["items"]["items"]["allOf"][0]["$ref"],
            "#/components/schemas/g.Thing"
        );
    }
}
