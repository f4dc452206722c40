//! Table tests of Accept negotiation, body formats and patch kinds.

use super::*;
use serde_json::json;

/// kubectl 1.37 for human output (`get`, `get -w`).
const KUBECTL_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
/// kubectl 1.37 on `/api` and `/apis`.
const KUBECTL_AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
/// kube-rs `Discovery::run_aggregated()`.
const KUBE_RS_AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
/// kube-rs `list_metadata`.
const KUBE_RS_METADATA_LIST: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
/// kubectl describe's event lookup: protobuf first.
const PROTOBUF_FIRST: &str = "application/vnd.kubernetes.protobuf,application/json";

/// The form chosen for `accept` on `endpoint`, written as compact JSON.
fn check(accept: Option<&str>, endpoint: Endpoint, expected: Form) {
    assert_eq!(
        negotiate_output(accept, endpoint, None, None).unwrap(),
        Output::new(expected, Encoding::Json),
        "{accept:?} on {endpoint:?}"
    );
}

/// The encoding chosen for `accept` and the `pretty` query value on `endpoint`.
fn check_encoding(
    accept: Option<&str>,
    pretty: Option<&str>,
    endpoint: Endpoint,
    expected: Encoding,
) {
    let output = negotiate_output(accept, endpoint, None, pretty).unwrap();
    assert_eq!(
        output.encoding, expected,
        "{accept:?}, pretty={pretty:?} on {endpoint:?}"
    );
}

fn check_not_acceptable(accept: &str, endpoint: Endpoint) {
    let error = negotiate_output(Some(accept), endpoint, None, None).unwrap_err();
    assert_eq!(
        (error.code(), error.to_string().as_str()),
        (
            406,
            "only the following media types are accepted: application/json, application/yaml"
        ),
        "{accept}"
    );
}

const TABLE: Form = Form::Table {
    include_object: IncludeObject::Metadata,
};

#[test]
fn clients_without_preferences_get_json() {
    check(None, Endpoint::List, Form::Plain);
    check(Some(""), Endpoint::Object, Form::Plain);
    check(Some("*/*"), Endpoint::Object, Form::Plain);
    check(
        Some("application/json, */*"),
        Endpoint::Discovery,
        Form::Plain,
    );
    check(Some("application/json"), Endpoint::Watch, Form::Plain);
    check(Some(PROTOBUF_FIRST), Endpoint::List, Form::Plain);
    check(
        Some("text/html;q=0.9,application/*"),
        Endpoint::Object,
        Form::Plain,
    );
}

#[test]
fn kubectl_human_output_gets_tables_everywhere() {
    for endpoint in [Endpoint::List, Endpoint::Object, Endpoint::Watch] {
        check(Some(KUBECTL_TABLE), endpoint, TABLE);
    }
}

#[test]
fn tables_fall_back_to_json_on_discovery() {
    check(Some(KUBECTL_TABLE), Endpoint::Discovery, Form::Plain);
}

#[test]
fn include_object_comes_from_the_query() {
    let table = |value| negotiate_output(Some(KUBECTL_TABLE), Endpoint::List, value, None);
    assert_eq!(
        table(Some("Object")).unwrap().form,
        Form::Table {
            include_object: IncludeObject::Object
        }
    );
    assert_eq!(
        table(Some("None")).unwrap().form,
        Form::Table {
            include_object: IncludeObject::None
        }
    );
    let error = table(Some("Everything")).unwrap_err();
    assert_eq!(
        (error.code(), error.to_string().as_str()),
        (400, "unrecognized includeObject value: \"Everything\"")
    );
    let ignored = negotiate_output(None, Endpoint::List, Some("Everything"), None);
    assert_eq!(ignored.unwrap(), Output::JSON);
}

#[test]
fn aggregated_discovery_is_offered_only_on_discovery() {
    check(
        Some(KUBECTL_AGGREGATED),
        Endpoint::Discovery,
        Form::AggregatedDiscoveryV2,
    );
    check(
        Some(KUBE_RS_AGGREGATED),
        Endpoint::Discovery,
        Form::AggregatedDiscoveryV2,
    );
    check(
        Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
        Endpoint::Discovery,
        Form::AggregatedDiscoveryV2Beta1,
    );
    check(Some(KUBECTL_AGGREGATED), Endpoint::List, Form::Plain);
}

