//! The mutating admission webhook end to end: a whole `imagelookup serve` on 127.0.0.1 over
//! TLS (clients trust only its generated CA), streams written through the ImageStream API and
//! "imported" through `/status`, then AdmissionReviews sent to `/mutate`. Every returned patch
//! is applied to the submitted object and the result compared with the expected object.

mod common;
mod webhook_support;

#[path = "webhook/http.rs"]
mod http;
#[path = "webhook/live.rs"]
mod live;
#[path = "webhook/rules.rs"]
mod rules;

use serde_json::{json, Value};
use webhook_support::{
    admit, custom_resources_server, default_server, patch_of, patched, pod, pod_spec,
    required_server, tag, trusting, with, Api, Review, Server, Target, BUILD, CRONJOB, D1, D2, D3,
    DEPLOYMENT, EPHEMERAL, JOB, POD, REGISTRY, STATEFULSET,
};

const MYSQL_8: &str =
    "quay.io/example/mysql@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const MYSQL_LATEST: &str =
    "quay.io/example/mysql@sha256:3333333333333333333333333333333333333333333333333333333333333333";
const RUBY_3: &str =
    "quay.io/example/ruby@sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// `mysql:5.7` has a Local reference policy: it pins to the integrated registry.
fn mysql_57(namespace: &str) -> String {
    format!("{REGISTRY}/{namespace}/mysql@{D2}")
}

/// Streams in `namespace`, imported: `mysql` (lookup on; tags `8` Source, `5.7` Local,
/// `latest` Source) and `ruby` (lookup off; tag `3`).
async fn seed<'a>(server: &'a Server, namespace: &str) -> Api<'a> {
    let api = Api::new(server, namespace);
    let mysql_tags = json!([
        tag("8", "quay.io/example/mysql:8", "Source"),
        tag("5.7", "quay.io/example/mysql:5.7", "Local"),
        tag("latest", "quay.io/example/mysql:latest", "Source"),
    ]);
    api.create_stream("mysql", true, mysql_tags).await;
    let imported = api
        .import(
            "mysql",
            &[
                ("8", MYSQL_8, D1),
                ("5.7", &format!("quay.io/example/mysql@{D2}"), D2),
                ("latest", MYSQL_LATEST, D3),
            ],
        )
        .await;
    assert_eq!(
        imported["status"]["dockerImageRepository"],
        format!("{REGISTRY}/{namespace}/mysql")
    );
    let ruby_tags = json!([tag("3", "quay.io/example/ruby:3", "Source")]);
    api.create_stream("ruby", false, ruby_tags).await;
    api.import("ruby", &[("3", RUBY_3, D3)]).await;
    api
}

/// Admits `review` on `server`, checks it is allowed, and compares the patched object with
/// `expected`; returns the response.
async fn check(server: &Server, review: &Review, expected: &Value) -> Value {
    let response = admit(server, review).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(&patched(&review.object, &response), expected, "{response}");
    response
}

fn deployment(name: &str, template_metadata: Value, containers: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": template_metadata, "spec": pod_spec(containers)}}})
}

fn job(name: &str, image: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"template": {"spec": {"containers": [{"name": "work", "image": image}],
                                          "restartPolicy": "Never"}}}})
}

/// The rewrites listed in the response's `rewrites` audit annotation.
fn audit_rewrites(response: &Value) -> Vec<Value> {
    let text = response["auditAnnotations"]["rewrites"]
        .as_str()
        .unwrap_or_else(|| panic!("a rewrites audit annotation: {response}"));
    serde_json::from_str(text).expect("the audit annotation is JSON")
}

#[tokio::test]
async fn a_pod_gets_short_names_pinned_through_source_and_local_reference_policies() {
    let server = default_server();
    seed(server, "pods").await;
    let object = pod(
        "db",
        &[("a", "mysql:8"), ("b", "mysql:5.7"), ("c", "mysql")],
    );
    let mut expected = with(&object, "/spec/containers/0/image", MYSQL_8);
    expected = with(&expected, "/spec/containers/1/image", &mysql_57("pods"));
    expected = with(&expected, "/spec/containers/2/image", MYSQL_LATEST);
    let response = check(server, &Review::create(POD, "pods", object), &expected).await;
    assert!(response.get("warnings").is_none(), "{response}");
    assert!(response.get("status").is_none(), "{response}");
}

