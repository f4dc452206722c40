//! `/openapi/v2` as kubectl asks for it: gnostic's `openapi.v2.Document` protobuf
//! (google/gnostic `openapiv2/OpenAPIv2.proto`), written from the Swagger 2.0 JSON document.
//!
//! kubectl fetches it whenever it validates on the client: always for a `List` (what
//! `kubectl get -o yaml` writes), whose kind the server-side field validation check never
//! covers. Without it, `kubectl apply -f export.yaml` stops with "the server could not find the
//! requested resource". With it, kubectl checks each item against the schema of its kind, as
//! it does against kube-apiserver.
//!
//! Only what the JSON document uses is written; a key of another kind is left out (gnostic
//! itself ignores what it does not model). Values that are free JSON (`default`, `enum`,
//! `example`, vendor extensions) go in `Any.yaml` as JSON text, which is YAML.

use prost::encoding::{encode_key, encode_varint, WireType};
use serde_json::{Map, Value};

/// The protobuf document for the Swagger 2.0 JSON `document`.
pub(super) fn document(document: &Value) -> Vec<u8> {
    let mut doc = Message::default();
    doc.string(1, text(document, "swagger"));
    if let Some(info) = document.get("info") {
        doc.message(2, self::info(info));
    }
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        let mut message = Message::default();
        for (path, item) in paths {
            message.message(2, named(path, path_item(item)));
        }
        doc.message(8, message);
    }
    if let Some(definitions) = document.get("definitions").and_then(Value::as_object) {
        doc.message(9, named_schemas(definitions));
    }
    for requirement in array(document, "security") {
        doc.message(12, security_requirement(requirement));
    }
    if let Some(definitions) = document.get("securityDefinitions") {
        doc.message(13, security_definitions(definitions));
    }
    doc.0
}

fn info(info: &Value) -> Message {
    let mut message = Message::default();
    message
        .string(1, text(info, "title"))
        .string(2, text(info, "version"))
        .string(3, text(info, "description"));
    message
}

fn path_item(item: &Value) -> Message {
    let mut message = Message::default();
    for (tag, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (8, "patch"),
    ] {
        if let Some(operation) = item.get(method) {
            message.message(tag, self::operation(operation));
        }
    }
    for parameter in array(item, "parameters") {
        message.message(9, parameters_item(parameter));
    }
    message.extensions(10, item);
    message
}

fn operation(operation: &Value) -> Message {
    let mut message = Message::default();
    message
        .strings(1, array(operation, "tags"))
        .string(2, text(operation, "summary"))
        .string(3, text(operation, "description"))
        .string(5, text(operation, "operationId"))
        .strings(6, array(operation, "produces"))
        .strings(7, array(operation, "consumes"));
    for parameter in array(operation, "parameters") {
        message.message(8, parameters_item(parameter));
    }
    if let Some(responses) = operation.get("responses").and_then(Value::as_object) {
        let mut codes = Message::default();
        for (code, response) in responses {
            codes.message(1, named(code, response_value(response)));
        }
        message.message(9, codes);
    }
    message
        .strings(10, array(operation, "schemes"))
        .bool(11, flag(operation, "deprecated"))
        .extensions(13, operation);
    message
}

/// `ParametersItem`: a reference, or a body or non-body parameter.
fn parameters_item(parameter: &Value) -> Message {
    let mut item = Message::default();
    if let Some(reference) = parameter.get("$ref").and_then(Value::as_str) {
        let mut json_reference = Message::default();
        json_reference.string(1, reference);
        item.message(2, json_reference);
        return item;
    }
    let mut oneof = Message::default();
    match text(parameter, "in") {
        "body" => {
            let mut body = Message::default();
            body.string(1, text(parameter, "description"))
                .string(2, text(parameter, "name"))
                .string(3, "body")
                .bool(4, flag(parameter, "required"));
            if let Some(schema) = parameter.get("schema") {
                body.message(5, self::schema(schema));
            }
            body.extensions(6, parameter);
            oneof.message(1, body);
        }
        location => {
            // NonBodyParameter's oneof: header 1, formData 2, query 3, path 4.
            let (tag, sub_schema) = match location {
                "header" => (1, sub_schema(parameter, false)),
                "formData" => (2, sub_schema(parameter, true)),
                "path" => (4, sub_schema(parameter, false)),
                _ => (3, sub_schema(parameter, true)),
            };
            let mut non_body = Message::default();
            non_body.message(tag, sub_schema);
            oneof.message(2, non_body);
        }
    }
    item.message(1, oneof);
    item
}

