//! A multi-arch tag imported in Legacy mode pins the amd64 child; admission of a Pod that runs
//! only on arm64 nodes warns about it (and still pins), while the same tag imported with
//! PreserveOriginal pins the index and says nothing. An Image stored before the index named
//! its architecture gains it at the Legacy import.

use base64::Engine;
use serde_json::{json, Value};

use super::common::serving::InProcess;
use super::common::{self, eventually};
use super::registry::{open_registry, OCI_INDEX, OCI_MANIFEST};
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
                               // Spec tags are kept sorted: legacy stays at index 0.
                               "tags": [tag("legacy", &from), preserved,
                                        follower("tracks", "legacy")]}});
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
    let tag = "the tag that imports the image (image stream arch/app tag \"legacy\"), and";
    assert!(warnings[0].contains(tag), "{}", warnings[0]);

    // A tag following the follower, written once that has the child, copies it.
    let stream = server.url("/apis/image.openshift.io/v1/namespaces/arch/imagestreams/app");
    let add =
        json!([{"op": "add", "path": "/spec/tags/-", "value": follower("tracks2", "tracks")}]);
    let (status, patched) = server.send(json_patch(&server, &stream, &add)).await;
    assert_eq!(status, 200, "{patched}");
    let second_hop = arm64_pod_review("arch", "app:tracks2");
    eventually("the second hop's copy of the child", || async {
        let (warnings, _) = admit(&server, &second_hop).await;
        warnings.into_iter().find(|w| w.contains("built for amd64"))
    })
    .await;

    // A tag of another stream that copies it is told which tag imports the image.
    let follows = json!({"name": "prod", "from": {"kind": "ImageStreamTag", "name": "app:legacy"}});
    create_stream(&server, "arch", "web", vec![follows]).await;
    let follower = arm64_pod_review("arch", "web:prod");
    let warnings = eventually("the follower's architecture warning", || async {
        let (warnings, _) = admit(&server, &follower).await;
        (!warnings.is_empty()).then_some(warnings)
    })
    .await;
    let tag = "(image stream arch/app tag \"legacy\", which arch/web tag \"prod\" follows)";
    assert!(warnings[0].contains(tag), "{}", warnings[0]);

    // Once the source imports the whole index, the copy in the other stream is the earlier image.
    let preserve = json!([{"op": "add", "path": "/spec/tags/0/importPolicy/importMode",
                           "value": "PreserveOriginal"}]);
    let (status, patched) = server.send(json_patch(&server, &stream, &preserve)).await;
    assert_eq!(status, 200, "{patched}");
    let warnings = eventually("the earlier copy's warning", || async {
        let (warnings, _) = admit(&server, &follower).await;
        warnings
            .into_iter()
            .find(|w| w.contains("holds an earlier copy"))
    })
    .await;
    let detail = "image stream arch/web tag \"prod\" holds an earlier copy of arch/app tag \
                  \"legacy\", which has another image now";
    assert!(warnings.contains(detail), "{warnings}");
    // Two hops within the stream: the import moves tracks and tracks2 to the index with legacy.
    let index_pin = format!("{}/demo/arch@{index}", registry.host());
    let warnings = eventually("the second hop pinned to the index", || async {
        let (warnings, pinned) = admit(&server, &second_hop).await;
        (pinned.as_deref() == Some(index_pin.as_str())).then_some(warnings)
    })
    .await;
    assert_eq!(warnings, Vec::<String>::new());

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
    // Exported at 0 from the start: the warnings above must have counted (at least the
    // three that were awaited).
    let counted = r#"imagelookup_unresolved_references_total{reason="architecture_mismatch"}"#;
    assert!(server.counted(counted).await >= 3);
    server.shut_down().await;
}

/// A JSON patch of `url`.
fn json_patch(server: &InProcess, url: &str, patch: &Value) -> reqwest::RequestBuilder {
    let request = server.client.patch(url);
    let request = request.header("Content-Type", "application/json-patch+json");
    request.body(patch.to_string())
}

