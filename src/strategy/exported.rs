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
use crate::api::{ImageStream, ImageStreamStatus};

/// Seeds into `stream`'s (new, empty) status the image of each same-stream
/// `ImageStreamImage` spec tag that `submitted` holds, created `now`. A tag whose image the
/// submitted status does not hold (or holds ambiguously) is left for the usual refusal.
pub(super) fn seed_exported_images(
    stream: &mut ImageStream,
    submitted: &ImageStreamStatus,
    now: Timestamp,
) {
    let view = ImageStream {
        status: Some(submitted.clone()),
        ..ImageStream::new(stream.namespace(), stream.name())
    };
    let seeds: Vec<_> = stream
        .spec
        .tags
        .iter()
        .filter_map(|tag| {
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
            if source != stream.name() {
                return None;
            }
            let found = resolve_image_id(&view, &id, now).map(|mut event| {
                event.created = Time(now);
                (tag.name.clone(), event)
            });
            Some(found)
        })
        .collect();
    // An ID that matches several images of the submitted status must stay refused: seeding
    // the others could leave it matching only one of them in the new status.
    let Ok(seeds) = seeds
        .into_iter()
        .filter(|found| !matches!(found, Err(ResolveImageIdError::NotFound(_))))
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    for (tag, event) in seeds {
        add_tag_event(stream, &tag, event);
    }
}
