//! The global pull secret (`--global-pull-secret`), as OpenShift's importer uses the nodes'
//! pull secret: a registry that asks for credentials the namespace holds no pull secret for is
//! answered with the file's, a changed file applies to the next import, and a namespace's
//! credential the registry refuses gives way to the file's, as the kubelet tries them.

use base64::Engine as _;
use serde_json::json;

use super::common;
use super::common::serving::InProcess;
use super::registry::protected_registry;
use super::served::{import_v1, reloads};

/// A docker config.json holding the protected registry's user with `password` for `host`.
fn docker_config(host: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("user:{password}"));
    json!({"auths": {host: {"auth": auth}}}).to_string()
}

/// A server whose `--global-pull-secret` is a file holding `config`, read again every second;
/// the file, and the directory that holds it while the test runs.
async fn server_with_global_pull_secret(
    config: &str,
) -> (InProcess, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, config).unwrap();
    let path = file.display().to_string();
    let flags = [
        "--store",
        "memory:",
        "--global-pull-secret",
        &path,
        "--registries-reload-seconds",
        "1",
    ];
    (InProcess::start(&flags).await, file, dir)
}

#[tokio::test]
async fn a_namespace_without_pull_secrets_imports_with_the_global_one_read_again_when_changed() {
    common::setup();
    let protected = protected_registry();
    let pushed = protected.push_image("global/app", "v1", "amd64").await;
    let config = |password: &str| docker_config(&protected.host(), password);
    let (server, file, _dir) = server_with_global_pull_secret(&config("wrong")).await;
    let from = format!("{}/global/app:v1", protected.host());
    let import = |name| import_v1(&server, "global", name, &from, true);

    // The file's credential is sent (and refused: its password is wrong).
    let refused = import("before").await.unwrap_err();
    assert!(refused.contains("you may not have access"), "{refused}");

    std::fs::write(&file, config("s3cret")).unwrap();
    reloads(&server, "applied", 1).await;
    assert_eq!(import("after").await, Ok(pushed.digest));
}

#[tokio::test]
async fn a_namespace_pull_secret_the_registry_refuses_gives_way_to_the_global_one() {
    common::setup();
    let protected = protected_registry();
    let pushed = protected.push_image("stale/app", "v1", "amd64").await;
    let config = |password: &str| docker_config(&protected.host(), password);
    let (server, _, _dir) = server_with_global_pull_secret(&config("s3cret")).await;
    // The namespace's own secret for the registry, with a password changed since.
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "stale"},
        "data": {".dockerconfigjson": encode(&config("changed-since"))},
    });
    let secrets = server.url("/api/v1/namespaces/stale/secrets");
    let (status, created) = server
        .send(server.client.post(&secrets).json(&secret))
        .await;
    assert_eq!(status, 201, "{created}");

    let from = format!("{}/stale/app:v1", protected.host());
    assert_eq!(
        import_v1(&server, "stale", "app", &from, true).await,
        Ok(pushed.digest)
    );
}
