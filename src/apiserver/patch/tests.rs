use super::*;
use serde_json::json;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + second).unwrap()
}

fn context(field_manager: Option<&str>, force: Option<bool>, second: i64) -> PatchContext<'_> {
    PatchContext {
        field_manager,
        user_agent: Some("kubectl/v1.37.1 (linux/amd64) kubernetes/f78e722"),
        force,
        subresource: Subresource::Main,
        now: at(second),
        object_type: &IMAGE_STREAM_TYPE,
    }
}

fn patch(
    kind: PatchKind,
    current: Option<&Value>,
    body: &Value,
    context: &PatchContext<'_>,
) -> Result<PatchOutcome, PatchError> {
    apply_patch(kind, current, body.to_string().as_bytes(), context)
}

fn stream() -> Value {
    json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
           "metadata": {"name": "demo", "namespace": "default", "resourceVersion": "7"},
           "spec": {"lookupPolicy": {"local": true}}})
}

#[test]
fn content_types_select_patch_kinds() {
    let cases = [
        ("application/json-patch+json", Ok(PatchKind::Json)),
        (
            "application/merge-patch+json; charset=utf-8",
            Ok(PatchKind::Merge),
        ),
        (
            "application/strategic-merge-patch+json",
            Ok(PatchKind::Strategic),
        ),
        ("application/apply-patch+yaml", Ok(PatchKind::Apply)),
        ("application/apply-patch+cbor", Err(415)),
        ("application/json", Err(415)),
    ];
    for (content_type, expected) in cases {
        let result = PatchKind::from_content_type(content_type).map_err(|err| err.code());
        assert_eq!(result, expected, "{content_type}");
    }
    let error = PatchKind::from_content_type("text/plain").unwrap_err();
    assert!(error
        .to_string()
        .ends_with("application/strategic-merge-patch+json, application/apply-patch+yaml"));
    assert_eq!(
        PatchKind::Apply.media_type(),
        "application/apply-patch+yaml"
    );
}

#[test]
fn patch_options_are_validated_like_apiserver() {
    let cases = [
        (PatchKind::Apply, None, None, Some("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")),
        (PatchKind::Merge, Some("kubectl-patch"), Some(false), Some("PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch")),
        (PatchKind::Apply, Some("kubectl"), Some(false), None),
        (PatchKind::Merge, None, None, None),
    ];
    for (kind, manager, force, expected) in cases {
        let result =
            validate_options(kind, &context(manager, force, 0)).map_err(|err| err.to_string());
        assert_eq!(result.err().as_deref(), expected, "{kind:?}");
    }
    let long = "m".repeat(129);
    let error = validate_options(PatchKind::Merge, &context(Some(&long), None, 0)).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("fieldManager: Too long: may not be more than 128 bytes"),
        "{error}"
    );
    let error = validate_options(PatchKind::Merge, &context(Some("a\nb"), None, 0)).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("invalid character U+000A (at position 1)"),
        "{error}"
    );
}

#[test]
fn the_manager_defaults_to_the_user_agent_product() {
    assert_eq!(context(None, None, 0).manager(), "kubectl");
    assert_eq!(context(Some(""), None, 0).manager(), "kubectl");
    assert_eq!(
        context(Some("kubectl-edit"), None, 0).manager(),
        "kubectl-edit"
    );
}

#[test]
fn non_apply_patches_of_missing_objects_are_not_found() {
    for kind in [PatchKind::Json, PatchKind::Merge, PatchKind::Strategic] {
        let result = patch(kind, None, &json!({}), &context(Some("m"), None, 0));
        assert_eq!(result.unwrap_err(), PatchError::NotFound, "{kind:?}");
    }
}

#[test]
fn every_patch_kind_records_its_manager() {
    let cases = [
        (
            PatchKind::Merge,
            json!({"spec": {"lookupPolicy": {"local": false}}}),
        ),
        (
            PatchKind::Strategic,
            json!({"spec": {"lookupPolicy": {"local": false}}}),
        ),
        (
            PatchKind::Json,
            json!([{"op": "replace", "path": "/spec/lookupPolicy/local", "value": false}]),
        ),
    ];
    for (kind, body) in cases {
        let outcome = patch(
            kind,
            Some(&stream()),
            &body,
            &context(Some("kubectl-patch"), None, 3),
        )
        .unwrap();
        assert!(!outcome.created);
        assert_eq!(outcome.object["spec"]["lookupPolicy"]["local"], false);
        let managed = &outcome.object["metadata"]["managedFields"][0];
        assert_eq!(managed["manager"], "kubectl-patch", "{kind:?}");
        assert_eq!(
            managed["fieldsV1"],
            json!({"f:spec": {"f:lookupPolicy": {"f:local": {}}}})
        );
    }
}

