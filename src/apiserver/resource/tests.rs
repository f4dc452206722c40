use super::*;
use serde_json::json;

#[test]
fn kinds_are_found_by_group_version_and_resource() {
    assert_eq!(
        Kind::from_path("image.openshift.io", "v1", "imagestreams"),
        Some(Kind::ImageStream)
    );
    assert_eq!(Kind::from_path("", "v1", "secrets"), Some(Kind::Secret));
    assert_eq!(
        Kind::from_path("image.openshift.io", "v2", "imagestreams"),
        None
    );
    assert_eq!(Kind::from_path("", "v1", "configmaps"), None);
    assert!(!Kind::Image.namespaced());
    assert_eq!(
        Kind::ImageStream.subresource_verbs("layers"),
        Some(&["get"][..])
    );
    assert_eq!(Kind::Secret.subresource_verbs("status"), None);
}

/// `present` and `present_stream` write exactly the bytes of the tree clients got before
/// streams stayed typed: decorated, turned into a tree, type meta set on the tree.
fn check_presented_alike(stored: Value) {
    let config = strategy::Config {
        internal_registry_hostname: "registry.local:5000".into(),
        ..strategy::Config::default()
    };
    let mut decorated = ImageStream::deserialize(&stored).unwrap();
    strategy::decorate(&mut decorated, &config);
    let tree = with_type_meta(Kind::ImageStream, serde_json::to_value(&decorated).unwrap());
    let expected = serde_json::to_string(&tree).unwrap();
    let presented = Kind::ImageStream.present(&stored, &config);
    assert!(matches!(presented, Presented::Stream(_)));
    assert_eq!(
        String::from_utf8(presented.to_json().unwrap()).unwrap(),
        expected
    );
    let stream = ImageStream::deserialize(&stored).unwrap();
    let bytes = Kind::ImageStream.present_stream(stream, &config).unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
}

#[test]
fn a_stream_that_does_not_decode_is_presented_as_stored() {
    let stored = json!({"metadata": {"name": 7}, "spec": {}});
    let presented = Kind::ImageStream.present(&stored, &strategy::Config::default());
    assert_eq!(
        presented,
        Presented::Tree(json!({"metadata": {"name": 7}, "spec": {},
            "apiVersion": "image.openshift.io/v1", "kind": "ImageStream"}))
    );
}

#[test]
fn a_decoded_stream_is_presented_as_its_stored_tree_is() {
    check_presented_alike(json!({"metadata": {"name": "s", "namespace": "ns"}}));
    check_presented_alike(json!({
        "kind": "Other", "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "7",
            "managedFields": [{"manager": "m", "operation": "Update", "apiVersion": "image.openshift.io/v1",
                "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
        "spec": {"lookupPolicy": {"local": true}, "tags": [{"name": "latest",
            "from": {"kind": "DockerImage", "name": "quay.io/o/x:1"}}]},
        "status": {"dockerImageRepository": "stale"}
    }));
}

/// A typed pass writes the bytes a full decode and encode would, managedFields included.
fn check_typed_pass(object: Value) {
    let full: ImageStream = decode(&object).unwrap();
    let expected = serde_json::to_string(&full).unwrap();
    let mut passed = object;
    with_stream(&mut passed, |_| Ok(())).unwrap();
    assert_eq!(serde_json::to_string(&passed).unwrap(), expected);
}

fn with_managed_fields(entries: Value) -> Value {
    json!({"metadata": {"name": "s", "labels": {"a": "b"}, "managedFields": entries, "namespace": "ns"},
           "spec": {"tags": [{"name": "t", "from": {"kind": "DockerImage", "name": "x:1"}}]}})
}

#[test]
fn managed_fields_come_out_of_a_typed_pass_as_a_full_decode_writes_them() {
    let canonical = json!({"apiVersion": "image.openshift.io/v1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:tags": {}}}, "manager": "m", "operation": "Update",
        "time": "2026-01-02T03:04:05Z"});
    check_typed_pass(with_managed_fields(json!([canonical])));
    check_typed_pass(with_managed_fields(json!([])));
    check_typed_pass(with_managed_fields(
        json!([{"manager": "m", "apiVersion": "v1",
        "time": "2026-01-02T04:04:05+01:00", "extra": 1, "subresource": null}]),
    ));
    check_typed_pass(json!({"metadata": {"name": "s"}}));
}

#[test]
fn a_type_error_names_the_field_it_is_in() {
    let check = |object: Value, expected: &str| {
        let error = decode::<ImageStream>(&object).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    };
    check(
        json!({"metadata": {"name": "s"}, "spec": {"lookupPolicy": {"local": "yes"}}}),
        "the object does not decode: spec.lookupPolicy.local: invalid type: string \"yes\", expected a boolean",
    );
    check(
        json!({"metadata": {"name": "s"}, "spec": {"tags": [{"name": "a", "annotations": {"team": false}}]}}),
        "spec.tags[0].annotations.team: invalid type: boolean `false`, expected a string",
    );
}

