//! The read-only subresources of an ImageStream: `/layers` and `/secrets`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::Target;
use crate::api::ImageStream;
use crate::apiserver::error::ApiError;
use crate::apiserver::http;
use crate::apiserver::options::ListOptions;
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::{decode, Kind, SECRET_TYPES};
use crate::apiserver::state::ApiState;
use crate::store::{self, object_key};

/// The annotation that hides a secret from `/secrets`.
pub const EXCLUDE_SECRET_ANNOTATION: &str = "openshift.io/image.excludeSecret";

/// The manifest media type assumed when an Image names none.
const DEFAULT_MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
const OCI_MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// `GET …/imagestreams/<name>/layers`: the layers and blobs of every image in the history.
pub async fn layers(state: &ApiState, target: &Target) -> Result<Response, ApiError> {
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
    Ok(http::json(StatusCode::OK, "application/json", &body))
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
                Err(error) => return Err(ApiError::internal(error.to_string())),
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
/// name is ignored, as in OpenShift), minus those annotated to be excluded. List options pass
/// through to the Secrets list and so does its metadata, the continue token included, as
/// OpenShift's `imagesecret` REST returns the list it filtered.
pub async fn secrets(
    state: &ApiState,
    target: &Target,
    options: &ListOptions,
) -> Result<Response, ApiError> {
    let secrets = Target {
        kind: Kind::Secret,
        name: None,
        subresource: None,
        ..target.clone()
    };
    let listing = super::read::collect(state, &secrets, options).await?;
    let items: Vec<Value> = listing
        .items
        .into_iter()
        .map(Presented::into_value)
        .filter(is_pull_secret)
        .collect();
    let body = json!({
        "kind": "SecretList", "apiVersion": crate::api::API_VERSION,
        "metadata": list_meta(listing.revision, listing.continue_token), "items": items,
    });
    Ok(http::json(StatusCode::OK, "application/json", &body))
}

/// A list's `metadata`: `continue` only while more may follow.
fn list_meta(revision: u64, continue_token: Option<String>) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = Value::from(token);
    }
    metadata
}

fn is_pull_secret(secret: &Value) -> bool {
    let secret_type = secret["type"].as_str().unwrap_or("");
    let excluded =
        secret["metadata"]["annotations"][EXCLUDE_SECRET_ANNOTATION].as_str() == Some("true");
    SECRET_TYPES.contains(&secret_type) && !excluded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_and_other_secrets_are_not_pull_secrets() {
        let pull = json!({"type": "kubernetes.io/dockerconfigjson", "metadata": {}});
        let excluded = json!({"type": "kubernetes.io/dockercfg",
                              "metadata": {"annotations": {EXCLUDE_SECRET_ANNOTATION: "true"}}});
        let opaque = json!({"type": "Opaque", "metadata": {}});
        assert!(is_pull_secret(&pull));
        assert!(!is_pull_secret(&excluded));
        assert!(!is_pull_secret(&opaque));
    }

    #[test]
    fn secret_lists_carry_the_continue_token_only_while_more_follow() {
        let check = |token: Option<&str>, expected: Value| {
            assert_eq!(list_meta(7, token.map(String::from)), expected, "{token:?}");
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
}
