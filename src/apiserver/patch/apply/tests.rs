use super::*;
use crate::apiserver::patch::last_applied::LAST_APPLIED;
use crate::apiserver::patch::managed_fields::update_managed_fields;
use crate::apiserver::patch::schema::IMAGE_STREAM_TYPE;
use crate::apiserver::patch::ConflictCause;
use serde_json::json;

const CSA: &str = "kubectl-client-side-apply";

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + second).unwrap()
}

fn request(manager: &str, force: bool, second: i64) -> ApplyRequest<'_> {
    ApplyRequest {
        manager,
        force,
        subresource: Subresource::Main,
        now: at(second),
        object_type: &IMAGE_STREAM_TYPE,
    }
}

fn config(spec: Value) -> Value {
    json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
           "metadata": {"name": "demo", "namespace": "default"}, "spec": spec})
}

fn tag(name: &str, image: &str) -> Value {
    json!({"name": name, "from": {"kind": "DockerImage", "name": image}})
}

fn apply(
    live: Option<&Value>,
    body: &Value,
    request: &ApplyRequest<'_>,
) -> Result<PatchOutcome, PatchError> {
    server_side_apply(live, body.to_string().as_bytes(), request)
}

fn applied(live: Option<&Value>, body: &Value, manager: &str, second: i64) -> Value {
    apply(live, body, &request(manager, false, second))
        .unwrap()
        .object
}

fn entry<'v>(object: &'v Value, manager: &str, operation: &str) -> Option<&'v Value> {
    let entries = object["metadata"]["managedFields"].as_array()?;
    entries
        .iter()
        .find(|entry| entry["manager"] == manager && entry["operation"] == operation)
}

fn tag_names(object: &Value) -> Vec<&str> {
    let tags = object["spec"]["tags"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    tags.iter().filter_map(|tag| tag["name"].as_str()).collect()
}

/// A stream created by client-side apply, which owns `spec.lookupPolicy.local`.
fn created_by_client_side_apply() -> Value {
    let mut object =
        config(json!({"lookupPolicy": {"local": true}, "tags": [tag("latest", "nginx:1")]}));
    update_managed_fields(None, &mut object, CSA, Subresource::Main, at(0));
    object
}

#[test]
fn apply_creates_a_missing_object_and_records_exact_ownership() {
    let outcome = apply(
        None,
        &config(json!({"tags": [tag("latest", "nginx:1")]})),
        &request("kubectl", false, 0),
    )
    .unwrap();
    assert!(outcome.created);
    assert_eq!(tag_names(&outcome.object), ["latest"]);
    assert_eq!(
        outcome.object["metadata"]["managedFields"],
        json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "image.openshift.io/v1",
                "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:tags": {"k:{\"name\":\"latest\"}": {".": {}, "f:from": {}, "f:name": {}}}}}}])
    );
}

#[test]
fn a_differing_value_owned_by_another_manager_conflicts() {
    let live = created_by_client_side_apply();
    let body = config(json!({"lookupPolicy": {"local": false}}));
    let error = apply(Some(&live), &body, &request("kubectl", false, 1)).unwrap_err();
    let owner = "\"kubectl-client-side-apply\" using image.openshift.io/v1";
    assert_eq!(
        error,
        PatchError::Conflict {
            message: format!(
                "Apply failed with 1 conflict: conflict with {owner}: .spec.lookupPolicy.local"
            ),
            causes: vec![ConflictCause {
                message: format!("conflict with {owner}"),
                field: ".spec.lookupPolicy.local".into()
            }],
        }
    );
    assert_eq!(error.code(), 409);
}

#[test]
fn force_takes_ownership_from_the_other_manager() {
    let live = created_by_client_side_apply();
    let body = config(json!({"lookupPolicy": {"local": false}}));
    let object = apply(Some(&live), &body, &request("kubectl", true, 1))
        .unwrap()
        .object;
    assert_eq!(object["spec"]["lookupPolicy"]["local"], false);
    let csa = entry(&object, CSA, "Update").unwrap();
    assert_eq!(csa["fieldsV1"]["f:spec"].get("f:lookupPolicy"), None);
    let kubectl = entry(&object, "kubectl", "Apply").unwrap();
    assert_eq!(
        kubectl["fieldsV1"],
        json!({"f:spec": {"f:lookupPolicy": {"f:local": {}}}})
    );
}

#[test]
fn applying_an_equal_value_shares_ownership_without_conflict() {
    let live = created_by_client_side_apply();
    let object = applied(
        Some(&live),
        &config(json!({"lookupPolicy": {"local": true}})),
        "kubectl",
        1,
    );
    let csa = entry(&object, CSA, "Update").unwrap();
    assert_eq!(
        csa["fieldsV1"]["f:spec"]["f:lookupPolicy"],
        json!({"f:local": {}})
    );
    assert!(entry(&object, "kubectl", "Apply").is_some());
    assert_eq!(
        entry(&object, "kubectl", "Apply").unwrap()["time"],
        "2026-01-01T00:00:01Z"
    );
}

