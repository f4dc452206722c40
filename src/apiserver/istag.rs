//! `imagestreamtags`: one tag of a stream seen as an object of its own (`oc get istag
//! mysql:8.0`), built from the stream on every read as openshift-apiserver's
//! `registry/imagestreamtag/rest.go` (`newISTag`) builds it; nothing is stored.
//!
//! Pipelines read `{.image.dockerImageReference}` of an ImageStreamTag to learn what a tag
//! points at, so that field follows the tag's reference policy exactly as lookup does
//! (`ResolveReferenceForTagEvent`, openshift-semantics §2.2 step 5).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};

use super::error::{ApiError, GroupResource};
use super::fields::{FieldSet, UnknownFieldStyle};
use super::negotiate::IncludeObject;
use super::table;
use crate::api::{ImageStream, TagEvent, GROUP};
use crate::field::FieldError;
use crate::reference::{self, ImageRef};
use crate::strategy;

pub mod patch;
mod write;

pub use write::{
    check_body, create_tag, ignored_metadata_warnings, no_tag_warning, update_tag, TagWrite,
};

/// The kind of one object.
pub const KIND: &str = "ImageStreamTag";

/// The kind of a list.
pub const LIST_KIND: &str = "ImageStreamTagList";

/// The resource, for error details.
pub const RESOURCE: GroupResource = GroupResource::new(GROUP, "imagestreamtags");

/// The fields a list can select on (an ImageStreamTag's name is `<stream>:<tag>`).
pub const ISTAG_FIELDS: FieldSet = FieldSet {
    fields: &["metadata.name", "metadata.namespace"],
    unknown: UnknownFieldStyle::MetaOnly,
};

/// Splits `<stream>:<tag>` as library-go's `ParseImageStreamTagName` does: exactly one `:`,
/// no `@`, both sides non-empty; else OpenShift's 400.
pub fn split_name(name: &str) -> Result<(&str, &str), ApiError> {
    let invalid =
        || ApiError::BadRequest("ImageStreamTags must be retrieved with <name>:<tag>".into());
    if name.contains('@') {
        return Err(invalid());
    }
    match name.split_once(':') {
        Some((stream, tag)) if !stream.is_empty() && !tag.is_empty() && !tag.contains(':') => {
            Ok((stream, tag))
        }
        _ => Err(invalid()),
    }
}

/// The tag's newest event, when it names an image: a tag without one is not found (§2.2
/// step 3), whatever its spec says.
pub fn latest_image_event<'a>(stream: &'a ImageStream, tag: &str) -> Option<&'a TagEvent> {
    stream
        .latest_event(tag)
        .filter(|event| !event.image.is_empty())
}

/// The ImageStreamTag of `tag` (`newISTag`), or `None` when the tag has no image yet.
/// `image` is the stored Image object the event names, when there is one; without it the
/// embedded image carries its name and reference only, as OpenShift's list does.
pub fn image_stream_tag(stream: &ImageStream, tag: &str, image: Option<Value>) -> Option<Value> {
    let event = latest_image_event(stream, tag)?;
    Some(build(stream, tag, image, event))
}

/// The ImageStreamTag a create or update answers with: as [`image_stream_tag`], or, while the
/// tag has no image yet, one with an empty image created with the stream (`newISTag` with
/// `allowEmptyEvent`).
pub fn written_image_stream_tag(stream: &ImageStream, tag: &str, image: Option<Value>) -> Value {
    if let Some(event) = latest_image_event(stream, tag) {
        return build(stream, tag, image, event);
    }
    let created = stream.metadata.creation_timestamp.clone();
    let empty = TagEvent {
        created: created.unwrap_or(Time(Timestamp::UNIX_EPOCH)),
        docker_image_reference: String::new(),
        image: String::new(),
        generation: 0,
    };
    build(stream, tag, None, &empty)
}

fn build(stream: &ImageStream, tag: &str, image: Option<Value>, event: &TagEvent) -> Value {
    let spec_tag = stream.spec_tag(tag);
    let annotations = spec_tag
        .and_then(|spec| spec.annotations.clone())
        .unwrap_or_default();
    let mut metadata = json!({
        "name": format!("{}:{tag}", stream.name()),
        "namespace": stream.metadata.namespace.clone().unwrap_or_default(),
        "uid": stream.metadata.uid,
        "resourceVersion": stream.metadata.resource_version,
        "creationTimestamp": event.created,
    });
    if let Some(labels) = stream.metadata.labels.as_ref().filter(|l| !l.is_empty()) {
        metadata["labels"] = json!(labels);
    }
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    let mut image = embedded_image(image, &event.image, &annotations);
    image["dockerImageReference"] = Value::from(reference_for_tag_event(stream, tag, event));
    let mut istag = json!({
        "kind": KIND,
        "apiVersion": crate::api::API_VERSION,
        "metadata": metadata,
        "tag": spec_tag,
        "generation": event.generation,
        "lookupPolicy": stream.spec.lookup_policy,
        "image": image,
    });
    let conditions = stream.status_tag(tag).map(|t| &t.conditions);
    if let Some(conditions) = conditions.filter(|c| !c.is_empty()) {
        istag["conditions"] = json!(conditions);
    }
    istag
}

