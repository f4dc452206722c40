//! What the benchmarks load and send: imported ImageStreams (`ns-<n>/app-<m>`, three tags
//! each) and an AdmissionReview for a Pod whose three containers are `app-4:8` (a `Source`
//! stream), `app-5:latest` (a `Local` stream) and `docker.io/library/redis:7.2` (no stream).
//!
//! Shared through `#[path]` by `benches/resolver.rs`, `benches/suite.rs` and
//! `tests/loadgen_smoke.rs`.

use std::sync::Arc;

use imagelookup::api::{
    ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent, TagReference, TagReferencePolicy,
    REFERENCE_POLICY_LOCAL, REFERENCE_POLICY_SOURCE,
};
use imagelookup::resolve::Index;
use imagelookup::store::{object_key, Store};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};

/// The integrated registry every fixture server is configured with.
pub const REGISTRY: &str = "image-registry.openshift-image-registry.svc:5000";
/// The tags of every stream; index 1 (`8`) is the one the Pod asks for on `app-4`.
pub const TAGS: [&str; 3] = ["latest", "8", "8.0"];
/// The images of the benchmark Pod, in container order.
pub const POD_IMAGES: [&str; 3] = ["app-4:8", "app-5:latest", "docker.io/library/redis:7.2"];

/// A digest unique to (stream, tag, generation).
pub fn digest(stream: usize, tag: usize, generation: usize) -> String {
    format!("sha256:{stream:032x}{tag:016x}{generation:016x}")
}

/// The Pod's images once the webhook has patched it in `namespace`: `app-4:8` pinned at its
/// source (`Source` policy), `app-5:latest` pinned in the integrated registry (`Local`), redis
/// untouched.
pub fn expected_pod_images(namespace: &str) -> Vec<String> {
    vec![
        format!("quay.io/org/app-4@{}", digest(4, 1, 2)),
        format!("{REGISTRY}/{namespace}/app-5@{}", digest(5, 0, 2)),
        POD_IMAGES[2].to_string(),
    ]
}

/// The Pod's images after applying the JSON Patch of `answer`, an AdmissionReview response
/// to [`admission_review`]`(namespace)`.
pub fn patched_images(answer: &[u8], namespace: &str) -> anyhow::Result<Vec<String>> {
    use base64::Engine as _;
    let review: Value = serde_json::from_slice(answer)?;
    let response = &review["response"];
    anyhow::ensure!(response["allowed"] == true, "not allowed: {review}");
    anyhow::ensure!(response["patchType"] == "JSONPatch", "no patch: {review}");
    let encoded = response["patch"].as_str().unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded)?;
    let patch: json_patch::Patch = serde_json::from_slice(&bytes)?;
    let mut pod = admission_review(namespace)["request"]["object"].take();
    json_patch::patch(&mut pod, &patch)?;
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(containers
        .iter()
        .map(|container| container["image"].as_str().unwrap_or_default().to_string())
        .collect())
}

/// An imported tag as the importer leaves it: a DockerImage spec tag and two status events.
fn tag(
    name: &str,
    index: usize,
    tag_index: usize,
    tag_name: &str,
) -> (TagReference, NamedTagEventList) {
    let policy = match index % 2 {
        0 => REFERENCE_POLICY_SOURCE,
        _ => REFERENCE_POLICY_LOCAL,
    };
    let spec = TagReference {
        name: tag_name.to_string(),
        from: Some(ObjectReference {
            kind: Some("DockerImage".to_string()),
            name: Some(format!("quay.io/org/{name}:{tag_name}")),
            ..ObjectReference::default()
        }),
        generation: Some(2),
        reference_policy: TagReferencePolicy::of(policy),
        ..TagReference::default()
    };
    let items = [2, 1]
        .into_iter()
        .map(|generation| {
            let image = digest(index, tag_index, generation);
            TagEvent {
                created: Time(jiff::Timestamp::UNIX_EPOCH),
                docker_image_reference: format!("quay.io/org/{name}@{image}"),
                image,
                generation: generation as i64,
            }
        })
        .collect();
    let status = NamedTagEventList {
        tag: tag_name.to_string(),
        items,
        conditions: Vec::new(),
    };
    (spec, status)
}

/// Stream `app-<index>` in `namespace`: local lookup, even numbers `Source`, odd `Local`.
pub fn stream(namespace: &str, index: usize) -> ImageStream {
    let name = format!("app-{index}");
    let mut stream = ImageStream::new(namespace, &name);
    stream.spec.lookup_policy.local = true;
    let (spec_tags, status_tags) = TAGS
        .iter()
        .enumerate()
        .map(|(tag_index, tag_name)| tag(&name, index, tag_index, tag_name))
        .unzip();
    stream.spec.tags = spec_tags;
    stream.status = Some(ImageStreamStatus {
        docker_image_repository: format!("{REGISTRY}/{namespace}/{name}"),
        tags: status_tags,
        ..ImageStreamStatus::default()
    });
    stream
}

/// The stream as the API server would have stored it: with uid, creation time and generation.
pub fn stored_stream(namespace: &str, index: usize) -> Value {
    let mut value = serde_json::to_value(stream(namespace, index)).expect("a stream serialises");
    let metadata = &mut value["metadata"];
    metadata["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", index));
    metadata["creationTimestamp"] = json!("2025-01-01T00:00:00Z");
    metadata["generation"] = json!(2);
    value
}

/// `namespaces × per_namespace` streams named `ns-<n>/app-<m>`.
pub fn index(namespaces: usize, per_namespace: usize) -> Index {
    let mut index = Index::new();
    for n in 0..namespaces {
        let namespace = format!("ns-{n}");
        for m in 0..per_namespace {
            index.upsert(Arc::new(stream(&namespace, m)));
        }
    }
    index
}

/// Writes `namespaces × per_namespace` stored streams into `store`, 256 writes in flight so
/// the store's group commit batches them.
pub async fn preload(store: &dyn Store, namespaces: usize, per_namespace: usize) {
    use futures::StreamExt as _;
    let writes = (0..namespaces).flat_map(|n| (0..per_namespace).map(move |m| (n, m)));
    futures::stream::iter(writes)
        .for_each_concurrent(256, |(n, m)| async move {
            let namespace = format!("ns-{n}");
            let key = object_key("imagestreams", Some(&namespace), &format!("app-{m}"));
            store
                .create(&key, stored_stream(&namespace, m))
                .await
                .expect("preload a stream");
        })
        .await;
}

/// An AdmissionReview for a Pod a user creates directly in `namespace` (Pods a controller owns
/// are skipped: their template was resolved already), with every field the kube-apiserver
/// defaults, so the body is as large as a real one (about 4 KiB).
pub fn admission_review(namespace: &str) -> Value {
    let containers: Vec<Value> = POD_IMAGES
        .iter()
        .enumerate()
        .map(|(i, image)| container(&format!("c{i}"), image))
        .collect();
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "name": "web",
            "operation": "CREATE",
            "userInfo": {
                "username": "alice@example.com",
                "uid": "0f6a4f1e-5b7e-4c4b-9f59-3f4b0f6c1c11",
                "groups": ["developers", "system:authenticated"]
            },
            "object": pod(namespace, containers),
            "oldObject": null,
            "dryRun": false,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        }
    })
}

fn pod(namespace: &str, containers: Vec<Value>) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "web",
            "namespace": namespace,
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"kubectl.kubernetes.io/default-container": "c0"}
        },
        "spec": {
            "volumes": [{"name": "kube-api-access-x7k2p", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ], "defaultMode": 420}}],
            "containers": containers,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {}
    })
}

fn container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent"
    })
}