/// The spec tag `name` following the tag `source` of its own stream.
fn follower(name: &str, source: &str) -> Value {
    json!({"name": name, "from": {"kind": "ImageStreamTag", "name": source}})
}

/// Creates the image stream `name` in `namespace` with local lookup and `tags`.
async fn create_stream(server: &InProcess, namespace: &str, name: &str, tags: Vec<Value>) {
    let streams = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams");
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                      "metadata": {"name": name},
                      "spec": {"lookupPolicy": {"local": true}, "tags": tags}});
    let request = server.client.post(server.url(&streams)).json(&body);
    let (status, created) = server.send(request).await;
    assert_eq!(status, 201, "{created}");
}

/// The stored Image `digest`, once it exists.
async fn stored_image(server: &InProcess, digest: &str, what: &str) -> Value {
    let url = server.url(&format!("/apis/image.openshift.io/v1/images/{digest}"));
    eventually(what, || async {
        let (status, image) = server.send(server.client.get(&url)).await;
        (status == 200).then_some(image)
    })
    .await
}

#[tokio::test]
async fn a_child_first_imported_by_digest_gains_its_architecture_at_a_legacy_import() {
    common::setup();
    let registry = open_registry();
    let (_index, _arm, amd) = registry.push_index("demo/archlate", "v1").await;
    let server = InProcess::start(&["--store", "memory:"]).await;
    let by_digest = format!("{}/demo/archlate@{}", registry.host(), amd.digest);
    create_stream(&server, "late", "pinned", vec![tag("amd", &by_digest)]).await;
    let before = stored_image(&server, &amd.digest, "the child imported by digest").await;
    let metadata = &before["dockerImageMetadata"];
    assert!(metadata.get("Architecture").is_none(), "{before}");

    let from = format!("{}/demo/archlate:v1", registry.host());
    create_stream(&server, "late", "app", vec![tag("v1", &from)]).await;
    let review = arm64_pod_review("late", "app:v1");
    let warnings = eventually("the architecture warning", || async {
        let (warnings, _) = admit(&server, &review).await;
        let warned = warnings
            .iter()
            .any(|w| w.contains("pinned to an image built for amd64"));
        warned.then_some(warnings)
    })
    .await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");

    let after = stored_image(&server, &amd.digest, "the merged child").await;
    assert_eq!(after["dockerImageMetadata"]["Architecture"], "amd64");
    let kept = [
        "/metadata/uid",
        "/dockerImageReference",
        "/dockerImageMetadata/Id",
    ];
    for field in kept {
        assert_eq!(after.pointer(field), before.pointer(field), "{field}");
    }
    server.shut_down().await;
}

