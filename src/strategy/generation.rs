//! Stream and tag generations (§4.4, §4.5, §4.8).
//!
//! `metadata.generation` counts spec changes; each spec tag's `generation` records the stream
//! generation at which that tag last changed, and each tag event the tag generation it answers.

use k8s_openapi::api::core::v1::ObjectReference;

use super::text;
use crate::api::{
    ImageStream, ImageStreamSpec, ImageStreamStatus, NamedTagEventList, TagEvent, TagReference,
};
use crate::reference::ImageRef;

/// Whether a spec tag changed in a way that needs a new tag generation and fresh status:
/// `next.from` is set with a kind or name, and the effective source namespace, the source
/// name, `reference`, `importPolicy.importMode` or a reset of the generation to 0 differ.
/// `from.kind` is deliberately not compared (§6.9).
pub fn tag_ref_changed(old: &TagReference, next: &TagReference, stream_namespace: &str) -> bool {
    let Some(next_from) = &next.from else {
        return false;
    };
    if text(&next_from.kind).is_empty() && text(&next_from.name).is_empty() {
        return false;
    }
    let empty = ObjectReference::default();
    let old_from = old.from.as_ref().unwrap_or(&empty);
    let effective = |from: &ObjectReference| match text(&from.namespace) {
        "" => stream_namespace.to_string(),
        namespace => namespace.to_string(),
    };
    effective(old_from) != effective(next_from)
        || text(&old_from.name) != text(&next_from.name)
        || old.reference != next.reference
        || old.import_policy.import_mode != next.import_policy.import_mode
        || generation_reset(old, next)
}

/// True only when both generations are set, differ, and the new one is 0.
fn generation_reset(old: &TagReference, next: &TagReference) -> bool {
    matches!((old.generation, next.generation), (Some(before), Some(0)) if before != 0)
}

/// The stream generation, 0 when unset.
pub(crate) fn generation_of(stream: &ImageStream) -> i64 {
    stream.metadata.generation.unwrap_or(0)
}

/// Create: generation 1 for the stream and every spec tag, whatever the user sent.
pub(crate) fn set_create_generations(stream: &mut ImageStream) {
    stream.metadata.generation = Some(1);
    for tag in &mut stream.spec.tags {
        tag.generation = Some(1);
    }
}

/// Update: users cannot change a tag's generation except to 0, the stream generation moves
/// only when the spec changed (or was 0), and new or changed tags take the new generation.
pub(crate) fn set_update_generations(stream: &mut ImageStream, old: &ImageStream) {
    stream.metadata.generation = old.metadata.generation;
    protect_tag_generations(stream, old);
    if !specs_equal(&old.spec, &stream.spec) || generation_of(stream) == 0 {
        stream.metadata.generation = Some(generation_of(old) + 1);
    }
    refresh_tag_generations(stream, old);
}

fn protect_tag_generations(stream: &mut ImageStream, old: &ImageStream) {
    let old_tags = old.spec_tags_by_name();
    for tag in &mut stream.spec.tags {
        if tag.generation == Some(0) {
            continue;
        }
        if let Some(old_tag) = old_tags.get(tag.name.as_str()) {
            tag.generation = old_tag.generation;
        }
    }
}

/// Runs after the bump, so that legacy tags without a generation do not bump the stream.
fn refresh_tag_generations(stream: &mut ImageStream, old: &ImageStream) {
    let generation = generation_of(stream);
    let namespace = stream.namespace().to_string();
    let old_tags = old.spec_tags_by_name();
    for tag in &mut stream.spec.tags {
        let changed = old_tags
            .get(tag.name.as_str())
            .is_none_or(|old_tag| tag_ref_changed(old_tag, tag, &namespace));
        if changed || matches!(tag.generation, None | Some(0)) {
            tag.generation = Some(generation);
        }
    }
}

/// Semantic equality as Kubernetes' `Semantic.DeepEqual` sees the internal spec: an empty map
/// equals an absent one, and unset strings equal empty ones.
pub(crate) fn specs_equal(a: &ImageStreamSpec, b: &ImageStreamSpec) -> bool {
    canonical_spec(a) == canonical_spec(b)
}