/// `old` without `tag`, its spec tag and its history, as OpenShift's ImageStreamTag delete
/// leaves it (the image itself stays); `None` when the stream has neither. Written with the
/// stream rules of an update and then of a status update, as OpenShift's internal update
/// writes spec and status together.
pub fn without_tag(
    old: &ImageStream,
    tag: &str,
    ctx: &strategy::Context<'_>,
) -> Result<Option<ImageStream>, Vec<FieldError>> {
    let in_spec = old.spec.tags.iter().any(|spec| spec.name == tag);
    if !in_spec && old.status_tag(tag).is_none() {
        return Ok(None);
    }
    let mut spec = old.clone();
    spec.spec.tags.retain(|spec| spec.name != tag);
    strategy::prepare_for_update(&mut spec, old, ctx)?;
    let mut next = spec.clone();
    if let Some(status) = next.status.as_mut() {
        status.tags.retain(|history| history.tag != tag);
    }
    strategy::prepare_for_status_update(&mut next, &spec, ctx)?;
    Ok(Some(next))
}

/// Every tag of `stream` that has an image, in status order (OpenShift's List, whose map
/// order is random).
pub fn image_stream_tags(stream: &ImageStream) -> impl Iterator<Item = Value> + '_ {
    let tags = stream.status.iter().flat_map(|status| &status.tags);
    tags.filter_map(|tag| image_stream_tag(stream, &tag.tag, None))
}

/// The Image inside an ImageStreamTag: the stored one without its manifest and config blobs
/// and type fields, with the spec tag's annotations added; or one that only names `id`.
pub(super) fn embedded_image(
    stored: Option<Value>,
    id: &str,
    annotations: &BTreeMap<String, String>,
) -> Value {
    let Some(Value::Object(mut image)) = stored else {
        return json!({"metadata": {"name": id}, "dockerImageLayers": null});
    };
    for field in [
        "kind",
        "apiVersion",
        "dockerImageManifest",
        "dockerImageConfig",
    ] {
        image.remove(field);
    }
    if !annotations.is_empty() {
        let metadata = image.entry("metadata").or_insert_with(|| json!({}));
        let merged = metadata
            .as_object_mut()
            .map(|m| m.entry("annotations").or_insert_with(|| json!({})));
        if let Some(Value::Object(merged)) = merged {
            let strings = annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())));
            merged.extend(strings);
        }
    }
    Value::Object(image)
}

/// `ResolveReferenceForTagEvent`: under a `Local` reference policy, the stream's integrated
/// repository pinned to the event's image; otherwise the event's own reference.
pub fn reference_for_tag_event(stream: &ImageStream, tag: &str, event: &TagEvent) -> String {
    let local = stream
        .spec_tag(tag)
        .is_some_and(|spec| spec.reference_policy.type_ == "Local");
    let repository = stream.status_repository();
    if !local || repository.is_empty() || event.image.is_empty() {
        return event.docker_image_reference.clone();
    }
    match reference::pin(repository, &event.image) {
        Some(pinned) => pinned,
        // A bare registry parses but has no name: OpenShift renders it empty.
        None if ImageRef::parse(repository).is_ok() => String::new(),
        None => event.docker_image_reference.clone(),
    }
}

/// The four columns of OpenShift's ImageStreamTag printer: Name, Image Reference, Updated,
/// and Image Name (shown by `-o wide`).
fn column_definitions() -> Value {
    let column = |name: &str, format: &str, description: &str, priority: u8| {
        json!({"name": name, "type": "string", "format": format,
               "description": description, "priority": priority})
    };
    json!([
        column("Name", "name", table::NAME_DESCRIPTION, 0),
        column(
            "Image Reference",
            "",
            "dockerImageReference is the string that can be used to pull this image.",
            0
        ),
        column("Updated", "", "Last update time.", 0),
        column(
            "Image Name",
            "",
            "image associated with the ImageStream and tag.",
            1
        ),
    ])
}

