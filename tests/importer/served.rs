//! Imports through the whole server (`InProcess`), as the tests of start-up flags drive them:
//! streams created through the API, their tags read back once imported.

use serde_json::{json, Value};

use super::common::eventually;
use super::common::serving::InProcess;

/// A DockerImage spec tag `name` from `from`, with `importPolicy.insecure`.
pub fn docker_tag(name: &str, from: &str, insecure: bool) -> Value {
    json!({"name": name, "from": {"kind": "DockerImage", "name": from},
           "importPolicy": {"insecure": insecure}})
}

/// Creates stream `name` in `namespace` with `tags`.
pub async fn create_stream(server: &InProcess, namespace: &str, name: &str, tags: Vec<Value>) {
    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": name}, "spec": {"tags": tags}});
    let streams = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams");
    let (status, created) = server
        .send(server.client.post(server.url(&streams)).json(&stream))
        .await;
    assert_eq!(status, 201, "{created}");
}

/// What one tag's import ended with: its newest image and reference, or its condition's
/// message.
pub type Imported = Result<(String, String), String>;

/// Waits until the import of each of `tags` of stream `namespace/name` ended.
pub async fn imports_of(
    server: &InProcess,
    namespace: &str,
    name: &str,
    tags: &[&str],
) -> Vec<Imported> {
    let path = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}");
    eventually("the imports of the stream's tags", || async {
        let (_, answer) = server.send(server.client.get(server.url(&path))).await;
        let status = answer["status"]["tags"].as_array()?.clone();
        let ended = |tag: &str| -> Option<Imported> {
            let tag = status.iter().find(|t| t["tag"] == tag)?;
            let item = &tag["items"][0];
            if let (Some(image), Some(reference)) = (
                item["image"].as_str(),
                item["dockerImageReference"].as_str(),
            ) {
                return Some(Ok((image.to_string(), reference.to_string())));
            }
            Some(Err(tag["conditions"][0]["message"].as_str()?.to_string()))
        };
        tags.iter().map(|tag| ended(tag)).collect()
    })
    .await
}

/// Creates stream `namespace/name` with tag `v1` from `from` and waits for its import: the
/// image, or the condition's message.
pub async fn import_v1(
    server: &InProcess,
    namespace: &str,
    name: &str,
    from: &str,
    insecure: bool,
) -> Result<String, String> {
    let tags = vec![docker_tag("v1", from, insecure)];
    create_stream(server, namespace, name, tags).await;
    let ended = imports_of(server, namespace, name, &["v1"]).await;
    ended[0].clone().map(|(image, _)| image)
}

/// Waits until the server counts at least `count` registry files reloads with `result`.
pub async fn reloads(server: &InProcess, result: &str, count: u32) {
    let series =
        format!("imagelookup_importer_registry_files_reloads_total{{result=\"{result}\"}} ");
    eventually(&format!("{series}>= {count}"), || async {
        let metrics = server.metrics().await?;
        let counted = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))?;
        (counted.trim().parse::<u32>().ok()? >= count).then_some(())
    })
    .await;
}
