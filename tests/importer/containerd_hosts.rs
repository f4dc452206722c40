//! Imports through containerd's registry host directory (`--containerd-hosts-dir`), the
//! configuration plain Kubernetes nodes pull through: the sources' registries are closed ports
//! on loopback (out of reach, as upstreams are from an air-gapped cluster) and the private-CA
//! registry is their mirror, trusted only through the `ca` a hosts.toml names.

use serde_json::{json, Value};

use super::common::serving::InProcess;
use super::common::{self, eventually};
use super::registry::private_ca_registry;

/// Writes `dir/<host directory>/hosts.toml`, and `files` beside it.
fn host_directory(dir: &std::path::Path, name: &str, hosts_toml: &str, files: &[(&str, &str)]) {
    let host = dir.join(name);
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hosts.toml"), hosts_toml).unwrap();
    for (file, text) in files {
        std::fs::write(host.join(file), text).unwrap();
    }
}

#[tokio::test]
async fn imports_go_through_the_mirrors_of_a_containerd_host_directory_trusting_its_cas() {
    common::setup();
    let mirror = private_ca_registry();
    let mirrored = mirror.push_image("upstream/app", "v1", "amd64").await;
    let prefixed = mirror.push_image("mirrors/other/app", "v2", "amd64").await;
    let dir = tempfile::tempdir().unwrap();
    // 127.0.0.1:1 in containerd's `host_port_` form, the mirror's CA next to its hosts.toml.
    let hosts_toml = format!(
        "server = \"https://127.0.0.1:1\"\n\n[host.\"https://{}\"]\n  \
         capabilities = [\"pull\", \"resolve\"]\n  ca = \"mirror-ca.pem\"\n",
        mirror.host()
    );
    let ca = [("mirror-ca.pem", mirror.ca_pem().unwrap())];
    host_directory(dir.path(), "127.0.0.1_1_", &hosts_toml, &ca);
    // Every other host: the same registry under a path, through containerd's `override_path`
    // (its CA is trusted for every registry once a hosts.toml names it).
    let default_toml = format!(
        "[host.\"https://{}/v2/mirrors\"]\n  override_path = true\n",
        mirror.host()
    );
    host_directory(dir.path(), "_default", &default_toml, &[]);
    let hosts_dir = dir.path().display().to_string();
    let server =
        InProcess::start(&["--store", "memory:", "--containerd-hosts-dir", &hosts_dir]).await;

    let tag = |name: &str, from: &str| json!({"name": name, "from": {"kind": "DockerImage", "name": from}});
    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "app"},
        "spec": {"tags": [tag("v1", "127.0.0.1:1/upstream/app:v1"),
                          tag("v2", "127.0.0.2:1/other/app:v2")]}});
    let streams = server.url("/apis/image.openshift.io/v1/namespaces/hosts/imagestreams");
    let (status, created) = server
        .send(server.client.post(&streams).json(&stream))
        .await;
    assert_eq!(status, 201, "{created}");

    let imported = eventually("both tags imported through the mirror", || async {
        let (_, answer) = server
            .send(server.client.get(format!("{streams}/app")))
            .await;
        let newest = |tag: &str| -> Option<(String, String)> {
            let tags = answer["status"]["tags"].as_array()?;
            let item = &tags.iter().find(|t| t["tag"] == tag)?["items"][0];
            Some((
                item["image"].as_str()?.to_string(),
                item["dockerImageReference"].as_str()?.to_string(),
            ))
        };
        Some((newest("v1")?, newest("v2")?))
    })
    .await;
    // Recorded under the sources' names, as the nodes pull them through the same mirrors.
    assert_eq!(
        imported,
        (
            (
                mirrored.digest.clone(),
                format!("127.0.0.1:1/upstream/app@{}", mirrored.digest)
            ),
            (
                prefixed.digest.clone(),
                format!("127.0.0.2:1/other/app@{}", prefixed.digest)
            ),
        )
    );
    let (_, answer): (u16, Value) = server
        .send(server.client.get(format!("{streams}/app")))
        .await;
    assert!(
        answer["status"]["tags"][0]["conditions"].is_null(),
        "{answer}"
    );
}

/// Creates stream `name` in namespace `reloading` with tag `v1` from `from` (`insecure`: its
/// importPolicy).
pub async fn create_stream(server: &InProcess, name: &str, from: &str, insecure: bool) {
    let tag = json!({"name": "v1", "from": {"kind": "DockerImage", "name": from},
        "importPolicy": {"insecure": insecure}});
    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": name}, "spec": {"tags": [tag]}});
    let streams = server.url("/apis/image.openshift.io/v1/namespaces/reloading/imagestreams");
    let (status, created) = server
        .send(server.client.post(&streams).json(&stream))
        .await;
    assert_eq!(status, 201, "{created}");
}

/// Tag `v1` of stream `name` once its import ended: its image, or its condition's message.
pub async fn import_of(server: &InProcess, name: &str) -> Result<String, String> {
    let path = format!("/apis/image.openshift.io/v1/namespaces/reloading/imagestreams/{name}");
    eventually("the import of tag v1", || async {
        let (_, answer) = server.send(server.client.get(server.url(&path))).await;
        let tag = answer["status"]["tags"].as_array()?.first()?.clone();
        if let Some(image) = tag["items"][0]["image"].as_str() {
            return Some(Ok(image.to_string()));
        }
        let message = tag["conditions"][0]["message"].as_str()?;
        Some(Err(message.to_string()))
    })
    .await
}

/// Waits until the server counts `count` registry files reloads with `result`.
pub async fn reloads(server: &InProcess, result: &str, count: u32) {
    let line =
        format!("imagelookup_importer_registry_files_reloads_total{{result=\"{result}\"}} {count}");
    eventually(&line, || async {
        server
            .metrics()
            .await?
            .lines()
            .any(|l| l == line)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_changed_host_directory_applies_to_the_next_import_and_a_broken_one_keeps_the_last() {
    common::setup();
    let mirror = private_ca_registry();
    let pushed = mirror.push_image("reloaded/app", "v1", "amd64").await;
    let dir = tempfile::tempdir().unwrap();
    let hosts_dir = dir.path().display().to_string();
    let flags = [
        "--store",
        "memory:",
        "--containerd-hosts-dir",
        &hosts_dir,
        "--registries-reload-seconds",
        "1",
    ];
    let server = InProcess::start(&flags).await;
    // Nothing configured yet: the source is out of reach.
    let from = "127.0.0.3:1/reloaded/app:v1";
    create_stream(&server, "before", from, false).await;
    let refused = import_of(&server, "before").await.unwrap_err();
    assert!(refused.contains("127.0.0.3:1"), "{refused}");

    // The mirror and its CA appear in the directory: the next import goes through them.
    let hosts_toml = format!(
        "[host.\"https://{}\"]\n  ca = \"mirror-ca.pem\"\n",
        mirror.host()
    );
    let ca = [("mirror-ca.pem", mirror.ca_pem().unwrap())];
    host_directory(dir.path(), "127.0.0.3_1_", &hosts_toml, &ca);
    reloads(&server, "applied", 1).await;
    create_stream(&server, "after", from, false).await;
    assert_eq!(import_of(&server, "after").await, Ok(pushed.digest.clone()));

    // A file broken while serving is said once and the last good configuration is kept.
    let file = dir.path().join("127.0.0.3_1_/hosts.toml");
    std::fs::write(&file, "server = [").unwrap();
    reloads(&server, "failed", 1).await;
    create_stream(&server, "kept", from, false).await;
    assert_eq!(import_of(&server, "kept").await, Ok(pushed.digest));
}