fn row_cells(istag: &Value, now: Timestamp) -> Value {
    let created = istag["metadata"]["creationTimestamp"].as_str();
    json!([
        istag["metadata"]["name"],
        istag["image"]["dockerImageReference"],
        table::updated_ago(created, now),
        istag["image"]["metadata"]["name"],
    ])
}

/// A Table of ImageStreamTags, one row each.
pub fn table_of(
    items: &[Value],
    include: IncludeObject,
    list_metadata: Value,
    now: Timestamp,
) -> Value {
    let rows = items
        .iter()
        .map(|istag| table::row_of(row_cells(istag, now), istag, include))
        .collect();
    table::table(list_metadata, column_definitions(), rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TagReferencePolicy;
    use crate::api::{ImageStreamStatus, NamedTagEventList, TagEventCondition, TagReference};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const D: &str = "sha256:1389a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";

    fn event(reference: &str, image: &str, generation: i64) -> TagEvent {
        TagEvent {
            created: Time("2026-11-29T10:00:00Z".parse().unwrap()),
            docker_image_reference: reference.into(),
            image: image.into(),
            generation,
        }
    }

    /// `ns/stream1` with integrated repository `registry.test.svc/test/stream1`, tag `8` with
    /// the given policy and one event.
    fn stream(policy: &str, image: &str) -> ImageStream {
        let mut stream = ImageStream::default();
        stream.metadata.name = Some("stream1".into());
        stream.metadata.namespace = Some("ns".into());
        stream.metadata.uid = Some("uid-1".into());
        stream.metadata.resource_version = Some("42".into());
        stream.spec.tags.push(TagReference {
            name: "8".into(),
            annotations: Some([("team".to_string(), "db".to_string())].into()),
            reference_policy: TagReferencePolicy::of(policy),
            ..TagReference::default()
        });
        stream.status = Some(ImageStreamStatus {
            docker_image_repository: "registry.test.svc/test/stream1".into(),
            tags: vec![NamedTagEventList {
                tag: "8".into(),
                items: vec![event(&format!("quay.io/o/m@{image}"), image, 3)],
                conditions: vec![],
            }],
            ..ImageStreamStatus::default()
        });
        stream
    }

    fn check_name(name: &str, expected: Option<(&str, &str)>) {
        match (split_name(name), expected) {
            (Ok(split), Some(expected)) => assert_eq!(split, expected, "{name}"),
            (Err(error), None) => {
                assert_eq!(error.code(), 400, "{name}");
                assert_eq!(
                    error.to_string(),
                    "ImageStreamTags must be retrieved with <name>:<tag>"
                );
            }
            (got, _) => panic!("{name}: {got:?}"),
        }
    }

    #[test]
    fn names_split_into_stream_and_tag_only_with_exactly_one_colon() {
        check_name("mysql:8.0", Some(("mysql", "8.0")));
        check_name("mysql", None);
        check_name("mysql:", None);
        check_name(":8.0", None);
        check_name("mysql:8:0", None);
        check_name("mysql@sha256:abc", None);
    }

    #[test]
    fn the_image_reference_follows_the_tags_reference_policy() {
        let cases = [
            ("Source", format!("quay.io/o/m@{D}")),
            ("", format!("quay.io/o/m@{D}")),
            ("Local", format!("registry.test.svc/test/stream1@{D}")),
        ];
        for (policy, expected) in cases {
            let istag = image_stream_tag(&stream(policy, D), "8", None).unwrap();
            assert_eq!(istag["image"]["dockerImageReference"], expected, "{policy}");
        }
        let mut no_repository = stream("Local", D);
        no_repository
            .status
            .as_mut()
            .unwrap()
            .docker_image_repository
            .clear();
        let istag = image_stream_tag(&no_repository, "8", None).unwrap();
        assert_eq!(
            istag["image"]["dockerImageReference"],
            format!("quay.io/o/m@{D}")
        );
    }

    #[test]
    fn a_tag_is_built_from_the_stream_its_spec_tag_and_its_newest_event() {
        let mut stream = stream("Source", D);
        stream.spec.lookup_policy.local = true;
        stream.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        stream.status.as_mut().unwrap().tags[0]
            .conditions
            .push(TagEventCondition {
                type_: "ImportSuccess".into(),
                status: "False".into(),
                ..TagEventCondition::default()
            });
        let istag = image_stream_tag(&stream, "8", None).unwrap();
        assert_eq!(istag["kind"], "ImageStreamTag");
        assert_eq!(istag["apiVersion"], "image.openshift.io/v1");
        assert_eq!(
            istag["metadata"],
            json!({"name": "stream1:8", "namespace": "ns", "uid": "uid-1",
                   "resourceVersion": "42", "creationTimestamp": "2026-11-29T10:00:00Z",
                   "labels": {"app": "db"}, "annotations": {"team": "db"}})
        );
        assert_eq!(istag["generation"], 3);
        assert_eq!(istag["lookupPolicy"], json!({"local": true}));
        assert_eq!(istag["tag"]["name"], "8");
        assert_eq!(istag["conditions"][0]["type"], "ImportSuccess");
        assert_eq!(istag["image"]["metadata"], json!({"name": D}));
    }

    #[test]
    fn a_tag_without_an_image_is_not_an_image_stream_tag() {
        assert!(image_stream_tag(&stream("Source", ""), "8", None).is_none());
        assert!(image_stream_tag(&stream("Source", D), "9", None).is_none());
        assert_eq!(image_stream_tags(&stream("Source", "")).count(), 0);
        assert_eq!(image_stream_tags(&stream("Source", D)).count(), 1);
    }

    #[test]
    fn a_status_tag_without_a_spec_tag_has_a_null_tag() {
        let mut stream = stream("Local", D);
        stream.spec.tags.clear();
        let istag = image_stream_tag(&stream, "8", None).unwrap();
        assert_eq!(istag["tag"], Value::Null);
        assert!(istag["metadata"].get("annotations").is_none());
        // No spec tag, no Local policy: the event's own reference.
        assert_eq!(
            istag["image"]["dockerImageReference"],
            format!("quay.io/o/m@{D}")
        );
    }

    #[test]
    fn a_stored_image_is_embedded_without_its_blobs_and_with_the_tags_annotations() {
        let stored = json!({
            "kind": "Image", "apiVersion": "image.openshift.io/v1",
            "metadata": {"name": D, "annotations": {"a": "1"}},
            "dockerImageReference": "somewhere/else@x",
            "dockerImageManifest": "{}", "dockerImageConfig": "{}",
            "dockerImageLayers": [{"name": "sha256:l", "size": 1}],
        });
        let istag = image_stream_tag(&stream("Source", D), "8", Some(stored)).unwrap();
        assert_eq!(
            istag["image"],
            json!({"metadata": {"name": D, "annotations": {"a": "1", "team": "db"}},
                   "dockerImageReference": format!("quay.io/o/m@{D}"),
                   "dockerImageLayers": [{"name": "sha256:l", "size": 1}]})
        );
    }

    #[test]
    fn deleting_a_tag_removes_its_spec_tag_and_history_and_keeps_the_rest() {
        let config = strategy::Config::default();
        let index = crate::resolve::Index::new();
        let authorize = |_: &str, _: &str| Ok(());
        let ctx = strategy::Context {
            config: &config,
            now: "2026-11-29T11:00:00Z".parse().unwrap(),
            streams: &index,
            authorize: &authorize,
        };
        let mut old = stream("Source", D);
        old.metadata.generation = Some(1);
        old.spec.tags[0].generation = Some(1);
        old.status.as_mut().unwrap().tags.push(NamedTagEventList {
            tag: "pushed".into(),
            items: vec![event(&format!("quay.io/o/m@{D}"), D, 1)],
            conditions: vec![],
        });
        let without_8 = without_tag(&old, "8", &ctx).unwrap().unwrap();
        assert!(without_8.spec.tags.is_empty());
        let left: Vec<&str> = without_8
            .status
            .as_ref()
            .unwrap()
            .tags
            .iter()
            .map(|t| t.tag.as_str())
            .collect();
        assert_eq!(left, ["pushed"]);
        assert_eq!(without_8.metadata.generation, Some(2), "the spec changed");
        // A status-only tag (a push) is deleted too; a tag the stream lacks is not found.
        let without_pushed = without_tag(&old, "pushed", &ctx).unwrap().unwrap();
        assert_eq!(without_pushed.spec.tags.len(), 1);
        assert!(without_pushed.status_tag("pushed").is_none());
        assert_eq!(without_tag(&old, "nine", &ctx).unwrap(), None);
    }

    #[test]
    fn a_table_row_shows_name_reference_age_and_image() {
        let istag = image_stream_tag(&stream("Source", D), "8", None).unwrap();
        let now: Timestamp = "2026-11-29T10:05:00Z".parse().unwrap();
        let table = table_of(&[istag], IncludeObject::None, json!({}), now);
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["stream1:8", format!("quay.io/o/m@{D}"), "5 minutes ago", D])
        );
        assert_eq!(table["columnDefinitions"][3]["priority"], 1);
    }
}
