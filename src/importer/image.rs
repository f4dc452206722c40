//! The `image.openshift.io/v1` Image objects an import stores (pure).
//!
//! `/layers` reads them (openshift-semantics §4.9): the layers with sizes and media types, the
//! config digest as `dockerImageMetadata.Id`, the manifest media type, and for an index its
//! children. Images are named by digest and content-addressed, so an existing one keeps its
//! fields; an import only adds the architectures it learned and the stored Image lacks
//! ([`merged`]), so images stored before the architecture was recorded get it.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::manifest::{Content, Manifest};
use crate::store::{self, object_key, Store};

/// The store collection of Images (cluster-scoped).
pub const IMAGES: &str = "images";

/// The annotation listing every architecture the indexes that named an image list it under,
/// comma-separated, when there are several (an index repeating one manifest for amd64 and
/// arm64). `dockerImageMetadata.Architecture` is one string in OpenShift's `DockerImage` and
/// keeps the picked entry's, as OpenShift's would.
pub const ARCHITECTURES_ANNOTATION: &str = "imagelookup.io/architectures";
/// When an import last found a stored Image again: the pruner ([`super::prune`]) counts an
/// image's age from it, so that an import about to record an old image never races the pruner
/// into deleting it.
pub const LAST_IMPORTED_ANNOTATION: &str = "imagelookup.io/last-imported";
/// How old an image's last import may be before an import that finds it again records the
/// new one: under the pruner's 60-minute grace, so an image being recorded is never old enough
/// to prune; a scheduled import finding its image unchanged writes it at most this often.
const TOUCH_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(30 * 60);

/// How often a stored Image is read again after a concurrent write beat the merge.
const MERGE_ATTEMPTS: usize = 4;

/// An image as one import saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    /// The manifest digest: the Image's name.
    pub digest: String,
    /// Where it was pulled from: `<repository>@<digest>`.
    pub reference: String,
    /// Its manifest.
    pub manifest: Manifest,
    /// The architectures it runs on, as the index that listed it says (`amd64`, `arm64`, …):
    /// the picked entry's first, then any other entry naming the same digest. Empty when
    /// unknown: an image imported directly, since no config blob is read.
    pub architectures: Vec<String>,
    /// The manifest as the registry sent it: an `imagestreamimports` answer that includes
    /// manifests returns it; no Image stores it.
    pub manifest_body: String,
    /// The config blob, when it was asked for (see [`Self::manifest_body`]).
    pub config_body: Option<String>,
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
    if record.architectures.len() > 1 {
        image["metadata"]["annotations"] =
            json!({ARCHITECTURES_ANNOTATION: record.architectures.join(",")});
    }
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

/// Stores the Image object of `record`, or adds to the one stored under its name the
/// architectures it lacks ([`merged`]). Returns the object as stored when this call created
/// it; `None` when one was stored already, or when the store could not be written (logged: the
/// tag still records the digest, and only `/layers` and the architecture warning miss the
/// image).
pub async fn store_image(store: &dyn Store, record: &ImageRecord) -> Option<Value> {
    let uid = uuid::Uuid::new_v4().to_string();
    let object = image_object(record, &uid, Timestamp::now());
    match store_object(store, &record.digest, &object).await {
        Ok(created) => created,
        Err(error) => {
            tracing::warn!(image = %record.digest, %error, "cannot store image");
            None
        }
    }
}

/// Stores each of `images` (see [`store_image`]).
pub async fn store_images(store: &dyn Store, images: &[ImageRecord]) {
    for record in images {
        store_image(store, record).await;
    }
}

/// Creates `object` under `digest` (the stored object), or merges it into the stored one with
/// a compare-and-swap on its revision, read again when another write got there first (`None`).
async fn store_object(
    store: &dyn Store,
    digest: &str,
    object: &Value,
) -> store::Result<Option<Value>> {
    let key = object_key(IMAGES, None, digest);
    let mut attempt = 1;
    loop {
        let outcome = match store.create(&key, object.clone()).await {
            Ok(stored) => return Ok(Some(Value::clone(&stored.value))),
            Err(store::Error::AlreadyExists { .. }) => {
                merge_into(store, &key, object).await.map(|_| None)
            }
            Err(error) => Err(error),
        };
        // Changed or deleted since it was read: read (or create) it again.
        let raced = matches!(
            outcome,
            Err(store::Error::Conflict { .. } | store::Error::NotFound { .. })
        );
        if !raced || attempt == MERGE_ATTEMPTS {
            return outcome;
        }
        attempt += 1;
    }
}

/// One read-merge-write of the Image stored under `key`.
async fn merge_into(store: &dyn Store, key: &str, fresh: &Value) -> store::Result<Value> {
    let existing = store.get(key).await?;
    match merged(&existing.value, fresh) {
        None => Ok(Value::clone(&existing.value)),
        Some(update) => {
            let stored = store.update(key, update, Some(existing.revision)).await?;
            Ok(Value::clone(&stored.value))
        }
    }
}

