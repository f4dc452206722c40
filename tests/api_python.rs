//! The Python `kubernetes` 37 and `openshift` 0.13 DynamicClients (`.venv/bin/python`, script
//! `tests/python/dynamic_client.py`) against an in-process server over TLS.

mod support;

use serde_json::{json, Value};
use support::Server;

/// Runs one scenario of the script in its own namespace and returns what it observed.
fn scenario(name: &str, namespace: &str) -> Value {
    let stdout = Server::shared()
        .python("dynamic_client.py", &[name, namespace])
        .success();
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn typed_clients_reach_version_and_the_discovery_roots_as_their_spec_spells_them() {
    // VersionApi, CoreApi and ApisApi ask for `/version/`, `/api/` and `/apis/`.
    let seen = scenario("roots", "py-roots");
    assert_eq!(seen["major"], "1");
    assert_eq!(seen["core_versions"], json!(["v1"]));
    let groups = seen["groups"].as_array().unwrap();
    assert!(groups.contains(&json!("image.openshift.io")), "{seen}");
}

#[test]
fn dynamic_client_creates_lists_replaces_and_deletes_streams() {
    let seen = scenario("crud", "py-crud");
    assert_eq!(seen["created_generation"], 1);
    assert_eq!(seen["fetched_uid"], seen["created_uid"]);
    assert_eq!(seen["by_label"], json!(["py-a"]));
    assert!(seen["list_resource_version"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty()));
    assert_eq!(
        seen["replaced_labels"],
        json!({"app": "py", "replaced": "yes"})
    );
    assert_eq!(seen["replaced_rv_changed"], true);
    assert_eq!(seen["deleted_status"], "Success");
    assert_eq!(seen["get_after_delete"], 404);
    assert_eq!(seen["create_existing"], 409);
}

#[test]
fn dynamic_client_default_patch_is_a_strategic_merge_and_status_has_its_own_rules() {
    let seen = scenario("patches", "py-patch");
    assert_eq!(
        seen["strategic_tags"],
        json!(["v1", "v2"]),
        "spec.tags merge by name"
    );
    assert_eq!(seen["merged_labels"], json!({"m": "1"}));
    assert_eq!(seen["json_local"], true);
    assert_eq!(seen["generation"], 3);
    assert_eq!(seen["status_get_kind"], "ImageStream");
    assert_eq!(seen["status_tags_before"], json!(["v1", "v2"]));
    assert_eq!(
        seen["status_tags_after"],
        json!(["extra", "v1", "v2"]),
        "status.tags merge by tag"
    );
    assert_eq!(
        seen["spec_tags_after_status_patch"],
        json!(["v1", "v2"]),
        "a status write keeps spec.tags"
    );
}

#[test]
fn server_side_apply_creates_conflicts_and_forces() {
    let seen = scenario("apply", "py-apply");
    assert_eq!(seen["created_local"], true);
    assert_eq!(seen["created_managers"], json!(["py"]));
    assert_eq!(seen["conflict"]["status"], 409);
    let body = &seen["conflict"]["body"];
    assert_eq!(body["reason"], "Conflict");
    assert_eq!(body["code"], 409);
    assert_eq!(
        body["details"]["causes"][0],
        json!({"reason": "FieldManagerConflict", "message": "conflict with \"py\"",
               "field": ".spec.lookupPolicy.local"})
    );
    assert_eq!(seen["forced_local"], false);
    assert_eq!(seen["forced_managers"], json!(["rival"]));
}

#[test]
fn dynamic_client_watches_from_a_resource_version_and_from_now() {
    let seen = scenario("watch", "py-watch");
    assert_eq!(
        seen["since_create"],
        json!([
            ["MODIFIED", "py-w1"],
            ["ADDED", "py-w2"],
            ["DELETED", "py-w2"]
        ])
    );
    assert_eq!(seen["from_now"], json!([["ADDED", "py-w1"]]));
}

#[test]
fn openshift_client_applies_client_side_and_lists() {
    let seen = scenario("openshift", "py-openshift");
    assert_eq!(
        seen["applied_annotations"],
        json!(["kubectl.kubernetes.io/last-applied-configuration"])
    );
    assert_eq!(seen["reapplied_tags"], json!(["v1", "v2"]));
    assert_eq!(seen["listed"], json!(["py-oc"]));
}
