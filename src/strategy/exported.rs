//! Creating a stream exported with its status (`oc get is -o yaml`, a backup): its
//! `ImageStreamImage` spec tags that name this same stream (`oc tag app:latest app:prod` writes
//! `ImageStreamImage app@sha256:…`) can only be resolved from that status, which a create
//! discards. OpenShift refuses such a create (the image is "not found" in the empty status),
//! so an export never applies as it is; here the image each of those tags names is looked up
//! in the submitted status and seeded into the new one, under the tag itself, before the tags
//! are processed. Nothing else of the submitted status is kept, and a stream in another
//! namespace, or another stream, is still read from the store. The status is taken as
//! written, so the API passes it only from a creator who may write the stream's status.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::tag_events::{add_tag_event, resolve_image_id, ResolveImageIdError};
use super::text;
use super::verify::parse_from_reference;
use crate::api::{ImageStream, ImageStreamStatus, TagEvent, TagReference};

/// Seeds into `stream`'s (new, empty) status the image of each same-stream
/// `ImageStreamImage` spec tag that `submitted` holds, created `now`. A tag whose ID matches
/// several images there gets them all, so that it is refused for being ambiguous (seeding only
/// the others' images could leave it matching one); one whose image is not there gets
/// nothing, and the usual refusal.
pub(super) fn seed_exported_images(
    stream: &mut ImageStream,
    submitted: &ImageStreamStatus,
    now: Timestamp,
) {
    let view = ImageStream {
        status: Some(submitted.clone()),
        ..ImageStream::new(stream.namespace(), stream.name())
    };
    let seeds: Vec<(String, Vec<TagEvent>)> = stream
        .spec
        .tags
        .iter()
        .filter_map(|tag| {
            let id = own_image_id(stream, tag)?;
            let events = match resolve_image_id(&view, &id, now) {
                Ok(event) => vec![event],
                Err(ResolveImageIdError::Ambiguous { images, .. }) => events_of(submitted, &images),
                Err(ResolveImageIdError::NotFound(_)) => return None,
            };
            Some((tag.name.clone(), events))
        })
        .collect();
    for (tag, events) in seeds {
        for mut event in events {
            event.created = Time(now);
            add_tag_event(stream, &tag, event);
        }
    }
}

/// The image ID of `tag` when it is an `ImageStreamImage` of `stream` itself.
fn own_image_id(stream: &ImageStream, tag: &TagReference) -> Option<String> {
    let from = tag.from.as_ref()?;
    let kind = text(&from.kind);
    if kind != "ImageStreamImage" {
        return None;
    }
    let namespace = text(&from.namespace);
    if !namespace.is_empty() && namespace != stream.namespace() {
        return None;
    }
    let (source, id) = parse_from_reference(stream.name(), kind, text(&from.name))?;
    (source == stream.name()).then_some(id)
}

/// One event of `status` for each of `images`, the newest that names it.
fn events_of(status: &ImageStreamStatus, images: &[String]) -> Vec<TagEvent> {
    let all = || status.tags.iter().flat_map(|list| &list.items);
    images
        .iter()
        .filter_map(|image| all().find(|event| &event.image == image).cloned())
        .collect()
}