#[test]
fn fields_the_applier_stops_applying_are_removed() {
    let first = applied(
        None,
        &config(json!({"tags": [tag("a", "x:1"), tag("b", "x:2")],
                                              "dockerImageRepository": "r"})),
        "kubectl",
        0,
    );
    let second = applied(
        Some(&first),
        &config(json!({"tags": [tag("a", "x:1")]})),
        "kubectl",
        1,
    );
    assert_eq!(tag_names(&second), ["a"]);
    assert_eq!(second["spec"].get("dockerImageRepository"), None);
    let fields = &entry(&second, "kubectl", "Apply").unwrap()["fieldsV1"];
    assert_eq!(
        fields,
        &json!({"f:spec": {"f:tags": {"k:{\"name\":\"a\"}": {".": {}, "f:from": {}, "f:name": {}}}}})
    );
}

#[test]
fn fields_another_manager_also_applies_are_kept() {
    let first = applied(
        None,
        &config(json!({"tags": [tag("a", "x:1"), tag("b", "x:2")]})),
        "kubectl",
        0,
    );
    let shared = applied(
        Some(&first),
        &config(json!({"tags": [tag("b", "x:2")]})),
        "argocd",
        1,
    );
    let dropped = applied(
        Some(&shared),
        &config(json!({"tags": [tag("a", "x:1")]})),
        "kubectl",
        2,
    );
    assert_eq!(tag_names(&dropped), ["a", "b"]);
}

#[test]
fn kubectl_last_applied_apply_does_not_remove_kubectl_fields() {
    let first = applied(
        None,
        &config(json!({"lookupPolicy": {"local": true}, "tags": [tag("a", "x:1")]})),
        "kubectl",
        0,
    );
    let annotation = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "demo", "namespace": "default",
                     "annotations": {LAST_APPLIED: "{\"spec\":{}}\n"}}});
    let second = applied(Some(&first), &annotation, "kubectl-last-applied", 1);
    assert_eq!(tag_names(&second), ["a"]);
    assert_eq!(second["spec"]["lookupPolicy"]["local"], true);
    assert_eq!(
        second["metadata"]["annotations"][LAST_APPLIED],
        "{\"spec\":{}}\n"
    );
    assert!(entry(&second, "kubectl", "Apply").is_some());
    assert!(entry(&second, "kubectl-last-applied", "Apply").is_some());
}

#[test]
fn a_repeated_apply_changes_nothing() {
    let body = config(json!({"lookupPolicy": {"local": true}, "tags": [tag("a", "x:1")]}));
    let first = applied(None, &body, "kubectl", 0);
    let second = applied(Some(&first), &body, "kubectl", 60);
    assert_eq!(second, first);
}

#[test]
fn status_applies_touch_and_own_only_status() {
    let live = created_by_client_side_apply();
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                      "metadata": {"name": "demo", "labels": {"x": "y"}},
                      "spec": {"lookupPolicy": {"local": false}},
                      "status": {"dockerImageRepository": "registry/default/demo"}});
    let status_request = ApplyRequest {
        subresource: Subresource::Status,
        ..request("importer", false, 1)
    };
    let object = apply(Some(&live), &body, &status_request).unwrap().object;
    assert_eq!(object["spec"]["lookupPolicy"]["local"], true);
    assert_eq!(object["metadata"].get("labels"), None);
    assert_eq!(
        object["status"]["dockerImageRepository"],
        "registry/default/demo"
    );
    let importer = entry(&object, "importer", "Apply").unwrap();
    assert_eq!(importer["subresource"], "status");
    assert_eq!(
        importer["fieldsV1"],
        json!({"f:status": {"f:dockerImageRepository": {}}})
    );
    let missing = apply(None, &body, &status_request).unwrap_err();
    assert_eq!(missing, PatchError::NotFound);
}

#[test]
fn main_resource_applies_ignore_status() {
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {"name": "demo"},
                      "status": {"dockerImageRepository": "nope"}});
    let object = applied(None, &body, "kubectl", 0);
    assert_eq!(object.get("status"), None);
    assert_eq!(object["metadata"].get("managedFields"), None);
}

#[test]
fn yaml_configurations_are_accepted() {
    let yaml = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: demo\nspec:\n  lookupPolicy:\n    local: true\n";
    let outcome = server_side_apply(None, yaml.as_bytes(), &request("kube-rs", false, 0)).unwrap();
    assert_eq!(outcome.object["spec"]["lookupPolicy"]["local"], true);
}

