//! The read-only subresources of an ImageStream: `/layers` and `/secrets`.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{json, Value};

use super::{read, Target};
use crate::api::ImageStream;
use crate::apiserver::error::ApiError;
use crate::apiserver::negotiate::{Form, Output};
use crate::apiserver::options::ListOptions;
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::{decode, Kind};
use crate::apiserver::state::ApiState;
use crate::importer::credentials::is_pull_secret;
use crate::importer::secrets::{self, PullSecrets, ReadError};
use crate::store::{self, object_key};

/// The manifest media type assumed when an Image names none.
const DEFAULT_MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
const OCI_MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// `GET …/imagestreams/<name>/layers`: the layers and blobs of every image in the history, in
/// the negotiated encoding.
pub async fn layers(
    state: &ApiState,
    target: &Target,
    output: Output,
) -> Result<Response, ApiError> {
    let stored = state
        .store
        .get(&target.key())
        .await
        .map_err(|e| target.store_error(e))?;
    let stream: ImageStream = decode(&stored.value)?;
    let mut layers = Layers::default();
    for image in history_images(&stream) {
        layers.add_image(state, &image).await?;
    }
    let body = json!({
        "kind": "ImageStreamLayers", "apiVersion": crate::api::API_VERSION,
        "metadata": stored.value["metadata"], "blobs": layers.blobs, "images": layers.images,
    });
    read::encoded(plain(output), &body)
}

/// Only the encoding applies: these documents have no Table or metadata-only form here.
fn plain(output: Output) -> Output {
    Output::new(Form::Plain, output.encoding)
}

/// Every distinct image named by any history item, in order.
fn history_images(stream: &ImageStream) -> Vec<String> {
    let mut seen = Vec::new();
    let items = stream
        .status
        .iter()
        .flat_map(|status| &status.tags)
        .flat_map(|tag| &tag.items);
    for item in items {
        if !item.image.is_empty() && !seen.contains(&item.image) {
            seen.push(item.image.clone());
        }
    }
    seen
}

#[derive(Default)]
struct Layers {
    blobs: BTreeMap<String, Value>,
    images: BTreeMap<String, Value>,
}

impl Layers {
    /// Adds one image and, for a manifest list, its children (iteratively, no recursion limit
    /// surprises on hostile data: each image is visited once).
    async fn add_image(&mut self, state: &ApiState, name: &str) -> Result<(), ApiError> {
        let mut pending = vec![name.to_string()];
        while let Some(name) = pending.pop() {
            if self.images.contains_key(&name) {
                continue;
            }
            let image = match state.store.get(&object_key("images", None, &name)).await {
                Ok(object) => object.value,
                Err(store::Error::NotFound { .. }) => {
                    self.images.insert(name, json!({"imageMissing": true}));
                    continue;
                }
                Err(error) => return Err(super::store_failure(error)),
            };
            pending.extend(self.describe(&name, &image));
        }
        Ok(())
    }

    /// Records an image's layers, config and manifest blobs; returns its child manifests.
    fn describe(&mut self, name: &str, image: &Value) -> Vec<String> {
        let layer_names: Vec<String> = image["dockerImageLayers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|layer| {
                let digest = layer["name"].as_str()?.to_string();
                let blob = json!({"size": layer["size"], "mediaType": layer["mediaType"]});
                self.blobs.insert(digest.clone(), blob);
                Some(digest)
            })
            .collect();
        let manifest_type = image["dockerImageManifestMediaType"]
            .as_str()
            .unwrap_or(DEFAULT_MANIFEST_TYPE);
        self.blobs.insert(
            name.to_string(),
            json!({"size": null, "mediaType": manifest_type}),
        );
        let config = config_digest(image, manifest_type);
        if let Some(config) = &config {
            let config_type = if manifest_type == OCI_MANIFEST_TYPE {
                OCI_CONFIG_TYPE
            } else {
                DOCKER_CONFIG_TYPE
            };
            self.blobs.insert(
                config.clone(),
                json!({"size": null, "mediaType": config_type}),
            );
        }
        let children: Vec<String> = image["dockerImageManifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|child| child["digest"].as_str().map(String::from))
            .collect();
        let mut entry = json!({"layers": layer_names, "config": config, "imageMissing": false});
        if !children.is_empty() {
            entry["manifests"] = json!(children);
        }
        self.images.insert(name.to_string(), entry);
        children
    }
}

