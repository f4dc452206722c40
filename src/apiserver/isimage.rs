//! `imagestreamimages`: one image of a stream's history addressed as `<stream>@<id>`, built
//! from the stream on every read as openshift-apiserver's `registry/imagestreamimage/rest.go`
//! builds it; nothing is stored. Builds name images this way (`ImageStreamImage` sources).

use jiff::Timestamp;
use serde_json::{json, Value};

use super::error::{ApiError, GroupResource};
use super::istag::embedded_image;
use super::negotiate::IncludeObject;
use super::table;
use crate::api::{ImageStream, GROUP};
use crate::strategy::{resolve_image_id, ResolveImageIdError};

/// The kind of one object.
pub const KIND: &str = "ImageStreamImage";

/// The resource as discovery lists it.
pub const RESOURCE: GroupResource = GroupResource::new(GROUP, "imagestreamimages");

/// The resource OpenShift's errors name (`image.Resource("imagestreamimage")`, singular).
const ERROR_RESOURCE: GroupResource = GroupResource::new(GROUP, "imagestreamimage");

/// Splits `<stream>@<id>` as library-go's `ParseImageStreamImageName` does: exactly one `@`,
/// both sides non-empty; else OpenShift's 400.
pub fn split_name(name: &str) -> Result<(&str, &str), ApiError> {
    match name.split_once('@') {
        Some((stream, id)) if !stream.is_empty() && !id.is_empty() && !id.contains('@') => {
            Ok((stream, id))
        }
        _ => Err(ApiError::BadRequest(
            "ImageStreamImages must be retrieved with <name>@<id>".into(),
        )),
    }
}

/// The image `id` (a digest, or a unique prefix of one) of the stream's history, as
/// `ResolveImageID` finds it: 404 when no event names it, 409 when a prefix names several.
pub fn image_of(stream: &ImageStream, name: &str, id: &str) -> Result<String, ApiError> {
    let has_history = stream.status.as_ref().is_some_and(|s| !s.tags.is_empty());
    if !has_history {
        return Err(ApiError::not_found(ERROR_RESOURCE, name));
    }
    // The event's time is not used: only the image it names.
    match resolve_image_id(stream, id, Timestamp::UNIX_EPOCH) {
        Ok(event) => Ok(event.image),
        Err(ResolveImageIdError::NotFound(_)) => Err(ApiError::not_found(ERROR_RESOURCE, id)),
        // The Conflict's own message names the resource; the reason is only what went wrong.
        Err(ResolveImageIdError::Ambiguous { images, .. }) => Err(ApiError::Conflict {
            resource: ERROR_RESOURCE,
            name: id.to_string(),
            reason: format!(
                "multiple images match the prefix {id:?}: {}",
                images.join(", ")
            ),
        }),
    }
}

/// The ImageStreamImage of `image` in `stream`: the stored Image object without its blobs
/// (or, when none is stored, one naming the image and the newest reference the history has
/// for it), the stream's annotations, and the image's creation time (the history's, without
/// an Image object).
pub fn image_stream_image(
    stream: &ImageStream,
    name: &str,
    image: &str,
    stored: Option<Value>,
) -> Value {
    let newest = newest_event_of(stream, image);
    let mut embedded = embedded_image(stored, image, &Default::default());
    if embedded.get("dockerImageReference").is_none() {
        let reference = newest.map_or("", |e| e.docker_image_reference.as_str());
        embedded["dockerImageReference"] = Value::from(reference);
    }
    let created = embedded["metadata"]
        .get("creationTimestamp")
        .cloned()
        .unwrap_or_else(|| json!(newest.map(|e| &e.created)));
    let mut metadata = json!({
        "name": name,
        "namespace": stream.metadata.namespace.clone().unwrap_or_default(),
        "creationTimestamp": created,
    });
    if let Some(annotations) = stream
        .metadata
        .annotations
        .as_ref()
        .filter(|a| !a.is_empty())
    {
        metadata["annotations"] = json!(annotations);
    }
    json!({
        "kind": KIND,
        "apiVersion": crate::api::API_VERSION,
        "metadata": metadata,
        "image": embedded,
    })
}

/// The newest event of any tag that names `image`.
fn newest_event_of<'a>(stream: &'a ImageStream, image: &str) -> Option<&'a crate::api::TagEvent> {
    let events = stream
        .status
        .iter()
        .flat_map(|s| &s.tags)
        .flat_map(|t| &t.items);
    events
        .filter(|event| event.image == image)
        .max_by_key(|event| event.created.0)
}

