use serde_json::json;

use super::*;

fn check(input: Value, expected: &[u8]) {
    assert_eq!(document(&input), expected, "{input}");
}

#[test]
fn scalars_at_their_default_are_left_out_and_messages_are_length_delimited() {
    check(json!({"swagger": "2.0"}), b"\x0a\x032.0");
    check(
        json!({"swagger": "2.0", "info": {"title": "t", "version": ""}}),
        b"\x0a\x032.0\x12\x03\x0a\x01t",
    );
    check(json!({"definitions": {}}), b"\x4a\x00");
}

#[test]
fn a_definition_is_a_named_schema_with_its_type_properties_and_extensions() {
    let input = json!({"definitions": {"A": {
        "type": "object",
        "required": ["k"],
        "properties": {"k": {"type": "string"}},
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}],
    }}});
    let k = b"\x0a\x01k\x12\x0b\xb2\x01\x08\x0a\x06string".to_vec();
    let gvk = br#"[{"group":"","kind":"A","version":"v1"}]"#;
    let extension = [
        b"\x0a\x1fx-kubernetes-group-version-kind\x12".as_slice(),
        &[gvk.len() as u8 + 2, 0x12, gvk.len() as u8],
        gvk,
    ]
    .concat();
    let schema = [
        b"\x9a\x01\x01k".as_slice(),
        &[0xb2, 0x01, 0x08],
        b"\x0a\x06object",
        &[0xca, 0x01, k.len() as u8 + 2, 0x0a, k.len() as u8],
        &k,
        &[0xfa, 0x01, extension.len() as u8],
        &extension,
    ]
    .concat();
    let named = [b"\x0a\x01A\x12".as_slice(), &[schema.len() as u8], &schema].concat();
    let definitions = [b"\x0a".as_slice(), &[named.len() as u8], &named].concat();
    let expected = [b"\x4a".as_slice(), &[definitions.len() as u8], &definitions].concat();
    check(input, &expected);
}

#[test]
fn parameters_take_their_oneof_branch_from_where_they_are() {
    let item = |parameter: Value| parameters_item(&parameter).0;
    // ParametersItem.parameter(1) > Parameter.body_parameter(1) > name, in, required.
    assert_eq!(
        item(json!({"name": "body", "in": "body", "required": true})),
        b"\x0a\x10\x0a\x0e\x12\x04body\x1a\x04body\x20\x01"
    );
    // ParametersItem.parameter(1) > Parameter.non_body(2) > query(3) > in, name, type.
    assert_eq!(
        item(json!({"name": "dryRun", "in": "query", "type": "string"})),
        b"\x0a\x1b\x12\x19\x1a\x17\x12\x05query\x22\x06dryRun\x32\x06string"
    );
    // … > query(3) > uniqueItems at 20, one above a path parameter's 19.
    assert_eq!(
        item(json!({"name": "q", "in": "query", "uniqueItems": true})),
        b"\x0a\x11\x12\x0f\x1a\x0d\x12\x05query\x22\x01q\xa0\x01\x01"
    );
    // … > path(4) > required, in, name.
    assert_eq!(
        item(json!({"name": "name", "in": "path", "required": true})),
        b"\x0a\x12\x12\x10\x22\x0e\x08\x01\x12\x04path\x22\x04name"
    );
    // ParametersItem.json_reference(2) > _ref.
    assert_eq!(
        item(json!({"$ref": "#/parameters/x"})),
        b"\x12\x10\x0a\x0e#/parameters/x"
    );
}

#[test]
fn additional_properties_and_negative_integers_keep_their_meaning() {
    let closed = schema(&json!({"additionalProperties": false})).0;
    assert_eq!(closed, b"\xaa\x01\x02\x10\x00");
    let open = schema(&json!({"additionalProperties": {"type": "string"}})).0;
    assert_eq!(open, b"\xaa\x01\x0d\x0a\x0b\xb2\x01\x08\x0a\x06string");
    let negative = schema(&json!({"minLength": -1})).0;
    assert_eq!(negative, b"\x60\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
}