fn canonical_spec(spec: &ImageStreamSpec) -> ImageStreamSpec {
    let mut spec = spec.clone();
    for tag in &mut spec.tags {
        if tag.annotations.as_ref().is_some_and(|a| a.is_empty()) {
            tag.annotations = None;
        }
        if let Some(from) = tag.from.as_mut() {
            for field in [
                &mut from.api_version,
                &mut from.field_path,
                &mut from.kind,
                &mut from.name,
                &mut from.namespace,
                &mut from.resource_version,
                &mut from.uid,
            ] {
                if field.as_deref() == Some("") {
                    *field = None;
                }
            }
        }
    }
    spec
}

/// Whether a `/status` write changed a tag's newest event relative to the stored one.
fn tag_event_changed(old: &TagEvent, next: &TagEvent) -> bool {
    old.image != next.image
        || old.docker_image_reference != next.docker_image_reference
        || old.generation > next.generation
}

/// A client's `/status` write (a restore: `kubectl replace --subresource=status` of a backup or
/// an export): a tag's newest event whose generation is above the stream's, so from another
/// history, is adopted as the import of the tag's current spec (its generation becomes the
/// spec tag's) when its image came from the `DockerImage` source the spec tag names now.
/// Otherwise the importer would not count it (see `importer::plan::observed_generation`) and
/// would import the tag again from its source now, moving a restored tag to whatever that
/// source points to today; a later spec change still outdates it.
pub(crate) fn adopt_restored_events(stream: &mut ImageStream) {
    let stream_generation = generation_of(stream);
    let sources: Vec<(String, i64, ImageRef)> = stream
        .spec
        .tags
        .iter()
        .filter_map(|tag| {
            let from = tag.from.as_ref()?;
            (text(&from.kind) == "DockerImage").then_some(())?;
            let source = ImageRef::parse(text(&from.name)).ok()?;
            Some((tag.name.clone(), tag.generation?, source))
        })
        .collect();
    let Some(status) = stream.status.as_mut() else {
        return;
    };
    for (tag, newest) in newest_events(status) {
        if newest.generation <= stream_generation {
            continue;
        }
        let source = sources.iter().find(|(name, ..)| name == tag);
        let Some((_, generation, source)) = source else {
            continue;
        };
        let pulled = ImageRef::parse(&newest.docker_image_reference).ok();
        if pulled.is_some_and(|pulled| same_repository(&pulled, source)) {
            newest.generation = *generation;
        }
    }
}

/// Each status tag's name with its newest event, for the status writes' generation rules.
fn newest_events(status: &mut ImageStreamStatus) -> impl Iterator<Item = (&str, &mut TagEvent)> {
    status.tags.iter_mut().filter_map(|list| {
        let NamedTagEventList { tag, items, .. } = list;
        items.first_mut().map(|newest| (tag.as_str(), newest))
    })
}

/// Whether two references name one repository, Docker's defaults applied.
fn same_repository(a: &ImageRef, b: &ImageRef) -> bool {
    a.docker_client_defaults().repository() == b.docker_client_defaults().repository()
}

