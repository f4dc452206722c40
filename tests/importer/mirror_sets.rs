//! Imports through OpenShift mirror sets (`--mirror-sets`), the file a team migrating from
//! OpenShift has as `oc get idms,itms -o yaml`: the source's registry is a closed port on
//! loopback, its tag mirror and its digest mirror two repositories of the private-CA registry.

use serde_json::json;

use super::common::serving::InProcess;
use super::common::{self, eventually};
use super::registry::private_ca_registry;

#[tokio::test]
async fn tags_import_from_tag_mirrors_and_digests_from_digest_mirrors() {
    common::setup();
    let mirror = private_ca_registry();
    let by_tag = mirror.push_image("itms/app", "v1", "amd64").await;
    let by_digest = mirror.push_image("idms/app", "v2", "arm64").await;
    let host = mirror.host();
    let sets = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\nmetadata: {{name: tags}}\n\
         spec:\n  imageTagMirrors:\n  - source: 127.0.0.1:1/upstream\n    mirrors: [{host}/itms]\n    \
         mirrorSourcePolicy: NeverContactSource\n---\n\
         apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata: {{name: digests}}\n\
         spec:\n  imageDigestMirrors:\n  - source: 127.0.0.1:1/upstream\n    mirrors: [{host}/idms]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let (file, ca) = (dir.path().join("sets.yaml"), dir.path().join("ca.pem"));
    std::fs::write(&file, sets).unwrap();
    std::fs::write(&ca, mirror.ca_pem().unwrap()).unwrap();
    let (file, ca) = (file.display().to_string(), ca.display().to_string());
    let flags = [
        "--store",
        "memory:",
        "--mirror-sets",
        &file,
        "--registry-ca-file",
        &ca,
    ];
    let server = InProcess::start(&flags).await;

    let tag = |name: &str, from: &str| json!({"name": name, "from": {"kind": "DockerImage", "name": from}});
    let pinned = format!("127.0.0.1:1/upstream/app@{}", by_digest.digest);
    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "app"},
        "spec": {"tags": [tag("v1", "127.0.0.1:1/upstream/app:v1"), tag("pinned", &pinned)]}});
    let streams = server.url("/apis/image.openshift.io/v1/namespaces/sets/imagestreams");
    let (status, created) = server
        .send(server.client.post(&streams).json(&stream))
        .await;
    assert_eq!(status, 201, "{created}");

    let imported = eventually("both tags imported through their mirrors", || async {
        let (_, answer) = server
            .send(server.client.get(format!("{streams}/app")))
            .await;
        let newest = |tag: &str| -> Option<String> {
            let tags = answer["status"]["tags"].as_array()?;
            let item = &tags.iter().find(|t| t["tag"] == tag)?["items"][0];
            item["dockerImageReference"].as_str().map(str::to_string)
        };
        Some((newest("v1")?, newest("pinned")?))
    })
    .await;
    assert_eq!(
        imported,
        (
            format!("127.0.0.1:1/upstream/app@{}", by_tag.digest),
            pinned.clone()
        ),
        "the tag from the tag mirror, the digest from the digest mirror"
    );
}
