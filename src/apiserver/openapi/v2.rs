//! Swagger 2.0 (`/openapi/v2`) derived mechanically from the v3 documents, so the two
//! cannot disagree. Clients that accept JSON get it as is; kubectl asks for protobuf, which
//! `v2_proto` writes from it.

use serde_json::{json, Map, Value};

use super::schema::SCHEMA_REF_PREFIX;

const DEFINITIONS_PREFIX: &str = "#/definitions/";
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The Swagger 2.0 document for these v3 paths and schemas.
pub(super) fn document(
    info: &Value,
    paths: &Map<String, Value>,
    schemas: &Map<String, Value>,
) -> Value {
    let paths: Map<String, Value> = paths
        .iter()
        .map(|(path, item)| (path.clone(), path_item(item)))
        .collect();
    let definitions: Map<String, Value> = schemas
        .iter()
        .map(|(name, s)| (name.clone(), schema(s)))
        .collect();
    json!({
        "swagger": "2.0",
        "info": info,
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    })
}

/// A v3 schema in v2 form: `allOf: [{$ref}]` wrappers become a plain `$ref` (v2 tolerates a
/// description beside it, as kube-apiserver's own v2 document does) and refs point at
/// `#/definitions/`.
pub(super) fn schema(v3: &Value) -> Value {
    match v3 {
        Value::Object(fields) => {
            let mut out = Map::new();
            if let Some(target) = single_all_of_ref(fields) {
                out.insert("$ref".into(), rewrite_ref(target).into());
            }
            for (key, value) in fields {
                match key.as_str() {
                    "$ref" => {
                        out.insert(
                            key.clone(),
                            rewrite_ref(value.as_str().unwrap_or("")).into(),
                        );
                    }
                    "allOf" | "default" if out.contains_key("$ref") => {}
                    _ => {
                        out.insert(key.clone(), schema(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => items.iter().map(schema).collect(),
        other => other.clone(),
    }
}

fn single_all_of_ref(fields: &Map<String, Value>) -> Option<&str> {
    match fields.get("allOf")?.as_array()?.as_slice() {
        [only] => only.get("$ref")?.as_str(),
        _ => None,
    }
}

fn rewrite_ref(target: &str) -> String {
    match target.strip_prefix(SCHEMA_REF_PREFIX) {
        Some(name) => format!("{DEFINITIONS_PREFIX}{name}"),
        None => target.to_string(),
    }
}

fn path_item(v3: &Value) -> Value {
    let mut item = Map::new();
    for method in METHODS {
        if let Some(op) = v3.get(method) {
            item.insert(method.into(), operation(op));
        }
    }
    if let Some(Value::Array(params)) = v3.get("parameters") {
        item.insert("parameters".into(), params.iter().map(parameter).collect());
    }
    Value::Object(item)
}

fn operation(v3: &Value) -> Value {
    let mut op = v3.as_object().cloned().unwrap_or_default();
    let mut parameters: Vec<Value> = match op.remove("parameters") {
        Some(Value::Array(params)) => params.iter().map(parameter).collect(),
        _ => Vec::new(),
    };
    if let Some(body) = op.remove("requestBody") {
        let (media_types, body_schema) = content(&body);
        let required = body.get("required").cloned().unwrap_or(Value::Bool(false));
        parameters.insert(
            0,
            json!({"name": "body", "in": "body", "required": required, "schema": body_schema}),
        );
        op.insert("consumes".into(), media_types.into());
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), parameters.into());
    }
    if let Some(Value::Object(responses)) = op.remove("responses") {
        let (produces, responses) = responses_v2(&responses);
        op.insert("produces".into(), produces.into());
        op.insert("responses".into(), responses.into());
    }
    op.insert("schemes".into(), json!(["https"]));
    Value::Object(op)
}

fn responses_v2(v3: &Map<String, Value>) -> (Vec<String>, Map<String, Value>) {
    let mut produces: Vec<String> = Vec::new();
    let mut out = Map::new();
    for (code, response) in v3 {
        let mut converted = json!({"description": response["description"]});
        if response.get("content").is_some() {
            let (media_types, response_schema) = content(response);
            converted["schema"] = response_schema;
            for media_type in media_types {
                if !produces.contains(&media_type) {
                    produces.push(media_type);
                }
            }
        }
        out.insert(code.clone(), converted);
    }
    (produces, out)
}

/// The media types of a v3 `content` map and the schema of its first entry.
fn content(holder: &Value) -> (Vec<String>, Value) {
    let content = holder.get("content").and_then(Value::as_object);
    let media_types = content
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    let first = content
        .and_then(|c| c.values().next())
        .and_then(|m| m.get("schema"));
    (media_types, first.map(schema).unwrap_or(Value::Null))
}

/// v3 nests a parameter's type under `schema`; v2 writes it inline.
fn parameter(v3: &Value) -> Value {
    let mut param = v3.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(inner)) = param.remove("schema") {
        param.extend(inner);
    }
    Value::Object(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_of_refs_become_definition_refs_keeping_the_description() {
        let v3 = json!({"description": "meta", "allOf": [{"$ref": "#/components/schemas/A"}], "default": {}});
        assert_eq!(
            schema(&v3),
            json!({"$ref": "#/definitions/A", "description": "meta"})
        );
        let items = json!({"type": "array", "items": {"$ref": "#/components/schemas/B"}});
        assert_eq!(schema(&items)["items"], json!({"$ref": "#/definitions/B"}));
    }

    #[test]
    fn operations_move_bodies_and_types_into_v2_parameters() {
        let v3 = json!({
            "operationId": "patchX",
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/P"}}}, "required": true},
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/X"}}}},
                          "401": {"description": "Unauthorized"}},
        });
        let op = operation(&v3);
        assert_eq!(
            op["parameters"][0],
            json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/P"}})
        );
        assert_eq!(
            op["parameters"][1],
            json!({"name": "fieldValidation", "in": "query", "type": "string"})
        );
        assert_eq!(op["consumes"], json!(["application/merge-patch+json"]));
        assert_eq!(op["produces"], json!(["application/json"]));
        assert_eq!(
            op["responses"]["200"],
            json!({"description": "OK", "schema": {"$ref": "#/definitions/X"}})
        );
        assert_eq!(
            op["responses"]["401"],
            json!({"description": "Unauthorized"})
        );
        assert!(op.get("requestBody").is_none());
    }
}