#[tokio::test]
async fn init_containers_of_a_statefulset_template_are_pinned_too() {
    let server = default_server();
    seed(server, "statefulsets").await;
    let object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"initContainers": [{"name": "init", "image": "mysql:5.7"}],
                                       "containers": [{"name": "db", "image": "mysql:8"}]}}}});
    let expected = with(
        &with(
            &object,
            "/spec/template/spec/initContainers/0/image",
            &mysql_57("statefulsets"),
        ),
        "/spec/template/spec/containers/0/image",
        MYSQL_8,
    );
    check(
        server,
        &Review::create(STATEFULSET, "statefulsets", object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_deployment_template_is_pinned_and_unknown_fields_survive() {
    let server = default_server();
    seed(server, "deployments").await;
    let mut object = deployment(
        "web",
        json!({"labels": {"app": "web"}}),
        &[("db", "mysql:8")],
    );
    object["spec"]["template"]["spec"]["containers"][0]["x-vendor"] = json!({"keep": [1, 2]});
    let expected = with(&object, "/spec/template/spec/containers/0/image", MYSQL_8);
    check(
        server,
        &Review::create(DEPLOYMENT, "deployments", object),
        &expected,
    )
    .await;
}

/// An OpenShift Deployment with `image.openshift.io/triggers` (as `oc set triggers` writes
/// them) and the blank images its template leaves: each field gets its tag's newest image, with
/// the tag's reference policy, whether or not the stream has lookup on.
#[tokio::test]
async fn image_triggers_fill_a_deployment_s_containers_from_their_tags() {
    let server = default_server();
    seed(server, "triggers").await;
    let mut object = deployment("web", json!({}), &[("web", " ")]);
    object["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "migrate"}]);
    let triggers = json!([
        {"from": {"kind": "ImageStreamTag", "name": "ruby:3"},
         "fieldPath": "spec.template.spec.containers[?(@.name==\"web\")].image"},
        {"from": {"kind": "ImageStreamTag", "name": "mysql:5.7", "namespace": "triggers"},
         "fieldPath": "spec.template.spec.initContainers[0].image"},
    ]);
    object["metadata"]["annotations"] =
        json!({"image.openshift.io/triggers": triggers.to_string()});
    let mut expected = with(&object, "/spec/template/spec/containers/0/image", RUBY_3);
    expected["spec"]["template"]["spec"]["initContainers"][0]["image"] =
        json!(mysql_57("triggers"));
    let review = Review::create(DEPLOYMENT, "triggers", object);
    let response = check(server, &review, &expected).await;
    assert!(response.get("warnings").is_none(), "{response}");
    let rewrites = audit_rewrites(&response);
    let reasons: Vec<&str> = rewrites
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert_eq!(reasons.len(), 2, "{rewrites:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("the image.openshift.io/triggers annotation fills ")),
        "{reasons:?}"
    );
}

/// A trigger from a `reference: true` tag (`oc tag --reference`) writes the pull spec its newest
/// event references, as OpenShift's trigger controller does: such a tag has no image id.
#[tokio::test]
async fn an_image_trigger_from_a_reference_tag_writes_the_pull_spec_it_references() {
    let server = default_server();
    let api = Api::new(server, "reftriggers");
    let mut referenced = tag("1", "quay.io/example/tool:1", "Source");
    referenced["reference"] = json!(true);
    api.create_stream("tool", false, json!([referenced])).await;
    let object = deployment("tool", json!({}), &[("tool", " ")]);
    let mut object = object;
    let triggers = json!([{"from": {"kind": "ImageStreamTag", "name": "tool:1"},
                           "fieldPath": "spec.template.spec.containers[0].image"}]);
    object["metadata"]["annotations"] =
        json!({"image.openshift.io/triggers": triggers.to_string()});
    let expected = with(
        &object,
        "/spec/template/spec/containers/0/image",
        "quay.io/example/tool:1",
    );
    let review = Review::create(DEPLOYMENT, "reftriggers", object);
    let response = check(server, &review, &expected).await;
    assert!(response.get("warnings").is_none(), "{response}");
}

#[tokio::test]
async fn a_cronjob_job_template_is_pinned() {
    let server = default_server();
    seed(server, "cronjobs").await;
    let object = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "dump", "image": "mysql:5.7"}], "restartPolicy": "OnFailure"}}}}}});
    let pointer = "/spec/jobTemplate/spec/template/spec/containers/0/image";
    let expected = with(&object, pointer, &mysql_57("cronjobs"));
    check(
        server,
        &Review::create(CRONJOB, "cronjobs", object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_build_pins_its_docker_image_from_and_keeps_an_image_stream_tag_as_written() {
    let server = default_server();
    seed(server, "builds").await;
    let object = json!({"apiVersion": "build.openshift.io/v1", "kind": "Build",
        "metadata": {"name": "app-1"},
        "spec": {"source": {"images": [{"from": {"kind": "ImageStreamTag", "name": "ruby:3"},
                                        "paths": [{"sourcePath": "/x", "destinationDir": "y"}]}]},
                 "strategy": {"type": "Docker", "dockerStrategy": {
                     "from": {"kind": "DockerImage", "name": "mysql:8"}}},
                 "output": {"to": {"kind": "ImageStreamTag", "name": "app:latest"}}}});
    let mut expected = object.clone();
    expected["spec"]["strategy"]["dockerStrategy"]["from"] =
        json!({"kind": "DockerImage", "name": MYSQL_8});
    let response = check(server, &Review::create(BUILD, "builds", object), &expected).await;
    let rewrites = audit_rewrites(&response);
    assert_eq!(rewrites[0]["path"], "spec.strategy.dockerStrategy.from");
}

#[tokio::test]
async fn an_ephemeral_container_is_pinned_on_the_subresource_even_on_an_owned_pod() {
    let server = default_server();
    seed(server, "debug").await;
    let mut old = pod("db-0", &[("db", "mysql:5.7")]);
    old["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
        "name": "db", "uid": "6f1e0c5a-0000-4000-8000-000000000001", "controller": true}]);
    let mut object = old.clone();
    object["spec"]["ephemeralContainers"] =
        json!([{"name": "debugger", "image": "mysql:8", "targetContainerName": "db"}]);
    let expected = with(&object, "/spec/ephemeralContainers/0/image", MYSQL_8);
    let review = Review::update(EPHEMERAL, "debug", old, object);
    check(server, &review, &expected).await;
}