#[test]
fn metadata_forms_follow_the_endpoint() {
    check(
        Some(KUBE_RS_METADATA_LIST),
        Endpoint::List,
        Form::PartialObjectMetadataList,
    );
    check(
        Some(KUBE_RS_METADATA_LIST),
        Endpoint::Watch,
        Form::PartialObjectMetadata,
    );
    let single = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    check(Some(single), Endpoint::Object, Form::PartialObjectMetadata);
    check(Some(single), Endpoint::Watch, Form::PartialObjectMetadata);
    check_not_acceptable(single, Endpoint::List);
    check_not_acceptable(KUBE_RS_METADATA_LIST, Endpoint::Object);
}

#[test]
fn quality_orders_the_clauses() {
    let prefer_json = "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,application/json";
    check(Some(prefer_json), Endpoint::List, Form::Plain);
    let refuse_json = "application/json;q=0,application/json;as=Table;v=v1;g=meta.k8s.io";
    check(Some(refuse_json), Endpoint::List, TABLE);
}

#[test]
fn unknown_forms_without_fallback_are_not_acceptable() {
    check_not_acceptable("application/vnd.kubernetes.protobuf", Endpoint::List);
    check_not_acceptable("application/yaml", Endpoint::Watch);
    check_not_acceptable("text/yaml", Endpoint::Object);
    check_not_acceptable(
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        Endpoint::List,
    );
    check_not_acceptable("application/json;as=Table", Endpoint::List);
    check_not_acceptable(
        "application/json;as=Widget;v=v1;g=meta.k8s.io",
        Endpoint::Object,
    );
    check_not_acceptable("application/json;stream=chunks", Endpoint::Watch);
    check_not_acceptable(
        KUBECTL_AGGREGATED.split(',').next().unwrap(),
        Endpoint::List,
    );
}

