//! `status.tags` computed from spec tags, without an importer (§4.6).
//!
//! Only new or changed spec tags with a `from` are processed, in tag-name order:
//!
//! ```text
//! DockerImage      reference: true -> event {now, from.name, image ""}; else nothing (importer)
//! ImageStreamTag   copy the source tag's newest event (same created), if it has one
//! ImageStreamImage the one history item matching the ID prefix, created now
//! ```
//!
//! Then every spec tag tracking a status tag whose newest event changed receives that event,
//! and every tracking tag carries the first condition of the tag it follows.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::generation::generation_of;
use super::tag_events::{
    add_tag_event, latest_tagged_image, resolve_image_id, update_all_tracking_conditions,
    update_tracking_chain,
};
use super::verify::{changed_tags, parse_from_reference, verify_cross_namespace, FROM_NAME_FORM};
use super::{text, Context};
use crate::api::{ImageStream, TagEvent, TagReference};
use crate::field::{invalid_message, FieldError};
use crate::reference::{ImageRef, DEFAULT_TAG};

/// Runs the cross-namespace check and the tag processing. Their errors come back as ONE
/// `InternalError` cause with an empty field, whose detail is
/// `imagestreams "<name>" is invalid: …`, as OpenShift wraps them (§6.13).
pub(crate) fn process_tags(
    stream: &mut ImageStream,
    old: Option<&ImageStream>,
    ctx: &Context<'_>,
) -> Option<FieldError> {
    let verified = verify_cross_namespace(stream, old, ctx.authorize);
    let mut errors = verified.errors;
    errors.extend(compute_status_tags(stream, old, ctx, &verified.refused));
    if errors.is_empty() {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    errors.retain(|error| seen.insert(error.to_string()));
    Some(FieldError::internal(
        "",
        invalid_message("imagestreams", stream.name(), &errors),
    ))
}

/// Adds events for new or changed spec tags but the `refused` ones (whose sources are not
/// looked up), then updates tracking tags.
pub(crate) fn compute_status_tags(
    stream: &mut ImageStream,
    old: Option<&ImageStream>,
    ctx: &Context<'_>,
    refused: &[String],
) -> Vec<FieldError> {
    let changed: Vec<TagReference> = changed_tags(stream, old)
        .filter(|tag| tag.from.is_some() && !refused.contains(&tag.name))
        .cloned()
        .collect();
    let errors = changed
        .iter()
        .filter_map(|tag| process_tag(stream, tag, ctx).err().map(|error| *error))
        .collect();
    update_changed_tracking_tags(stream, old);
    errors
}

/// Where a copied event came from, for the integrated-registry rewrite.
struct Source {
    namespace: String,
    name: String,
    same_stream: bool,
}

/// Errors are boxed: they are rare, and a `FieldError` is large.
type TagResult = Result<(), Box<FieldError>>;

fn process_tag(stream: &mut ImageStream, tag: &TagReference, ctx: &Context<'_>) -> TagResult {
    let Some(from) = &tag.from else { return Ok(()) };
    if text(&from.kind) == "DockerImage" && !text(&from.name).is_empty() {
        if tag.reference {
            let event = TagEvent {
                created: Time(ctx.now),
                docker_image_reference: text(&from.name).to_string(),
                image: String::new(),
                generation: generation_of(stream),
            };
            add_tag_event(stream, &tag.name, event);
        }
        return Ok(());
    }
    copy_from_source(stream, tag, from, ctx)
}

/// `ImageStreamTag` and `ImageStreamImage` sources, in this stream or another one.
fn copy_from_source(
    stream: &mut ImageStream,
    tag: &TagReference,
    from: &ObjectReference,
    ctx: &Context<'_>,
) -> TagResult {
    let (kind, name) = (text(&from.kind), text(&from.name));
    let name_path = format!("spec.tags[{}].from.name", tag.name);
    let invalid = |detail: String| Box::new(FieldError::invalid(&name_path, name, detail));
    let (source_name, tag_or_id) = parse_from_reference(stream.name(), kind, name)
        .ok_or_else(|| invalid(FROM_NAME_FORM.to_string()))?;
    let (source_stream, source) = find_source(stream, from, &source_name, ctx)
        .ok_or_else(|| Box::new(FieldError::not_found(&name_path, name)))?;
    let event = source_event(&source_stream, kind, &tag_or_id, ctx)
        .map_err(|error| invalid(format!("error generating tag event: {error}")))?;
    let Some(mut event) = event else {
        // The source tag has no image yet: not an error.
        return Ok(());
    };
    event.generation = generation_of(stream);
    if source.same_stream && kind == "ImageStreamTag" {
        stamp_source_generation(stream, &tag_or_id, event.generation);
    }
    if !tag.reference {
        let internal_host = &ctx.config.internal_registry_hostname;
        rewrite_into_stream(&mut event, internal_host, &source, stream);
    }
    add_tag_event(stream, &tag.name, event);
    Ok(())
}

/// The stream a source names: this one, or another one found through the context.
fn find_source<'s>(
    stream: &'s ImageStream,
    from: &ObjectReference,
    source_name: &str,
    ctx: &Context<'s>,
) -> Option<(Cow<'s, ImageStream>, Source)> {
    let source_namespace = match text(&from.namespace) {
        "" => stream.namespace(),
        namespace => namespace,
    };
    let same_stream = source_namespace == stream.namespace() && source_name == stream.name();
    let source_stream = match same_stream {
        true => Cow::Borrowed(stream),
        // The index keeps streams compact: another stream is read through a typed copy.
        false => {
            let compact = ctx.streams.stream(source_namespace, source_name)?;
            Cow::Owned(compact.to_source_stream())
        }
    };
    let source = Source {
        namespace: source_stream.namespace().to_string(),
        name: source_stream.name().to_string(),
        same_stream,
    };
    Some((source_stream, source))
}