/// A non-body parameter's sub-schema. Query and formData parameters have
/// `allow_empty_value = 5`, which moves every later field of theirs up by one; header and path
/// parameters do not.
fn sub_schema(parameter: &Value, allows_empty: bool) -> Message {
    let mut message = Message::default();
    message
        .bool(1, flag(parameter, "required"))
        .string(2, text(parameter, "in"))
        .string(3, text(parameter, "description"))
        .string(4, text(parameter, "name"));
    if allows_empty {
        message.bool(5, flag(parameter, "allowEmptyValue"));
    }
    let shift = u32::from(allows_empty);
    message
        .string(5 + shift, text(parameter, "type"))
        .string(6 + shift, text(parameter, "format"))
        .bool(19 + shift, flag(parameter, "uniqueItems"))
        .extensions(22 + shift, parameter);
    message
}

/// `ResponseValue`: a `Response` with its description and schema.
fn response_value(response: &Value) -> Message {
    let mut inner = Message::default();
    inner.string(1, text(response, "description"));
    if let Some(schema) = response.get("schema") {
        let mut schema_item = Message::default();
        schema_item.message(1, self::schema(schema));
        inner.message(2, schema_item);
    }
    inner.extensions(5, response);
    let mut value = Message::default();
    value.message(1, inner);
    value
}

/// A JSON Schema object as gnostic's `Schema`.
fn schema(schema: &Value) -> Message {
    let mut message = Message::default();
    message
        .string(1, text(schema, "$ref"))
        .string(2, text(schema, "format"))
        .string(3, text(schema, "title"))
        .string(4, text(schema, "description"));
    if let Some(default) = schema.get("default") {
        message.message(5, any(default));
    }
    message
        .double(7, number(schema, "maximum"))
        .double(9, number(schema, "minimum"))
        .int64(11, integer(schema, "maxLength"))
        .int64(12, integer(schema, "minLength"))
        .string(13, text(schema, "pattern"))
        .int64(14, integer(schema, "maxItems"))
        .int64(15, integer(schema, "minItems"))
        .bool(16, flag(schema, "uniqueItems"))
        .strings(19, array(schema, "required"));
    for value in array(schema, "enum") {
        message.message(20, any(value));
    }
    match schema.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            let mut item = Message::default();
            item.bool_always(2, *allowed);
            message.message(21, item);
        }
        Some(nested @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, self::schema(nested));
            message.message(21, item);
        }
        _ => {}
    }
    let types: Vec<&Value> = match schema.get("type") {
        Some(Value::Array(types)) => types.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    if !types.is_empty() {
        let mut type_item = Message::default();
        type_item.strings(1, types);
        message.message(22, type_item);
    }
    let items: Vec<&Value> = match schema.get("items") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    if !items.is_empty() {
        let mut items_item = Message::default();
        for item in items {
            items_item.message(1, self::schema(item));
        }
        message.message(23, items_item);
    }
    for part in array(schema, "allOf") {
        message.message(24, self::schema(part));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        message.message(25, named_schemas(properties));
    }
    message.bool(27, flag(schema, "readOnly"));
    if let Some(example) = schema.get("example") {
        message.message(30, any(example));
    }
    message.extensions(31, schema);
    message
}

/// `Definitions` or `Properties`: `repeated NamedSchema additional_properties = 1`.
fn named_schemas(schemas: &Map<String, Value>) -> Message {
    let mut message = Message::default();
    for (name, value) in schemas {
        message.message(1, named(name, schema(value)));
    }
    message
}