/// OpenShift's ImageStreamImage printer: Name and Updated, then Image Reference and Image
/// Name for `-o wide`.
pub fn table_of(isimage: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let column = |name: &str, format: &str, description: &str, priority: u8| {
        json!({"name": name, "type": "string", "format": format,
               "description": description, "priority": priority})
    };
    let columns = json!([
        column("Name", "name", table::NAME_DESCRIPTION, 0),
        column("Updated", "", "Last update time.", 0),
        column(
            "Image Reference",
            "",
            "dockerImageReference is the string that can be used to pull this image.",
            1
        ),
        column(
            "Image Name",
            "",
            "image associated with the ImageStream and image name.",
            1
        ),
    ]);
    let cells = json!([
        isimage["metadata"]["name"],
        table::updated_ago(isimage["metadata"]["creationTimestamp"].as_str(), now),
        isimage["image"]["dockerImageReference"],
        isimage["image"]["metadata"]["name"],
    ]);
    let row = table::row_of(cells, isimage, include);
    table::table(json!({}), columns, vec![row])
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::api::{ImageStreamStatus, NamedTagEventList, TagEvent};

    fn digest(fill: char) -> String {
        format!("sha256:{}", fill.to_string().repeat(64))
    }

    fn event(at: &str, image: &str) -> TagEvent {
        TagEvent {
            created: Time(at.parse().unwrap()),
            docker_image_reference: format!("quay.io/o/db@{image}"),
            image: image.into(),
            generation: 1,
        }
    }

    /// `ns/db` whose tag `8` had image `a` then `b`, and tag `old` image `a0…`.
    fn stream() -> ImageStream {
        let mut stream = ImageStream::default();
        stream.metadata.name = Some("db".into());
        stream.metadata.namespace = Some("ns".into());
        stream.metadata.annotations = Some([("note".to_string(), "x".to_string())].into());
        let a0 = format!("sha256:a0{}", "c".repeat(62));
        stream.status = Some(ImageStreamStatus {
            tags: vec![
                NamedTagEventList {
                    tag: "8".into(),
                    items: vec![
                        event("2026-02-01T00:00:00Z", &digest('b')),
                        event("2026-01-01T00:00:00Z", &digest('a')),
                    ],
                    conditions: vec![],
                },
                NamedTagEventList {
                    tag: "old".into(),
                    items: vec![event("2025-01-01T00:00:00Z", &a0)],
                    conditions: vec![],
                },
            ],
            ..ImageStreamStatus::default()
        });
        stream
    }

    #[test]
    fn names_split_into_stream_and_id_only_with_exactly_one_at() {
        assert_eq!(split_name("db@sha256:abc").unwrap(), ("db", "sha256:abc"));
        for bad in ["db", "db@", "@sha256:abc", "db@a@b", "db:8"] {
            let error = split_name(bad).unwrap_err();
            assert_eq!(error.code(), 400, "{bad}");
            assert_eq!(
                error.to_string(),
                "ImageStreamImages must be retrieved with <name>@<id>"
            );
        }
    }

    #[test]
    fn an_image_is_found_by_digest_or_unique_prefix_in_any_tags_history() {
        let stream = stream();
        let check = |id: &str| image_of(&stream, &format!("db@{id}"), id);
        assert_eq!(check(&digest('a')).unwrap(), digest('a'));
        assert_eq!(check("bbbb").unwrap(), digest('b'));
        assert_eq!(check("sha256:bb").unwrap(), digest('b'));
        let not_found = check("ffff").unwrap_err();
        assert_eq!((not_found.code(), not_found.reason()), (404, "NotFound"));
        let ambiguous = check("a").unwrap_err();
        assert_eq!((ambiguous.code(), ambiguous.reason()), (409, "Conflict"));
        let message = ambiguous.to_string();
        let a0 = format!("sha256:a0{}", "c".repeat(62));
        let expected = format!(
            "Operation cannot be fulfilled on imagestreamimage.image.openshift.io \"a\": \
             multiple images match the prefix \"a\": {a0}, {}",
            digest('a')
        );
        assert_eq!(message, expected);
        let mut empty = stream.clone();
        empty.status = None;
        assert_eq!(image_of(&empty, "db@x", "x").unwrap_err().code(), 404);
    }

    #[test]
    fn without_a_stored_image_the_newest_event_gives_reference_and_time() {
        let isimage = image_stream_image(&stream(), "db@aaaa", &digest('a'), None);
        assert_eq!(isimage["kind"], "ImageStreamImage");
        assert_eq!(
            isimage["metadata"],
            json!({"name": "db@aaaa", "namespace": "ns",
                   "creationTimestamp": "2026-01-01T00:00:00Z", "annotations": {"note": "x"}})
        );
        assert_eq!(isimage["image"]["metadata"]["name"], digest('a'));
        assert_eq!(
            isimage["image"]["dockerImageReference"],
            format!("quay.io/o/db@{}", digest('a'))
        );
    }

    #[test]
    fn a_stored_image_keeps_its_own_reference_and_creation_time() {
        let stored = json!({"kind": "Image", "metadata": {"name": digest('a'),
            "creationTimestamp": "2020-01-01T00:00:00Z"},
            "dockerImageReference": "mirror.example/db@x", "dockerImageManifest": "{}"});
        let isimage = image_stream_image(&stream(), "db@aaaa", &digest('a'), Some(stored));
        assert_eq!(
            isimage["metadata"]["creationTimestamp"],
            "2020-01-01T00:00:00Z"
        );
        assert_eq!(
            isimage["image"]["dockerImageReference"],
            "mirror.example/db@x"
        );
        assert!(isimage["image"].get("dockerImageManifest").is_none());
        assert!(isimage["image"].get("kind").is_none());
    }
}