#[test]
fn a_null_member_decodes_as_its_fields_zero_value_as_go_reads_it() {
    let condition = json!({"type": "ImportSuccess", "status": "False",
                           "lastTransitionTime": "2026-01-01T00:00:00Z"});
    // (with null members, the same stream with those members left out)
    let cases = [
        (json!({"spec": null}), json!({})),
        (
            json!({"spec": {"tags": null, "lookupPolicy": null, "dockerImageRepository": null}}),
            json!({"spec": {}}),
        ),
        (
            json!({"spec": {"tags": [{"name": "a", "from": null, "importPolicy": null,
                                       "referencePolicy": null, "annotations": null}]}}),
            json!({"spec": {"tags": [{"name": "a"}]}}),
        ),
        // What OpenShift writes for a tag whose only import failed.
        (
            json!({"status": {"dockerImageRepository": "",
                "tags": [{"tag": "a", "items": null, "conditions": [condition]}]}}),
            json!({"status": {"dockerImageRepository": "",
                "tags": [{"tag": "a", "conditions": [condition]}]}}),
        ),
        (json!({"status": {"tags": null}}), json!({"status": {}})),
    ];
    for (mut with_nulls, mut without) in cases {
        with_nulls["metadata"] = json!({"name": "s", "labels": null});
        without["metadata"] = json!({"name": "s"});
        let decoded = decode::<ImageStream>(&with_nulls);
        let decoded = decoded.unwrap_or_else(|e| panic!("{with_nulls}: {e}"));
        assert_eq!(
            decoded,
            decode::<ImageStream>(&without).unwrap(),
            "{with_nulls}"
        );
    }
}

#[test]
fn beside_null_members_a_type_error_is_still_named() {
    let object = json!({"metadata": {"name": "s"},
        "spec": {"tags": null, "lookupPolicy": {"local": "yes"}}});
    let error = decode::<ImageStream>(&object).unwrap_err().to_string();
    assert!(
        error.contains("spec.lookupPolicy.local: invalid type: string \"yes\""),
        "{error}"
    );
}

#[test]
fn a_stream_with_an_array_where_an_object_belongs_is_refused() {
    let mut object = json!({"metadata": {"name": "s"}, "spec": [{"local": true}]});
    let error = with_stream(&mut object, |_| Ok(())).unwrap_err();
    assert_eq!(error.code(), 400);
    assert_eq!(
        error.to_string(),
        "ImageStream in version \"v1\" cannot be handled as a ImageStream: json: cannot \
         unmarshal array into Go struct field ImageStream.spec of type v1.ImageStreamSpec"
    );
}

#[test]
fn an_array_where_a_map_belongs_is_refused_with_the_maps_go_type() {
    let cases = [
        (
            Kind::Secret,
            json!({"metadata": {"name": "s"}, "data": [["a"]]}),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal \
             array into Go struct field Secret.data of type map[string][]uint8",
        ),
        (
            Kind::Secret,
            json!({"metadata": ["s"]}),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal \
             array into Go struct field Secret.metadata of type v1.ObjectMeta",
        ),
        (
            Kind::ImageStream,
            json!({"metadata": {"name": "s", "labels": ["a"]}}),
            "ImageStream in version \"v1\" cannot be handled as a ImageStream: json: cannot \
             unmarshal array into Go struct field ObjectMeta.metadata.labels of type \
             map[string]string",
        ),
    ];
    for (kind, object, expected) in cases {
        let error = check_shape(kind, &object).unwrap_err();
        assert_eq!((error.code(), error.to_string().as_str()), (400, expected));
    }
    let fine = json!({"metadata": {"name": "s"}, "data": {"a": "YQ=="}});
    assert!(check_shape(Kind::Secret, &fine).is_ok());
    assert!(
        check_shape(Kind::Image, &json!([1])).is_ok(),
        "Images keep no schema"
    );
}

#[test]
fn a_body_of_another_version_or_kind_is_refused_and_an_absent_one_is_the_urls() {
    let check =
        |object: Value| check_api_version_and_kind(&object, "image.openshift.io/v1", "ImageStream");
    assert!(check(json!({})).is_ok());
    assert!(check(json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream"})).is_ok());
    for (object, shown) in [
        (json!({"apiVersion": "v1"}), "(v1) and kind (ImageStream)"),
        (
            json!({"kind": "ConfigMap"}),
            "(image.openshift.io/v1) and kind (ConfigMap)",
        ),
        (json!({"apiVersion": ""}), "() and kind (ImageStream)"),
    ] {
        let error = check(object).unwrap_err();
        assert_eq!(error.code(), 400);
        assert_eq!(
            error.to_string(),
            format!("the API version in the data {shown} do not match the URL (image.openshift.io/v1, ImageStream)")
        );
    }
}