/// The stored Image `stored` with the architectures `fresh` records and it lacks, or `None`
/// when it lacks none (pure). An `Architecture` already stored is kept; the annotation lists
/// the union of both images' architectures, the stored ones first; nothing else changes.
pub fn merged(stored: &Value, fresh: &Value) -> Option<Value> {
    let mut update = stored.clone();
    if architecture(stored).is_none() {
        if let Some(own) = architecture(fresh) {
            update["dockerImageMetadata"]["Architecture"] = json!(own);
        }
    }
    let mut all = listed(stored);
    for name in listed(fresh) {
        if !all.contains(&name) {
            all.push(name);
        }
    }
    if all.len() > 1 && annotated(stored) != Some(all.join(",").as_str()) {
        annotate(&mut update, ARCHITECTURES_ANNOTATION, &all.join(","));
    }
    // `fresh` is dated now: the import finds the image again at that time.
    if let Some(now) = fresh
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
    {
        let stale = |used: Timestamp| {
            // A mark ahead of now (a faster clock's, or any writer's: the annotation is not
            // validated) is refreshed too, and one near the end of time must not overflow.
            now.parse::<Timestamp>().is_ok_and(|now| {
                used > now || used.checked_add(TOUCH_AFTER).is_ok_and(|due| due < now)
            })
        };
        if last_used(stored).is_none_or(stale) {
            annotate(&mut update, LAST_IMPORTED_ANNOTATION, now);
        }
    }
    (update != *stored).then_some(update)
}

/// Sets the annotation `key` of `image` to `value`.
fn annotate(image: &mut Value, key: &str, value: &str) {
    if !image["metadata"]["annotations"].is_object() {
        image["metadata"]["annotations"] = json!({});
    }
    image["metadata"]["annotations"][key] = json!(value);
}

/// When an Image was last stored or found again by an import: the later of its
/// `creationTimestamp` and its [`LAST_IMPORTED_ANNOTATION`]; `None` when neither reads.
pub fn last_used(image: &Value) -> Option<Timestamp> {
    let metadata = &image["metadata"];
    let times = [
        &metadata["creationTimestamp"],
        &metadata["annotations"][LAST_IMPORTED_ANNOTATION],
    ];
    let parsed = times
        .into_iter()
        .filter_map(|at| at.as_str()?.parse::<Timestamp>().ok());
    parsed.max()
}

/// A stored Image's own `dockerImageMetadata.Architecture`, when it has one.
fn architecture(image: &Value) -> Option<&str> {
    let own = image.pointer("/dockerImageMetadata/Architecture")?.as_str();
    own.filter(|own| !own.is_empty())
}

/// The value of an Image's [`ARCHITECTURES_ANNOTATION`].
fn annotated(image: &Value) -> Option<&str> {
    image
        .pointer("/metadata/annotations")?
        .get(ARCHITECTURES_ANNOTATION)?
        .as_str()
}

