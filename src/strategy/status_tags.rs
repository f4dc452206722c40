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
//! Then every spec tag tracking a status tag whose newest event changed receives that event.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::generation::generation_of;
use super::tag_events::{
    add_tag_event, latest_tagged_image, resolve_image_id, update_tracking_tags,
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
/// (every non-empty tag when there is no old stream).
fn update_changed_tracking_tags(stream: &mut ImageStream, old: Option<&ImageStream>) {
    let tags: Vec<String> = stream
        .status
        .iter()
        .flat_map(|s| &s.tags)
        .map(|list| list.tag.clone())
        .collect();
    for tag in tags {
        let Some(newest) = stream.latest_event(&tag).cloned() else {
            continue;
        };
        if old
            .and_then(|old| old.latest_event(&tag))
            .is_some_and(|before| *before == newest)
        {
            continue;
        }
        update_tracking_tags(stream, &tag, &newest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{
        digest, docker_tag, earlier, event, history, isimage, istag, now, set_history, stream,
        with_ctx,
    };
    use crate::strategy::Config;

    type History = Vec<(&'static str, Vec<TagEvent>)>;

    /// Runs the processing for `tags` over `existing` history; `previous` is the old spec (None on create).
    fn run(
        tags: Vec<TagReference>,
        previous: Option<Vec<TagReference>>,
        existing: History,
        others: Vec<ImageStream>,
        config: &Config,
    ) -> (ImageStream, Vec<String>) {
        let mut new = stream("ns", "stream");
        new.metadata.generation = Some(1);
        new.spec.tags = tags;
        for (tag, items) in existing {
            set_history(&mut new, tag, items);
        }
        let old = previous.map(|tags| {
            let mut old = new.clone();
            old.spec.tags = tags;
            old
        });
        let errors = with_ctx(config, others, true, |ctx| {
            compute_status_tags(&mut new, old.as_ref(), ctx, &[])
        });
        (new, errors.iter().map(ToString::to_string).collect())
    }

    fn ok(
        tags: Vec<TagReference>,
        previous: Option<Vec<TagReference>>,
        existing: History,
    ) -> ImageStream {
        let (s, errors) = run(tags, previous, existing, vec![], &Config::default());
        assert!(errors.is_empty(), "{errors:?}");
        s
    }

    fn reference(mut tag: TagReference) -> TagReference {
        tag.reference = true;
        tag
    }

    fn refs(s: &ImageStream, tag: &str) -> Vec<(String, String)> {
        history(s, tag)
            .into_iter()
            .map(|(r, i, _)| (r, i))
            .collect()
    }

    fn pair(reference: &str, image: &str) -> (String, String) {
        (reference.to_string(), image.to_string())
    }

    #[test]
    fn docker_sources_record_an_event_only_for_reference_tags() {
        let s = ok(
            vec![
                reference(docker_tag("t1", "reg:5000/ns/stream:t1")),
                docker_tag("t2", "quay.io/o/x:1"),
            ],
            None,
            vec![],
        );
        assert_eq!(refs(&s, "t1"), [pair("reg:5000/ns/stream:t1", "")]);
        assert_eq!(s.latest_event("t1").unwrap().created, Time(now()));
        assert!(s.status_tag("t2").is_none());
    }

    #[test]
    fn tags_without_source_and_unchanged_tags_are_ignored() {
        let s = ok(
            vec![TagReference {
                name: "t1".into(),
                ..Default::default()
            }],
            None,
            vec![],
        );
        assert!(s.status.as_ref().is_none_or(|st| st.tags.is_empty()));
        let tags = vec![reference(docker_tag("t1", "v1image1"))];
        let s = ok(
            tags.clone(),
            Some(tags),
            vec![("t1", vec![event("reg/ns/stream:v1image1", "v1image1", 1)])],
        );
        assert_eq!(refs(&s, "t1"), [pair("reg/ns/stream:v1image1", "v1image1")]);
    }

    #[test]
    fn new_tag_events_collapse_into_existing_history() {
        let e3 = digest('e');
        let s = ok(
            vec![
                reference(docker_tag("t1", "reg/ns/stream:v1image1")),
                reference(docker_tag("t2", "reg/ns/stream:v1image1")),
                reference(docker_tag("t3", &format!("@{e3}"))),
            ],
            Some(vec![
                docker_tag("t1", "t1"),
                docker_tag("t3", &format!("@{e3}")),
            ]),
            vec![
                ("t1", vec![event("reg/ns/stream:v1image1", "v1image1", 1)]),
                ("t3", vec![event(&format!("reg/ns/stream@{e3}"), &e3, 1)]),
            ],
        );
        assert_eq!(refs(&s, "t1"), [pair("reg/ns/stream:v1image1", "")]);
        assert_eq!(refs(&s, "t2"), [pair("reg/ns/stream:v1image1", "")]);
        assert_eq!(
            refs(&s, "t3"),
            [
                pair(&format!("@{e3}"), ""),
                pair(&format!("reg/ns/stream@{e3}"), &e3)
            ]
        );
    }

    #[test]
    fn stream_tags_copy_the_newest_event_keeping_its_created_time() {
        let e3 = digest('e');
        let s = ok(
            vec![istag("t1", "stream:other")],
            None,
            vec![("other", vec![event(&format!("reg/ns/stream@{e3}"), &e3, 1)])],
        );
        assert_eq!(refs(&s, "t1"), [pair(&format!("reg/ns/stream@{e3}"), &e3)]);
        assert_eq!(s.latest_event("t1").unwrap().created, earlier());
        let s = ok(vec![istag("t1", "missing")], None, vec![]);
        assert!(
            s.status_tag("t1").is_none(),
            "a source without status is not an error"
        );
    }

    #[test]
    fn tag_changes_and_referenced_tag_should_react() {
        let (e3, a2) = (digest('e'), digest('a'));
        let at = |d: &str| format!("reg:5000/ns/stream@{d}");
        let s = ok(
            vec![
                isimage("t1", &format!("stream@{e3}")),
                istag("t2", "stream:t1"),
            ],
            Some(vec![istag("t1", "stream:other"), istag("t2", "stream:t1")]),
            vec![
                (
                    "other",
                    vec![event(&at(&a2), &a2, 1), event(&at(&e3), &e3, 1)],
                ),
                ("t1", vec![event(&at(&a2), &a2, 1)]),
                ("t2", vec![event(&at(&a2), &a2, 1)]),
            ],
        );
        for tag in ["t1", "t2"] {
            assert_eq!(
                refs(&s, tag),
                [pair(&at(&e3), &e3), pair(&at(&a2), &a2)],
                "{tag}"
            );
        }
        assert_eq!(s.latest_event("t1").unwrap().created, Time(now()));
    }

    #[test]
    fn stream_images_match_ids_and_legacy_ids() {
        let e3 = digest('e');
        let s = ok(
            vec![isimage("t1", &format!("stream@{e3}"))],
            None,
            vec![("other", vec![event(&format!("reg/ns/stream@{e3}"), &e3, 1)])],
        );
        assert_eq!(refs(&s, "t1"), [pair(&format!("reg/ns/stream@{e3}"), &e3)]);
        let s = ok(
            vec![isimage("t1", "stream@12345")],
            None,
            vec![("other", vec![event("reg/ns/stream:12345", "12345", 1)])],
        );
        assert_eq!(refs(&s, "t1"), [pair("reg/ns/stream:12345", "12345")]);
    }

    #[test]
    fn stream_tags_in_other_streams_are_looked_up() {
        let e3 = digest('e');
        let mut other = stream("ns", "other");
        set_history(
            &mut other,
            "other",
            vec![event(&format!("reg/ns/other@{e3}"), &e3, 5)],
        );
        let (s, errors) = run(
            vec![istag("t1", "other:other")],
            None,
            vec![],
            vec![other],
            &Config::default(),
        );
        assert!(errors.is_empty());
        assert_eq!(history(&s, "t1"), [(format!("reg/ns/other@{e3}"), e3, 1)]);
    }

    #[test]
    fn integrated_registry_copies_are_rewritten_to_this_stream() {
        let e3 = digest('e');
        let mut other = stream("shared", "base");
        set_history(
            &mut other,
            "v1",
            vec![event(&format!("int:5000/shared/base@{e3}"), &e3, 1)],
        );
        set_history(
            &mut other,
            "v2",
            vec![event(&format!("quay.io/shared/base@{e3}"), &e3, 1)],
        );
        let config = Config {
            internal_registry_hostname: "int:5000".into(),
            ..Config::default()
        };
        let from = |name: &str, source: &str| {
            let mut tag = istag(name, source);
            tag.from.as_mut().unwrap().namespace = Some("shared".into());
            tag
        };
        let tags = vec![
            from("a", "base:v1"),
            reference(from("b", "base:v1")),
            from("c", "base:v2"),
        ];
        let (s, errors) = run(tags, None, vec![], vec![other], &config);
        assert!(errors.is_empty());
        assert_eq!(refs(&s, "a")[0].0, format!("int:5000/ns/stream@{e3}"));
        assert_eq!(refs(&s, "b")[0].0, format!("int:5000/shared/base@{e3}"));
        assert_eq!(refs(&s, "c")[0].0, format!("quay.io/shared/base@{e3}"));
    }

    #[test]
    fn copying_within_the_stream_stamps_the_source_generation() {
        let mut new = stream("ns", "stream");
        new.metadata.generation = Some(2);
        new.spec.tags = vec![istag("copy", "src")];
        set_history(&mut new, "src", vec![event("quay.io/o/x:1", "i", 1)]);
        let errors = with_ctx(&Config::default(), vec![], true, |ctx| {
            compute_status_tags(&mut new, None, ctx, &[])
        });
        assert!(errors.is_empty());
        assert_eq!(new.latest_event("copy").unwrap().generation, 2);
        assert_eq!(new.latest_event("src").unwrap().generation, 2);
    }

    #[test]
    fn tracking_reacts_on_create_to_every_non_empty_tag() {
        let s = ok(
            vec![
                reference(docker_tag("base", "quay.io/o/x:1")),
                istag("follow", "base"),
            ],
            None,
            vec![],
        );
        assert_eq!(refs(&s, "follow"), [pair("quay.io/o/x:1", "")]);
    }

    #[test]
    fn tracking_ignores_status_tags_unchanged_since_the_old_stream() {
        let tags = vec![istag("follow", "base"), docker_tag("base", "quay.io/o/x:1")];
        let s = ok(
            tags.clone(),
            Some(tags),
            vec![("base", vec![event("quay.io/o/x@sha256:1", "i", 1)])],
        );
        assert!(s.status_tag("follow").is_none());
    }

    #[test]
    fn tag_processing_errors_name_the_source() {
        let e = |tag: TagReference| {
            run(
                vec![tag],
                None,
                vec![(
                    "a",
                    vec![event("r1", &digest('e'), 1), event("r2", &digest('f'), 1)],
                )],
                vec![],
                &Config::default(),
            )
            .1
        };
        assert_eq!(e(isimage("t", "stream@sha256:0")), [
            "spec.tags[t].from.name: Invalid value: \"stream@sha256:0\": error generating tag event: imagestreamimage.image.openshift.io \"sha256:0\" not found",
        ]);
        let ambiguous = e(isimage("t", "sha256:"));
        assert!(
            ambiguous[0].contains("multiple images match the prefix \"sha256:\""),
            "{ambiguous:?}"
        );
        assert_eq!(
            e(istag("t", "a:b:c")),
            [format!(
                "spec.tags[t].from.name: Invalid value: \"a:b:c\": {FROM_NAME_FORM}"
            )]
        );
        assert_eq!(
            e(istag("t", "nowhere:latest")),
            ["spec.tags[t].from.name: Not found: \"nowhere:latest\""]
        );
        assert_eq!(
            e(crate::strategy::testing::tag_from("t", "Other", "x")),
            [format!(
                "spec.tags[t].from.name: Invalid value: \"x\": {FROM_NAME_FORM}"
            )]
        );
        assert_eq!(
            e(docker_tag("t", "")),
            [format!(
                "spec.tags[t].from.name: Invalid value: \"\": {FROM_NAME_FORM}"
            )]
        );
    }

    #[test]
    fn errors_are_wrapped_in_one_internal_error_and_a_refused_source_is_not_looked_up() {
        let mut new = stream("ns", "app");
        new.metadata.generation = Some(1);
        let mut foreign = istag("x", "base:v1");
        foreign.from.as_mut().unwrap().namespace = Some("other".into());
        new.spec.tags = vec![isimage("a", "nope"), isimage("b", "nope"), foreign];
        let wrapped = with_ctx(&Config::default(), vec![], false, |ctx| {
            process_tags(&mut new, None, ctx)
        })
        .unwrap();
        assert_eq!(wrapped.kind.cause_reason(), "InternalError");
        assert_eq!(wrapped.field, "");
        assert_eq!(
            wrapped.body(),
            "Internal error: imagestreams \"app\" is invalid: [spec.tags[x].from: Forbidden: other/base: \"\" \"\", \
             spec.tags[a].from.name: Invalid value: \"nope\": error generating tag event: imagestreamimage.image.openshift.io \"nope\" not found, \
             spec.tags[b].from.name: Invalid value: \"nope\": error generating tag event: imagestreamimage.image.openshift.io \"nope\" not found]"
        );
    }
}
