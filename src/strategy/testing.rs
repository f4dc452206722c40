//! Test fixtures shared by the strategy modules.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Config, Context};
use crate::api::{ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent, TagReference};
use crate::resolve::Index;

/// The clock every test runs at.
pub fn now() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

/// An earlier instant, for events that existed before the write.
pub fn earlier() -> Time {
    Time(Timestamp::from_second(1_600_000_000).unwrap())
}

/// `sha256:` followed by 64 copies of `c`.
pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// An empty stream.
pub fn stream(namespace: &str, name: &str) -> ImageStream {
    ImageStream::new(namespace, name)
}

/// A spec tag with a source of the given kind.
pub fn tag_from(name: &str, kind: &str, from: &str) -> TagReference {
    TagReference {
        name: name.to_string(),
        from: Some(ObjectReference {
            kind: Some(kind.to_string()),
            name: Some(from.to_string()),
            ..ObjectReference::default()
        }),
        ..TagReference::default()
    }
}

/// A `DockerImage` spec tag.
pub fn docker_tag(name: &str, from: &str) -> TagReference {
    tag_from(name, "DockerImage", from)
}

/// An `ImageStreamTag` spec tag.
pub fn istag(name: &str, from: &str) -> TagReference {
    tag_from(name, "ImageStreamTag", from)
}

/// An `ImageStreamImage` spec tag.
pub fn isimage(name: &str, from: &str) -> TagReference {
    tag_from(name, "ImageStreamImage", from)
}

/// A tag event created [`earlier`].
pub fn event(reference: &str, image: &str, generation: i64) -> TagEvent {
    TagEvent {
        created: earlier(),
        docker_image_reference: reference.to_string(),
        image: image.to_string(),
        generation,
    }
}

/// Sets the history of `tag` (newest first), replacing any previous one.
pub fn set_history(stream: &mut ImageStream, tag: &str, items: Vec<TagEvent>) {
    let status = stream.status.get_or_insert_with(ImageStreamStatus::default);
    status.tags.retain(|list| list.tag != tag);
    status.tags.push(NamedTagEventList {
        tag: tag.to_string(),
        items,
        conditions: Vec::new(),
    });
    status.tags.sort_by(|a, b| a.tag.cmp(&b.tag));
}

/// The history of `tag` as (reference, image, generation) triples.
pub fn history(stream: &ImageStream, tag: &str) -> Vec<(String, String, i64)> {
    stream.status_tag(tag).map_or_else(Vec::new, |list| {
        list.items
            .iter()
            .map(|e| {
                (
                    e.docker_image_reference.clone(),
                    e.image.clone(),
                    e.generation,
                )
            })
            .collect()
    })
}

/// Spec tag generations as (name, generation) pairs.
pub fn tag_generations(stream: &ImageStream) -> Vec<(String, Option<i64>)> {
    stream
        .spec
        .tags
        .iter()
        .map(|t| (t.name.clone(), t.generation))
        .collect()
}

/// Runs `f` with a context over `config`, `others` and an authorizer answering `allow`.
pub fn with_ctx<R>(
    config: &Config,
    others: Vec<ImageStream>,
    allow: bool,
    f: impl FnOnce(&Context<'_>) -> R,
) -> R {
    let index: Index = others.into_iter().collect();
    let authorize = move |_: &str, _: &str| allow.then_some(()).ok_or_else(String::new);
    let ctx = Context {
        config,
        now: now(),
        streams: &index,
        authorize: &authorize,
    };
    f(&ctx)
}
