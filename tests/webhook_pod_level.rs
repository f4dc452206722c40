//! Pod-level pinning end to end (`serve --pin=pods`): a whole server in-process over real TLS,
//! a stream written and "imported" through the API, AdmissionReviews sent to `/mutate`. The
//! Pods a ReplicaSet creates are pinned and the Deployment is left as git has it; the default
//! server still does the opposite, as OpenShift does.

mod common;
mod webhook_support;

use common::serving::InProcess;
use serde_json::{json, Value};
use webhook_support::{patch_of, patched, pod, pod_spec, with, Review, D1, DEPLOYMENT, POD};

const MYSQL_8: &str =
    "quay.io/example/mysql@sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A server with these extra flags, ready, with stream `mysql` (lookup on, tag `8` imported)
/// in namespace `shop`.
async fn serve(flags: &[&str]) -> InProcess {
    let mut all = vec!["--store", "memory:", "--no-importer"];
    all.extend_from_slice(flags);
    let server = InProcess::start(&all).await;
    common::eventually("the server to be ready", || async {
        let response = server.client.get(server.url("/readyz")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    let streams = server.url("/apis/image.openshift.io/v1/namespaces/shop/imagestreams");
    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "mysql"},
        "spec": {"lookupPolicy": {"local": true}, "tags": [{"name": "8",
            "from": {"kind": "DockerImage", "name": "quay.io/example/mysql:8"}}]}});
    let (status, body) = server
        .send(server.client.post(&streams).json(&stream))
        .await;
    assert_eq!(status, 201, "{body}");
    let imported = json!({"status": {"tags": [{"tag": "8", "items": [{
        "created": "2026-01-01T00:00:00Z", "dockerImageReference": MYSQL_8, "image": D1,
        "generation": 1}]}]}});
    let request = server
        .client
        .patch(format!("{streams}/mysql/status"))
        .header("content-type", "application/merge-patch+json")
        .body(imported.to_string());
    let (status, body) = server.send(request).await;
    assert_eq!(status, 200, "{body}");
    server
}

/// POSTs `review` to `/mutate` as the kube-apiserver would; the allowed `response`.
async fn admit(server: &InProcess, review: &Review) -> Value {
    let request = server
        .client
        .post(server.url("/mutate"))
        .json(&review.body());
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    let response = answer["response"].clone();
    assert_eq!(response["uid"], review.uid);
    assert_eq!(response["allowed"], true, "{response}");
    response
}

/// A Pod as a ReplicaSet creates it: controller-owned, the template's metadata copied in.
fn owned_pod(annotations: Value, image: &str) -> Value {
    let mut object = pod("web-7d9f-abcde", &[("web", image)]);
    object["metadata"]["annotations"] = annotations;
    object["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1",
        "kind": "ReplicaSet", "name": "web-7d9f", "uid": "5e1f", "controller": true,
        "blockOwnerDeletion": true}]);
    object
}

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": pod_spec(&[("web", image)])}}})
}

#[tokio::test]
async fn at_pods_a_controller_owned_pod_is_pinned_and_its_deployment_left_as_written() {
    let server = serve(&["--pin=pods"]).await;
    let owned = owned_pod(json!({}), "mysql:8");
    let response = admit(&server, &Review::create(POD, "shop", owned.clone())).await;
    let expected = with(&owned, "/spec/containers/0/image", MYSQL_8);
    assert_eq!(patched(&owned, &response), expected, "{response}");

    // The resolve-names annotation reaches a Pod through its template's metadata.
    let forced = owned_pod(
        json!({"alpha.image.policy.openshift.io/resolve-names": "*"}),
        "quay.io/example/mysql:8",
    );
    let response = admit(&server, &Review::create(POD, "shop", forced.clone())).await;
    let expected = with(&forced, "/spec/containers/0/image", MYSQL_8);
    assert_eq!(patched(&forced, &response), expected, "{response}");

    let written = deployment("mysql:8");
    for review in [
        Review::create(DEPLOYMENT, "shop", written.clone()),
        Review::update(DEPLOYMENT, "shop", deployment("mysql:7"), written),
    ] {
        let response = admit(&server, &review).await;
        assert!(patch_of(&response).is_none(), "{response}");
        assert!(response.get("warnings").is_none(), "no noise: {response}");
        assert!(response.get("auditAnnotations").is_none(), "{response}");
    }
    let metrics = server.metrics().await.expect("/metrics answers");
    assert!(
        metrics.contains(r#"imagelookup_admission_skipped_total{reason="pod_template"} 2"#),
        "{metrics}"
    );
    server.shut_down().await;
}

#[tokio::test]
async fn by_default_a_controller_owned_pod_is_skipped_and_its_deployment_pinned() {
    let server = serve(&[]).await;
    let owned = owned_pod(json!({}), "mysql:8");
    let response = admit(&server, &Review::create(POD, "shop", owned)).await;
    assert!(patch_of(&response).is_none(), "{response}");
    let written = deployment("mysql:8");
    let response = admit(
        &server,
        &Review::create(DEPLOYMENT, "shop", written.clone()),
    )
    .await;
    let expected = with(&written, "/spec/template/spec/containers/0/image", MYSQL_8);
    assert_eq!(patched(&written, &response), expected, "{response}");
    server.shut_down().await;
}