#[test]
fn discovery_content_types_name_the_kind() {
    assert_eq!(
        Output::new(Form::AggregatedDiscoveryV2, Encoding::Json).content_type(),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(
        Output::new(TABLE, Encoding::PrettyJson).content_type(),
        "application/json"
    );
    assert_eq!(
        Output::new(Form::Plain, Encoding::Yaml).content_type(),
        "application/yaml"
    );
}

#[test]
fn yaml_is_written_for_objects_and_lists_in_any_form() {
    for endpoint in [Endpoint::Object, Endpoint::List] {
        check_encoding(Some("application/yaml"), None, endpoint, Encoding::Yaml);
    }
    let yaml_table = "application/yaml;as=Table;v=v1;g=meta.k8s.io";
    let output = negotiate_output(Some(yaml_table), Endpoint::List, None, None).unwrap();
    assert_eq!(output, Output::new(TABLE, Encoding::Yaml));
    let prefer_json = "application/yaml;q=0.5,application/json";
    check_encoding(Some(prefer_json), None, Endpoint::Object, Encoding::Json);
    let yaml_on_watch = "application/yaml,application/json";
    check_encoding(Some(yaml_on_watch), None, Endpoint::Watch, Encoding::Json);
}

#[test]
fn pretty_indents_json_but_never_watch_events() {
    let cases = [
        (None, Some("true"), Endpoint::Object, Encoding::PrettyJson),
        (None, Some("1"), Endpoint::List, Encoding::PrettyJson),
        (
            Some("*/*"),
            Some("True"),
            Endpoint::List,
            Encoding::PrettyJson,
        ),
        (
            Some(KUBECTL_TABLE),
            Some("t"),
            Endpoint::List,
            Encoding::PrettyJson,
        ),
        (
            Some("application/json;pretty=1"),
            None,
            Endpoint::Object,
            Encoding::PrettyJson,
        ),
        (None, Some("false"), Endpoint::Object, Encoding::Json),
        (None, Some("yes"), Endpoint::Object, Encoding::Json),
        (None, Some(""), Endpoint::Object, Encoding::Json),
        (None, Some("true"), Endpoint::Watch, Encoding::Json),
        (
            Some("application/yaml"),
            Some("true"),
            Endpoint::Object,
            Encoding::Yaml,
        ),
    ];
    for (accept, pretty, endpoint, expected) in cases {
        check_encoding(accept, pretty, endpoint, expected);
    }
}

#[test]
fn write_bodies_are_json_or_yaml() {
    let cases = [
        (None, BodyFormat::Json),
        (Some("application/json"), BodyFormat::Json),
        (Some("application/json; charset=utf-8"), BodyFormat::Json),
        (Some("Application/YAML"), BodyFormat::Yaml),
    ];
    for (content_type, expected) in cases {
        assert_eq!(
            body_format(content_type).unwrap(),
            expected,
            "{content_type:?}"
        );
    }
    let error = body_format(Some("application/vnd.kubernetes.protobuf")).unwrap_err();
    assert_eq!(error.code(), 415);
    assert_eq!(error.to_string(), "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; this server reads request bodies in JSON or YAML (protobuf only for a Secret's create or update): set the client's ContentType to application/json");
    let error = body_format(Some("text/plain")).unwrap_err();
    assert_eq!(error.to_string(), "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml");
}

#[test]
fn patch_content_types_select_the_patch_kind() {
    let cases = [
        ("application/json-patch+json", PatchKind::Json),
        ("application/merge-patch+json", PatchKind::Merge),
        (
            "application/merge-patch+json; charset=utf-8",
            PatchKind::Merge,
        ),
        (
            "application/strategic-merge-patch+json",
            PatchKind::Strategic,
        ),
        ("application/apply-patch+yaml", PatchKind::Apply),
    ];
    for (content_type, expected) in cases {
        assert_eq!(
            patch_kind(Some(content_type)).unwrap(),
            expected,
            "{content_type}"
        );
    }
}

#[test]
fn other_patch_types_are_unsupported_media() {
    for content_type in [
        Some("application/json"),
        Some("application/apply-patch+cbor"),
        None,
    ] {
        let error = patch_kind(content_type).unwrap_err();
        assert_eq!(error.code(), 415, "{content_type:?}");
        assert_eq!(error.to_string(), "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml");
    }
}

#[test]
fn bodies_decode_from_json_and_yaml() {
    let expected = json!({"kind": "ImageStream", "metadata": {"name": "demo"}});
    let yaml = b"kind: ImageStream\nmetadata:\n  name: demo\n";
    assert_eq!(decode_body(yaml, BodyFormat::Yaml).unwrap(), expected);
    let json = expected.to_string();
    assert_eq!(
        decode_body(json.as_bytes(), BodyFormat::Json).unwrap(),
        expected
    );
    assert_eq!(
        decode_body(json.as_bytes(), BodyFormat::Yaml).unwrap(),
        expected
    );
    let error = decode_body(b"{", BodyFormat::Json).unwrap_err();
    assert!(
        error.to_string().starts_with("error decoding JSON: "),
        "{error}"
    );
    let error = decode_body(b"a: [", BodyFormat::Yaml).unwrap_err();
    assert_eq!(error.code(), 400);
    assert!(
        error.to_string().starts_with("error decoding YAML: "),
        "{error}"
    );
}

#[test]
fn a_yaml_body_is_read_as_its_first_document_as_go_yaml_reads_it() {
    let expected = json!({"kind": "ImageStream", "metadata": {"name": "demo"}});
    for body in [
        "kind: ImageStream\nmetadata:\n  name: demo\n---\n",
        "---\nkind: ImageStream\nmetadata:\n  name: demo\n---\n",
        "kind: ImageStream\nmetadata:\n  name: demo\n---\nkind: Other\n",
        // go-yaml never parses what follows the first document, so neither do we.
        "kind: ImageStream\nmetadata:\n  name: demo\n---\na: [\n",
        "kind: ImageStream\nmetadata:\n  name: demo\n...\n",
    ] {
        let decoded = decode_body(body.as_bytes(), BodyFormat::Yaml);
        assert_eq!(decoded.unwrap(), expected, "{body:?}");
    }
    for body in ["", "# only a comment\n"] {
        assert_eq!(
            decode_body(body.as_bytes(), BodyFormat::Yaml).unwrap(),
            serde_json::Value::Null,
            "{body:?}"
        );
    }
}