#[test]
fn client_side_apply_migrates_to_server_side_apply() {
    // kubectl apply (client-side) created the stream.
    let mut live = stream();
    live["metadata"]["annotations"] = json!({last_applied::LAST_APPLIED: "{}\n"});
    update_managed_fields(
        None,
        &mut live,
        "kubectl-client-side-apply",
        Subresource::Main,
        at(0),
    );

    // kubectl apply --server-side first moves the client-side entry to an Apply entry.
    let mut upgraded = live["metadata"]["managedFields"][0].clone();
    upgraded["manager"] = json!("kubectl");
    upgraded["operation"] = json!("Apply");
    let migration = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
                           {"op": "replace", "path": "/metadata/managedFields", "value": [upgraded]}]);
    let migrated = patch(
        PatchKind::Json,
        Some(&live),
        &migration,
        &context(Some("kubectl"), None, 1),
    )
    .unwrap()
    .object;
    assert_eq!(migrated["metadata"]["managedFields"], json!([upgraded]));
    let stale = migration.to_string().replace("\"7\"", "\"6\"");
    let error = apply_patch(
        PatchKind::Json,
        Some(&live),
        stale.as_bytes(),
        &context(Some("kubectl"), None, 1),
    );
    assert_eq!(error.unwrap_err().code(), 422);

    // The server-side apply then owns what client-side apply owned: no conflict, and the
    // annotation it no longer applies goes away until kubectl-last-applied restores it.
    let config = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                        "metadata": {"name": "demo", "namespace": "default"},
                        "spec": {"lookupPolicy": {"local": false}}});
    let outcome = patch(
        PatchKind::Apply,
        Some(&migrated),
        &config,
        &context(Some("kubectl"), Some(false), 2),
    )
    .unwrap();
    let object = outcome.object;
    assert_eq!(object["spec"]["lookupPolicy"]["local"], false);
    assert_eq!(object["metadata"].get("annotations"), None);
    let entries = object["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["manager"], "kubectl");
    assert_eq!(
        entries[0]["fieldsV1"],
        json!({"f:spec": {"f:lookupPolicy": {"f:local": {}}}})
    );
}

fn secret(config: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
           "metadata": {"name": "pull", "namespace": "default"},
           "data": {".dockerconfigjson": config}})
}

#[test]
fn secrets_are_applied_and_recorded_in_their_own_api_version() {
    let secret_context = |second| PatchContext {
        object_type: &SECRET_TYPE,
        ..context(Some("flux"), None, second)
    };
    let created = patch(PatchKind::Apply, None, &secret("e30="), &secret_context(0)).unwrap();
    assert!(created.created);
    let object = created.object;
    assert_eq!(
        object["metadata"]["managedFields"],
        json!([{"manager": "flux", "operation": "Apply", "apiVersion": "v1",
                "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:.dockerconfigjson": {}}, "f:type": {}}}])
    );
    let again = patch(
        PatchKind::Apply,
        Some(&object),
        &secret("e30="),
        &secret_context(9),
    );
    assert_eq!(
        again.unwrap().object,
        object,
        "a repeated apply changes nothing"
    );
    let changed = patch(
        PatchKind::Apply,
        Some(&object),
        &secret("e30K"),
        &secret_context(9),
    );
    let changed = changed.unwrap().object;
    assert_eq!(changed["data"][".dockerconfigjson"], "e30K");
    assert_eq!(
        changed["metadata"]["managedFields"][0]["time"],
        "2026-01-01T00:00:09Z"
    );

    let labelled = patch(
        PatchKind::Merge,
        Some(&changed),
        &json!({"metadata": {"labels": {"team": "a"}}}),
        &PatchContext {
            field_manager: Some("kubectl-label"),
            ..secret_context(10)
        },
    );
    let entries = labelled.unwrap().object["metadata"]["managedFields"].clone();
    assert_eq!(entries[1]["manager"], "kubectl-label");
    assert_eq!(entries[1]["apiVersion"], "v1");

    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                        "metadata": {"name": "pull"}});
    let refused = patch(
        PatchKind::Apply,
        Some(&object),
        &stream,
        &secret_context(11),
    );
    assert_eq!(
        refused.unwrap_err().to_string(),
        "Incorrect version specified in apply patch. Specified patch version: \
         image.openshift.io/v1, expected: v1"
    );
    let mut odd = secret("e30=");
    odd["colour"] = json!("blue");
    let refused = patch(PatchKind::Apply, Some(&object), &odd, &secret_context(11));
    assert_eq!(
        refused.unwrap_err().to_string(),
        "failed to create typed patch object (v1, Kind=Secret): .colour: field not declared in schema"
    );
}
