//! Imports through OpenShift mirror sets (`--mirror-sets`), the file a team migrating from
//! OpenShift has as `oc get idms,itms -o yaml`: the source's registry is a closed port on
//! loopback, its tag mirror and its digest mirror two repositories of the private-CA registry.

use super::common;
use super::common::serving::InProcess;
use super::registry::private_ca_registry;
use super::served::{create_stream, docker_tag, imports_of};

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

    let pinned = format!("127.0.0.1:1/upstream/app@{}", by_digest.digest);
    let tags = vec![
        docker_tag("v1", "127.0.0.1:1/upstream/app:v1", false),
        docker_tag("pinned", &pinned, false),
    ];
    create_stream(&server, "sets", "app", tags).await;
    // The tag from the tag mirror, the digest from the digest mirror (the only one holding it).
    assert_eq!(
        imports_of(&server, "sets", "app", &["v1", "pinned"]).await,
        [
            Ok((
                by_tag.digest.clone(),
                format!("127.0.0.1:1/upstream/app@{}", by_tag.digest)
            )),
            Ok((by_digest.digest.clone(), pinned)),
        ]
    );
}
