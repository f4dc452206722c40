//! The `image.openshift.io/v1` Image objects an import stores (pure).
//!
//! `/layers` reads them (openshift-semantics §4.9): the layers with sizes and media types, the
//! config digest as `dockerImageMetadata.Id`, the manifest media type, and for an index its
//! children. Images are named by digest and content-addressed, so an existing one is never
//! rewritten.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::manifest::{Content, Manifest};
use crate::store::{self, object_key, Store};

/// The store collection of Images (cluster-scoped).
pub const IMAGES: &str = "images";

/// An image as one import saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    /// The manifest digest: the Image's name.
    pub digest: String,
    /// Where it was pulled from: `<repository>@<digest>`.
    pub reference: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// The architecture it runs on, as the index that listed it says (`amd64`, `arm64`, …);
    /// empty when unknown: an image imported directly, since no config blob is read.
    pub architecture: String,
}

/// The Image object for `record`, created at `now` with identity `uid`.
pub fn image_object(record: &ImageRecord, uid: &str, now: Timestamp) -> Value {
    let mut image = json!({
        "kind": "Image",
        "apiVersion": crate::api::API_VERSION,
        "metadata": {
            "name": record.digest,
            "uid": uid,
            "creationTimestamp": crate::object_meta::time::rfc3339(now),
        },
        "dockerImageReference": record.reference,
        "dockerImageMetadata": metadata(record),
        "dockerImageMetadataVersion": "1.0",
        "dockerImageManifestMediaType": record.manifest.media_type,
    });
    match &record.manifest.content {
        Content::Image { layers, .. } => {
            let layers: Vec<Value> = layers
                .iter()
                .map(|l| json!({"name": l.digest, "size": l.size, "mediaType": l.media_type}))
                .collect();
            image["dockerImageLayers"] = Value::Array(layers);
        }
        Content::Index { children } => {
            image["dockerImageLayers"] = json!([]);
            image["dockerImageManifests"] = children
                .iter()
                .map(|c| {
                    json!({"digest": c.digest, "mediaType": c.media_type,
                           "architecture": c.architecture, "os": c.os, "variant": c.variant})
                })
                .collect();
        }
    }
    image
}

/// Stores the Image object of `record` unless one of that name exists (images are
/// content-addressed, so an existing one is the same image). Returns the object as stored, or
/// as it would have been when the store already held one or could not be written (logged: the
/// tag still records the digest, and only `/layers` misses the image).
pub async fn store_image(store: &dyn Store, record: &ImageRecord) -> Value {
    let key = object_key(IMAGES, None, &record.digest);
    let uid = uuid::Uuid::new_v4().to_string();
    let object = image_object(record, &uid, Timestamp::now());
    match store.create(&key, object.clone()).await {
        Ok(stored) => Value::clone(&stored.value),
        Err(store::Error::AlreadyExists { .. }) => match store.get(&key).await {
            Ok(existing) => Value::clone(&existing.value),
            Err(_) => object,
        },
        Err(error) => {
            tracing::warn!(image = %record.digest, %error, "cannot store image");
            object
        }
    }
}

/// Stores each of `images` (see [`store_image`]).
pub async fn store_images(store: &dyn Store, images: &[ImageRecord]) {
    for record in images {
        let key = object_key(IMAGES, None, &record.digest);
        let uid = uuid::Uuid::new_v4().to_string();
        let object = image_object(record, &uid, Timestamp::now());
        match store.create(&key, object).await {
            Ok(_) | Err(store::Error::AlreadyExists { .. }) => {}
            Err(error) => tracing::warn!(image = %record.digest, %error, "cannot store image"),
        }
    }
}

/// `dockerImageMetadata`: OpenShift fills it from the config blob; the importer records only
/// the config digest (`Id`), which is what `/layers` reads, and saves a blob fetch per image.
/// `Architecture` comes from the index entry that named the image, when one did (OpenShift's
/// `DockerImage` has no OS field, so the entry's `os` is not recorded here).
fn metadata(record: &ImageRecord) -> Value {
    let mut metadata = json!({"kind": "DockerImage", "apiVersion": "1.0"});
    if let Content::Image { config, .. } = &record.manifest.content {
        metadata["Id"] = json!(config.digest);
    }
    if !record.architecture.is_empty() {
        metadata["Architecture"] = json!(record.architecture);
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::manifest::{Blob, Child, DOCKER_MANIFEST, OCI_INDEX};

    fn record(content: Content, media_type: &str) -> ImageRecord {
        ImageRecord {
            digest: "sha256:m".into(),
            reference: "reg/o/app@sha256:m".into(),
            manifest: Manifest {
                media_type: media_type.into(),
                content,
            },
            architecture: String::new(),
        }
    }

    fn object(record: &ImageRecord) -> Value {
        let now =
            Timestamp::from_second(0).unwrap() + jiff::SignedDuration::from_nanos(809_204_125);
        image_object(record, "u-1", now)
    }

    #[test]
    fn images_carry_layers_config_and_manifest_type() {
        let layer = Blob {
            digest: "sha256:l".into(),
            size: 5,
            media_type: "lt".into(),
        };
        let config = Blob {
            digest: "sha256:c".into(),
            ..Blob::default()
        };
        let image = object(&record(
            Content::Image {
                config,
                layers: vec![layer],
            },
            DOCKER_MANIFEST,
        ));
        assert_eq!(image["metadata"]["name"], "sha256:m");
        assert_eq!(image["metadata"]["uid"], "u-1");
        assert_eq!(
            image["metadata"]["creationTimestamp"],
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(image["dockerImageReference"], "reg/o/app@sha256:m");
        assert_eq!(image["dockerImageMetadata"]["Id"], "sha256:c");
        assert_eq!(image["dockerImageManifestMediaType"], DOCKER_MANIFEST);
        assert_eq!(
            image["dockerImageLayers"],
            json!([{"name": "sha256:l", "size": 5, "mediaType": "lt"}])
        );
        assert!(image.get("dockerImageManifests").is_none());
        assert!(image["dockerImageMetadata"].get("Architecture").is_none());
    }

    #[test]
    fn an_index_child_records_the_architecture_the_index_names() {
        let check = |architecture: &str, expected: Option<&str>| {
            let content = Content::Image {
                config: Blob::default(),
                layers: Vec::new(),
            };
            let mut record = record(content, DOCKER_MANIFEST);
            record.architecture = architecture.into();
            let image = object(&record);
            let recorded = image["dockerImageMetadata"].get("Architecture");
            assert_eq!(
                recorded.and_then(Value::as_str),
                expected,
                "{architecture:?}"
            );
        };
        check("arm64", Some("arm64"));
        check("", None);
    }

    #[test]
    fn indexes_list_their_children_and_have_no_config() {
        let child = Child {
            digest: "sha256:a".into(),
            media_type: "mt".into(),
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: "v8".into(),
        };
        let image = object(&record(
            Content::Index {
                children: vec![child],
            },
            OCI_INDEX,
        ));
        assert_eq!(
            image["dockerImageManifests"],
            json!([{"digest": "sha256:a", "mediaType": "mt", "architecture": "arm64",
                    "os": "linux", "variant": "v8"}])
        );
        assert!(image["dockerImageMetadata"].get("Id").is_none());
        assert_eq!(image["dockerImageLayers"], json!([]));
    }
}