/// `/status` writes: every newest event written with generation 0 gets one: the stream
/// generation when it did not change (or the tag has no spec generation), else the spec tag's.
pub(crate) fn set_observed_generations(stream: &mut ImageStream, old: &ImageStream) {
    let stream_generation = generation_of(stream);
    let spec_generations: Vec<(String, Option<i64>)> = stream
        .spec
        .tags
        .iter()
        .map(|tag| (tag.name.clone(), tag.generation))
        .collect();
    let Some(status) = stream.status.as_mut() else {
        return;
    };
    for (tag, newest) in newest_events(status) {
        if newest.generation != 0 {
            continue;
        }
        let unchanged = old
            .latest_event(tag)
            .is_none_or(|older| !tag_event_changed(older, newest));
        let spec_generation = spec_generations
            .iter()
            .find(|(name, _)| name == tag)
            .and_then(|(_, generation)| *generation);
        newest.generation = match spec_generation {
            Some(generation) if !unchanged => generation,
            _ => stream_generation,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{
        docker_tag, event, istag, set_history, stream, tag_generations,
    };

    fn from(kind: &str, namespace: &str, name: &str) -> TagReference {
        let mut tag = crate::strategy::testing::tag_from("t", kind, name);
        tag.from.as_mut().unwrap().namespace =
            Some(namespace.to_string()).filter(|n| !n.is_empty());
        tag
    }

    fn check(old: TagReference, next: TagReference, expected: bool) {
        assert_eq!(
            tag_ref_changed(&old, &next, "streamnamespace"),
            expected,
            "{old:?} -> {next:?}"
        );
    }

    #[test]
    fn tag_ref_changed_compares_source_but_not_kind() {
        let none = TagReference::default();
        check(none.clone(), none.clone(), false);
        check(
            from("DockerImage", "", "foo"),
            from("DockerImage", "", "foo"),
            false,
        );
        check(
            from("DockerImage", "", "foo"),
            from("DockerImage", "", "bar"),
            true,
        );
        check(none.clone(), from("", "", ""), false);
        check(none.clone(), from("", "another", "other:latest"), true);
        check(
            from("", "", "other:latest"),
            from("", "another", "other:latest"),
            true,
        );
        check(
            from("", "something", "o:l"),
            from("", "another", "o:l"),
            true,
        );
        check(from("", "something", "o:l"), from("", "", "o:l"), true);
        check(
            from("", "", "other:latest"),
            from("", "streamnamespace", "other:other"),
            true,
        );
        check(
            from("", "", "other:latest"),
            from("", "streamnamespace", "other:latest"),
            false,
        );
        check(
            from("", "streamnamespace", "o:l"),
            from("", "", "o:l"),
            false,
        );
        check(
            from("DockerImage", "", "x"),
            from("ImageStreamTag", "", "x"),
            false,
        );
    }

    #[test]
    fn tag_ref_changed_sees_reference_import_mode_and_generation_reset() {
        let base = from("DockerImage", "", "x");
        let mut reference = base.clone();
        reference.reference = true;
        check(base.clone(), reference, true);
        let mut mode = base.clone();
        mode.import_policy.import_mode = "PreserveOriginal".into();
        check(base.clone(), mode, true);
        let with_gen = |g: Option<i64>| TagReference {
            generation: g,
            ..base.clone()
        };
        check(with_gen(Some(3)), with_gen(Some(0)), true);
        check(with_gen(Some(3)), with_gen(Some(5)), false);
        check(with_gen(None), with_gen(Some(0)), false);
        check(with_gen(Some(0)), with_gen(Some(0)), false);
    }

    fn stored(generation: i64, tags: Vec<TagReference>) -> ImageStream {
        let mut s = stream("ns", "s");
        s.metadata.generation = Some(generation);
        s.spec.tags = tags;
        s
    }

    fn with_gen(mut tag: TagReference, generation: Option<i64>) -> TagReference {
        tag.generation = generation;
        tag
    }

    #[test]
    fn derived_generation_example_from_the_spec() {
        let latest = docker_tag("latest", "quay.io/o/x:1");
        let mut created = stored(0, vec![latest.clone()]);
        set_create_generations(&mut created);
        assert_eq!(created.metadata.generation, Some(1));
        assert_eq!(tag_generations(&created), [("latest".into(), Some(1))]);

        let mut added = stored(
            0,
            vec![
                with_gen(latest.clone(), Some(1)),
                docker_tag("v2", "quay.io/o/x:2"),
            ],
        );
        set_update_generations(&mut added, &created);
        assert_eq!(added.metadata.generation, Some(2));
        assert_eq!(
            tag_generations(&added),
            [("latest".into(), Some(1)), ("v2".into(), Some(2))]
        );

        let mut flipped = added.clone();
        flipped.spec.lookup_policy.local = true;
        set_update_generations(&mut flipped, &added);
        assert_eq!(flipped.metadata.generation, Some(3));
        assert_eq!(tag_generations(&flipped), tag_generations(&added));
    }

    #[test]
    fn users_cannot_set_tag_generations_except_to_zero() {
        let old = stored(
            4,
            vec![
                with_gen(docker_tag("a", "x:1"), Some(2)),
                with_gen(docker_tag("b", "x:1"), Some(3)),
            ],
        );
        let mut new = stored(
            99,
            vec![
                with_gen(docker_tag("a", "x:1"), Some(7)),
                with_gen(docker_tag("b", "x:1"), Some(0)),
            ],
        );
        set_update_generations(&mut new, &old);
        // b's reset changes the spec and is itself a change: both get the new generation 5.
        assert_eq!(new.metadata.generation, Some(5));
        assert_eq!(
            tag_generations(&new),
            [("a".into(), Some(2)), ("b".into(), Some(5))]
        );
    }

    #[test]
    fn unchanged_spec_keeps_generation_and_legacy_zero_bumps_it() {
        let tags = vec![with_gen(docker_tag("a", "x:1"), Some(2))];
        let old = stored(4, tags.clone());
        let mut same = stored(4, tags.clone());
        set_update_generations(&mut same, &old);
        assert_eq!(same.metadata.generation, Some(4));

        let legacy = stored(0, tags.clone());
        let mut next = stored(0, tags);
        set_update_generations(&mut next, &legacy);
        assert_eq!(next.metadata.generation, Some(1));
    }

    #[test]
    fn legacy_tags_without_generation_take_the_stream_generation_without_a_bump() {
        let old = stored(4, vec![docker_tag("a", "x:1")]);
        let mut new = old.clone();
        set_update_generations(&mut new, &old);
        assert_eq!(new.metadata.generation, Some(4));
        assert_eq!(tag_generations(&new), [("a".into(), Some(4))]);
    }

    #[test]
    fn changed_source_takes_the_new_generation_but_kind_change_alone_does_not() {
        let old = stored(
            2,
            vec![
                with_gen(istag("a", "s:x"), Some(1)),
                with_gen(docker_tag("b", "x:1"), Some(1)),
            ],
        );
        let mut new = stored(
            2,
            vec![
                with_gen(istag("a", "s:y"), Some(1)),
                with_gen(istag("b", "x:1"), Some(1)),
            ],
        );
        set_update_generations(&mut new, &old);
        assert_eq!(new.metadata.generation, Some(3));
        assert_eq!(
            tag_generations(&new),
            [("a".into(), Some(3)), ("b".into(), Some(1))]
        );
    }

    #[test]
    fn empty_annotations_and_empty_strings_are_semantically_unset() {
        let mut a = docker_tag("a", "x:1");
        let mut b = a.clone();
        a.annotations = Some(Default::default());
        b.from.as_mut().unwrap().namespace = Some(String::new());
        let spec = |tag: TagReference| ImageStreamSpec {
            tags: vec![tag],
            ..Default::default()
        };
        assert!(specs_equal(&spec(a.clone()), &spec(b)));
        let mut c = a.clone();
        c.annotations = Some([("k".to_string(), "v".to_string())].into());
        assert!(!specs_equal(&spec(a), &spec(c)));
    }

    fn status_case(
        old_item: Option<(&str, i64)>,
        new_item: (&str, i64),
        spec_gen: Option<Option<i64>>,
    ) -> i64 {
        let mut old = stored(7, vec![]);
        if let Some((image, generation)) = old_item {
            set_history(&mut old, "t", vec![event("r", image, generation)]);
        }
        let mut new = stored(7, vec![]);
        if let Some(generation) = spec_gen {
            new.spec
                .tags
                .push(with_gen(docker_tag("t", "x:1"), generation));
        }
        set_history(&mut new, "t", vec![event("r", new_item.0, new_item.1)]);
        set_observed_generations(&mut new, &old);
        new.latest_event("t").unwrap().generation
    }

    #[test]
    fn status_writes_fill_missing_newest_generations() {
        // A generation already set is kept.
        assert_eq!(status_case(None, ("i1", 4), Some(Some(2))), 4);
        // No previous event: the stream generation.
        assert_eq!(status_case(None, ("i1", 0), Some(Some(2))), 7);
        // Same event, old generation not greater: the stream generation.
        assert_eq!(status_case(Some(("i1", 0)), ("i1", 0), Some(Some(2))), 7);
        // Changed image: the spec tag's generation.
        assert_eq!(status_case(Some(("i0", 3)), ("i1", 0), Some(Some(2))), 2);
        // Same image but the old generation was greater: counts as changed.
        assert_eq!(status_case(Some(("i1", 3)), ("i1", 0), Some(Some(2))), 2);
        // Changed but no spec tag, or a spec tag without generation: the stream generation.
        assert_eq!(status_case(Some(("i0", 3)), ("i1", 0), None), 7);
        assert_eq!(status_case(Some(("i0", 3)), ("i1", 0), Some(None)), 7);
    }
}