#[tokio::test]
async fn a_tag_whose_last_import_failed_pins_its_earlier_image_with_a_warning() {
    let server = default_server();
    let api = Api::new(server, "bumped");
    // A version bump with a typo: 8.1 does not exist, so the tag keeps its 8.0 image.
    let bumped = json!([tag("8", "quay.io/example/db:8.1-typo", "Source")]);
    api.create_stream("db", true, bumped).await;
    let earlier = format!("quay.io/example/db@{D1}");
    api.fail_import("db", "8", "quay.io/example/db:8.0", D1)
        .await;
    let object = pod("web", &[("db", "db:8")]);
    let expected = with(&object, "/spec/containers/0/image", &earlier);
    let response = check(server, &Review::create(POD, "bumped", object), &expected).await;
    assert_eq!(
        response["warnings"],
        json!([
            "spec.containers[0].image: \"db:8\" pinned to an earlier image: the last import \
                of tag \"8\" of imagestream bumped/db failed, so this is the image it had \
                before; fix what the ImportSuccess condition of its status.tags entry says (a \
                source that moved or is misspelt, a missing pull secret, an unreachable \
                registry), and the next import pins the new one"
        ])
    );
}

#[tokio::test]
async fn a_tag_that_cannot_pin_says_why_a_typo_lists_the_tags_a_reference_tag_how_to_import_it() {
    let server = default_server();
    seed(server, "advice").await;
    let api = Api::new(server, "advice");
    let mut reference_tag = tag("pinned", "quay.io/example/cache:1", "Source");
    reference_tag["reference"] = json!(true);
    api.create_stream("cache", true, json!([reference_tag]))
        .await;
    let object = pod("web", &[("a", "mysql:lastest"), ("b", "cache:pinned")]);
    let (typo, reference) = (
        format!("{REGISTRY}/advice/mysql:lastest"),
        format!("{REGISTRY}/advice/cache:pinned"),
    );
    let expected = with(
        &with(&object, "/spec/containers/0/image", &typo),
        "/spec/containers/1/image",
        &reference,
    );
    let response = check(server, &Review::create(POD, "advice", object), &expected).await;
    let pulled = "pulled by tag through the integrated registry as";
    assert_eq!(
        response["warnings"],
        json!([
            format!(
                "spec.containers[0].image: \"mysql:lastest\" not pinned: imagestream \
                 advice/mysql has no tag \"lastest\"; check the tag name, or add the tag to \
                 spec.tags; its tags: \"5.7\", \"8\", \"latest\"; {pulled} {typo} (allowed by \
                 lookupPolicy.local=true)"
            ),
            format!(
                "spec.containers[1].image: \"cache:pinned\" not pinned: tag \"pinned\" of \
                 imagestream advice/cache has no image id (reference-only); set reference: false \
                 on the spec tag to import it and pin a digest; it only references \
                 \"quay.io/example/cache:1\"; reference: true tags are never imported; {pulled} \
                 {reference} (allowed by lookupPolicy.local=true)"
            ),
        ])
    );
}