#[tokio::test]
async fn a_legacy_child_the_index_lists_for_amd64_and_arm64_runs_on_arm64_without_a_warning() {
    common::setup();
    let registry = open_registry();
    let (_index, _arm, amd) = registry.push_index("demo/noarch", "v1").await;
    // A platform-neutral image: one manifest listed for both platforms.
    let entry = |arch: &str| {
        json!({"mediaType": OCI_MANIFEST, "digest": amd.digest, "size": 1,
               "platform": {"architecture": arch, "os": "linux"}})
    };
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [entry("amd64"), entry("arm64")]});
    let url = format!("http://{}/v2/demo/noarch/manifests/same", registry.host());
    let put = reqwest::Client::new()
        .put(url)
        .header("content-type", OCI_INDEX)
        .body(index.to_string());
    let pushed = put.send().await.expect("the registry answers");
    assert_eq!(pushed.status(), 201, "push the index");
    let server = InProcess::start(&["--store", "memory:"]).await;
    let from = format!("{}/demo/noarch:same", registry.host());
    create_stream(&server, "noarch", "app", vec![tag("v1", &from)]).await;

    let image = stored_image(&server, &amd.digest, "the Legacy child").await;
    assert_eq!(image["dockerImageMetadata"]["Architecture"], "amd64");
    let listed = &image["metadata"]["annotations"]["imagelookup.io/architectures"];
    assert_eq!(listed, "amd64,arm64", "{image}");
    // Platforms reach admission through the images watch, in revision order: once a child
    // stored later warns, this one's record has arrived too.
    let (_, _, control) = registry.push_index("demo/noarch-control", "v1").await;
    let from = format!("{}/demo/noarch-control:v1", registry.host());
    create_stream(&server, "noarch", "control", vec![tag("v1", &from)]).await;
    stored_image(&server, &control.digest, "the control child").await;
    let control_review = arm64_pod_review("noarch", "control:v1");
    eventually("the control's warning", || async {
        let (warnings, _) = admit(&server, &control_review).await;
        (!warnings.is_empty()).then_some(())
    })
    .await;
    let (warnings, pinned) = admit(&server, &arm64_pod_review("noarch", "app:v1")).await;
    let expected = format!("{}/demo/noarch@{}", registry.host(), amd.digest);
    assert_eq!(pinned.as_deref(), Some(expected.as_str()));
    assert_eq!(warnings, Vec::<String>::new());
    server.shut_down().await;
}

#[tokio::test]
async fn a_legacy_import_takes_the_platform_its_tag_prefers_as_openshift_does() {
    common::setup();
    let registry = open_registry();
    let (_index, arm, amd) = registry.push_index("demo/prefer", "v1").await;
    let server = InProcess::start(&["--store", "memory:"]).await;
    let from = format!("{}/demo/prefer:v1", registry.host());
    let mut arm64 = tag("arm", &from);
    arm64["annotations"] = json!({"importer.image.openshift.io/prefer-arch": "arm64"});
    let mut s390x = tag("unlisted", &from);
    s390x["annotations"] = json!({"importer.image.openshift.io/prefer-arch": "s390x"});
    let tags = vec![arm64, tag("plain", &from), s390x];
    create_stream(&server, "prefer", "app", tags).await;

    let stream = server.url("/apis/image.openshift.io/v1/namespaces/prefer/imagestreams/app");
    let imported = |tag: &'static str| {
        let stream = &stream;
        let server = &server;
        async move {
            eventually(&format!("tag {tag} imported"), || async move {
                let (_, body) = server.send(server.client.get(stream)).await;
                let tags = body["status"]["tags"].as_array()?.clone();
                let status = tags.into_iter().find(|t| t["tag"] == tag)?;
                Some(status["items"][0]["image"].as_str()?.to_string())
            })
            .await
        }
    };
    assert_eq!(imported("arm").await, arm.digest);
    assert_eq!(
        imported("plain").await,
        amd.digest,
        "no preference: linux/amd64"
    );
    assert_eq!(
        imported("unlisted").await,
        amd.digest,
        "s390x is not listed"
    );

    // An import on request into the stream reads its spec tag's preference too.
    let imports = server.url("/apis/image.openshift.io/v1/namespaces/prefer/imagestreamimports");
    let isi = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport",
        "metadata": {"name": "app"},
        "spec": {"import": false, "images": [
            {"from": {"kind": "DockerImage", "name": from}, "to": {"name": "arm"},
             "importPolicy": {"insecure": true}},
            {"from": {"kind": "DockerImage", "name": from}, "to": {"name": "plain"},
             "importPolicy": {"insecure": true}}]}});
    let (status, answer) = server.send(server.client.post(&imports).json(&isi)).await;
    assert_eq!(status, 201, "{answer}");
    let image = |i: usize| answer["status"]["images"][i]["image"]["metadata"]["name"].clone();
    assert_eq!(image(0), json!(arm.digest), "{answer}");
    assert_eq!(image(1), json!(amd.digest), "{answer}");
}