#[test]
fn malformed_configurations_are_bad_requests() {
    let with_managed = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                              "metadata": {"name": "demo", "managedFields": []}});
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (with_managed.to_string().into_bytes(), "metadata.managedFields must be nil"),
        (b"{a: [".to_vec(), "error decoding YAML: "),
        (b"[1, 2]".to_vec(), "error decoding YAML: the apply configuration must be an object"),
        (br#"{"apiVersion": "v1", "kind": "ImageStream"}"#.to_vec(),
         "Incorrect version specified in apply patch. Specified patch version: v1, expected: image.openshift.io/v1"),
        (br#"{"apiVersion": "image.openshift.io/v1", "kind": "Image"}"#.to_vec(),
         "no corresponding type for image.openshift.io/v1, Kind=Image"),
        (config(json!({"tags": [{"name": "a", "fooBar": 1}]})).to_string().into_bytes(),
         "failed to create typed patch object (image.openshift.io/v1, Kind=ImageStream): .spec.tags[0].fooBar: field not declared in schema"),
        (config(json!({"tags": [{"name": "a", "fooBar": 1}, {"name": "b", "from": []}]})).to_string().into_bytes(),
         "failed to create typed patch object (image.openshift.io/v1, Kind=ImageStream): .spec.tags[1].from: expected map, got array"),
        (config(json!([{"local": true}])).to_string().into_bytes(),
         "failed to create typed patch object (image.openshift.io/v1, Kind=ImageStream): .spec: expected map, got array"),
    ];
    for (body, message) in cases {
        let error = server_side_apply(None, &body, &request("kubectl", false, 0)).unwrap_err();
        assert_eq!(error.code(), 400, "{message}");
        assert!(
            error.to_string().starts_with(message),
            "{error} vs {message}"
        );
    }
}

#[test]
fn an_apply_with_two_tags_of_one_name_is_refused_naming_the_key() {
    let body = config(json!({"tags": [tag("v1", "quay.io/a/b:1"), tag("v1", "quay.io/a/b:2")]}));
    let expected =
        "failed to create typed patch object (image.openshift.io/v1, Kind=ImageStream): \
                    .spec.tags: duplicate entries for key [name=\"v1\"]";
    for live in [None, Some(created_by_client_side_apply())] {
        let error = apply(live.as_ref(), &body, &request("kubectl", true, 1)).unwrap_err();
        assert_eq!(error, PatchError::bad_request(expected), "{live:?}");
    }
}

#[test]
fn a_wrongly_typed_field_is_a_type_error_even_where_another_manager_owns_it() {
    let live = created_by_client_side_apply();
    let body = config(json!({"lookupPolicy": {"local": "yes"}}));
    let expected =
        "failed to create typed patch object (image.openshift.io/v1, Kind=ImageStream): \
                    .spec.lookupPolicy.local: invalid type: string \"yes\", expected a boolean";
    for live in [None, Some(&live)] {
        let error = apply(live, &body, &request("kubectl", false, 1)).unwrap_err();
        assert_eq!(error, PatchError::bad_request(expected), "{live:?}");
    }
}

/// A stream `kubectl apply` (client-side) created from `spec` and `labels`: it owns what it
/// set and records the configuration in the last-applied annotation.
fn client_side_applied(spec: Value, labels: Value) -> Value {
    let mut last = config(spec);
    last["metadata"]["labels"] = labels;
    let mut object = last.clone();
    object["metadata"]["annotations"] = json!({LAST_APPLIED: last.to_string()});
    update_managed_fields(None, &mut object, CSA, Subresource::Main, at(0));
    object
}

#[test]
fn kubectl_takes_over_client_side_applied_values_without_conflict() {
    let live = client_side_applied(
        json!({"lookupPolicy": {"local": true}}),
        json!({"team": "a"}),
    );
    let mut body = config(json!({"lookupPolicy": {"local": false}}));
    body["metadata"]["labels"] = json!({"team": "b"});
    let object = apply(Some(&live), &body, &request("kubectl", false, 1))
        .unwrap()
        .object;
    assert_eq!(object["spec"]["lookupPolicy"]["local"], false);
    assert_eq!(object["metadata"]["labels"]["team"], "b");
    let csa = entry(&object, CSA, "Update").unwrap();
    assert_eq!(csa["fieldsV1"].get("f:spec"), None, "{csa}");
    assert_eq!(
        csa["fieldsV1"]["f:metadata"]["f:labels"].get("f:team"),
        None,
        "{csa}"
    );
    let kubectl = entry(&object, "kubectl", "Apply").unwrap();
    assert_eq!(
        kubectl["fieldsV1"]["f:spec"],
        json!({"f:lookupPolicy": {"f:local": {}}})
    );
}

