//! A multi-arch tag imported in Legacy mode pins the amd64 child; admission of a Pod that runs
//! only on arm64 nodes warns about it (and still pins), while the same tag imported with
//! PreserveOriginal pins the index and says nothing.

use base64::Engine;
use serde_json::{json, Value};

use super::common::serving::InProcess;
use super::common::{self, eventually};
use super::registry::open_registry;
use super::tag;

/// An AdmissionReview of a CREATE of a Pod in `namespace` running `image` on arm64 nodes.
fn arm64_pod_review(namespace: &str, image: &str) -> Value {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": image}],
                 "nodeSelector": {"kubernetes.io/arch": "arm64"}}});
    let pods = json!({"group": "", "version": "v1", "resource": "pods"});
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": pods, "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "name": "p", "namespace": namespace, "operation": "CREATE",
        "userInfo": {"username": "alice"}, "object": pod, "dryRun": false}})
}

/// The webhook's response: its warnings, and the image its patch writes (if any).
async fn admit(server: &InProcess, review: &Value) -> (Vec<String>, Option<String>) {
    let request = server.client.post(server.url("/mutate")).json(review);
    let (status, answer) = server.send(request).await;
    assert_eq!(status, 200, "{answer}");
    let response = &answer["response"];
    let warnings = response["warnings"].as_array().cloned().unwrap_or_default();
    let warnings = warnings
        .iter()
        .filter_map(|w| w.as_str().map(String::from))
        .collect();
    let patch = response["patch"].as_str().map(|encoded| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("a base64 patch");
        serde_json::from_slice::<Value>(&bytes).expect("a JSON patch")
    });
    let image = patch.and_then(|patch| patch[0]["value"].as_str().map(String::from));
    (warnings, image)
}

#[tokio::test]
async fn an_arm64_pod_pinned_to_a_legacy_amd64_child_is_warned_and_a_preserved_index_is_not() {
    common::setup();
    let registry = open_registry();
    let (index, _arm, amd) = registry.push_index("demo/arch", "v1").await;
    let server = InProcess::start(&["--store", "memory:"]).await;
    let from = format!("{}/demo/arch:v1", registry.host());
    let mut preserved = tag("preserved", &from);
    preserved["importPolicy"]["importMode"] = json!("PreserveOriginal");
    let streams = server.url("/apis/image.openshift.io/v1/namespaces/arch/imagestreams");
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                      "metadata": {"name": "app"},
                      "spec": {"lookupPolicy": {"local": true},
                               "tags": [tag("legacy", &from), preserved]}});
    let (status, created) = server.send(server.client.post(&streams).json(&body)).await;
    assert_eq!(status, 201, "{created}");

    let legacy = arm64_pod_review("arch", "app:legacy");
    // The image's platform reaches admission through the images watch, after the tag.
    let (warnings, pinned) = eventually("the architecture warning", || async {
        let (warnings, pinned) = admit(&server, &legacy).await;
        let warned = warnings
            .iter()
            .any(|w| w.contains("pinned to an image built for"));
        warned.then_some((warnings, pinned))
    })
    .await;
    assert_eq!(
        pinned.as_deref(),
        Some(format!("{}/demo/arch@{}", registry.host(), amd.digest).as_str()),
        "the rewrite still happens"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let expected = "spec.containers[0].image: \"app:legacy\" pinned to an image built for \
                    amd64, but the pod runs only on kubernetes.io/arch=arm64 nodes; import a \
                    multi-arch source with importPolicy.importMode: PreserveOriginal, or build \
                    the image for arm64";
    assert!(warnings[0].starts_with(expected), "{}", warnings[0]);
    let tag = "(image stream arch/app tag \"legacy\", or the tag it follows)";
    assert!(warnings[0].contains(tag), "{}", warnings[0]);

    let preserved = arm64_pod_review("arch", "app:preserved");
    let (warnings, pinned) = eventually("the index pinned", || async {
        let (warnings, pinned) = admit(&server, &preserved).await;
        let index_pinned = pinned
            .as_deref()
            .is_some_and(|image| image.contains(&index));
        index_pinned.then_some((warnings, pinned))
    })
    .await;
    assert_eq!(
        pinned.as_deref(),
        Some(format!("{}/demo/arch@{index}", registry.host()).as_str())
    );
    assert_eq!(warnings, Vec::<String>::new());
    let metrics = server.metrics().await.expect("the server answers /metrics");
    let counted = r#"imagelookup_unresolved_references_total{reason="architecture_mismatch"} "#;
    assert!(metrics.contains(counted), "{metrics}");
    server.shut_down().await;
}