fn source_event(
    source: &ImageStream,
    kind: &str,
    tag_or_id: &str,
    ctx: &Context<'_>,
) -> Result<Option<TagEvent>, String> {
    if kind == "ImageStreamImage" {
        return resolve_image_id(source, tag_or_id, ctx.now)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    Ok(latest_tagged_image(source, tag_or_id).cloned())
}

/// OpenShift copies through a pointer into the source tag's newest item, so setting the
/// copy's generation also sets the source's (§6.10). Reproduced for fidelity.
fn stamp_source_generation(stream: &mut ImageStream, tag: &str, generation: i64) {
    let tag = if tag.is_empty() { DEFAULT_TAG } else { tag };
    let lists = stream
        .status
        .iter_mut()
        .flat_map(|status| status.tags.iter_mut());
    if let Some(newest) = lists
        .filter(|list| list.tag == tag)
        .find_map(|list| list.items.first_mut())
    {
        newest.generation = generation;
    }
}

/// An event pointing into the integrated registry at the source stream is made to point at
/// this stream, so later pulls go through this stream.
fn rewrite_into_stream(
    event: &mut TagEvent,
    internal_host: &str,
    source: &Source,
    stream: &ImageStream,
) {
    if internal_host.is_empty() {
        return;
    }
    let Ok(mut reference) = ImageRef::parse(&event.docker_image_reference) else {
        return;
    };
    if reference.registry == internal_host
        && reference.namespace == source.namespace
        && reference.name == source.name
    {
        reference.namespace = stream.namespace().to_string();
        reference.name = stream.name().to_string();
        event.docker_image_reference = reference.exact();
    }
}

/// Tracking tags follow every status tag whose newest event differs from the old stream's
/// (every non-empty tag when there is no old stream), down each chain of them, and carry its
/// first condition.
fn update_changed_tracking_tags(stream: &mut ImageStream, old: Option<&ImageStream>) {
    let tags: Vec<String> = stream
        .status
        .iter()
        .flat_map(|s| &s.tags)
        .map(|list| list.tag.clone())
        .collect();
    for tag in &tags {
        let Some(newest) = stream.latest_event(tag).cloned() else {
            continue;
        };
        if old
            .and_then(|old| old.latest_event(tag))
            .is_some_and(|before| *before == newest)
        {
            continue;
        }
        update_tracking_chain(stream, tag, &newest);
    }
    update_all_tracking_conditions(stream);
}

#[cfg(test)]
mod tests;