#[test]
fn only_conflicts_outside_the_last_applied_values_are_reported_to_kubectl() {
    let mut live = client_side_applied(
        json!({"lookupPolicy": {"local": true}}),
        json!({"team": "a"}),
    );
    // Set since by client-side apply's manager, but not in its annotation: a real conflict.
    live["metadata"]["labels"]["team"] = json!("c");
    let mut body = config(json!({"lookupPolicy": {"local": false}}));
    body["metadata"]["labels"] = json!({"team": "b"});
    let error = apply(Some(&live), &body, &request("kubectl", false, 1)).unwrap_err();
    let PatchError::Conflict { causes, .. } = &error else {
        panic!("expected a conflict, got {error:?}");
    };
    let fields: Vec<&str> = causes.iter().map(|cause| cause.field.as_str()).collect();
    assert_eq!(fields, [".metadata.labels.team"]);
}

#[test]
fn other_managers_still_conflict_with_client_side_applied_values() {
    let live = client_side_applied(
        json!({"lookupPolicy": {"local": true}}),
        json!({"team": "a"}),
    );
    let body = config(json!({"lookupPolicy": {"local": false}}));
    for manager in ["flux", "kubectl-client-side-apply", "Kubectl"] {
        let error = apply(Some(&live), &body, &request(manager, false, 1)).unwrap_err();
        assert_eq!(error.code(), 409, "{manager}");
    }
}

/// One write of a sequence: an apply of labels (null: none) by a manager, or a
/// `kubectl label` update.
enum Step {
    Apply(&'static str, Value),
    Label(Value),
}

/// Runs `steps` over a stream created by flux, storing each result as the server does
/// (empty labels dropped), and returns the labels each write left.
fn check_labels(steps: &[Step], expected: &[Value]) {
    let mut live = applied(None, &config(json!({})), "flux", 0);
    for (second, (step, expected)) in (1..).zip(steps.iter().zip(expected)) {
        let mut next = match step {
            Step::Apply(manager, labels) => {
                let mut body = config(json!({}));
                if !labels.is_null() {
                    body["metadata"]["labels"] = labels.clone();
                }
                let result = apply(Some(&live), &body, &request(manager, false, second));
                result
                    .unwrap_or_else(|e| panic!("step {second}: {e}"))
                    .object
            }
            Step::Label(labels) => {
                let mut next = live.clone();
                next["metadata"]["labels"] = labels.clone();
                update_managed_fields(
                    Some(&live),
                    &mut next,
                    "kubectl-label",
                    Subresource::Main,
                    at(second),
                );
                next
            }
        };
        super::super::managed_fields::drop_empty_metadata_maps(&mut next);
        assert_eq!(next["metadata"]["labels"], *expected, "step {second}");
        live = next;
    }
}

#[test]
fn an_emptied_label_map_does_not_conflict_with_the_next_apply() {
    let app = || json!({"app": "web"});
    // Applied, applied away, then applied by another manager and by the first again.
    check_labels(
        &[
            Step::Apply("flux", app()),
            Step::Apply("flux", Value::Null),
            Step::Apply("rival", json!({"team": "a"})),
            Step::Apply("flux", app()),
        ],
        &[
            app(),
            Value::Null,
            json!({"team": "a"}),
            json!({"team": "a", "app": "web"}),
        ],
    );
    // `kubectl label` added and removed the last label: its entry goes with it.
    check_labels(
        &[
            Step::Label(json!({"hotfix": "true"})),
            Step::Label(json!({})),
            Step::Apply("flux", app()),
        ],
        &[json!({"hotfix": "true"}), Value::Null, app()],
    );
    // An applied empty map is owned, and still does not conflict with a label.
    check_labels(
        &[Step::Apply("helm", json!({})), Step::Apply("rival", app())],
        &[Value::Null, app()],
    );
    check_labels(
        &[
            Step::Apply("flux", app()),
            Step::Apply("flux", json!({})),
            Step::Apply("rival", json!({"team": "a"})),
        ],
        &[app(), Value::Null, json!({"team": "a"})],
    );
}

#[test]
fn removing_the_last_label_by_update_removes_the_manager_that_owned_only_it() {
    let live = applied(None, &config(json!({})), "flux", 0);
    let mut labelled = live.clone();
    labelled["metadata"]["labels"] = json!({"hotfix": "true"});
    update_managed_fields(
        Some(&live),
        &mut labelled,
        "kubectl-label",
        Subresource::Main,
        at(1),
    );
    let owned = &entry(&labelled, "kubectl-label", "Update").unwrap()["fieldsV1"];
    assert_eq!(
        owned,
        &json!({"f:metadata": {"f:labels": {".": {}, "f:hotfix": {}}}})
    );
    let mut unlabelled = labelled.clone();
    unlabelled["metadata"]["labels"] = json!({});
    update_managed_fields(
        Some(&labelled),
        &mut unlabelled,
        "kubectl-label",
        Subresource::Main,
        at(2),
    );
    assert_eq!(entry(&unlabelled, "kubectl-label", "Update"), None);
}