/// The config digest, for schema 2 and OCI manifests only (from the image metadata's `Id`).
fn config_digest(image: &Value, manifest_type: &str) -> Option<String> {
    if manifest_type != DEFAULT_MANIFEST_TYPE && manifest_type != OCI_MANIFEST_TYPE {
        return None;
    }
    image["dockerImageMetadata"]["Id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(String::from)
}

/// `GET …/imagestreams/<name>/secrets`: the namespace's docker-config secrets (the stream
/// name is ignored, as in OpenShift), minus those annotated to be excluded, from where the
/// importer reads them, in the negotiated encoding.
pub async fn secrets(
    state: &ApiState,
    user: &str,
    target: &Target,
    options: &ListOptions,
    output: Output,
) -> Result<Response, ApiError> {
    let (items, metadata) = match &state.pull_secrets {
        PullSecrets::Store => from_store(state, user, target, options).await?,
        PullSecrets::Cluster(client) => from_cluster(client, target, options).await?,
    };
    let items: Vec<Value> = items.into_iter().filter(is_pull_secret).collect();
    let body = json!({
        "kind": "SecretList", "apiVersion": crate::api::API_VERSION,
        "metadata": metadata, "items": items,
    });
    read::encoded(plain(output), &body)
}

/// The Secrets written to this server's `/api/v1`. List options pass through to the Secrets
/// list and so does its metadata, the continue token included, as OpenShift's `imagesecret`
/// REST returns the list it filtered.
async fn from_store(
    state: &ApiState,
    user: &str,
    target: &Target,
    options: &ListOptions,
) -> Result<(Vec<Value>, Value), ApiError> {
    let secrets = Target {
        kind: Kind::Secret,
        name: None,
        subresource: None,
        ..target.clone()
    };
    let listing = read::collect(state, user, &secrets, options).await?;
    let items = listing
        .items
        .into_iter()
        .map(Presented::into_value)
        .collect();
    let revision = listing.revision.to_string();
    Ok((items, list_meta(revision, listing.continue_token)))
}

/// The cluster's Secrets, with the cluster's `resourceVersion`. The selectors are applied
/// here, to the whole list the cluster returns: `limit`, `continue` and `resourceVersion` are
/// not passed on (a namespace holds few Secrets), so every match comes in one answer without
/// a continue token.
async fn from_cluster(
    client: &kube::Client,
    target: &Target,
    options: &ListOptions,
) -> Result<(Vec<Value>, Value), ApiError> {
    let namespace = target.namespace.as_deref().unwrap_or_default();
    let listed = secrets::list_cluster(client, namespace)
        .await
        .map_err(unreadable)?;
    let items = listed
        .items
        .into_iter()
        .filter(|secret| options.matches(secret))
        .collect();
    Ok((items, list_meta(listed.resource_version, None)))
}

/// The cluster's refusal stays a 403, as OpenShift passes the Secrets client's error through;
/// a cluster that cannot be asked is a 503 (the request may succeed later).
fn unreadable(error: ReadError) -> ApiError {
    match error {
        ReadError::Forbidden(_) => ApiError::Forbidden {
            resource: None,
            name: String::new(),
            reason: error.to_string(),
        },
        other => ApiError::ServiceUnavailable(other.to_string()),
    }
}

/// A list's `metadata`: `continue` only while more may follow.
fn list_meta(resource_version: String, continue_token: Option<String>) -> Value {
    let mut metadata = json!({"resourceVersion": resource_version});
    if let Some(token) = continue_token {
        metadata["continue"] = Value::from(token);
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::options::ListRequest;

    #[test]
    fn secret_lists_carry_the_continue_token_only_while_more_follow() {
        let check = |token: Option<&str>, expected: Value| {
            let metadata = list_meta("7".into(), token.map(String::from));
            assert_eq!(metadata, expected, "{token:?}");
        };
        check(Some("t"), json!({"resourceVersion": "7", "continue": "t"}));
        check(None, json!({"resourceVersion": "7"}));
    }

    #[test]
    fn layers_record_blobs_config_and_child_manifests() {
        let mut layers = Layers::default();
        let image = json!({"dockerImageLayers": [{"name": "sha256:l1", "size": 10, "mediaType": "m"}],
                           "dockerImageMetadata": {"Id": "sha256:cfg"},
                           "dockerImageManifests": [{"digest": "sha256:child"}]});
        let children = layers.describe("sha256:img", &image);
        assert_eq!(children, ["sha256:child"]);
        assert_eq!(layers.images["sha256:img"]["layers"], json!(["sha256:l1"]));
        assert_eq!(layers.images["sha256:img"]["config"], "sha256:cfg");
        assert_eq!(layers.blobs["sha256:l1"]["size"], 10);
        assert_eq!(
            layers.blobs["sha256:img"]["mediaType"],
            DEFAULT_MANIFEST_TYPE
        );
        assert_eq!(layers.blobs["sha256:cfg"]["mediaType"], DOCKER_CONFIG_TYPE);
    }

    /// An API state over an empty in-memory store, listing Secrets from `pull_secrets`.
    fn state(pull_secrets: PullSecrets) -> ApiState {
        let store = crate::store::EmbeddedStore::in_memory(Default::default()).unwrap();
        ApiState {
            store: std::sync::Arc::new(store),
            strategy: Default::default(),
            index: crate::live_index::LiveIndex::serving(Default::default()),
            auth: Default::default(),
            metrics: std::sync::Arc::new(crate::metrics::Metrics::new()),
            server_address: "127.0.0.1:1".into(),
            encoded: Default::default(),
            draining: Default::default(),
            pull_secrets,
            imports: Default::default(),
            watches: Default::default(),
            lists: Default::default(),
            request_timeout: crate::apiserver::state::REQUEST_TIMEOUT,
        }
    }

    /// The options of a `/secrets` GET without a query.
    fn list_options() -> ListOptions {
        let query = crate::apiserver::options::Query::default();
        let parsed = ListRequest::parse(&query, Kind::Secret.fields(), false).unwrap();
        let ListRequest::List(options) = parsed else {
            unreachable!("a query without watch is a list");
        };
        options
    }

    fn stream_target(subresource: &str) -> Target {
        Target {
            kind: Kind::ImageStream,
            namespace: Some("ns".into()),
            name: Some("s".into()),
            subresource: Some(subresource.into()),
        }
    }

    /// The `Content-Type` and the body of a response.
    async fn written(response: Response) -> (String, String) {
        use http_body_util::BodyExt as _;
        let content_type = response.headers()[axum::http::header::CONTENT_TYPE].clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        (content_type.to_str().unwrap().to_string(), text)
    }

    #[tokio::test]
    async fn layers_and_secrets_are_written_in_the_negotiated_encoding() {
        use crate::apiserver::negotiate::Encoding;
        let state = state(PullSecrets::Store);
        let stream = json!({"metadata": {"name": "s", "namespace": "ns"}});
        let key = object_key("imagestreams", Some("ns"), "s");
        state.store.create(&key, stream).await.unwrap();
        let options = list_options();
        let check = async |encoding: Encoding, content_type: &str, start: &str| {
            let output = Output::new(Form::Plain, encoding);
            let target = stream_target("layers");
            let layers = layers(&state, &target, output).await.unwrap();
            let target = stream_target("secrets");
            let secrets = secrets(&state, "admin", &target, &options, output).await;
            for (what, response) in [("layers", layers), ("secrets", secrets.unwrap())] {
                let (written_type, body) = written(response).await;
                assert_eq!(written_type, content_type, "{what} {encoding:?}");
                assert!(body.starts_with(start), "{what} {encoding:?}: {body}");
            }
        };
        check(Encoding::Json, "application/json", "{\"").await;
        check(Encoding::PrettyJson, "application/json", "{\n  \"").await;
        check(
            Encoding::Yaml,
            "application/yaml",
            "apiVersion: image.openshift.io/v1\n",
        )
        .await;
    }

    #[test]
    fn the_cluster_s_refusal_is_a_403_and_other_failures_a_503() {
        let check = |error: ReadError, code: u16, text: &str| {
            let answer = unreadable(error);
            assert_eq!(answer.code(), code, "{answer}");
            assert!(answer.message().contains(text), "{answer}");
        };
        check(
            ReadError::Forbidden("secrets is forbidden".into()),
            403,
            "secrets is forbidden",
        );
        let failed = ReadError::Failed {
            code: 500,
            message: "etcd is down".into(),
        };
        check(failed, 503, "etcd is down");
        check(ReadError::Unreachable("refused".into()), 503, "refused");
    }
}