/// Every architecture an Image records: its own, then its annotation's.
fn listed(image: &Value) -> Vec<String> {
    let mut names: Vec<String> = architecture(image).map(String::from).into_iter().collect();
    for name in annotated(image).unwrap_or_default().split(',') {
        if !name.is_empty() && !names.iter().any(|known| known == name) {
            names.push(name.to_string());
        }
    }
    names
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
    if let Some(own) = record.architectures.first().filter(|own| !own.is_empty()) {
        metadata["Architecture"] = json!(own);
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
            architectures: Vec::new(),
            manifest_body: String::new(),
            config_body: None,
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
    fn an_index_child_records_the_architectures_the_index_names() {
        let check = |architectures: &[&str], own: Option<&str>, listed: Option<&str>| {
            let content = Content::Image {
                config: Blob::default(),
                layers: Vec::new(),
            };
            let mut record = record(content, DOCKER_MANIFEST);
            record.architectures = architectures.iter().map(|a| a.to_string()).collect();
            let image = object(&record);
            let recorded = image["dockerImageMetadata"].get("Architecture");
            assert_eq!(recorded.and_then(Value::as_str), own, "{architectures:?}");
            assert_eq!(annotated(&image), listed, "{architectures:?}");
        };
        check(&["arm64"], Some("arm64"), None);
        check(&["amd64", "arm64"], Some("amd64"), Some("amd64,arm64"));
        check(&[], None, None);
    }

    fn stored(own: Option<&str>, listed: Option<&str>) -> Value {
        let mut image = json!({"kind": "Image", "metadata": {"name": "sha256:m", "uid": "u-0",
                                                      "resourceVersion": "7",
                                                      "annotations": {"a": "b"}},
                               "dockerImageReference": "reg/other@sha256:m",
                               "dockerImageMetadata": {"kind": "DockerImage", "Id": "sha256:c"}});
        if let Some(own) = own {
            image["dockerImageMetadata"]["Architecture"] = json!(own);
        }
        if let Some(listed) = listed {
            image["metadata"]["annotations"][ARCHITECTURES_ANNOTATION] = json!(listed);
        }
        image
    }

    #[test]
    fn an_import_that_finds_an_old_image_again_marks_it_once_a_while() {
        let dated = |created: &str, mark: Option<&str>| {
            let mut image = stored(Some("amd64"), None);
            image["metadata"]["creationTimestamp"] = json!(created);
            if let Some(mark) = mark {
                image["metadata"]["annotations"][LAST_IMPORTED_ANNOTATION] = json!(mark);
            }
            image
        };
        let found_at = |now: &str| dated(now, None);
        let marked = |created: &str, mark: &str| Some(dated(created, Some(mark)));
        let cases: Vec<(Value, Value, Option<Value>)> = vec![
            // Stored an hour ago: marked now.
            (
                dated("2026-01-01T10:00:00Z", None),
                found_at("2026-01-01T11:00:00Z"),
                marked("2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"),
            ),
            // Stored or marked less than half an hour ago: nothing to write.
            (
                dated("2026-01-01T10:55:00Z", None),
                found_at("2026-01-01T11:00:00Z"),
                None,
            ),
            (
                dated("2026-01-01T08:00:00Z", Some("2026-01-01T10:55:00Z")),
                found_at("2026-01-01T11:00:00Z"),
                None,
            ),
            // Marked long ago: marked again.
            (
                dated("2026-01-01T08:00:00Z", Some("2026-01-01T09:00:00Z")),
                found_at("2026-01-01T11:00:00Z"),
                marked("2026-01-01T08:00:00Z", "2026-01-01T11:00:00Z"),
            ),
            // Marked ahead of now, as far as time goes: marked now, not kept forever.
            (
                dated("2026-01-01T08:00:00Z", Some("9999-12-30T21:59:00Z")),
                found_at("2026-01-01T11:00:00Z"),
                marked("2026-01-01T08:00:00Z", "2026-01-01T11:00:00Z"),
            ),
            (
                dated("2026-01-01T08:00:00Z", Some("2026-01-02T08:00:00Z")),
                found_at("2026-01-01T11:00:00Z"),
                marked("2026-01-01T08:00:00Z", "2026-01-01T11:00:00Z"),
            ),
            // Undated: marked, so that its age can be told.
            (
                stored(Some("amd64"), None),
                found_at("2026-01-01T11:00:00Z"),
                {
                    let mut image = stored(Some("amd64"), None);
                    image["metadata"]["annotations"][LAST_IMPORTED_ANNOTATION] =
                        json!("2026-01-01T11:00:00Z");
                    Some(image)
                },
            ),
        ];
        for (stored, fresh, expected) in cases {
            assert_eq!(merged(&stored, &fresh), expected, "{stored} + {fresh}");
        }
    }

    #[test]
    fn a_stored_image_gains_only_the_architectures_it_lacks() {
        let check = |stored: Value, fresh: Value, expected: Option<Value>| {
            assert_eq!(merged(&stored, &fresh), expected, "{stored} + {fresh}");
        };
        // Imported by digest before: it gains the index's architecture, nothing else changes.
        let mut gained = stored(None, None);
        gained["dockerImageMetadata"]["Architecture"] = json!("amd64");
        check(
            stored(None, None),
            stored(Some("amd64"), None),
            Some(gained),
        );
        let both = stored(Some("amd64"), Some("amd64,arm64"));
        check(
            stored(None, None),
            stored(Some("amd64"), Some("amd64,arm64")),
            Some(both.clone()),
        );
        check(
            stored(Some("amd64"), None),
            stored(Some("amd64"), Some("amd64,arm64")),
            Some(both),
        );
        let mut bare = stored(Some("amd64"), None);
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        let mut annotated = bare.clone();
        annotated["metadata"]["annotations"] = json!({ARCHITECTURES_ANNOTATION: "amd64,arm64"});
        check(
            bare,
            stored(Some("amd64"), Some("amd64,arm64")),
            Some(annotated),
        );
        // Nothing to add: no write, so the resourceVersion stays.
        check(stored(None, None), stored(None, None), None);
        check(
            stored(Some("amd64"), None),
            stored(Some("amd64"), None),
            None,
        );
        check(stored(Some("amd64"), None), stored(None, None), None);
        check(
            stored(Some("amd64"), Some("amd64,arm64")),
            stored(Some("arm64"), Some("arm64,amd64")),
            None,
        );
        // The stored Architecture is kept; another index's names join the annotation.
        check(
            stored(Some("arm64"), None),
            stored(Some("amd64"), None),
            Some(stored(Some("arm64"), Some("arm64,amd64"))),
        );
        check(
            stored(Some("amd64"), Some("amd64,arm64")),
            stored(Some("s390x"), None),
            Some(stored(Some("amd64"), Some("amd64,arm64,s390x"))),
        );
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