fn security_requirement(requirement: &Value) -> Message {
    let mut message = Message::default();
    for (name, scopes) in requirement.as_object().into_iter().flatten() {
        let mut values = Message::default();
        values.strings(1, scopes.as_array().into_iter().flatten());
        message.message(1, named(name, values));
    }
    message
}

/// Only `apiKey` schemes are written (the only kind served); others are left out.
fn security_definitions(definitions: &Value) -> Message {
    let mut message = Message::default();
    for (name, definition) in definitions.as_object().into_iter().flatten() {
        if text(definition, "type") != "apiKey" {
            continue;
        }
        let mut api_key = Message::default();
        api_key
            .string(1, "apiKey")
            .string(2, text(definition, "name"))
            .string(3, text(definition, "in"))
            .string(4, text(definition, "description"));
        let mut item = Message::default();
        item.message(2, api_key);
        message.message(1, named(name, item));
    }
    message
}

/// A `Named…` entry: `name = 1`, the value's message `= 2`.
fn named(name: &str, value: Message) -> Message {
    let mut message = Message::default();
    message.string(1, name).message(2, value);
    message
}

/// gnostic's `Any`, its value as YAML text (`yaml = 2`).
fn any(value: &Value) -> Message {
    let mut message = Message::default();
    message.string(2, &value.to_string());
    message
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn number(value: &Value, key: &str) -> f64 {
    value.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn integer(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// One message being written. Scalars at their proto3 default are left out, as protobuf
/// encoders do; sub-messages are always written, since their presence can matter (a oneof).
#[derive(Debug, Default)]
struct Message(Vec<u8>);

impl Message {
    fn string(&mut self, tag: u32, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.bytes(tag, value.as_bytes());
        }
        self
    }

    /// Each string of `values` (non-strings are skipped) as a repeated field.
    fn strings<'a>(&mut self, tag: u32, values: impl IntoIterator<Item = &'a Value>) -> &mut Self {
        for value in values.into_iter().filter_map(Value::as_str) {
            self.bytes(tag, value.as_bytes());
        }
        self
    }

    fn bool(&mut self, tag: u32, value: bool) -> &mut Self {
        if value {
            self.bool_always(tag, value);
        }
        self
    }

    /// A bool written even when false: a oneof member's presence is its meaning.
    fn bool_always(&mut self, tag: u32, value: bool) -> &mut Self {
        encode_key(tag, WireType::Varint, &mut self.0);
        encode_varint(u64::from(value), &mut self.0);
        self
    }

    fn int64(&mut self, tag: u32, value: i64) -> &mut Self {
        if value != 0 {
            encode_key(tag, WireType::Varint, &mut self.0);
            // int64 is written as its two's-complement u64 (a negative takes ten bytes).
            encode_varint(value as u64, &mut self.0);
        }
        self
    }

    fn double(&mut self, tag: u32, value: f64) -> &mut Self {
        if value != 0.0 {
            encode_key(tag, WireType::SixtyFourBit, &mut self.0);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
        self
    }

    fn message(&mut self, tag: u32, child: Message) -> &mut Self {
        self.bytes(tag, &child.0)
    }

    /// The `x-…` keys of `value` as `repeated NamedAny vendor_extension = tag`.
    fn extensions(&mut self, tag: u32, value: &Value) -> &mut Self {
        let extensions = value.as_object().into_iter().flatten();
        for (key, value) in extensions.filter(|(key, _)| key.starts_with("x-")) {
            self.message(tag, named(key, any(value)));
        }
        self
    }

    fn bytes(&mut self, tag: u32, bytes: &[u8]) -> &mut Self {
        encode_key(tag, WireType::LengthDelimited, &mut self.0);
        encode_varint(bytes.len() as u64, &mut self.0);
        self.0.extend_from_slice(bytes);
        self
    }
}

#[cfg(test)]
mod tests;
